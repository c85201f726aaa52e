"""Importing a spreadsheet in a real browser: upload, check the suggested columns, dry run with
a failing row, import (the job) with the progress panel polled by htmx, then undo.

Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from openpyxl import Workbook

from konvergo.core.jobs import Worker
from konvergo.crm.models import Organization, Person
from konvergo.org.models import Scope, User
from konvergo.org.services import role_create
from tests.e2e.support import PASSWORD, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

PERMISSIONS = [
    *(
        f"crm.{action}_{model}"
        for model in ("organization", "person", "deal", "activity")
        for action in ("view", "add", "change", "delete")
    ),
    "imports.add_importbatch",
    "imports.view_importbatch",
    "imports.add_importmapping",
]


@pytest.fixture
def seller() -> User:
    user = User.objects.create_user(
        username="jonas", password=PASSWORD, first_name="Jonas", last_name="Becker"
    )
    user.roles.add(role_create(name="Sales import", scope=Scope.ALL, permissions=PERMISSIONS))
    return user


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    book = Workbook()
    ws = book.active
    ws.title = "Kunden"
    ws.append(["Kundenliste März"])
    ws.append([])
    ws.append(["Firma", "Ansprechpartner", "E-Mail", "Telefon", "Notiz"])
    ws.append(["Acme GmbH ", "Hans Meier", "hans@acme.de", "030 1234567", "VIP"])
    ws.append(["Beta AG", "Eva Schulz", "eva@beta", "", ""])
    ws.append(["Gamma KG", "Kowalski, Jan", "jan@gamma.de", "+48 601 234 567", ""])
    path = tmp_path / "kunden.xlsx"
    book.save(path)
    return path


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def test_upload_map_dry_run_import_undo(
    live_server, page: Page, seller: User, sheet: Path, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, seller.username)
    page.goto(f"{live_server.url}/imports/")
    expect(page.locator("h1")).to_have_text("Import a spreadsheet")

    page.get_by_label("Spreadsheet").set_input_files(str(sheet))
    page.get_by_role("button", name="Upload").click()

    expect(page.locator("h1")).to_have_text("kunden.xlsx")
    expect(page.get_by_label("Header row")).to_have_value("3")
    expect(page.get_by_label("Firma")).to_have_value("organization.legal_name")
    expect(page.get_by_label("Ansprechpartner")).to_have_value("person.full_name")
    expect(page.get_by_label("E-Mail", exact=True)).to_have_value("person.email")
    expect(page.get_by_label("Notiz")).to_have_value("organization.notes")
    page.get_by_label("Notiz").select_option("person.notes")
    page.get_by_label("Default country").fill("DE")
    assert_fits_a_phone(page)
    screenshot("import-mapping")

    page.get_by_role("button", name="Dry run").click()

    expect(page.get_by_test_id("count-created")).to_have_text("2")
    expect(page.get_by_test_id("count-failed")).to_have_text("1")
    expect(page.get_by_test_id("row-errors")).to_contain_text(
        "E-mail: eva@beta is not a valid e-mail address."
    )
    expect(page.get_by_test_id("error-report")).to_be_visible()
    assert not Organization.objects.exists()
    screenshot("import-dry-run")

    page.get_by_test_id("start-import").click()
    expect(page.get_by_test_id("status")).to_have_text("Waiting to run")
    Worker().run_once()  # the background job
    expect(page.get_by_test_id("status")).to_have_text("Imported")  # htmx polled the panel
    expect(page.get_by_test_id("count-created")).to_have_text("2")
    assert Organization.objects.filter(legal_name="Acme GmbH").exists()
    assert Person.objects.get(last_name="Meier").notes == "VIP"
    assert sorted(Person.objects.values_list("first_name", "last_name")) == [
        ("Hans", "Meier"),
        ("Jan", "Kowalski"),
    ]
    screenshot("import-done")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Undo this import").click()

    expect(page.locator(".kv-messages")).to_contain_text("The import has been undone.")
    expect(page.get_by_test_id("status")).to_have_text("Undone")
    assert not Organization.objects.exists() and not Person.objects.exists()
