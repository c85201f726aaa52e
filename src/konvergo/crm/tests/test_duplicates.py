"""Likely duplicates (tax id, e-mail, phone, similar name) and merging two records."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from konvergo.core.audit import audit_trail
from konvergo.core.errors import BusinessError
from konvergo.core.models import Event
from konvergo.crm.models import (
    Activity,
    Address,
    CampaignMember,
    Deal,
    Email,
    Employment,
    Organization,
    OrganizationRelation,
    OwnershipTransfer,
    Person,
    Phone,
    Quote,
    TaxId,
)
from konvergo.crm.services.contacts import organization_create, person_create
from konvergo.crm.services.duplicates import (
    _name_candidates,
    find_duplicates,
    organization_merge,
    person_merge,
)
from konvergo.crm.tests.factories import (
    ActivityFactory,
    AddressFactory,
    CampaignFactory,
    CampaignMemberFactory,
    DealFactory,
    EmailFactory,
    EmploymentFactory,
    OrganizationFactory,
    PersonFactory,
    PhoneFactory,
    QuoteFactory,
    RelationFactory,
    TagFactory,
    TaxIdFactory,
)
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor() -> Any:
    return UserFactory.create(username="merger")


# --- finding --------------------------------------------------------------------------------


@pytest.fixture
def kowalski(actor) -> Organization:
    return organization_create(
        actor=actor,
        legal_name="Kowalski Sp. z o.o.",
        emails=[{"address": "biuro@kowalski.pl"}],
        phones=[{"number": "+48 22 123 45 67"}],
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "5260250274"}],
    )


def reasons(found: list[Any]) -> dict[str, list[str]]:
    return {str(d.record): d.reasons for d in found}


@pytest.mark.parametrize("typed", ["526-025-02-74", "PL5260250274", " 5260250274 "])
def test_same_tax_id_in_any_spelling(kowalski, typed: str) -> None:
    found = find_duplicates(model=Organization, tax_ids=[typed])

    assert reasons(found) == {"Kowalski Sp. z o.o.": ["Same tax id: PL NIP 5260250274"]}


def test_same_email_ignores_case(kowalski) -> None:
    found = find_duplicates(model=Organization, emails=["BIURO@kowalski.PL"])

    assert reasons(found) == {"Kowalski Sp. z o.o.": ["Same e-mail: biuro@kowalski.pl"]}


@pytest.mark.parametrize(
    "typed",
    ["+48221234567", "+48 22 123-45-67", "22 123 45 67", {"number": "221234567", "region": "PL"}],
)
def test_same_phone_with_or_without_country_code(kowalski, typed: Any) -> None:
    found = find_duplicates(model=Organization, phones=[typed])

    assert reasons(found) == {"Kowalski Sp. z o.o.": ["Same phone: +48221234567"]}


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ("KOWALSKI S.A.", "Same name"),
        ("Kowalsky", "Similar name (87% alike)"),
    ],
)
def test_similar_names(kowalski, typed: str, reason: str) -> None:
    found = find_duplicates(model=Organization, name=typed)

    assert reasons(found) == {"Kowalski Sp. z o.o.": [reason]}


def test_different_names_are_no_duplicates(kowalski) -> None:
    assert find_duplicates(model=Organization, name="Nowak") == []
    assert find_duplicates(model=Organization, name="Kowalczyk Holding") == []


def test_all_reasons_together_and_strongest_first(actor, kowalski) -> None:
    organization_create(actor=actor, legal_name="Kowalska")  # only a similar name

    found = find_duplicates(
        model=Organization,
        name="Kowalski",
        emails=["biuro@kowalski.pl"],
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "5260250274"}],
    )

    assert [str(d.record) for d in found] == ["Kowalski Sp. z o.o.", "Kowalska"]
    assert found[0].reasons == [
        "Same tax id: PL NIP 5260250274",
        "Same e-mail: biuro@kowalski.pl",
        "Same name",
    ]


def test_the_record_being_edited_is_left_out(kowalski) -> None:
    assert find_duplicates(model=Organization, name="Kowalski", exclude=kowalski) == []


def test_person_duplicates_by_name_in_either_order(actor) -> None:
    person_create(actor=actor, first_name="Jan", last_name="Kowalski")

    found = find_duplicates(model=Person, name="Kowalski Jan")

    assert reasons(found) == {"Jan Kowalski": ["Same name"]}


def test_name_search_compares_only_indexed_prefix_candidates(actor) -> None:
    for n in range(40):
        OrganizationFactory.create(legal_name=f"Zeta {n}")
    OrganizationFactory.create(legal_name="Alpha Trading GmbH")

    with CaptureQueriesContext(connection) as queries:
        found = find_duplicates(model=Organization, name="Alpha Tradeing")

    assert [str(d.record) for d in found] == ["Alpha Trading GmbH"]
    assert len(queries) == 2  # the candidates' names, then the matching records
    if connection.vendor == "sqlite":
        candidates = Organization.objects.filter(_name_candidates(Organization, "alpha tradeing"))
        plan = candidates.values_list("pk", "normalized_name").explain()
        assert "INDEX" in plan and "SCAN crm_organization" not in plan


# --- merging organisations ------------------------------------------------------------------


def test_organization_merge_moves_everything_and_deletes_the_source(actor) -> None:
    target = OrganizationFactory.create(legal_name="Acme GmbH", industry="", website="")
    source = OrganizationFactory.create(
        legal_name="ACME",
        industry="Machines",
        website="https://acme.example",
        notes="Old notes",
        custom_data={"segment": "B"},
    )
    EmailFactory.create(organization=target, address="info@acme.example", is_primary=True)
    EmailFactory.create(organization=source, address="info@acme.example", is_primary=True)
    EmailFactory.create(organization=source, address="sales@acme.example", is_primary=True)
    PhoneFactory.create(organization=source, number="+49301234567")
    AddressFactory.create(organization=source, city="Hamburg")
    TaxIdFactory.create(organization=target, country="PL", kind="NIP", value="5260250274")
    TaxIdFactory.create(organization=source, country="PL", kind="NIP", value="7740001454")
    TaxIdFactory.create(organization=source, country="DE", kind="VAT", value="136695976")
    shared, other = PersonFactory.create_batch(2)
    EmploymentFactory.create(person=shared, organization=target, role="")
    EmploymentFactory.create(person=shared, organization=source, role="Buyer")
    EmploymentFactory.create(person=other, organization=source)
    partner = OrganizationFactory.create()
    RelationFactory.create(source=source, target=partner, kind="partner")
    RelationFactory.create(source=source, target=target, kind="partner")  # would be self
    deal = DealFactory.create(organization=source)
    quote = QuoteFactory.create(deal=deal)
    activity = ActivityFactory.create(organization=source)
    source.tags.add(TagFactory.create(name="vip"))
    OwnershipTransfer.objects.create(
        organization=source, from_user=actor, to_user=source.owner, reason="earlier"
    )

    merged = organization_merge(actor=actor, source=source, target=target)

    assert merged.pk == target.pk
    assert not Organization.objects.filter(pk=source.pk).exists()
    target.refresh_from_db()
    assert target.legal_name == "Acme GmbH"
    assert (target.industry, target.website) == ("Machines", "https://acme.example")
    assert target.custom_data == {"segment": "B"}
    assert "Old notes" in target.notes
    assert "PL NIP 7740001454" in target.notes  # the clashing tax id is kept in words
    assert sorted(
        Email.objects.filter(organization=target).values_list("address", "is_primary")
    ) == [
        ("info@acme.example", True),
        ("sales@acme.example", False),
    ]
    assert list(Phone.objects.filter(organization=target).values_list("number", flat=True)) == [
        "+49301234567"
    ]
    assert Address.objects.get(organization=target).city == "Hamburg"
    assert sorted(TaxId.objects.filter(organization=target).values_list("country", "value")) == [
        ("DE", "136695976"),
        ("PL", "5260250274"),
    ]
    assert Employment.objects.get(person=shared).role == "Buyer"
    assert Employment.objects.get(person=other).organization == target
    assert list(OrganizationRelation.objects.values_list("source", "target")) == [
        (target.pk, partner.pk)
    ]
    deal.refresh_from_db()
    activity.refresh_from_db()
    assert deal.organization == target and activity.organization == target
    assert Quote.objects.get(pk=quote.pk).deal.organization == target
    assert list(target.tags.values_list("name", flat=True)) == ["vip"]
    assert OwnershipTransfer.objects.get().organization == target
    event = Event.objects.get(name="crm.organization.merged")
    assert event.subject_id == str(target.pk)
    assert event.payload["source"] == str(source.public_id)
    assert event.payload["moved"] == {
        "emails": 1,
        "phones": 1,
        "addresses": 1,
        "employments": 1,
        "tax_ids": 1,
        "relations": 1,
        "deals": 1,
        "activities": 1,
        "transfers": 1,
        "tags": 1,
    }
    latest = audit_trail(target)[0]
    assert latest.actor_id == actor.pk
    assert target.history.first().history_change_reason.startswith("Merged ACME")
    assert deal.history.first().history_user_id == actor.pk


def test_merge_into_itself_is_refused(actor) -> None:
    organization = OrganizationFactory.create()
    EmailFactory.create(organization=organization)

    with pytest.raises(BusinessError) as excinfo:
        organization_merge(actor=actor, source=organization, target=organization)

    assert excinfo.value.details == {"field": "source"}
    assert Organization.objects.filter(pk=organization.pk).exists()
    assert Email.objects.filter(organization=organization).count() == 1
    assert not Event.objects.exists()


@pytest.mark.parametrize("direction", ["person into organisation", "organisation into person"])
def test_merge_across_types_is_refused(actor, direction: str) -> None:
    organization = OrganizationFactory.create()
    person = PersonFactory.create()

    with pytest.raises(BusinessError):
        if direction == "person into organisation":
            organization_merge(actor=actor, source=person, target=organization)
        else:
            person_merge(actor=actor, source=organization, target=person)

    assert Organization.objects.count() == Person.objects.count() == 1
    assert not Event.objects.exists()


# --- merging persons ------------------------------------------------------------------------


def test_person_merge(actor) -> None:
    target = PersonFactory.create(first_name="", last_name="Kowalski", position="")
    source = PersonFactory.create(first_name="Jan", last_name="Kowalski", position="CEO")
    EmailFactory.create(person=source, address="jan@kowalski.pl")
    organization = OrganizationFactory.create()
    EmploymentFactory.create(person=source, organization=organization)
    campaign, other_campaign = CampaignFactory.create_batch(2)
    CampaignMemberFactory.create(campaign=campaign, person=target)
    CampaignMemberFactory.create(campaign=campaign, person=source)
    CampaignMemberFactory.create(campaign=other_campaign, person=source)
    deal = DealFactory.create(person=source)
    activity = ActivityFactory.create(person=source)

    person_merge(actor=actor, source=source, target=target)

    target.refresh_from_db()
    assert (target.first_name, target.position) == ("Jan", "CEO")
    assert target.normalized_name == "jan kowalski"
    assert not Person.objects.filter(pk=source.pk).exists()
    assert Email.objects.get().person == target
    assert Employment.objects.get().person == target
    assert sorted(CampaignMember.objects.values_list("campaign_id", "person_id")) == sorted(
        [(campaign.pk, target.pk), (other_campaign.pk, target.pk)]
    )
    assert Deal.objects.get(pk=deal.pk).person == target
    assert Activity.objects.get(pk=activity.pk).person == target
    assert Event.objects.get(name="crm.person.merged").payload["moved"]["campaign_memberships"] == 1
