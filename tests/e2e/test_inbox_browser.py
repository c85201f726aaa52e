"""The inbox in a real browser: a two-step process with form-js forms completed from the inboxes
of two people. The first step is offered to a group: Ola claims it from "My groups", fills the
purchase request (the form refuses a bad amount) and completes it; the second step goes by rule
to her manager Max, whose form shows her data, and who approves. The diagram marks the current
step. Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.org.models import Department, Role, User
from konvergo.processes.models import InstanceStatus, ProcessInstance
from konvergo.processes.services import definition_deploy, process_start
from tests.e2e.support import PASSWORD, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

REQUEST_FORM: dict[str, Any] = {
    "id": "purchase-request",
    "type": "default",
    "components": [
        {"type": "textfield", "key": "item", "label": "Item", "validate": {"required": True}},
        {
            "type": "number",
            "key": "amount",
            "label": "Amount (EUR)",
            "validate": {"required": True, "min": 1, "max": 5000},
        },
        {
            "type": "radio",
            "key": "urgency",
            "label": "Urgency",
            "values": [
                {"label": "Normal", "value": "normal"},
                {"label": "Urgent", "value": "urgent"},
            ],
            "validate": {"required": True},
        },
        {"type": "button", "action": "submit", "label": "Send request"},
    ],
}
APPROVAL_FORM: dict[str, Any] = {
    "id": "purchase-approval",
    "type": "default",
    "components": [
        {"type": "text", "text": "Request: {{item}} for {{amount}} EUR ({{urgency}})"},
        {"type": "checkbox", "key": "approved", "label": "Approved"},
        {"type": "textarea", "key": "remark", "label": "Remark", "validate": {"maxLength": 200}},
        {"type": "button", "action": "submit", "label": "Decide"},
    ],
}


@pytest.fixture
def people() -> dict[str, User]:
    staff = Role.objects.create(name="Staff")
    max_ = User.objects.create_user(
        username="max", password=PASSWORD, first_name="Max", last_name="Brandt"
    )
    office = Department.objects.create(name="Office", head=max_)
    ola = User.objects.create_user(
        username="ola", password=PASSWORD, first_name="Ola", last_name="Nowak", department=office
    )
    ola.roles.add(staff)
    max_.department = office
    max_.save()
    return {"ola": ola, "max": max_}


@pytest.fixture
def instance(people: dict[str, User]) -> ProcessInstance:
    definition_deploy(
        xml=user_tasks_xml(
            "purchase",
            [
                {
                    "id": "request",
                    "name": "Fill in the purchase request",
                    "attrs": {"candidateGroups": "Staff", "formKey": "purchase-request"},
                },
                {
                    "id": "approve",
                    "name": "Approve the purchase",
                    "attrs": {
                        "assignee": "rule:manager(initiator)",
                        "formKey": "camunda-forms:deployment:approval.form",
                        "priority": "80",
                    },
                },
            ],
            name="Purchase",
        ),
        forms={
            "request.form": json.dumps(REQUEST_FORM),
            "approval.form": json.dumps(APPROVAL_FORM),
        },
    )
    return process_start("purchase", business_key="PO-7", actor=people["ola"])


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def open_inbox(page: Page, base_url: str, section: str) -> None:
    page.goto(f"{base_url}/inbox/?section={section}")
    expect(page.locator("h1")).to_have_text("Inbox")


def test_two_step_process_with_forms_from_two_inboxes(
    live_server: Any,
    page: Page,
    browser: Browser,
    people: dict[str, User],
    instance: ProcessInstance,
    screenshot: Callable[[str], None],
) -> None:
    base = live_server.url
    sign_in(page, base, "ola")
    expect(page.get_by_test_id("inbox-badge")).to_have_text("1 open item")

    open_inbox(page, base, "groups")
    expect(page.get_by_test_id("count-groups")).to_have_text("1")
    page.get_by_role("link", name="Fill in the purchase request").click()
    expect(page.get_by_test_id("task-name")).to_have_text("Fill in the purchase request")
    page.get_by_role("button", name="Claim").click()
    expect(page.get_by_test_id("task-assignee")).to_contain_text("Ola Nowak")
    expect(page.locator("#kv-diagram[data-ready=true]")).to_be_visible()
    expect(page.locator('#kv-diagram [data-element-id="request"].kv-current')).to_have_count(1)
    expect(page.locator("#kv-form[data-ready=true]")).to_be_visible()
    screenshot("inbox-task-request")

    page.get_by_label("Item").fill("Laptop stand")
    page.get_by_label("Amount (EUR)").fill("9000")
    page.get_by_label("Urgent", exact=True).click()  # form-js re-renders: click, then check
    expect(page.get_by_label("Urgent", exact=True)).to_be_checked()
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("#kv-form")).to_contain_text("5000")  # form-js: at most 5000
    page.get_by_label("Amount (EUR)").fill("89")
    page.get_by_role("button", name="Send request").click()
    expect(page.locator("h1")).to_have_text("Inbox")
    expect(page.get_by_role("status")).to_contain_text("completed")
    expect(page.get_by_test_id("inbox-empty")).to_be_visible()
    assert_fits_a_phone(page)
    screenshot("inbox-ola-after-request")

    instance.refresh_from_db()
    assert instance.variables["item"] == "Laptop stand"
    assert instance.variables["amount"] == 89
    assert instance.variables["urgency"] == "urgent"

    # Max, in his own browser session: the second step came to him by rule.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    other = context.new_page()
    other.set_default_timeout(15_000)
    try:
        sign_in(other, base, "max")
        open_inbox(other, base, "mine")
        expect(other.get_by_test_id("count-mine")).to_have_text("1")
        screenshot_page(other, "inbox-max-list")
        other.get_by_role("link", name="Approve the purchase").click()
        expect(other.locator("#kv-form[data-ready=true]")).to_be_visible()
        expect(other.locator("#kv-form")).to_contain_text(
            "Request: Laptop stand for 89 EUR (urgent)"
        )
        expect(other.locator('#kv-diagram [data-element-id="approve"].kv-current')).to_have_count(1)
        expect(other.get_by_test_id("task-history")).to_contain_text("Fill in the purchase request")
        screenshot_page(other, "inbox-task-approve")
        other.get_by_label("Approved").click()
        expect(other.get_by_label("Approved")).to_be_checked()
        other.get_by_label("Remark").fill("Fine, order it.")
        other.get_by_role("button", name="Decide").click()
        expect(other.locator("h1")).to_have_text("Inbox")
        expect(other.get_by_test_id("inbox-empty")).to_be_visible()
    finally:
        context.close()

    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["approved"] is True
    assert instance.variables["remark"] == "Fine, order it."


def screenshot_page(page: Page, name: str) -> None:
    from tests.e2e.support import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
