"""Handing a client (with its open work) to another owner, and everything of a leaving user."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.models import Event
from konvergo.crm.models import Activity, Campaign, Deal, Organization, OwnershipTransfer, Quote
from konvergo.crm.services.transfer import client_transfer, client_url, owner_bulk_transfer
from konvergo.crm.tests.factories import (
    ActivityFactory,
    CampaignFactory,
    DealFactory,
    OrganizationFactory,
    PersonFactory,
    QuoteFactory,
)
from konvergo.org.models import Deputy, Notification
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def people() -> dict[str, Any]:
    return {
        "manager": UserFactory.create(username="manager"),
        "old": UserFactory.create(username="old"),
        "new": UserFactory.create(username="new"),
        "colleague": UserFactory.create(username="colleague"),
    }


@pytest.fixture
def client_with_work(people) -> dict[str, Any]:
    old = people["old"]
    client = OrganizationFactory.create(owner=old, legal_name="Acme")
    open_deal = DealFactory.create(organization=client, owner=old)
    won_deal = DealFactory.create(organization=client, owner=old, status="won")
    colleagues_deal = DealFactory.create(organization=client, owner=people["colleague"])
    quote = QuoteFactory.create(deal=open_deal, owner=old)
    task = ActivityFactory.create(
        organization=client, owner=old, kind="task", due_at=timezone.now()
    )
    deal_call = ActivityFactory.create(deal=open_deal, owner=old, due_at=timezone.now())
    done = ActivityFactory.create(organization=client, owner=old, done_at=timezone.now())
    return {
        "client": client,
        "open_deal": open_deal,
        "won_deal": won_deal,
        "colleagues_deal": colleagues_deal,
        "quote": quote,
        "task": task,
        "deal_call": deal_call,
        "done": done,
    }


def owner_of(record: Any) -> str:
    record.refresh_from_db()
    return str(record.owner.username)


def test_client_transfer_moves_the_client_and_its_open_work(people, client_with_work) -> None:
    w = client_with_work

    transfer = client_transfer(
        actor=people["manager"],
        to_user=people["new"],
        reason="Territory change",
        organization=w["client"],
    )

    assert owner_of(w["client"]) == "new"
    assert owner_of(w["open_deal"]) == "new"
    assert owner_of(w["quote"]) == "new"
    assert owner_of(w["task"]) == "new"
    assert owner_of(w["deal_call"]) == "new"
    assert owner_of(w["won_deal"]) == "old"  # closed work stays with who did it
    assert owner_of(w["done"]) == "old"
    assert owner_of(w["colleagues_deal"]) == "colleague"
    assert (transfer.from_user, transfer.to_user, transfer.by) == (
        people["old"],
        people["new"],
        people["manager"],
    )
    assert transfer.reason == "Territory change"
    assert transfer.moved == {"deals": 1, "quotes": 1, "activities": 2}
    note = Notification.objects.get(recipient=people["new"])
    assert "Acme" in note.title and note.body == "Territory change"
    assert note.url == client_url(w["client"])  # the dossier, once the pages are mounted
    event = Event.objects.get(name="crm.client.transferred")
    assert event.payload["moved"] == transfer.moved
    assert event.actor == people["manager"]
    history = w["client"].history.first()
    assert history.history_user == people["manager"]
    assert "Territory change" in history.history_change_reason
    assert w["open_deal"].history.first().history_user == people["manager"]


def test_transfer_without_deals_and_activities(people, client_with_work) -> None:
    w = client_with_work

    transfer = client_transfer(
        actor=people["manager"],
        to_user=people["new"],
        reason="Only the account",
        organization=w["client"],
        include_deals=False,
        include_activities=False,
    )

    assert transfer.moved == {"deals": 0, "quotes": 0, "activities": 0}
    assert owner_of(w["client"]) == "new"
    assert owner_of(w["open_deal"]) == "old"
    assert owner_of(w["task"]) == "old"


def test_a_person_is_transferred_too(people) -> None:
    person = PersonFactory.create(owner=people["old"])
    call = ActivityFactory.create(person=person, owner=people["old"], due_at=timezone.now())

    transfer = client_transfer(
        actor=people["manager"], to_user=people["new"], reason="Holiday", person=person
    )

    assert transfer.person == person
    assert owner_of(person) == "new"
    assert owner_of(call) == "new"


def test_the_deputy_is_notified_while_the_new_owner_is_away(people) -> None:
    client = OrganizationFactory.create(owner=people["old"])
    today = timezone.localdate()
    Deputy.objects.create(
        user=people["new"],
        deputy=people["colleague"],
        starts_on=today - dt.timedelta(days=1),
        ends_on=today + dt.timedelta(days=1),
    )

    client_transfer(actor=people["manager"], to_user=people["new"], reason="x", organization=client)

    note = Notification.objects.get()
    assert (note.recipient, note.on_behalf_of) == (people["colleague"], people["new"])


@pytest.mark.parametrize(
    ("reason", "active", "field"), [("  ", True, "reason"), ("Leaving", False, "to_user")]
)
def test_bad_input_changes_nothing(people, client_with_work, reason, active, field) -> None:
    people["new"].is_active = active
    people["new"].save()

    with pytest.raises(FieldErrors) as excinfo:
        client_transfer(
            actor=people["manager"],
            to_user=people["new"],
            reason=reason,
            organization=client_with_work["client"],
        )

    assert list(excinfo.value.errors) == [field]
    assert owner_of(client_with_work["client"]) == "old"
    assert not OwnershipTransfer.objects.exists()
    assert not Notification.objects.exists()
    assert not Event.objects.filter(name="crm.client.transferred").exists()


def test_handing_to_the_current_owner_is_refused(people, client_with_work) -> None:
    with pytest.raises(BusinessError):
        client_transfer(
            actor=people["manager"],
            to_user=people["old"],
            reason="x",
            organization=client_with_work["client"],
        )

    assert not OwnershipTransfer.objects.exists()


def test_exactly_one_client_is_handed_over(people) -> None:
    with pytest.raises(BusinessError):
        client_transfer(actor=people["manager"], to_user=people["new"], reason="x")
    with pytest.raises(BusinessError):
        client_transfer(
            actor=people["manager"],
            to_user=people["new"],
            reason="x",
            organization=OrganizationFactory.create(),
            person=PersonFactory.create(),
        )


def test_bulk_transfer_hands_over_everything_of_a_leaving_user(people, client_with_work) -> None:
    old = people["old"]
    second = OrganizationFactory.create(owner=old)
    person = PersonFactory.create(owner=old)
    elsewhere = OrganizationFactory.create(owner=people["colleague"])
    deal_elsewhere = DealFactory.create(organization=elsewhere, owner=old)
    QuoteFactory.create(deal=deal_elsewhere, owner=old)
    task_elsewhere = ActivityFactory.create(organization=elsewhere, owner=old, kind="task")
    campaign = CampaignFactory.create(owner=old)

    transfers = owner_bulk_transfer(
        actor=people["manager"], from_user=old, to_user=people["new"], reason="Left the company"
    )

    assert len(transfers) == 4  # three clients and the rest
    assert {t.organization for t in transfers if t.organization} == {
        client_with_work["client"],
        second,
    }
    assert [t.person for t in transfers if t.person] == [person]
    rest = transfers[-1]
    assert (rest.organization, rest.person) == (None, None)
    assert rest.moved == {"deals": 1, "quotes": 1, "activities": 1, "campaigns": 1}
    assert owner_of(elsewhere) == "colleague"
    assert owner_of(deal_elsewhere) == "new" and owner_of(task_elsewhere) == "new"
    assert Campaign.objects.get(pk=campaign.pk).owner == people["new"]
    assert not Organization.objects.filter(owner=old).exists()
    assert not Deal.objects.filter(owner=old, status="open").exists()
    assert not Activity.objects.filter(owner=old, done_at__isnull=True).exists()
    assert Quote.objects.filter(owner=old).count() == 0
    assert Notification.objects.filter(recipient=people["new"]).count() == 1
    assert Event.objects.filter(name="crm.client.transferred").count() == 4


def test_bulk_transfer_to_oneself_is_refused(people) -> None:
    OrganizationFactory.create(owner=people["old"])

    with pytest.raises(BusinessError):
        owner_bulk_transfer(
            actor=people["manager"], from_user=people["old"], to_user=people["old"], reason="x"
        )

    assert not OwnershipTransfer.objects.exists()
