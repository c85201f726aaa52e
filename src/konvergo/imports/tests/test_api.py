"""The import API: upload, configure, dry run, run, progress, undo, error report; permissions
and visibility first, clear 4xx for bad files."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from openpyxl import load_workbook

from konvergo.core.jobs import Worker
from konvergo.crm.models import Organization
from konvergo.imports.models import ImportBatch
from konvergo.imports.tests.conftest import IMPORTS, grant, xlsx
from konvergo.org.models import User
from konvergo.org.services import api_token_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db
BASE = "/api/v1/imports"


class Api:
    def __init__(self, user: User) -> None:
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def get(self, path: str) -> Any:
        return self.client.get(BASE + path, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            BASE + path, body or {}, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def upload(self, data: bytes, name: str) -> Any:
        return self.client.post(
            BASE + "/batches", {"file": SimpleUploadedFile(name, data)}, headers=self.headers
        )


ROWS = [
    ["Company", "E-mail", "Phone"],
    ["Acme GmbH", "info@acme.de", "+49 30 1234567"],
    ["Broken AG", "broken@", ""],
]


def test_upload_dry_run_run_undo(importer_user):
    api = Api(importer_user)

    created = api.upload(xlsx(ROWS), "clients.xlsx")
    assert created.status_code == 201, created.content
    body = created.json()
    batch_id = body["id"]
    assert body["headers"] == ["Company", "E-mail", "Phone"]
    assert body["columns"] == {
        "Company": "organization.legal_name",
        "E-mail": "organization.email",
        "Phone": "organization.phone",
    }

    checked = api.post(f"/batches/{batch_id}/dry-run").json()
    assert (checked["created"], checked["failed"]) == (1, 1)
    assert checked["row_errors"] == [[3, "E-mail: broken@ is not a valid e-mail address."]]

    report = api.get(f"/batches/{batch_id}/errors.xlsx")
    assert report.status_code == 200
    rows = list(load_workbook(io.BytesIO(report.content)).active.values)
    assert rows == [
        ("Company", "E-mail", "Phone", "Error"),
        ("Broken AG", "broken@", None, "E-mail: broken@ is not a valid e-mail address."),
    ]

    started = api.post(f"/batches/{batch_id}/run")
    assert started.status_code == 202 and started.json()["status"] == "queued"
    Worker().run_once()
    done = api.get(f"/batches/{batch_id}").json()
    assert (done["status"], done["progress_percent"], done["created"]) == ("done", 100, 1)
    assert Organization.objects.get().legal_name == "Acme GmbH"

    undone = api.post(f"/batches/{batch_id}/undo").json()
    assert undone["status"] == "undone"
    assert not Organization.objects.exists()


def test_patch_columns_and_options_with_field_errors(importer_user):
    api = Api(importer_user)
    batch_id = api.upload(xlsx(ROWS), "clients.xlsx").json()["id"]

    bad = api.patch(
        f"/batches/{batch_id}",
        {"columns": {"Company": "organization.nope"}, "options": {"duplicates": "merge"}},
    )

    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == {
        "columns.Company": ["organization.nope is not a field an import can fill."],
        "options.duplicates": ["Choose skip, update or create."],
    }
    assert ImportBatch.objects.get().columns["Company"] == "organization.legal_name"

    good = api.patch(f"/batches/{batch_id}", {"columns": {"Company": "organization.legal_name"}})
    assert good.json()["columns"] == {"Company": "organization.legal_name"}


def test_bad_file_is_a_422_and_saves_nothing(importer_user):
    response = Api(importer_user).upload(b"%PDF-1.4\x00\x01", "offer.pdf")

    assert response.status_code == 422
    assert response.json()["error"]["message"] == (
        "offer.pdf is not a spreadsheet. Upload an .xlsx, .xls, .ods or .csv file."
    )
    assert not ImportBatch.objects.exists()


def test_without_permission_403_and_other_users_batches_404(importer_user):
    outsider = UserFactory.create()
    assert Api(outsider).upload(xlsx(ROWS), "c.xlsx").status_code == 403
    assert not ImportBatch.objects.exists()

    batch_id = Api(importer_user).upload(xlsx(ROWS), "c.xlsx").json()["id"]
    colleague = grant(UserFactory.create(), *IMPORTS, "crm.add_organization", scope="own")
    assert Api(colleague).get(f"/batches/{batch_id}").status_code == 404
    assert Api(colleague).post(f"/batches/{batch_id}/run").status_code == 404


def test_importing_needs_the_crm_permission_too(importer_user):
    batch_id = Api(importer_user).upload(xlsx(ROWS), "c.xlsx").json()["id"]
    only_imports = grant(UserFactory.create(), *IMPORTS)
    api = Api(only_imports)
    own = api.upload(xlsx(ROWS), "c.xlsx").json()["id"]

    response = api.post(f"/batches/{own}/dry-run")

    assert response.status_code == 403
    assert batch_id != own
