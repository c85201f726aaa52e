"""Batches over their life: messy sheets, duplicates inside the file, formula errors, a run
that fails half-way (undo removes what it wrote), cancel, saved mappings applied on upload."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from openpyxl import Workbook

from konvergo.core.errors import BusinessError, Conflict
from konvergo.core.jobs import Worker
from konvergo.crm.models import Deal, Email, Organization, Person, Phone
from konvergo.crm.services.deals import deal_create
from konvergo.imports import engine
from konvergo.imports.models import BatchStatus, ImportedRecord
from konvergo.imports.services import (
    batch_cancel,
    batch_configure,
    batch_dry_run,
    batch_run,
    batch_start,
    batch_undo,
    batch_upload,
    mapping_save,
)
from konvergo.imports.tests.conftest import FIXTURES, xlsx

pytestmark = pytest.mark.django_db


def run(actor, batch):
    batch = batch_dry_run(actor=actor, batch=batch)
    batch_start(actor=actor, batch=batch)
    Worker().run_once()
    batch.refresh_from_db()
    return batch


def test_messy_sheet(importer_user):
    def merge(sheet):
        sheet.merge_cells("A3:B3")  # a two-column title over the first columns

    rows: list[list[object]] = [
        ["Export 2025-03-01"],
        [],
        ["Kontakt", None, "E-Mail ", " Telefon", "Geburtstag"],
        ["  Jan   Kowalski ", "x", "JAN@ACME.PL ", 48601234567, dt.date(1980, 5, 17)],
        [],
        ["Anna Nowak", "", "anna@acme.pl", "601 234 568", "17.05.1981"],
        ["Jan Kowalski", "", "jan@acme.pl", "", ""],  # the same person again (same e-mail)
        ["   ", None, None, None, None],
        ["Piotr Wiśniewski", "", "", "", 29000],  # an Excel serial date
    ]
    batch = batch_upload(actor=importer_user, data=xlsx(rows, extra=merge), filename="m.xlsx")
    assert batch.header_row == 3
    assert batch.columns == {
        "Kontakt": "person.full_name",
        "E-Mail": "person.email",
        "Telefon": "person.phone",
        "Geburtstag": "person.birthday",
    }
    batch = batch_configure(actor=importer_user, batch=batch, options={"default_country": "PL"})

    batch = run(importer_user, batch)

    assert (batch.created_count, batch.skipped_count, batch.failed_count) == (3, 1, 0)
    assert batch.total_rows == 4 + 0 + 0  # blank rows are not rows
    jan = Person.objects.get(last_name="Kowalski")
    assert (jan.first_name, jan.birthday) == ("Jan", dt.date(1980, 5, 17))
    assert Email.objects.get(person=jan).address == "jan@acme.pl"
    assert Phone.objects.get(person=jan).number == "+48601234567"
    assert Person.objects.get(last_name="Nowak").birthday == dt.date(1981, 5, 17)
    assert Person.objects.get(last_name="Wiśniewski").birthday == dt.date(1979, 5, 25)


def test_formula_errors_fail_their_rows_with_the_cell_named(importer_user):
    book = Workbook()
    sheet = book.active
    sheet.append(["Company", "Amount"])
    sheet.append(["Acme", 10])
    sheet.append(["Beta", "#DIV/0!"])
    out = io.BytesIO()
    book.save(out)
    batch = batch_upload(actor=importer_user, data=out.getvalue(), filename="f.xlsx")
    batch = batch_configure(
        actor=importer_user,
        batch=batch,
        columns={"Company": "organization.legal_name", "Amount": "organization.notes"},
    )

    batch = batch_dry_run(actor=importer_user, batch=batch)

    assert batch.row_errors == [[3, "Cell B3 (Company notes) has the formula error #DIV/0!."]]
    assert (batch.created_count, batch.failed_count) == (1, 1)


def test_xls_fixture_in_polish(importer_user, pipeline):
    batch = batch_upload(
        actor=importer_user,
        data=(FIXTURES / "klienci.xls").read_bytes(),
        filename="klienci.xls",
    )
    assert batch.header_row == 3
    batch = batch_configure(actor=importer_user, batch=batch, options={"default_country": "PL"})
    batch = run(importer_user, batch)

    assert (batch.created_count, batch.failed_count) == (2, 0), batch.row_errors
    zabka = Organization.objects.get(legal_name="Żabka Polska sp. z o.o.")
    assert zabka.tax_ids.get().value == "5260250274"
    assert Deal.objects.get(organization=zabka).amount == 12500


def five_companies_started(user):
    """A checked batch of five organisations, started (its run not yet done)."""
    rows = [["Company"], *[[f"Company {i}"] for i in range(5)]]
    batch = batch_dry_run(
        actor=user, batch=batch_upload(actor=user, data=xlsx(rows), filename="a.xlsx")
    )
    batch_start(actor=user, batch=batch)
    return batch


def test_a_failure_half_way_leaves_a_batch_undo_removes(importer_user, monkeypatch):
    monkeypatch.setattr(engine, "CHUNK", 2)
    batch = five_companies_started(importer_user)
    calls = {"n": 0}
    write = engine.Importer.write

    def failing(self, batch, planned):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        write(self, batch, planned)

    monkeypatch.setattr(engine.Importer, "write", failing)
    monkeypatch.setattr("konvergo.imports.services.CHUNK", 2)
    failed = batch_run(batch_id=batch.public_id)

    assert failed is not None and failed.status == BatchStatus.FAILED
    assert failed.log[-1]["text"].startswith(
        "The import stopped after 2 rows: RuntimeError: disk full. Undo removes what it wrote."
    )
    assert Organization.objects.count() == 2  # the first chunk, recorded
    batch_undo(actor=importer_user, batch=failed)
    assert not Organization.objects.exists()


def test_chunks_are_written_in_a_second_thread_and_its_failure_fails_the_batch(
    importer_user, monkeypatch
):
    """While one chunk is written (parallel.write_behind), the next is checked here; the
    chunk that fails in the writing thread leaves nothing, the ones before it are undone."""
    import threading

    monkeypatch.setattr("konvergo.imports.services.CHUNK", 2)
    batch = five_companies_started(importer_user)
    threads: list[str] = []
    write = engine.Importer.write

    def failing(self, current, planned):
        threads.append(threading.current_thread().name)
        write(self, current, planned)  # the second chunk's records, then its failure
        if len(threads) == 2:
            raise RuntimeError("disk full")

    monkeypatch.setattr(engine.Importer, "write", failing)
    failed = batch_run(batch_id=batch.public_id)

    assert threads == ["konvergo-import-write"] * 2  # the third chunk is not written
    assert failed is not None and failed.status == BatchStatus.FAILED
    assert failed.log[-1]["text"].startswith(
        "The import stopped after 2 rows: RuntimeError: disk full. Undo removes what it wrote."
    )
    assert failed.processed_rows == 2 and failed.created_count == 2
    assert sorted(Organization.objects.values_list("legal_name", flat=True)) == [
        "Company 0",
        "Company 1",
    ]
    assert ImportedRecord.objects.filter(batch=failed).count() == 2
    batch_undo(actor=importer_user, batch=failed)
    assert not Organization.objects.exists()


def test_a_check_failing_while_a_chunk_is_written_fails_the_batch(importer_user, monkeypatch):
    """The chunk being written when checking a later one fails is written whole."""
    monkeypatch.setattr("konvergo.imports.services.CHUNK", 2)
    batch = five_companies_started(importer_user)
    calls = {"n": 0}
    parse_rows = engine.Importer.parse_rows

    def failing(self, chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("out of memory")
        return parse_rows(self, chunk)

    monkeypatch.setattr(engine.Importer, "parse_rows", failing)
    failed = batch_run(batch_id=batch.public_id)

    assert failed is not None and failed.status == BatchStatus.FAILED
    assert "RuntimeError: out of memory" in failed.log[-1]["text"]
    assert failed.processed_rows == 4 and Organization.objects.count() == 4
    batch_undo(actor=importer_user, batch=failed)
    assert not Organization.objects.exists()


def test_cancel_stops_a_queued_import(importer_user):
    batch = batch_dry_run(
        actor=importer_user,
        batch=batch_upload(actor=importer_user, data=xlsx([["Company"], ["A"]]), filename="a.xlsx"),
    )
    batch = batch_start(actor=importer_user, batch=batch)

    batch = batch_cancel(actor=importer_user, batch=batch)
    Worker().run_once()

    batch.refresh_from_db()
    assert batch.status == BatchStatus.CANCELLED
    assert not Organization.objects.exists()
    with pytest.raises(Conflict):
        batch_cancel(actor=importer_user, batch=batch)


def test_cancel_between_chunks(importer_user, monkeypatch):
    monkeypatch.setattr("konvergo.imports.services.CHUNK", 1)
    rows = [["Company"], ["A"], ["B"], ["C"]]
    batch = batch_dry_run(
        actor=importer_user,
        batch=batch_upload(actor=importer_user, data=xlsx(rows), filename="a.xlsx"),
    )
    batch = batch_start(actor=importer_user, batch=batch)
    write = engine.Importer.write

    def write_then_cancel(self, current, planned):
        write(self, current, planned)
        type(current).objects.filter(pk=current.pk).update(cancel_requested=True)

    monkeypatch.setattr(engine.Importer, "write", write_then_cancel)
    stopped = batch_run(batch_id=batch.public_id)

    assert stopped is not None and stopped.status == BatchStatus.CANCELLED
    assert list(Organization.objects.values_list("legal_name", flat=True)) == ["A"]
    assert stopped.processed_rows == 1


def test_saved_mapping_is_applied_to_a_sheet_with_the_same_headers(importer_user):
    rows = [["Kunde", "Notiz"], ["Acme", "VIP"]]
    first = batch_upload(actor=importer_user, data=xlsx(rows), filename="a.xlsx")
    first = batch_configure(
        actor=importer_user,
        batch=first,
        columns={"Kunde": "organization.legal_name", "Notiz": "organization.industry"},
        options={"duplicates": "update"},
    )
    mapping_save(actor=importer_user, batch=first, name="Monthly list")

    second = batch_upload(
        actor=importer_user, data=xlsx([["kunde ", "NOTIZ"], ["Beta", "x"]]), filename="b.xlsx"
    )

    assert second.mapping is not None and second.mapping.name == "Monthly list"
    assert second.columns == {"kunde": "organization.legal_name", "NOTIZ": "organization.industry"}
    assert second.options["duplicates"] == "update"


def test_undo_refused_while_a_later_deal_points_at_an_imported_organisation(
    importer_user, pipeline
):
    batch = run(
        importer_user,
        batch_upload(actor=importer_user, data=xlsx([["Company"], ["Acme"]]), filename="a.xlsx"),
    )
    acme = Organization.objects.get()
    deal_create(actor=importer_user, title="Later deal", organization=acme)

    with pytest.raises(BusinessError, match="cannot be undone"):
        batch_undo(actor=importer_user, batch=batch)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.DONE
    assert Organization.objects.count() == 1
    assert ImportedRecord.objects.filter(batch=batch).count() == 1


def test_rows_checked_in_a_helper_process_give_the_same_batch(importer_user, monkeypatch):
    from konvergo.imports import parallel

    rows = [
        ["Company", "Contact", "E-mail", "Phone", "Amount"],
        *[
            [f"Firma {i % 7} GmbH", f"Jan Nowak{i % 5}", f"jan{i % 5}@firma.example", p, a]
            for i, (p, a) in enumerate(
                [("+49 30 1234567", "100,50"), ("12", "x"), ("", "7"), ("+48 22 1234567", "")] * 6
            )
        ],
    ]
    data = xlsx(rows)
    monkeypatch.setattr("konvergo.imports.services.CHUNK", 3)
    in_process = batch_dry_run(
        actor=importer_user,
        batch=batch_upload(actor=importer_user, data=data, filename="a.xlsx"),
    )
    monkeypatch.setattr(parallel, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(parallel, "_cores", lambda: 2)
    used = {"helper": 0}
    original = parallel.CheckedChunks._result

    def result(self, index):
        packed = original(self, index)
        used["helper"] += bool(packed)
        return packed

    monkeypatch.setattr(parallel.CheckedChunks, "_result", result)
    monkeypatch.setattr(parallel, "_claim", lambda claims, index: False)  # wait for the helper
    helper = batch_dry_run(
        actor=importer_user,
        batch=batch_upload(actor=importer_user, data=data, filename="a.xlsx"),
    )

    counts = ("created_count", "updated_count", "skipped_count", "failed_count", "row_errors")
    assert [getattr(helper, c) for c in counts] == [getattr(in_process, c) for c in counts]
    assert in_process.failed_count > 0 and in_process.created_count > 0
    assert used["helper"] == 8  # every chunk came from the helper


def test_a_run_checked_in_the_helper_and_written_in_a_thread_imports_the_same(
    importer_user, monkeypatch
):
    """Checked in the helper process, written in a second thread (parallel.write_behind):
    the same records and counts as one chunk checked and written here."""
    import threading

    from konvergo.imports import parallel

    rows = [
        ["Company", "Contact", "E-mail", "Phone"],
        *[
            [f"Firma {i % 4} GmbH", f"Jan Nowak{i % 5}", f"jan{i % 5}@firma.example", phone]
            for i, phone in enumerate(["+49 30 1234567", "12", "", "+48 22 1234567"] * 3)
        ],
    ]
    data = xlsx(rows)

    def imported(batch):
        return (
            [getattr(batch, c) for c in ("created_count", "skipped_count", "failed_count")],
            batch.row_errors,
            sorted(Organization.objects.values_list("legal_name", "normalized_name")),
            sorted(Person.objects.values_list("first_name", "last_name")),
            sorted(Email.objects.values_list("address", flat=True)),
            sorted(Phone.objects.values_list("number", flat=True)),
            ImportedRecord.objects.filter(batch=batch).count(),
        )

    here = run(importer_user, batch_upload(actor=importer_user, data=data, filename="a.xlsx"))
    expected = imported(here)
    batch_undo(actor=importer_user, batch=here)
    monkeypatch.setattr("konvergo.imports.services.CHUNK", 3)
    monkeypatch.setattr(parallel, "PARALLEL_ROWS", 1)
    monkeypatch.setattr(parallel, "_cores", lambda: 2)
    monkeypatch.setattr(parallel, "_claim", lambda claims, index: False)  # all: the helper
    threads: set[str] = set()
    write = engine.Importer.write

    def recorded(self, current, planned):
        threads.add(threading.current_thread().name)
        write(self, current, planned)

    monkeypatch.setattr(engine.Importer, "write", recorded)
    behind = run(importer_user, batch_upload(actor=importer_user, data=data, filename="a.xlsx"))

    assert threads == {"konvergo-import-write"}
    assert behind.status == BatchStatus.DONE
    assert imported(behind) == expected
    assert expected[0][0] > 0 and expected[0][2] > 0  # some created, some failed


def test_a_long_file_name_imports_and_undoes(importer_user):
    """The history's change reason holds 100 characters; the file name may be 255."""
    name = "Kunden " + "x" * 240 + ".xlsx"
    batch = batch_upload(
        actor=importer_user, data=xlsx([["Company"], ["Long Name GmbH"]]), filename=name
    )
    batch = run(importer_user, batch)
    assert batch.status == BatchStatus.DONE, batch.log
    assert Organization.objects.filter(legal_name="Long Name GmbH").exists()
    batch_undo(actor=importer_user, batch=batch)
    assert not Organization.objects.filter(legal_name="Long Name GmbH").exists()
