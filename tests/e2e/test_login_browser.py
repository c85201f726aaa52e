"""Sign in with a real browser (Playwright on the system Chromium) against a live server."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.e2e.support import PASSWORD, require_browser

require_browser()

from playwright.sync_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_shows_the_overview_without_horizontal_scrolling(live_server, page: Page):
    get_user_model().objects.create_user(username="alice", password=PASSWORD)

    page.goto(f"{live_server.url}/")

    expect(page).to_have_url(f"{live_server.url}/login/?next=/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    expect(page).to_have_url(f"{live_server.url}/")
    expect(page.get_by_test_id("status-worker")).to_contain_text("stale")
    # the vendored stylesheet really applied (Bootstrap's navbar is a flex container)
    assert page.locator("nav.navbar").evaluate("el => getComputedStyle(el).display") == "flex"
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"page is {scroll_width}px wide at a 375px viewport"


def test_wrong_password_shows_the_error(live_server, page: Page):
    get_user_model().objects.create_user(username="alice", password=PASSWORD)

    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"page is {scroll_width}px wide at a 375px viewport"


def test_menus_switch_to_persian_and_sign_out_on_a_phone(live_server, page: Page):
    user = get_user_model().objects.create_user(username="alice", password=PASSWORD)
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name="Overview")).to_be_visible()
    assert page.evaluate("window.htmx.version").startswith("2.")

    # at 375px the menus sit behind the navbar toggler (Bootstrap's JS must work)
    page.get_by_role("button", name="Toggle navigation").click()
    page.locator("#kv-language-menu").click()
    page.get_by_role("button", name="فارسی").click()

    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.locator("html")).to_have_attribute("lang", "fa")
    rtl_css = page.locator('link[href$="bootstrap.rtl.min.css"]')
    expect(rtl_css).to_have_count(1)
    scroll_width = page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= 375, f"RTL page is {scroll_width}px wide at a 375px viewport"

    page.locator(".navbar-toggler").click()  # its label is Persian now
    page.locator("#kv-user-menu").click()
    page.locator('form[action="/logout/"] button[type="submit"]').click()

    expect(page).to_have_url(f"{live_server.url}/login/")
    expect(page.locator('input[name="username"]')).to_be_visible()
