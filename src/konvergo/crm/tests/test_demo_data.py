"""The CRM part of the demo company (`konvergo demo`)."""

from __future__ import annotations

import phonenumbers
import pytest
from django.core.management import call_command
from stdnum.de import vat as de_vat
from stdnum.pl import nip as pl_nip
from stdnum.ru import inn as ru_inn

from konvergo.core.demo import demo_steps
from konvergo.crm import demo_data  # noqa: F401  (registers the step, as CrmConfig.ready does)
from konvergo.crm.models import (
    Activity,
    Campaign,
    CampaignMember,
    Deal,
    Email,
    Organization,
    Person,
    Phone,
    Pipeline,
    Quote,
    TaxId,
)
from konvergo.crm.search import global_search
from konvergo.crm.services.custom_fields import custom_data_clean
from konvergo.org.models import User

pytestmark = pytest.mark.django_db

CHECKS = {"DE": de_vat.is_valid, "PL": pl_nip.is_valid, "RU": ru_inn.is_valid}


@pytest.fixture
def demo() -> None:
    # The steps up to and including the CRM (the processes step is not needed here).
    for order, _name, step in demo_steps():
        if order <= 30:
            step(lambda line: None)


def test_the_step_is_registered_after_people() -> None:
    names = [name for _order, name, _step in demo_steps()]
    assert names.index("people") < names.index("crm")


def test_deals_in_every_stage_of_the_sales_pipeline(demo) -> None:
    sales = Pipeline.objects.get(name="Sales")
    assert sales.is_default
    assert [(s.name, s.probability, s.is_won, s.is_lost) for s in sales.stages.all()] == [
        ("Lead", 10, False, False),
        ("Qualified", 25, False, False),
        ("Proposal", 50, False, False),
        ("Negotiation", 75, False, False),
        ("Won", 100, True, False),
        ("Lost", 0, False, True),
    ]
    for stage in sales.stages.all():
        assert Deal.objects.filter(stage=stage).exists(), stage.name
    renewals = Pipeline.objects.get(name="Renewals")
    assert all(Deal.objects.filter(stage=s).exists() for s in renewals.stages.all())
    assert set(Deal.objects.filter(stage__is_won=True).values_list("status", flat=True)) == {"won"}
    assert set(Deal.objects.filter(stage__is_lost=True).values_list("status", flat=True)) == {
        "lost"
    }
    assert set(Deal.objects.values_list("currency", flat=True)) == {"EUR", "PLN", "IRR", "RUB"}


def test_clients_across_four_countries_with_valid_contact_data(demo) -> None:
    assert 12 <= Organization.objects.count() <= 20
    countries = set(Organization.objects.values_list("addresses__country", flat=True))
    assert countries == {"DE", "PL", "IR", "RU"}
    for tax_id in TaxId.objects.all():
        check = CHECKS.get(tax_id.country)
        assert check is None or check(tax_id.value), tax_id
    for phone in Phone.objects.all():
        parsed = phonenumbers.parse(phone.number, None)
        assert phonenumbers.is_valid_number(parsed), phone.number
        assert phone.number == phonenumbers.format_number(
            parsed, phonenumbers.PhoneNumberFormat.E164
        )
    assert all(e.address == e.address.lower() for e in Email.objects.all())
    assert not Person.objects.filter(employments__isnull=True).exists()
    owners = set(Organization.objects.values_list("owner__username", flat=True))
    assert {"anna.nowak", "lukas.becker", "jan.kowalski"} <= owners
    records: list[Organization | Person] = [*Organization.objects.all(), *Person.objects.all()]
    for record in records:
        assert record.normalized_name
        model = "organization" if isinstance(record, Organization) else "person"
        assert custom_data_clean(target=model, data=record.custom_data) == record.custom_data


def test_planned_and_done_activities_a_quote_and_a_campaign(demo) -> None:
    assert Activity.objects.filter(done_at__isnull=True, due_at__isnull=False).count() >= 5
    assert Activity.objects.filter(done_at__isnull=False).count() >= 10
    quote = Quote.objects.get()
    assert quote.lines.count() == 3
    assert quote.number.startswith("Q-")
    campaign = Campaign.objects.get()
    assert campaign.owner.username == "jan.kowalski"
    assert CampaignMember.objects.filter(campaign=campaign).count() >= 5
    assert CampaignMember.objects.filter(status="responded").exists()


def test_the_sales_people_find_their_clients(demo) -> None:
    anna = User.objects.get(username="anna.nowak")

    hits = global_search(anna, "baltic")

    assert [hit.title for hit in hits][:1] == ["Baltic Logistics"]
    assert global_search(anna, "Rheinmetallbau") == []  # Lukas's client


def test_the_whole_demo_command_runs(capsys) -> None:
    call_command("demo")

    assert "crm: 15 clients" in capsys.readouterr().out
