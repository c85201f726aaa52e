"""Triggers and the incoming-call pop-up in a real browser: an administrator writes the
missed-call rule on the rule page; a client calls, the pop-up shows who is calling with the
dossier one click away; the call goes unanswered, and the firing log shows the call-back
process the rule started.

Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from konvergo.core.jobs import Worker
from konvergo.crm.models import Person, Phone
from konvergo.integrations.services.telephony import call_event
from konvergo.org.models import User
from konvergo.processes.models import ProcessInstance
from konvergo.processes.services import definition_deploy
from konvergo.triggers.models import TriggerRule
from tests.e2e.support import PASSWORD, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)
LIBRARY = Path(__file__).resolve().parents[2] / "src/konvergo/triggers/library"


@pytest.fixture
def admin() -> User:
    return User.objects.create_superuser(
        username="katharina", password=PASSWORD, first_name="Katharina", last_name="Vogel",
        phone="+493055501",
    )  # fmt: skip


@pytest.fixture
def client_person(admin: User) -> Person:
    person = Person.objects.create(first_name="Erika", last_name="Muster", owner=admin)
    Phone.objects.create(person=person, number="+4917612345678", is_primary=True)
    return person


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def test_a_missed_call_pops_up_and_starts_the_call_back_rule(
    live_server, page: Page, admin: User, client_person: Person, screenshot: Callable[[str], None]
) -> None:
    definition_deploy(xml=(LIBRARY / "missed_call_callback.bpmn").read_bytes())
    sign_in(page, live_server.url, admin.username)

    # The administrator writes the rule
    page.goto(f"{live_server.url}/triggers/")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("Missed call: call back")
    page.get_by_label("When this event happens").fill("integrations.call.missed")
    page.get_by_label("And this condition holds").fill('owner != ""')
    page.get_by_label("Process to start").select_option("missed_call_callback")
    page.get_by_label("Business key").fill("call")
    page.get_by_label("Variables").fill("owner = owner\ncaller = caller")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").first).to_contain_text("Missed call: call back")
    expect(page.locator("#kv-trigger-rules")).to_contain_text("integrations.call.missed")
    assert_fits_a_phone(page)
    screenshot("triggers-rules")
    assert TriggerRule.objects.get().variables == {"owner": "owner", "caller": "caller"}

    # A client calls Katharina: the pop-up shows who it is, with the dossier a click away
    call_event(
        {"call_id": "c-77", "event": "ringing", "caller": "+4917612345678", "callee": "+493055501"}
    )
    popup = page.locator("#kv-call-popup")
    expect(popup).to_contain_text("Incoming call", timeout=12_000)
    expect(popup).to_contain_text("Erika Muster")
    screenshot("integrations-call-popup")
    popup.get_by_role("link", name="Erika Muster").click()
    expect(page.locator("h1")).to_contain_text("Erika Muster")

    # Nobody answers; the rule starts the call-back process
    call_event({"call_id": "c-77", "event": "ended"})
    Worker().run_once()
    page.goto(f"{live_server.url}/triggers/log/")
    log = page.locator("#kv-trigger-firings")
    expect(log).to_contain_text("Missed call: call back")
    expect(log).to_contain_text("Done")
    expect(log).to_contain_text("Missed call call-back c-77")
    screenshot("triggers-firing-log")
    instance = ProcessInstance.objects.get()
    assert instance.business_key == "c-77"
