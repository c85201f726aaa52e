"""The CRM in a real browser: creating an organisation shows the duplicate warning, logging a
call on the dossier, dragging a deal to the next stage on the board (and a refused drop putting
the card back), handing a client over, and the quick entry forms at phone width.

Screenshots go to test-artifacts/screenshots/ (git-ignored) for people to look at."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from konvergo.crm.models import Activity, Deal, Organization, OwnershipTransfer, Pipeline
from konvergo.crm.services.contacts import organization_create
from konvergo.crm.services.deals import deal_create, pipeline_create
from konvergo.org.models import Role, Scope, User
from konvergo.org.services import role_create
from tests.e2e.support import PASSWORD, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Locator, Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

SELLING = [
    f"crm.{action}_{model}"
    for model in ("organization", "person", "deal", "activity")
    for action in ("view", "add", "change")
]


@pytest.fixture
def seller() -> User:
    user = User.objects.create_user(
        username="marta", password=PASSWORD, first_name="Marta", last_name="Wiśniewska"
    )
    user.roles.add(role_create(name="Sales", scope=Scope.ALL, permissions=SELLING))
    return user


@pytest.fixture
def colleague() -> User:
    return User.objects.create_user(username="omid", first_name="Omid", last_name="Karimi")


@pytest.fixture
def acme(seller: User) -> Organization:
    return organization_create(
        actor=seller,
        legal_name="Acme Trading GmbH",
        status="customer",
        tags=["key account"],
        emails=[{"address": "info@acme.example", "kind": "work", "is_primary": True}],
        phones=[{"number": "+49 30 1234567", "kind": "work", "is_primary": True}],
        addresses=[
            {
                "kind": "office",
                "street": "Friedrichstraße 1",
                "city": "Berlin",
                "postal_code": "10117",
                "country": "DE",
            }
        ],
    )


@pytest.fixture
def pipeline() -> Pipeline:
    return pipeline_create(
        name="Sales",
        stages=[
            {"name": "New", "probability": 10},
            {"name": "Proposal", "probability": 50},
            {"name": "Won", "probability": 100, "is_won": True},
            {"name": "Lost", "probability": 0, "is_lost": True},
        ],
        is_default=True,
    )


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def test_create_an_organisation_and_see_the_duplicate_warning(
    live_server, page: Page, seller: User, acme: Organization, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, seller.username)

    # Clients > Organisations > New, through the menu behind the toggler at 375 px
    page.get_by_role("button", name="Toggle navigation").click()
    page.get_by_role("button", name="Clients").click()
    page.get_by_role("link", name="Organisations").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Organisations")
    expect(page.get_by_test_id("crm-list")).to_contain_text("Acme Trading GmbH")
    assert_fits_a_phone(page)
    screenshot("crm-organisations-375")
    page.get_by_role("link", name="New organisation").click()

    # typing the name already warns (htmx, while typing)
    page.get_by_label("Legal name").fill("ACME Trading")
    live = page.locator("#kv-duplicates").get_by_test_id("duplicates")
    expect(live).to_contain_text("Acme Trading GmbH")
    expect(live).to_contain_text("Same name")
    page.get_by_label("Phone").fill("+49 30 1234567")
    expect(live).to_contain_text("Same phone: +49301234567")
    assert_fits_a_phone(page)
    screenshot("crm-organisation-duplicate-live-375")

    # saving stops before writing and asks
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.locator("form").get_by_test_id("duplicates").first
    expect(warning).to_contain_text("Before saving")
    expect(warning.get_by_role("link", name="Acme Trading GmbH")).to_be_visible()
    assert Organization.objects.count() == 1
    screenshot("crm-organisation-duplicate-warning-375")

    warning.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("ACME Trading")
    expect(page.get_by_role("status")).to_contain_text("was saved")
    assert Organization.objects.count() == 2
    assert_fits_a_phone(page)


def test_log_a_call_on_the_dossier(
    live_server, page: Page, seller: User, acme: Organization, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, seller.username)
    page.goto(f"{live_server.url}/crm/organizations/{acme.public_id}/")
    expect(page.get_by_test_id("dossier-header")).to_contain_text("key account")
    expect(page.get_by_role("link", name="+49301234567")).to_have_attribute(
        "href", "tel:+49301234567"
    )

    page.get_by_role("button", name="Log a call").click()
    form = page.get_by_test_id("action-call")
    form.get_by_label("Subject").fill("Asked for a price list")
    form.get_by_label("Outcome").fill("reached")
    form.get_by_label("Notes").fill("Send the 2026 prices by Friday.")
    assert_fits_a_phone(page)
    screenshot("crm-dossier-log-call-375")
    form.get_by_role("button", name="Log a call").click()

    expect(page.get_by_test_id("action-call").get_by_role("status")).to_have_text(
        "The call was logged."
    )
    past = page.get_by_test_id("timeline-past")
    expect(past).to_contain_text("Call: Asked for a price list")
    expect(past).to_contain_text("reached")
    # the form is empty again for the next call
    expect(page.get_by_test_id("action-call").get_by_label("Subject")).to_have_value("")
    call = Activity.objects.get()
    assert (call.kind, call.organization, call.outcome) == ("call", acme, "reached")
    assert_fits_a_phone(page)
    screenshot("crm-dossier-after-call-375")


def drag(page: Page, card: Locator, target: Locator) -> None:
    """A real drag with the mouse: press on the card, move in steps, release on the column."""
    card.scroll_into_view_if_needed()
    start = card.bounding_box()
    end = target.bounding_box()
    assert start is not None and end is not None
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + 12)
    page.mouse.down()
    page.mouse.move(start["x"] + start["width"] / 2 + 10, start["y"] + 20, steps=5)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 30, steps=20)
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + 40, steps=5)
    page.mouse.up()


def test_drag_a_deal_to_the_next_stage_on_the_board(
    live_server,
    page: Page,
    seller: User,
    acme: Organization,
    pipeline: Pipeline,
    screenshot: Callable[[str], None],
) -> None:
    deal = deal_create(
        actor=seller, title="Fleet renewal", organization=acme, amount=Decimal("12500")
    )
    other = deal_create(
        actor=seller, title="Spare parts", organization=acme, amount=Decimal("800"), currency="PLN"
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, live_server.url, seller.username)
    page.get_by_role("button", name="Deals").click()
    page.get_by_role("link", name="Board").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Deals board: Sales")

    new = page.get_by_test_id("stage-new")
    proposal = page.get_by_test_id("stage-proposal")
    expect(new.get_by_test_id("stage-count")).to_have_text("2 deals")
    expect(proposal.get_by_test_id("stage-count")).to_have_text("0 deals")
    screenshot("crm-board-before-1280")

    drag(
        page,
        new.get_by_test_id("deal-card").filter(has_text="Fleet renewal"),
        proposal.locator(".kv-board-cards"),
    )

    expect(proposal.get_by_test_id("stage-count")).to_have_text("1 deal")
    expect(proposal).to_contain_text("Fleet renewal")
    expect(proposal.get_by_test_id("stage-total")).to_have_text("12,500.00 EUR")
    expect(new.get_by_test_id("stage-count")).to_have_text("1 deal")
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal"
    screenshot("crm-board-after-drag-1280")

    # the permission goes away meanwhile: the drop is refused, the card goes back
    for role in Role.objects.filter(users=seller):
        role.permissions.remove(*role.permissions.filter(codename="change_deal"))
    drag(
        page,
        new.get_by_test_id("deal-card").filter(has_text="Spare parts"),
        proposal.locator(".kv-board-cards"),
    )
    expect(page.get_by_test_id("board-message")).to_contain_text("You may not change deals")
    expect(new).to_contain_text("Spare parts")
    expect(proposal).not_to_contain_text("Spare parts")
    other.refresh_from_db()
    assert other.stage.name == "New"
    screenshot("crm-board-refused-1280")

    # at phone width the board scrolls inside itself, not the page
    page.set_viewport_size({"width": 375, "height": 800})
    page.reload()
    assert_fits_a_phone(page)
    screenshot("crm-board-375")


def test_transfer_a_client(
    live_server,
    page: Page,
    seller: User,
    colleague: User,
    acme: Organization,
    pipeline: Pipeline,
    screenshot: Callable[[str], None],
) -> None:
    deal = deal_create(actor=seller, title="Fleet renewal", organization=acme)
    sign_in(page, live_server.url, seller.username)
    page.goto(f"{live_server.url}/crm/organizations/{acme.public_id}/")
    page.get_by_role("link", name="Hand over").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hand over “Acme Trading GmbH”")
    page.get_by_label("New owner").select_option(label="Omid Karimi")
    page.get_by_label("Reason").fill("Omid takes over Berlin")
    expect(page.get_by_label("Hand over the open deals too")).to_be_checked()
    assert_fits_a_phone(page)
    screenshot("crm-transfer-375")
    page.get_by_role("button", name="Hand over").click()

    expect(page.get_by_role("status")).to_contain_text("now belongs to Omid Karimi")
    expect(page.get_by_test_id("dossier-header")).to_contain_text("Omid Karimi")
    expect(page.get_by_test_id("timeline-past")).to_contain_text("Omid takes over Berlin")
    acme.refresh_from_db()
    deal.refresh_from_db()
    assert (acme.owner, deal.owner) == (colleague, colleague)
    assert OwnershipTransfer.objects.get().reason == "Omid takes over Berlin"
    assert colleague.notifications.count() == 1
    screenshot("crm-dossier-after-transfer-375")


def test_quick_entry_on_a_phone(
    live_server, page: Page, seller: User, acme: Organization, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, seller.username)
    page.get_by_role("button", name="Toggle navigation").click()
    page.get_by_role("button", name="Clients").click()
    page.get_by_role("link", name="New contact").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("New contact")
    page.get_by_label("First name").fill("Jan")
    page.get_by_label("Last name").fill("Kowalski")
    page.get_by_label("Phone").fill("+48 601 234 567")
    page.get_by_label("E-mail").fill("jan@example.com")
    page.get_by_label("Organisation").fill("Acme Trading GmbH")
    assert_fits_a_phone(page)
    screenshot("crm-quick-contact-375")
    page.get_by_role("button", name="Save contact").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Jan Kowalski")
    expect(page.get_by_test_id("dossier-header")).to_contain_text("Acme Trading GmbH")

    page.goto(f"{live_server.url}/crm/quick/call/")
    client = page.get_by_role("combobox", name="Client")
    client.fill("Kowal")
    expect(page.locator("#kv-client-names option")).to_have_count(1)
    client.fill(page.locator("#kv-client-names option").first.get_attribute("value") or "")
    page.get_by_label("Subject").fill("Intro")
    page.get_by_label("Outcome").fill("voicemail")
    assert_fits_a_phone(page)
    screenshot("crm-quick-call-375")
    page.get_by_role("button", name="Log call").click()
    expect(page.get_by_role("status")).to_contain_text("was logged")
    expect(page.get_by_test_id("timeline-past")).to_contain_text("Call: Intro")
    assert Activity.objects.get().person is not None
    assert Deal.objects.count() == 0
