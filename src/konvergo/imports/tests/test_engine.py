"""The engine end to end: upload a sheet, dry run, import (the job), undo."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from konvergo.core.jobs import Worker
from konvergo.crm.models import (
    Activity,
    Deal,
    Email,
    Employment,
    Organization,
    Person,
    Phone,
    TaxId,
)
from konvergo.crm.search import (
    fts_available,
    global_search,
    search_index_rebuild,
    search_index_repair,
)
from konvergo.crm.services.contacts import organization_create
from konvergo.imports.models import BatchStatus, ImportedRecord
from konvergo.imports.services import (
    batch_configure,
    batch_dry_run,
    batch_start,
    batch_undo,
    batch_upload,
)
from konvergo.imports.tests.conftest import xlsx

pytestmark = pytest.mark.django_db

HEADERS = ["Firma", "NIP", "Ansprechpartner", "E-Mail", "Telefon", "Stadt", "Betrag", "Datum"]


def sheet_rows():
    return [
        HEADERS,
        [
            "Acme Sp. z o.o.",
            "526-025-02-74",
            "Jan Kowalski",
            "jan@acme.pl",
            "601 234 567",
            "Warszawa",
            "1 234,50",
            dt.date(2025, 3, 1),
        ],
        [
            "Müller GmbH",
            "",
            "Dr. Hans Müller",
            "hans@mueller.de",
            "+49 30 1234567",
            "Berlin",
            2500,
            45700,
        ],
        ["  Beta SA  ", "", "Kowalska, Anna", "not-an-email", "", "Kraków", "", ""],
    ]


def test_upload_suggests_columns_and_options(importer_user):
    batch = batch_upload(actor=importer_user, data=xlsx(sheet_rows()), filename="kunden.xlsx")

    assert batch.file_format == "xlsx"
    assert batch.header_row == 1
    assert batch.columns == {
        "Firma": "organization.legal_name",
        "NIP": "organization.tax_id",
        "Ansprechpartner": "person.full_name",
        "E-Mail": "person.email",
        "Telefon": "person.phone",
        "Stadt": "organization.city",
        "Betrag": "deal.amount",
    }


def test_dry_run_counts_and_writes_nothing_then_import_and_undo(importer_user, pipeline):
    batch = batch_upload(actor=importer_user, data=xlsx(sheet_rows()), filename="kunden.xlsx")
    batch = batch_configure(
        actor=importer_user,
        batch=batch,
        columns={**batch.columns, "Datum": "deal.expected_close"},
        options={"default_country": "PL"},
    )

    batch = batch_dry_run(actor=importer_user, batch=batch)

    assert (batch.created_count, batch.updated_count, batch.skipped_count, batch.failed_count) == (
        2,
        0,
        0,
        1,
    )
    assert batch.row_errors == [[4, "E-mail: not-an-email is not a valid e-mail address."]]
    assert Organization.objects.count() == 0 and Person.objects.count() == 0

    batch = batch_start(actor=importer_user, batch=batch)
    assert batch.status == BatchStatus.QUEUED
    Worker().run_once()
    batch.refresh_from_db()

    assert batch.status == BatchStatus.DONE
    assert (batch.created_count, batch.failed_count, batch.processed_rows) == (2, 1, 3)
    acme = Organization.objects.get(legal_name="Acme Sp. z o.o.")
    assert acme.normalized_name == "acme"
    assert TaxId.objects.get(organization=acme).value == "5260250274"
    jan = Person.objects.get(last_name="Kowalski")
    assert jan.first_name == "Jan"
    assert Employment.objects.get(person=jan).organization == acme
    assert list(Phone.objects.filter(person=jan).values_list("number", flat=True)) == [
        "+48601234567"
    ]
    assert Email.objects.get(person=jan).address == "jan@acme.pl"
    deal = Deal.objects.get(organization=acme)
    assert deal.amount == Decimal("1234.50")
    assert deal.expected_close == dt.date(2025, 3, 1)
    assert deal.title == "Acme Sp. z o.o."
    mueller = Deal.objects.get(organization__legal_name="Müller GmbH")
    assert mueller.expected_close == dt.date(2025, 2, 12)  # Excel serial 45700
    hans = Person.objects.get(last_name="Müller")
    assert hans.first_name == "Hans"
    assert acme.history.count() == 1 and jan.history.first().history_user == importer_user

    batch = batch_undo(actor=importer_user, batch=batch)

    assert batch.status == BatchStatus.UNDONE
    assert Organization.objects.count() == Person.objects.count() == Deal.objects.count() == 0
    assert Email.objects.count() == Phone.objects.count() == TaxId.objects.count() == 0


def test_duplicates_skip_update_create(importer_user):
    existing = organization_create(
        actor=importer_user,
        legal_name="Acme Sp. z o.o.",
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "5260250274"}],
        industry="old",
    )
    rows = [
        ["Company", "VAT", "Industry"],
        ["ACME sp. z o.o.", "PL5260250274", "Software"],
        ["Gamma Ltd", "", "Retail"],
        ["gamma ltd.", "", "Retail 2"],
    ]
    data = xlsx(rows)
    skip = batch_dry_run(
        actor=importer_user,
        batch=batch_upload(actor=importer_user, data=data, filename="a.xlsx"),
    )
    assert (skip.created_count, skip.updated_count, skip.skipped_count) == (1, 0, 2)

    update = batch_upload(actor=importer_user, data=data, filename="a.xlsx")
    update = batch_configure(actor=importer_user, batch=update, options={"duplicates": "update"})
    update = batch_dry_run(actor=importer_user, batch=update)
    assert (update.created_count, update.updated_count, update.skipped_count) == (1, 1, 1)
    batch_start(actor=importer_user, batch=update)
    Worker().run_once()
    existing.refresh_from_db()
    assert existing.industry == "Software"
    assert Organization.objects.filter(normalized_name="gamma").count() == 1
    assert ImportedRecord.objects.filter(action="updated").get().previous == {"industry": "old"}
    update.refresh_from_db()
    batch_undo(actor=importer_user, batch=update)
    existing.refresh_from_db()
    assert existing.industry == "old"
    assert list(Organization.objects.values_list("legal_name", flat=True)) == ["Acme Sp. z o.o."]

    create = batch_upload(actor=importer_user, data=data, filename="a.xlsx")
    create = batch_configure(actor=importer_user, batch=create, options={"duplicates": "create"})
    create = batch_dry_run(actor=importer_user, batch=create)
    assert (create.created_count, create.skipped_count) == (3, 0)


def test_activity_rows(importer_user):
    rows = [["Firma", "Betreff", "Fällig"], ["Acme", "Call back", "2025-05-01 10:30"]]
    batch = batch_upload(actor=importer_user, data=xlsx(rows), filename="a.xlsx")
    assert batch.columns == {
        "Firma": "organization.legal_name",
        "Betreff": "activity.subject",
        "Fällig": "activity.due_at",
    }
    batch = batch_dry_run(actor=importer_user, batch=batch)
    batch_start(actor=importer_user, batch=batch)
    Worker().run_once()
    activity = Activity.objects.get()
    assert activity.organization is not None
    assert activity.organization.legal_name == "Acme" and activity.kind == "task"


def test_imported_records_have_history_search_and_public_ids(importer_user):
    rows = [
        ["Company", "Contact", "E-mail", "Phone"],
        ["Zyxel Trading GmbH", "Hans Meier", "hans@zyxel.example", "+49 30 7654321"],
    ]
    batch = batch_dry_run(
        actor=importer_user,
        batch=batch_upload(actor=importer_user, data=xlsx(rows), filename="a.xlsx"),
    )
    batch_start(actor=importer_user, batch=batch)
    Worker().run_once()

    organization = Organization.objects.get()
    person = Person.objects.get()
    assert organization.public_id.version == 4 and organization.created_at is not None
    history = organization.history.get()
    assert (history.history_type, history.history_user, history.history_change_reason) == (
        "+",
        importer_user,
        "Import a.xlsx",
    )
    assert history.legal_name == "Zyxel Trading GmbH"
    assert person.history.count() == 1 and Email.objects.get().history.count() == 1
    hits = global_search(importer_user, "Zyxel")
    assert hits[0].public_id == organization.public_id
    assert [hit.public_id for hit in global_search(importer_user, "hans@zyxel.example")] == [
        person.public_id
    ]
    if connection.vendor == "sqlite" and fts_available():
        # The index holds exactly the rows the CRM's triggers would have written, and the
        # triggers are all back.
        with connection.cursor() as cursor:
            cursor.execute("SELECT rowid, text, kind, record_id, field FROM crm_search_index")
            written = sorted(cursor.fetchall())
            search_index_rebuild()
            cursor.execute("SELECT rowid, text, kind, record_id, field FROM crm_search_index")
            assert sorted(cursor.fetchall()) == written
            assert search_index_repair() is False
    # Ids continue after the import: a record made by the CRM's services gets a new one.
    other = organization_create(actor=importer_user, legal_name="After Import AG")
    assert other.pk > organization.pk


def test_only_records_the_importer_may_see_are_matched(db):
    from konvergo.imports.tests.conftest import CRM, IMPORTS, grant
    from konvergo.org.models import Scope
    from konvergo.org.tests.factories import UserFactory

    owner = grant(UserFactory.create(), *CRM, *IMPORTS)
    hidden = organization_create(actor=owner, legal_name="Hidden Sp. z o.o.", industry="old")
    own_scope = grant(UserFactory.create(), *CRM, *IMPORTS, scope=Scope.OWN)
    batch = batch_upload(
        actor=own_scope,
        data=xlsx([["Company", "Industry"], ["Hidden Sp. z o.o.", "new"]]),
        filename="a.xlsx",
    )
    batch = batch_configure(actor=own_scope, batch=batch, options={"duplicates": "update"})

    batch = batch_dry_run(actor=own_scope, batch=batch)

    assert (batch.created_count, batch.updated_count) == (1, 0)
    hidden.refresh_from_db()
    assert hidden.industry == "old"
