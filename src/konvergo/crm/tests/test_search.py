"""The CRM's global search: what it finds, in which order, for whom, and that its SQLite index
follows every change of the source tables."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from konvergo.crm.models import Email, Organization, Person, Phone, TaxId
from konvergo.crm.search import global_search, parse_query, search_index_repair
from konvergo.crm.tests.factories_setup import crm_user, make_organization, make_person
from konvergo.org.services import api_token_create

pytestmark = pytest.mark.django_db

sqlite_only = pytest.mark.skipif(
    connection.vendor != "sqlite", reason="the FTS5 table exists on SQLite only"
)


@pytest.fixture
def owner():
    return crm_user("crm.view_organization", "crm.view_person")


@pytest.fixture
def directory(owner) -> dict[str, Any]:
    baltic = make_organization(
        owner,
        "Baltic Logistics Sp. z o.o.",
        short_name="Baltic Logistics",
        emails=["biuro@baltic-logistics.pl"],
        phones=["+48586612345"],
        tax_ids=[("PL", "NIP", "5260250995")],
    )
    rhein = make_organization(
        owner,
        "Rheinmetallbau GmbH",
        emails=["info@rheinmetallbau.de"],
        phones=["+4930901820"],
        tax_ids=[("DE", "VAT", "136695976")],
    )
    anna = make_person(
        owner,
        "Anna",
        "Nowak",
        organization=baltic,
        emails=["anna.nowak@baltic-logistics.pl"],
        phones=["+48601234567"],
        position="Logistics manager",
    )
    nowakowski = make_person(owner, "Piotr", "Nowakowski", emails=["p.nowakowski@example.pl"])
    marta = make_person(owner, "Marta", "Zielińska")
    ivanov = make_person(owner, "Иван", "Иванов")
    return {
        "baltic": baltic,
        "rhein": rhein,
        "anna": anna,
        "nowakowski": nowakowski,
        "marta": marta,
        "ivanov": ivanov,
    }


def titles(hits: list[Any]) -> list[str]:
    return [hit.title for hit in hits]


# --- what it finds --------------------------------------------------------------------------


def test_a_name_fragment_finds_the_organisation(owner, directory) -> None:
    hits = global_search(owner, "logist")

    assert titles(hits)[0] == "Baltic Logistics"
    assert hits[0].kind == "organization"
    assert hits[0].record == directory["baltic"]
    assert hits[0].matched == "name"
    assert "Baltic Logistics Sp. z o.o." in hits[0].detail


def test_a_persons_full_name_in_either_order(owner, directory) -> None:
    assert titles(global_search(owner, "anna nowak"))[0] == "Anna Nowak"
    assert titles(global_search(owner, "Nowak Anna"))[0] == "Anna Nowak"


def test_an_exact_surname_ranks_before_a_longer_one(owner, directory) -> None:
    assert titles(global_search(owner, "nowak"))[:2] == ["Anna Nowak", "Piotr Nowakowski"]


def test_an_exact_email_comes_first_and_says_what_matched(owner, directory) -> None:
    hits = global_search(owner, "Anna.Nowak@baltic-logistics.pl")

    assert hits[0].record == directory["anna"]
    assert hits[0].matched == "email"
    assert hits[0].score == 3.0
    assert "anna.nowak@baltic-logistics.pl" in hits[0].detail
    assert "Baltic Logistics" in hits[0].detail  # the person's organisation


def test_part_of_an_email_domain_finds_everyone_there(owner, directory) -> None:
    found = {hit.record for hit in global_search(owner, "baltic-logistics.pl")}

    assert found == {directory["baltic"], directory["anna"]}


@pytest.mark.parametrize(
    "typed",
    ["+48 601 234 567", "0048 601-234-567", "601 234 567", "(0) 601234567", "48601234567"],
)
def test_a_phone_number_however_typed(owner, directory, typed: str) -> None:
    hits = global_search(owner, typed)

    assert hits[0].record == directory["anna"]
    assert hits[0].matched == "phone"


def test_international_phone_forms_are_exact_hits(owner, directory) -> None:
    assert global_search(owner, "+48 601 234 567")[0].score == 3.0
    assert global_search(owner, "0048601234567")[0].score == 3.0


@pytest.mark.parametrize(
    ("typed", "name"),
    [
        ("526-025-09-95", "baltic"),
        ("PL 5260250995", "baltic"),
        ("DE 136 695 976", "rhein"),
        ("136695976", "rhein"),
    ],
)
def test_a_tax_id_with_any_spacing_or_country_prefix(owner, directory, typed, name) -> None:
    hits = global_search(owner, typed)

    assert hits[0].record == directory[name]
    assert hits[0].matched == "tax_id"
    assert hits[0].score == 3.0


def test_part_of_a_tax_id(owner, directory) -> None:
    hits = global_search(owner, "5260250")

    assert hits[0].record == directory["baltic"]
    assert hits[0].matched == "tax_id"
    assert hits[0].score < 3.0


def test_accents_are_optional(owner, directory) -> None:
    assert titles(global_search(owner, "zielinska")) == ["Marta Zielińska"]
    assert titles(global_search(owner, "Zielińska")) == ["Marta Zielińska"]


def test_cyrillic_names_ignore_case(owner, directory) -> None:
    assert titles(global_search(owner, "ИВАНОВ")) == ["Иван Иванов"]


def test_short_queries_still_find_names(owner, directory) -> None:
    assert "Иван Иванов" in titles(global_search(owner, "Ив"))
    assert titles(global_search(owner, "rh")) == ["Rheinmetallbau GmbH"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("logist", ["Baltic Logistics", "Anna Nowak"]),
        ("zielinska", ["Marta Zielińska"]),
        ("601 234 567", ["Anna Nowak"]),
        ("5260250", ["Baltic Logistics"]),
        ("p.nowakowski@example", ["Piotr Nowakowski"]),
    ],
)
def test_without_the_trigram_index_a_scan_finds_the_same(
    owner, directory, monkeypatch, query, expected
) -> None:
    monkeypatch.setattr("konvergo.crm.search.fts_available", lambda *args: False)

    assert titles(global_search(owner, query)) == expected


def test_nothing_matches(owner, directory) -> None:
    assert global_search(owner, "zzzqqq") == []
    assert global_search(owner, "   ") == []


def test_the_limit_cuts_the_ranked_list(owner, directory) -> None:
    for n in range(30):
        make_person(owner, f"Jan{n}", "Kowalczyk")

    hits = global_search(owner, "kowalczyk", limit=5)

    assert len(hits) == 5


# --- for whom -------------------------------------------------------------------------------


def test_only_records_the_user_may_see(directory) -> None:
    seller = crm_user("crm.view_organization", "crm.view_person", scope="own")
    others = crm_user()
    for n in range(60):  # many invisible matches must not crowd out the visible one
        make_person(others, "Ola", f"Nowak{n}")
    mine = make_person(seller, "Ewa", "Nowak")

    found = [hit.record for hit in global_search(seller, "nowak")]

    assert found == [mine]


def test_a_user_who_may_see_only_persons_gets_no_organisations(directory) -> None:
    reader = crm_user("crm.view_person")

    hits = global_search(reader, "baltic")

    assert {hit.kind for hit in hits} == {"person"}
    assert [hit.record for hit in hits] == [directory["anna"]]


def test_no_permission_no_hits(directory) -> None:
    assert global_search(crm_user(), "nowak") == []


# --- the SQLite index follows the tables ------------------------------------------------------


@sqlite_only
def test_renames_and_deletions_reach_the_index(owner, directory) -> None:
    rhein = directory["rhein"]
    rhein.legal_name = "Rheinstahl Werke GmbH"
    rhein.normalized_name = "rheinstahl werke"
    rhein.save()
    assert [h.matched for h in global_search(owner, "rheinmetall")] == ["email"]  # info@...
    assert titles(global_search(owner, "rheinstahl")) == ["Rheinstahl Werke GmbH"]

    Email.objects.filter(address="info@rheinmetallbau.de").update(address="post@rheinstahl.de")
    assert global_search(owner, "rheinmetall") == []
    assert [h.matched for h in global_search(owner, "post@rheinstahl.de")] == ["email"]

    Phone.objects.filter(number="+48601234567").delete()
    assert global_search(owner, "601 234 567") == []

    TaxId.objects.filter(value="5260250995").delete()
    assert global_search(owner, "5260250995") == []

    Person.objects.filter(pk=directory["anna"].pk).delete()
    assert "Anna Nowak" not in titles(global_search(owner, "nowak"))


@sqlite_only
def test_a_moved_email_follows_its_new_owner(owner, directory) -> None:
    Email.objects.filter(address="p.nowakowski@example.pl").update(
        person=None, organization=directory["rhein"]
    )

    hits = global_search(owner, "p.nowakowski@example.pl")

    assert [hit.record for hit in hits] == [directory["rhein"]]


@sqlite_only
def test_repair_brings_back_dropped_triggers_and_refills_the_index(owner, directory) -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER crm_search_crm_person_ai")
    hidden = make_person(owner, "Gregor", "Samsa")
    assert global_search(owner, "samsa") == []

    assert search_index_repair() is True

    assert [hit.record for hit in global_search(owner, "samsa")] == [hidden]
    assert search_index_repair() is False
    make_person(owner, "Josef", "Kafka")
    assert titles(global_search(owner, "kafka")) == ["Josef Kafka"]


@sqlite_only
def test_the_migration_reverses_and_reapplies(owner, directory) -> None:
    migration = importlib.import_module("konvergo.crm.migrations.0002_search")
    editor = SimpleNamespace(connection=connection)  # all the operation uses of a schema editor
    migration.reverse(None, editor)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'crm_search%'")
        assert cursor.fetchone()[0] == 0

    migration.forward(None, editor)

    assert titles(global_search(owner, "logist")) == ["Baltic Logistics", "Anna Nowak"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM crm_search_index")
        # 2 organisation names + 4 persons + 4 e-mails + 3 phones + 2 tax ids
        assert cursor.fetchone()[0] == 2 + 4 + 4 + 3 + 2


# --- parsing --------------------------------------------------------------------------------


def test_query_parsing() -> None:
    parsed = parse_query("  0049 30 901820 ")
    assert parsed is not None
    assert parsed.phones == ("+4930901820",)
    assert parsed.digits == "4930901820"

    email = parse_query("Info@Example.DE")
    assert email is not None and email.email == "info@example.de"
    assert email.phones == () and email.tax_ids == ()

    tax = parse_query("DE 136-695-976")
    assert tax is not None and tax.tax_ids == ("DE136695976", "136695976")

    assert parse_query("   ") is None
    assert parse_query("x" * 500) is not None


# --- the API --------------------------------------------------------------------------------


def api(user) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=user).raw}"})


def test_api_search(owner, directory, django_assert_max_num_queries) -> None:
    client = api(owner)
    client.get("/api/v1/crm/search", {"q": "x"})  # the token's first use is recorded once

    # 8 on SQLite; PostgreSQL adds a savepoint and the planner setting around its query.
    with django_assert_max_num_queries(12):
        response = client.get("/api/v1/crm/search", {"q": "nowak", "limit": "5"})

    assert response.status_code == 200, response.content
    body = response.json()
    assert [item["title"] for item in body] == ["Anna Nowak", "Piotr Nowakowski"]
    assert body[0] == {
        "kind": "person",
        "id": str(directory["anna"].public_id),
        "title": "Anna Nowak",
        "detail": "Logistics manager · Baltic Logistics",
        "matched": "name",
        "matched_value": "Anna Nowak",
        "score": body[0]["score"],
    }


def test_search_costs_the_same_queries_for_2_or_22_hits(owner, directory) -> None:
    global_search(owner, "nowak")

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            global_search(owner, "nowak", limit=50)
        return len(captured)

    few = queries()
    for n in range(20):
        make_person(owner, "Ola", f"Nowak{n}", organization=directory["baltic"], position="x")
    assert len(global_search(owner, "nowak", limit=50)) == 22
    assert queries() == few


def test_api_search_needs_a_view_permission(directory) -> None:
    response = api(crm_user("crm.view_deal")).get("/api/v1/crm/search", {"q": "nowak"})

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"


def test_api_search_refuses_a_missing_or_long_query(owner) -> None:
    client = api(owner)

    assert client.get("/api/v1/crm/search").status_code == 422
    assert client.get("/api/v1/crm/search", {"q": "x" * 101}).status_code == 422


def test_search_hits_are_the_records_themselves(owner, directory) -> None:
    hit = global_search(owner, "Rheinmetallbau")[0]

    assert isinstance(hit.record, Organization)
    assert hit.public_id == directory["rhein"].public_id
