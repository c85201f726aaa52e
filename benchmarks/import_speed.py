"""Spreadsheet import speed: a 100,000-row XLSX imported on SQLite, against merely reading the
same file with python-calamine in the same run.

The sheet is a typical client list (company, contact person, e-mail, phone, city, amount of a
deal), written by openpyxl. The import is the real run of `konvergo.imports`: it reads the
file, checks every row (the same checks as the dry run: e-mail, E.164 phone, duplicates against
the directory and the file) and writes organisations, persons, their e-mails, phones,
addresses, employments and deals with their history rows and the search index, chunk by chunk.
Value = imported rows per second; baseline = rows per second python-calamine reads;
ratio = value / baseline. Goal: at least 5,000 rows/s.

    python benchmarks/import_speed.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import sys
import time

from common import report, setup_django

FIRST = ["Lukas", "Julia", "Anna", "Jan", "Marta", "Omid", "Ivan", "Olga", "Sara", "Piotr"]
LAST = ["Müller", "Kowalski", "Иванов", "Rezaei", "Schmidt", "Nowak", "Petrova", "Karimi"]
CITIES = ["Berlin", "Warszawa", "Москва", "Tehran", "Köln", "Kraków"]


def workbook(rows: int) -> bytes:
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Kunden")
    sheet.append(["Firma", "Ansprechpartner", "E-Mail", "Telefon", "Stadt", "Betrag"])
    for i in range(rows):
        sheet.append(
            [
                f"Firma {i} GmbH",
                f"{FIRST[i % len(FIRST)]} {LAST[i % len(LAST)]}{i}",
                f"kontakt{i}@firma{i}.example",
                f"+49 30 {1_000_000 + i}",
                CITIES[i % len(CITIES)],
                f"{(i % 900) + 100},50",
            ]
        )
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def read_rate(data: bytes, rows: int) -> float:
    import python_calamine

    start = time.perf_counter()
    book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    read = book.get_sheet_by_index(0).to_python()
    elapsed = time.perf_counter() - start
    assert len(read) == rows + 1
    return rows / elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5,000 rows instead of 100,000")
    rows = 5_000 if parser.parse_args().quick else 100_000
    setup_django()

    from konvergo.crm.models import Organization, Person
    from konvergo.crm.services.deals import pipeline_create
    from konvergo.imports.models import BatchStatus
    from konvergo.imports.services import batch_dry_run, batch_run, batch_start, batch_upload
    from konvergo.org.models import User

    actor = User.objects.create_superuser("bench", "bench@example.com", "bench")
    pipeline_create(name="Sales", stages=[{"name": "New", "probability": 10}], is_default=True)
    data = workbook(rows)
    baseline = max(read_rate(data, rows) for _ in range(3))

    batch = batch_upload(actor=actor, data=data, filename="kunden.xlsx")
    assert batch.columns == {
        "Firma": "organization.legal_name",
        "Ansprechpartner": "person.full_name",
        "E-Mail": "person.email",
        "Telefon": "person.phone",
        "Stadt": "organization.city",
        "Betrag": "deal.amount",
    }, batch.columns
    started = time.perf_counter()
    batch = batch_dry_run(actor=actor, batch=batch)
    dry = time.perf_counter() - started
    assert batch.failed_count == 0, batch.row_errors[:3]
    batch = batch_start(actor=actor, batch=batch)
    started = time.perf_counter()
    done = batch_run(batch_id=batch.public_id)  # the job's body, in this process
    elapsed = time.perf_counter() - started
    assert done is not None and done.status == BatchStatus.DONE, done and done.log
    assert Organization.objects.count() == rows and Person.objects.count() == rows
    value = rows / elapsed
    print(
        f"{rows} rows: dry run {dry:.1f} s ({rows / dry:,.0f} rows/s), import {elapsed:.1f} s, "
        f"python-calamine reads {baseline:,.0f} rows/s",
        file=sys.stderr,
    )
    report(
        benchmark="import_speed",
        metric="rows_per_s",
        value=round(value, 1),
        unit="1/s",
        baseline="python_calamine_read",
        baseline_value=round(baseline, 1),
        ratio=round(value / baseline, 4),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
