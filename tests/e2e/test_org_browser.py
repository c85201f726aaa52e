"""The organisation pages in a real browser at phone width: org chart, creating a department
through the administration form, Persian right-to-left, notifications via htmx, search.

Screenshots go to test-artifacts/screenshots/ (git-ignored) for people to look at."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from konvergo.org.models import Department, Scope, User
from konvergo.org.services import notify, role_create
from tests.e2e.support import PASSWORD, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

MANAGE_DEPARTMENTS = [
    "org.view_department",
    "org.add_department",
    "org.change_department",
    "org.delete_department",
    "org.view_user",
]


@pytest.fixture
def company() -> dict[str, Department]:
    top = Department.objects.create(name="Management")
    sales = Department.objects.create(name="Sales", parent=top)
    service = Department.objects.create(name="Customer Service", parent=top)
    boss = User.objects.create_user(
        username="katharina", first_name="Katharina", last_name="Vogel", department=top
    )
    top.head = boss
    top.save()
    head_of_sales = User.objects.create_user(
        username="jan", first_name="Jan", last_name="Kowalski", department=sales
    )
    sales.head = head_of_sales
    sales.save()
    User.objects.create_user(
        username="anna", first_name="Anna", last_name="Nowak", department=sales
    )
    User.objects.create_user(
        username="sara", first_name="Sara", last_name="Ahmadi", department=service
    )
    return {"top": top, "sales": sales, "service": service}


@pytest.fixture
def manager(company: dict[str, Department]) -> User:
    user = User.objects.create_user(
        username="dmitri",
        password=PASSWORD,
        first_name="Dmitri",
        last_name="Sokolov",
        department=company["top"],
    )
    user.roles.add(role_create(name="HR", scope=Scope.ALL, permissions=MANAGE_DEPARTMENTS))
    return user


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def test_org_chart_and_a_new_department_through_the_form(
    live_server, page: Page, manager: User, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, manager.username)

    # the navigation (behind the toggler at 375 px) leads to the org chart
    page.get_by_role("button", name="Toggle navigation").click()
    page.get_by_role("link", name="Org chart").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Org chart")
    chart = page.get_by_test_id("org-chart")
    expect(chart.get_by_role("heading", name="Management")).to_be_visible()
    sales = page.locator(f"#department-{Department.objects.get(name='Sales').public_id}")
    expect(sales).to_contain_text("Jan Kowalski")
    expect(sales).to_contain_text("2 members")
    sales.locator("summary").click()  # <details> opens without any script
    expect(sales.get_by_text("Anna Nowak")).to_be_visible()
    assert_fits_a_phone(page)
    screenshot("org-chart-en-375")

    # Administration > Departments > New department
    page.get_by_role("button", name="Toggle navigation").click()
    page.get_by_role("button", name="Administration").click()
    page.get_by_role("link", name="Departments", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Departments")
    page.get_by_role("link", name="New department").click()
    page.get_by_label("Name").fill("Logistics")
    page.get_by_label("Parent department").select_option(label="Management")
    page.get_by_label("Head").select_option(label="Dmitri Sokolov")
    assert_fits_a_phone(page)
    screenshot("department-form-375")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(f"{live_server.url}/manage/departments/")
    expect(page.get_by_role("status")).to_contain_text("Department “Logistics” was saved.")
    row = page.get_by_role("row").filter(has_text="Logistics")
    expect(row).to_contain_text("Management")
    expect(row).to_contain_text("Dmitri Sokolov")
    screenshot("department-list-375")

    # a parent below the department itself is refused on the form
    page.get_by_role("link", name="Management", exact=True).first.click()
    page.get_by_label("Parent department").select_option(label="Logistics")
    page.get_by_role("button", name="Save").click()
    expect(page.locator("#id_parent_error")).to_contain_text(
        "Logistics lies inside Management, so it cannot be its parent."
    )
    screenshot("department-cycle-error-375")
    assert Department.objects.get(name="Management").parent is None


def test_persian_is_right_to_left_on_the_org_chart(
    live_server, page: Page, manager: User, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, manager.username)

    page.get_by_role("button", name="Toggle navigation").click()
    page.locator("#kv-language-menu").click()
    page.get_by_role("button", name="فارسی").click()

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "fa")
    page.goto(f"{live_server.url}/org-chart/")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_test_id("org-chart")).to_contain_text("Customer Service")
    # the tree's indentation follows the reading direction: children sit to the left
    top_box = page.locator(".kv-org-card").first.bounding_box()
    child_box = page.locator(".kv-org-tree .kv-org-tree .kv-org-card").first.bounding_box()
    assert top_box is not None and child_box is not None
    assert child_box["x"] + child_box["width"] < top_box["x"] + top_box["width"]
    assert_fits_a_phone(page)
    screenshot("org-chart-fa-375")
    manager.refresh_from_db()
    assert manager.language == "fa"


def test_notifications_are_marked_read_with_htmx(
    live_server, page: Page, manager: User, screenshot: Callable[[str], None]
) -> None:
    notify(recipient=manager, title="Call ACME back")
    notify(recipient=manager, title="Send the offer")
    sign_in(page, live_server.url, manager.username)
    badge = page.locator("#kv-unread-badge")
    expect(badge).to_have_attribute("data-count", "2")

    page.goto(f"{live_server.url}/notifications/")
    item = page.locator("li.list-group-item").filter(has_text="Call ACME back")
    item.get_by_role("button", name="Mark read").click()

    expect(page.locator("li.list-group-item").filter(has_text="Call ACME back")).to_have_attribute(
        "data-read", "true"
    )
    expect(badge).to_have_attribute("data-count", "1")
    screenshot("notifications-375")
    page.get_by_test_id("mark-all-read").click()
    expect(badge).to_have_attribute("data-count", "0")
    expect(page.locator('li[data-read="false"]')).to_have_count(0)
    assert not manager.notifications.filter(read_at__isnull=True).exists()


def test_global_search_finds_a_department(
    live_server, page: Page, manager: User, screenshot: Callable[[str], None]
) -> None:
    sign_in(page, live_server.url, manager.username)

    page.get_by_role("button", name="Toggle navigation").click()
    search = page.get_by_role("searchbox", name="Search")
    search.fill("sales")
    search.press("Enter")

    expect(page).to_have_url(f"{live_server.url}/search?q=sales")
    screenshot("search-375")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.get_by_role("button", name="Administration")).to_be_visible()
    screenshot("search-1280")
    page.get_by_role("link", name="Sales", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Org chart")
