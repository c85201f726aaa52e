"""`konvergo import FILE --mapping NAME [--dry-run]`."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from konvergo.crm.models import Organization, Person
from konvergo.imports.models import BatchStatus, ImportBatch
from konvergo.imports.services import batch_configure, batch_upload, mapping_save
from konvergo.imports.tests.conftest import FIXTURES, xlsx
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin():
    return UserFactory.create(username="boss", is_superuser=True, is_staff=True)


@pytest.fixture
def saved(admin):
    batch = batch_upload(
        actor=admin, data=(FIXTURES / "clients.ods").read_bytes(), filename="clients.ods"
    )
    batch_configure(
        actor=admin, batch=batch, options={"duplicates": "skip", "default_country": "RU"}
    )
    return mapping_save(actor=admin, batch=batch, name="Russian clients")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("import", *args, stdout=out)
    return out.getvalue()


def test_dry_run_writes_nothing(saved, tmp_path):
    output = run(str(FIXTURES / "clients.ods"), "--mapping", "Russian clients", "--dry-run")

    assert output.splitlines()[0] == "Dry run: 2 new, 0 updated, 0 skipped, 0 failed."
    assert not Organization.objects.exists()


def test_import_runs_in_process(saved):
    output = run(str(FIXTURES / "clients.ods"), "--mapping", "Russian clients", "--user", "boss")

    assert "Imported: 2 new, 0 updated, 0 skipped, 0 failed." in output
    # Both rows are the same company (same INN): one organisation, two people working there.
    organization = Organization.objects.get()
    assert organization.legal_name == "ООО Ромашка"  # noqa: RUF001
    assert sorted(Person.objects.values_list("last_name", "first_name")) == [
        ("Иванов", "Иван"),
        ("Петрова", "Мария"),
    ]
    assert organization.employments.count() == 2
    assert ImportBatch.objects.filter(status=BatchStatus.DONE).count() == 1


def test_unknown_mapping_and_bad_file(saved, tmp_path):
    with pytest.raises(
        CommandError, match="no saved mapping named Nope \\(saved: Russian clients\\)"
    ):
        run(str(FIXTURES / "clients.ods"), "--mapping", "Nope")
    bad = tmp_path / "offer.pdf"
    bad.write_bytes(b"%PDF-1.4\x00\x00")
    with pytest.raises(CommandError, match=r"offer\.pdf is not a spreadsheet"):
        run(str(bad), "--mapping", "Russian clients")
    empty = tmp_path / "empty.xlsx"
    empty.write_bytes(xlsx([]))
    with pytest.raises(CommandError, match="The file is empty"):
        run(str(empty), "--mapping", "Russian clients")
    assert (
        not ImportBatch.objects.exclude(mapping__isnull=False).filter(filename="offer.pdf").exists()
    )
