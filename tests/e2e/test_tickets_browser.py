"""The service desk in a real browser: an agent finds a new ticket in "my tickets" with the
keyboard, sees the client's dossier beside it, answers the customer and resolves it.

Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from konvergo.crm.services.contacts import organization_create
from konvergo.org.models import Scope, User
from konvergo.org.services import role_create
from konvergo.tickets.models import Ticket
from konvergo.tickets.services.setup import (
    priorities_ensure_defaults,
    queue_create,
    sla_policy_create,
)
from konvergo.tickets.services.tickets import ticket_create
from tests.e2e.support import PASSWORD, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

AGENT = [
    "tickets.view_ticket", "tickets.add_ticket", "tickets.change_ticket", "tickets.view_queue",
    "crm.view_organization", "crm.view_person", "crm.view_activity",
]  # fmt: skip


@pytest.fixture
def agent() -> User:
    user = User.objects.create_user(
        username="lena", password=PASSWORD, first_name="Lena", last_name="Hoffmann"
    )
    user.roles.add(role_create(name="Service desk", scope=Scope.ALL, permissions=AGENT))
    return user


@pytest.fixture
def ticket(agent: User) -> Ticket:
    priorities = {p.key: p for p in priorities_ensure_defaults()}
    sla_policy_create(
        name="P2", priority=priorities["P2"], first_response_minutes=240,
        next_response_minutes=480, resolution_minutes=2400,
    )  # fmt: skip
    queue = queue_create(name="Customer service")
    acme = organization_create(
        actor=agent,
        legal_name="Acme Trading GmbH",
        status="customer",
        emails=[{"address": "info@acme.example", "kind": "work", "is_primary": True}],
    )
    return ticket_create(
        actor=None,
        subject="Delivery arrived damaged",
        description="Two of five boxes were crushed.",
        queue=queue,
        priority=priorities["P2"],
        organization=acme,
        assignee=agent,
    )


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def test_an_agent_works_a_ticket_from_new_to_resolved(
    live_server, page: Page, agent: User, ticket: Ticket, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, agent.username)
    page.goto(f"{live_server.url}/tickets/?mine=1")
    rows = page.get_by_test_id("ticket-list")
    expect(rows).to_contain_text(f"#{ticket.number} Delivery arrived damaged")
    expect(rows.get_by_test_id("sla-badge")).to_contain_text("left")
    assert_fits_a_phone(page)
    screenshot("tickets-my-tickets")

    # Keyboard: j focuses the first ticket, Enter opens it.
    page.keyboard.press("j")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("ticket-title")).to_have_text(
        f"#{ticket.number} Delivery arrived damaged"
    )
    expect(page.get_by_test_id("ticket-status")).to_have_text("New")
    dossier = page.get_by_test_id("client-dossier")
    expect(dossier).to_contain_text("Acme Trading GmbH")
    expect(dossier).to_contain_text("info@acme.example")
    expect(dossier.locator("#kv-timeline")).to_be_visible()  # the CRM timeline, embedded

    # r jumps to the reply box; a public reply answers the customer and opens the ticket.
    page.keyboard.press("r")
    page.keyboard.type("We are sending replacements today.")
    page.get_by_test_id("reply-form").get_by_role("button", name="Send").click()
    expect(page.get_by_role("status").first).to_contain_text("Reply sent.")
    expect(page.get_by_test_id("comments")).to_contain_text("We are sending replacements today.")
    expect(page.get_by_test_id("ticket-status")).to_have_text("Open")

    page.get_by_test_id("status-buttons").get_by_role("button", name="Resolved").click()
    expect(page.get_by_role("status").first).to_contain_text(
        f"Ticket #{ticket.number} is now Resolved."
    )
    expect(page.get_by_test_id("ticket-status")).to_have_text("Resolved")
    assert_fits_a_phone(page)
    screenshot("tickets-resolved")

    ticket.refresh_from_db()
    assert ticket.status == "resolved"
    assert ticket.first_response_at is not None
    assert list(ticket.comments.values_list("is_public", flat=True)) == [True]
