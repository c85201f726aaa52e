"""The import pages: upload, mapping and options, dry run, import with progress, undo, the
error report; refused without permission, another user's batch is a 404."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from konvergo.core.jobs import Worker
from konvergo.crm.models import Organization, Person
from konvergo.imports.models import BatchStatus, ImportBatch
from konvergo.imports.tests.conftest import IMPORTS, grant, xlsx
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROWS = [
    ["Kundenliste"],
    [],
    ["Firma", "Vorname", "Nachname", "E-Mail", "Notiz"],
    ["Acme GmbH", "Hans", "Meier", "hans@acme.de", "x"],
    ["Beta AG", "Eva", "", "eva@beta.de", ""],
]


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def upload(client: Client, data: bytes, name: str = "kunden.xlsx"):
    return client.post("/imports/", {"file": SimpleUploadedFile(name, data)})


def test_upload_map_dry_run_import_undo(importer_user):
    client = signed_in(importer_user)

    response = upload(client, xlsx(ROWS))
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/imports/{batch.public_id}/"
    page = client.get(response["Location"]).content.decode()
    assert 'value="3"' in page  # the header row under the title was found
    assert '<option value="organization.legal_name" selected>' in page
    assert '<option value="person.last_name" selected>' in page

    response = client.post(
        f"/imports/{batch.public_id}/settings/",
        {
            "sheet": "Sheet1",
            "header_row": 3,
            "column-0": "organization.legal_name",
            "column-1": "person.first_name",
            "column-2": "person.last_name",
            "column-3": "person.email",
            "column-4": "",
            "duplicates": "skip",
            "match_by": ["email", "name"],
            "default_country": "de",
            "date_order": "DMY",
            "decimal_separator": "auto",
            "currency": "eur",
            "dry_run": "",
        },
    )
    assert response.status_code == 302
    batch.refresh_from_db()
    assert batch.status == BatchStatus.CHECKED
    assert batch.options["default_country"] == "DE" and batch.options["match_by"] == [
        "email",
        "name",
    ]
    assert "Notiz" not in batch.columns
    page = client.get(f"/imports/{batch.public_id}/").content.decode()
    assert 'data-testid="count-created">1<' in page
    assert "Last name: this field is required." in page
    assert not Organization.objects.exists()

    report = client.get(f"/imports/{batch.public_id}/errors.xlsx")
    assert list(load_workbook(io.BytesIO(report.content)).active.values) == [
        ("Firma", "Vorname", "Nachname", "E-Mail", "Notiz", "Error"),
        ("Beta AG", "Eva", None, "eva@beta.de", None, "Last name: this field is required."),
    ]

    assert client.post(f"/imports/{batch.public_id}/run/").status_code == 302
    progress = client.get(f"/imports/{batch.public_id}/", headers={"HX-Request": "true"})
    assert 'hx-trigger="every 1s"' in progress.content.decode()
    Worker().run_once()
    progress = client.get(f"/imports/{batch.public_id}/", headers={"HX-Request": "true"})
    html = progress.content.decode()
    assert 'data-status="done"' in html and "every 1s" not in html
    assert Organization.objects.get().legal_name == "Acme GmbH"

    client.post(f"/imports/{batch.public_id}/undo/")
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UNDONE
    assert not Organization.objects.exists() and not Person.objects.exists()


def test_not_a_spreadsheet_is_a_form_error(importer_user):
    response = upload(signed_in(importer_user), b"%PDF-1.4\x00\x00", "offer.pdf")

    assert response.status_code == 400
    assert "offer.pdf is not a spreadsheet." in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_refused_without_permission_and_others_batches_are_404(importer_user):
    outsider = signed_in(UserFactory.create())
    assert outsider.get("/imports/").status_code == 403
    assert upload(outsider, xlsx(ROWS)).status_code == 403
    assert not ImportBatch.objects.exists()

    upload(signed_in(importer_user), xlsx(ROWS))
    batch = ImportBatch.objects.get()
    colleague = signed_in(grant(UserFactory.create(), *IMPORTS, scope="own"))
    assert colleague.get(f"/imports/{batch.public_id}/").status_code == 404
    assert colleague.post(f"/imports/{batch.public_id}/run/").status_code == 404
    batch.refresh_from_db()
    assert batch.status == BatchStatus.UPLOADED
