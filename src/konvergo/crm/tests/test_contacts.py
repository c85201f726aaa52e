"""Organisations and persons: validation of contact data (nothing saved when invalid), lists
that replace, names normalised for duplicate search, relations, the list selectors and the
dossier timeline."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from konvergo.core.audit import audit_trail
from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.models import Event
from konvergo.crm import selectors
from konvergo.crm.currencies import currency_clean, is_currency
from konvergo.crm.models import (
    Address,
    Email,
    Employment,
    Organization,
    OrganizationRelation,
    Person,
    Phone,
    Tag,
    TaxId,
)
from konvergo.crm.services.contacts import (
    normalize_name,
    organization_add_relation,
    organization_create,
    organization_delete,
    organization_update,
    person_create,
    person_update,
)
from konvergo.crm.tests.factories import (
    ActivityFactory,
    AddressFactory,
    DealFactory,
    OrganizationFactory,
    PersonFactory,
    QuoteFactory,
    TagFactory,
)
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor() -> Any:
    return UserFactory.create(username="seller")


def nothing_saved() -> None:
    assert Organization.objects.count() == 0
    assert Person.objects.count() == 0
    assert Email.objects.count() == Phone.objects.count() == TaxId.objects.count() == 0
    assert Address.objects.count() == 0
    assert not Event.objects.filter(name__startswith="crm.").exists()


def field_errors(excinfo: pytest.ExceptionInfo[FieldErrors]) -> dict[str, list[str]]:
    return excinfo.value.errors


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "normalized"),
    [
        ("Müller GmbH & Co. KG", "muller"),
        ("Kowalski Sp. z o.o.", "kowalski"),
        ("KOWALSKI SP Z O O", "kowalski"),
        ("Société Générale S.A.", "societe generale"),
        ("Acme, Inc.", "acme"),
        ("Acme Ltd", "acme"),
        ("Acme LLC", "acme"),
        ("ООО «Ромашка»", "ромашка"),  # noqa: RUF001  (Cyrillic on purpose)
        ("Ромашка ЗАО", "ромашка"),  # noqa: RUF001
        ("شرکت سهامی خاص پارس", "پارس"),
        ("پارس (سهامی خاص)", "پارس"),
        ("  Two   spaces  AG ", "two spaces"),
        ("AG Bank Holding", "ag bank holding"),  # a legal form inside the name stays
        ("GmbH", "gmbh"),  # a name that is only a legal form keeps it
        ("McDonald's Ltd.", "mcdonalds"),
    ],
)
def test_normalize_name(name: str, normalized: str) -> None:
    assert normalize_name(name) == normalized


def test_person_names_keep_words_that_look_like_legal_forms() -> None:
    assert normalize_name("Anna Sa", legal_forms=False) == "anna sa"


# --- creating organisations -----------------------------------------------------------------


def test_organization_create_stores_clean_contact_data(actor) -> None:
    organization = organization_create(
        actor=actor,
        legal_name="Kowalski Sp. z o.o.",
        short_name="Kowalski",
        status="prospect",
        website="kowalski.example.com",
        tags=["vip", "poland"],
        emails=[
            {"address": " Biuro@Kowalski.PL ", "kind": "work"},
            {"address": "sales@kowalski.pl", "is_primary": True},
        ],
        phones=[
            {"number": "22 123 45 67"},  # national: the address country says Poland
            {"number": "+49 30 1234567", "kind": "mobile"},
            {"number": "030 7654321", "region": "de"},  # a region of its own
        ],
        tax_ids=[{"country": "pl", "kind": "nip", "value": "526-025-02-74"}],
        addresses=[
            {
                "kind": "registered",
                "street": "ul. Prosta 1",
                "city": "Warszawa",
                "postal_code": "00-001",
                "country": "PL",
            }
        ],
    )

    organization.refresh_from_db()
    assert organization.owner == actor
    assert organization.normalized_name == "kowalski"
    assert organization.website == "https://kowalski.example.com"
    assert sorted(organization.tags.values_list("name", flat=True)) == ["poland", "vip"]
    emails = {e.address: e.is_primary for e in organization.emails.all()}
    assert emails == {"biuro@kowalski.pl": False, "sales@kowalski.pl": True}
    phones = {p.number: p.is_primary for p in organization.phones.all()}
    assert phones == {"+48221234567": True, "+49301234567": False, "+49307654321": False}
    tax_id = organization.tax_ids.get()
    assert (tax_id.country, tax_id.kind, tax_id.value) == ("PL", "NIP", "5260250274")
    assert organization.addresses.get().country == "PL"
    event = Event.objects.get(name="crm.organization.created")
    assert event.subject_id == str(organization.pk)
    assert event.actor == actor
    assert event.payload["legal_name"] == "Kowalski Sp. z o.o."
    assert audit_trail(organization)[0].actor_id == actor.pk


def test_invalid_phone_is_a_field_error_and_nothing_is_saved(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor,
            legal_name="Acme",
            emails=[{"address": "info@acme.example"}],
            phones=[{"number": "+48 123", "region": "PL"}],
        )

    assert list(field_errors(excinfo)) == ["phones.0.number"]
    nothing_saved()


def test_a_national_phone_needs_a_region(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(actor=actor, legal_name="Acme", phones=[{"number": "601 234 567"}])

    assert "country code" in field_errors(excinfo)["phones.0.number"][0]
    nothing_saved()


def test_unknown_phone_region_is_refused(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor, legal_name="Acme", phones=[{"number": "601234567", "region": "XX"}]
        )

    assert list(field_errors(excinfo)) == ["phones.0.region"]


def test_invalid_email_is_a_field_error(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor,
            legal_name="Acme",
            emails=[{"address": "good@acme.example"}, {"address": "not an address"}],
        )

    assert list(field_errors(excinfo)) == ["emails.1.address"]
    nothing_saved()


def test_an_address_listed_twice_is_refused(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor,
            legal_name="Acme",
            emails=[{"address": "a@acme.example"}, {"address": "A@Acme.example"}],
        )

    assert list(field_errors(excinfo)) == ["emails.1.address"]


def test_tax_id_with_a_wrong_check_digit_is_refused(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor,
            legal_name="Acme",
            tax_ids=[{"country": "PL", "kind": "NIP", "value": "1234567890"}],
        )

    assert field_errors(excinfo) == {
        "tax_ids.0.value": ["1234567890 is not a valid PL NIP: the check digit is wrong."]
    }
    nothing_saved()


@pytest.mark.parametrize(
    ("country", "kind", "value", "stored"),
    [
        ("PL", "NIP", "5260250274", "5260250274"),
        ("PL", "VAT", "PL 526-025-02-74", "5260250274"),
        ("DE", "VAT", "DE 136 695 976", "136695976"),
        ("RU", "INN", "7707083893", "7707083893"),
        ("PL", "KRS", "0000 123-456", "0000123456"),  # no checksum known: kept compact
    ],
)
def test_valid_tax_ids_are_stored_compact(actor, country, kind, value, stored) -> None:
    organization = organization_create(
        actor=actor,
        legal_name="Acme",
        tax_ids=[{"country": country, "kind": kind, "value": value}],
    )

    assert organization.tax_ids.get().value == stored


@pytest.mark.parametrize(
    ("tax_id", "field"),
    [
        ({"country": "DE", "kind": "VAT", "value": "DE136695978"}, "tax_ids.0.value"),
        ({"country": "RU", "kind": "INN", "value": "7707083890"}, "tax_ids.0.value"),
        ({"country": "ZZ", "kind": "VAT", "value": "123"}, "tax_ids.0.country"),
        ({"country": "PL", "kind": "", "value": "123"}, "tax_ids.0.kind"),
    ],
)
def test_invalid_tax_ids_are_refused(actor, tax_id, field) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(actor=actor, legal_name="Acme", tax_ids=[tax_id])

    assert field in field_errors(excinfo)
    nothing_saved()


def test_one_tax_id_per_country_and_kind(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor,
            legal_name="Acme",
            tax_ids=[
                {"country": "PL", "kind": "NIP", "value": "5260250274"},
                {"country": "PL", "kind": "nip", "value": "5260250274"},
            ],
        )

    assert list(field_errors(excinfo)) == ["tax_ids.1.kind"]


def test_all_bad_fields_are_reported_together(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(
            actor=actor,
            legal_name=" ",
            status="dormant",
            size="huge",
            website="not a url",
            emails=[{"address": "x@"}],
            phones=[{"number": "abc", "region": "PL"}],
            addresses=[{"country": "Germany"}],
        )

    assert set(field_errors(excinfo)) == {
        "legal_name",
        "status",
        "size",
        "website",
        "emails.0.address",
        "phones.0.number",
        "addresses.0.country",
    }
    nothing_saved()


def test_inactive_owner_is_refused(actor) -> None:
    gone = UserFactory.create(is_active=False)

    with pytest.raises(FieldErrors) as excinfo:
        organization_create(actor=actor, legal_name="Acme", owner=gone)

    assert list(field_errors(excinfo)) == ["owner"]


def test_custom_data_is_checked_by_the_custom_fields_service(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        organization_create(actor=actor, legal_name="Acme", custom_data={"no_such_field": 1})

    assert any(key.startswith("custom_data") for key in field_errors(excinfo))
    nothing_saved()


# --- updating -------------------------------------------------------------------------------


def test_update_changes_given_fields_and_replaces_lists(actor) -> None:
    organization = organization_create(
        actor=actor,
        legal_name="Acme",
        emails=[{"address": "keep@acme.example"}, {"address": "drop@acme.example"}],
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "5260250274"}],
        addresses=[{"city": "Berlin", "country": "DE"}],
    )
    kept = organization.emails.get(address="keep@acme.example")
    tax_id = organization.tax_ids.get()

    organization_update(
        actor=actor,
        organization=organization,
        legal_name="Acme Polska Sp. z o.o.",
        emails=[{"address": "keep@acme.example"}, {"address": "new@acme.example"}],
        phones=[{"number": "030 1234567"}],  # region from the address kept: Germany
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "7740001454"}],
    )

    organization.refresh_from_db()
    assert organization.normalized_name == "acme polska"
    assert sorted(organization.emails.values_list("address", flat=True)) == [
        "keep@acme.example",
        "new@acme.example",
    ]
    assert organization.emails.get(address="keep@acme.example").public_id == kept.public_id
    assert list(organization.phones.values_list("number", flat=True)) == ["+49301234567"]
    changed_tax_id = organization.tax_ids.get()
    assert changed_tax_id.public_id == tax_id.public_id  # same country and kind: changed
    assert changed_tax_id.value == "7740001454"
    event = Event.objects.get(name="crm.organization.updated")
    assert event.payload["fields"] == ["emails", "legal_name", "phones", "tax_ids"]


def test_update_without_changes_emits_nothing(actor) -> None:
    organization = organization_create(actor=actor, legal_name="Acme", tags=["a"])

    organization_update(actor=actor, organization=organization, legal_name="Acme", tags=["a"])

    assert not Event.objects.filter(name="crm.organization.updated").exists()


def test_invalid_update_changes_nothing(actor) -> None:
    organization = organization_create(
        actor=actor, legal_name="Acme", emails=[{"address": "a@acme.example"}]
    )

    with pytest.raises(FieldErrors):
        organization_update(
            actor=actor,
            organization=organization,
            legal_name="Renamed",
            emails=[{"address": "b@acme.example"}],
            phones=[{"number": "+1"}],
        )

    organization.refresh_from_db()
    assert organization.legal_name == "Acme"
    assert list(organization.emails.values_list("address", flat=True)) == ["a@acme.example"]


def test_update_refuses_unknown_fields(actor) -> None:
    organization = OrganizationFactory.create()

    with pytest.raises(TypeError):
        organization_update(actor=actor, organization=organization, colour="red")


def test_delete_is_refused_while_deals_point_at_the_organization(actor) -> None:
    organization = OrganizationFactory.create()
    DealFactory.create(organization=organization)

    with pytest.raises(BusinessError):
        organization_delete(actor=actor, organization=organization)

    assert Organization.objects.filter(pk=organization.pk).exists()


# --- persons --------------------------------------------------------------------------------


def test_person_create_with_employer_uses_its_country_for_phones(actor) -> None:
    employer = OrganizationFactory.create()
    AddressFactory.create(organization=employer, country="PL")

    person = person_create(
        actor=actor,
        first_name="Jan",
        last_name="Kowalski",
        birthday=dt.date(1980, 5, 1),
        language="pl",
        organization=employer,
        role="Buyer",
        emails=[{"address": "Jan@Kowalski.PL"}],
        phones=[{"number": "601 234 567", "kind": "mobile"}],
    )

    person.refresh_from_db()
    assert person.normalized_name == "jan kowalski"
    assert person.emails.get().address == "jan@kowalski.pl"
    assert person.phones.get().number == "+48601234567"
    employment = Employment.objects.get(person=person)
    assert (employment.organization, employment.role, employment.is_primary) == (
        employer,
        "Buyer",
        True,
    )
    assert Event.objects.filter(name="crm.person.created").count() == 1


def test_person_update_moves_the_main_employer(actor) -> None:
    first, second = OrganizationFactory.create_batch(2)
    person = person_create(actor=actor, last_name="Nowak", organization=first, role="CEO")

    person_update(actor=actor, person=person, organization=second, role="Advisor")

    rows = {e.organization_id: (e.role, e.is_primary) for e in person.employments.all()}
    assert rows == {first.pk: ("CEO", False), second.pk: ("Advisor", True)}


def test_person_birthday_in_the_future_is_refused(actor) -> None:
    with pytest.raises(FieldErrors) as excinfo:
        person_create(
            actor=actor, last_name="Nowak", birthday=timezone.localdate() + dt.timedelta(days=1)
        )

    assert list(field_errors(excinfo)) == ["birthday"]
    nothing_saved()


# --- relations ------------------------------------------------------------------------------


def test_relations_refuse_self_and_duplicates(actor) -> None:
    parent, branch = OrganizationFactory.create_batch(2)

    relation = organization_add_relation(actor=actor, source=parent, target=branch, kind="parent")

    assert relation.kind == "parent"
    with pytest.raises(BusinessError):
        organization_add_relation(actor=actor, source=parent, target=parent, kind="partner")
    with pytest.raises(BusinessError):
        organization_add_relation(actor=actor, source=parent, target=branch, kind="parent")
    with pytest.raises(BusinessError):  # the same fact, written from the other side
        organization_add_relation(actor=actor, source=branch, target=parent, kind="branch")
    with pytest.raises(FieldErrors):
        organization_add_relation(actor=actor, source=branch, target=parent, kind="cousin")
    assert OrganizationRelation.objects.count() == 1


# --- currencies -----------------------------------------------------------------------------


def test_currency_codes() -> None:
    assert is_currency("EUR") and is_currency("IRR") and not is_currency("XXX")
    assert currency_clean(" pln ") == "PLN"
    with pytest.raises(FieldErrors) as excinfo:
        currency_clean("EURO", field="amount_currency")
    assert list(excinfo.value.errors) == ["amount_currency"]


# --- lists ----------------------------------------------------------------------------------


def viewer(scope: str = "all") -> Any:
    user = UserFactory.create()
    user.roles.add(
        role_create(
            name=f"viewer {user.username}",
            scope=scope,
            permissions=[
                "crm.view_organization",
                "crm.view_person",
                "crm.view_deal",
                "crm.view_activity",
                "crm.view_quote",
            ],
        )
    )
    return user


def test_organization_list_filters(actor) -> None:
    user = viewer()
    vip = TagFactory.create(name="vip")
    acme = organization_create(
        actor=actor,
        legal_name="Acme GmbH",
        status="customer",
        emails=[{"address": "info@acme.example"}],
        phones=[{"number": "+49 30 1234567"}],
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "5260250274"}],
    )
    acme.tags.add(vip)
    other = organization_create(actor=user, legal_name="Bolt Ltd", status="lead")

    def names(**filters: Any) -> list[str]:
        return [o.legal_name for o in selectors.organization_list(user, filters)]

    assert names() == ["Acme GmbH", "Bolt Ltd"]
    assert names(q="acme") == ["Acme GmbH"]
    assert names(q="info@acme") == ["Acme GmbH"]
    assert names(q="1234567") == ["Acme GmbH"]
    assert names(q="526-025") == ["Acme GmbH"]
    assert names(status="customer") == ["Acme GmbH"]
    assert names(tag="VIP") == ["Acme GmbH"]
    assert names(owner=str(user.public_id)) == ["Bolt Ltd"]
    assert names(ordering="-name") == ["Bolt Ltd", "Acme GmbH"]
    today = timezone.localdate().isoformat()
    assert names(created_after=today, created_before=today) == ["Acme GmbH", "Bolt Ltd"]
    assert other.owner == user


def test_strict_list_reports_bad_filters() -> None:
    with pytest.raises(FieldErrors) as excinfo:
        selectors.organization_list(viewer(), {"status": "dormant"}, strict=True)

    assert list(excinfo.value.errors) == ["status"]


def test_lists_show_only_what_the_scope_allows(actor) -> None:
    user = viewer(scope="own")
    OrganizationFactory.create(owner=user, legal_name="Mine")
    OrganizationFactory.create(owner=actor, legal_name="Theirs")
    PersonFactory.create(owner=actor)

    assert [o.legal_name for o in selectors.organization_list(user)] == ["Mine"]
    assert list(selectors.person_list(user)) == []


def test_person_list_by_organization(actor) -> None:
    user = viewer()
    employer = OrganizationFactory.create()
    employed = person_create(actor=actor, last_name="Nowak", organization=employer)
    person_create(actor=actor, last_name="Other")

    found = selectors.person_list(user, {"organization": str(employer.public_id)})

    assert list(found) == [employed]


# --- the dossier timeline -------------------------------------------------------------------


def test_timeline_puts_planned_actions_first_then_the_past_newest_first(actor) -> None:
    user = viewer()
    client = OrganizationFactory.create()
    now = timezone.now()
    later = ActivityFactory.create(
        organization=client, subject="later", due_at=now + dt.timedelta(days=3)
    )
    soon = ActivityFactory.create(
        organization=client, subject="soon", due_at=now + dt.timedelta(days=1)
    )
    old = ActivityFactory.create(
        organization=client,
        subject="old",
        due_at=now - dt.timedelta(days=9),
        done_at=now - dt.timedelta(days=9),
    )
    recent = ActivityFactory.create(
        organization=client, subject="recent", done_at=now - dt.timedelta(hours=1)
    )
    ActivityFactory.create(subject="someone else's client", due_at=now)
    deal = DealFactory.create(organization=client, title="Big deal")
    QuoteFactory.create(deal=deal, issued_on=(now - dt.timedelta(days=30)).date())

    items = selectors.dossier_timeline(user, client)

    assert [(i.kind, i.planned) for i in items[:2]] == [("call", True), ("call", True)]
    assert [i.record for i in items[:2]] == [soon, later]
    past = [i.record for i in items[2:]]
    assert past[:3] == [deal, recent, old]
    assert items[-1].kind == "quote"
    assert items[0].url == selectors.record_url("activity", soon.public_id)


def test_timeline_sources_can_be_added_by_other_apps(actor) -> None:
    user = viewer()
    client = PersonFactory.create()
    when = timezone.now()

    def tickets(user: Any, record: Any) -> list[selectors.TimelineItem]:
        return [selectors.TimelineItem("ticket", when, "Printer broken", "/t/1/", False, None)]

    selectors.register_timeline_source(tickets)
    try:
        selectors.register_timeline_source(tickets)  # twice is once
        items = selectors.dossier_timeline(user, client)
    finally:
        selectors._sources.remove(tickets)

    assert [(i.kind, i.title) for i in items] == [("ticket", "Printer broken")]


def test_timeline_hides_what_the_user_may_not_see(actor) -> None:
    user = UserFactory.create()
    user.roles.add(
        role_create(name="orgs only", scope="all", permissions=["crm.view_organization"])
    )
    client = OrganizationFactory.create()
    ActivityFactory.create(organization=client, due_at=timezone.now())
    DealFactory.create(organization=client)

    assert selectors.dossier_timeline(user, client) == []


def test_tags_given_by_name_are_created_once(actor) -> None:
    organization_create(actor=actor, legal_name="A", tags=["new"])
    person_create(actor=actor, last_name="B", tags=["new", Tag.objects.get(name="new")])

    assert Tag.objects.filter(name="new").count() == 1
