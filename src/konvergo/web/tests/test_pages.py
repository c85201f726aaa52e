"""The base layout, sign-in, the overview dashboard and the error pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.urls import include, path
from django.utils import timezone, translation

from konvergo.core.models import WorkerHeartbeat
from konvergo.web.views import server_error

PASSWORD = "correct horse battery staple"

# A local URLconf (used with @pytest.mark.urls) that adds views raising 403 and 500.


def _denied(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def _boom(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("boom")


urlpatterns = [
    path("denied/", _denied),
    path("boom/", _boom),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("konvergo.web.urls")),
]
handler403 = "konvergo.web.views.permission_denied"
handler404 = "konvergo.web.views.page_not_found"
handler500 = "konvergo.web.views.server_error"


@pytest.fixture
def user(db):
    return get_user_model().objects.create_user(username="alice", password=PASSWORD)


@pytest.fixture
def signed_in_client(client, user):
    client.force_login(user)
    return client


def test_anonymous_home_redirects_to_login(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_login_page_shows_the_form(client, db):
    response = client.get("/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<form method="post" action="/login/"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert 'name="username"' in html
    assert 'name="password"' in html
    assert "Sign in" in html
    assert 'class="form-control"' in html


def test_wrong_password_shows_an_error_and_starts_no_session(client, user):
    response = client.post("/login/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert client.get("/").status_code == 302


def test_empty_fields_show_field_errors(client, db):
    response = client.post("/login/", {"username": "", "password": ""})

    html = response.content.decode()
    assert response.status_code == 200
    assert html.count("This field is required.") == 2
    assert "form-control is-invalid" in html


def test_login_redirects_to_next_and_dashboard_shows_stale_worker(client, user):
    response = client.post("/login/", {"username": "alice", "password": PASSWORD, "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.session["_auth_user_id"] == str(user.pk)

    page = client.get("/")

    html = page.content.decode()
    assert page.status_code == 200
    assert '<h1 class="h3 mb-3">Overview</h1>' in html
    assert 'data-testid="status-worker" data-state="stale"' in html
    assert ">stale</span>" in html
    assert "No heartbeat received yet" in html
    assert 'data-testid="status-database" data-state="ok"' in html
    # the user menu with a POST logout form
    assert '<form action="/logout/" method="post">' in html
    assert ">alice</button>" in html


def test_dashboard_shows_a_recent_heartbeat_as_natural_time(signed_in_client, settings):
    settings.KONVERGO_WORKER_STALE_SECONDS = 600
    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="w1",
        hostname="host",
        pid=1,
        started_at=now - timedelta(hours=1),
        last_seen_at=now - timedelta(minutes=2),
    )

    html = signed_in_client.get("/").content.decode()

    assert 'data-testid="status-worker" data-state="ok"' in html
    assert "2\xa0minutes ago" in html


def test_htmx_refresh_gets_only_the_status_cards(signed_in_client):
    response = signed_in_client.get("/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="status-worker"' in html
    assert "<html" not in html
    assert "HX-Request" in response["Vary"]


def test_page_loads_htmx_with_csrf_header_and_local_assets(signed_in_client):
    html = signed_in_client.get("/").content.decode()

    assert "/static/vendor/htmx/htmx.min.js" in html
    assert "/static/vendor/bootstrap/js/bootstrap.bundle.min.js" in html
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" in html
    assert 'hx-headers=\'{"X-CSRFToken": "' in html
    assert "cdn" not in html.lower()


def test_language_switcher_lists_each_language_in_its_own_name(client, db):
    html = client.get("/login/").content.decode()

    assert 'action="/i18n/setlang/" method="post"' in html
    for code, name in [
        ("en", "English"),
        ("de", "Deutsch"),
        ("pl", "polski"),
        ("ru", "Русский"),
        ("fa", "فارسی"),
    ]:
        assert f'name="language" value="{code}" lang="{code}"' in html
        assert f">{name}</button>" in html


def test_english_is_left_to_right(client, db):
    html = client.get("/login/", headers={"Accept-Language": "en"}).content.decode()

    assert '<html lang="en" dir="ltr">' in html
    assert "bootstrap.rtl.min.css" not in html


def test_persian_from_accept_language_is_right_to_left(client, db):
    html = client.get("/login/", headers={"Accept-Language": "fa"}).content.decode()

    assert '<html lang="fa" dir="rtl">' in html
    assert "/static/vendor/bootstrap/css/bootstrap.rtl.min.css" in html
    assert "/static/vendor/bootstrap/css/bootstrap.min.css" not in html


def test_set_language_persists_persian_for_later_pages(signed_in_client):
    response = signed_in_client.post("/i18n/setlang/", {"language": "fa", "next": "/"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    html = signed_in_client.get("/").content.decode()
    assert '<html lang="fa" dir="rtl">' in html
    assert "bootstrap.rtl.min.css" in html


def test_static_assets_are_served(client, db):
    for url in [
        "/static/vendor/bootstrap/css/bootstrap.min.css",
        "/static/vendor/bootstrap/css/bootstrap.rtl.min.css",
        "/static/vendor/bootstrap/js/bootstrap.bundle.min.js",
        "/static/vendor/htmx/htmx.min.js",
        "/static/web/konvergo.css",
    ]:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200, url
        assert len(body) > 100, url


def test_logout_needs_post_and_ends_the_session(signed_in_client):
    assert signed_in_client.get("/logout/").status_code == 405
    assert "_auth_user_id" in signed_in_client.session

    response = signed_in_client.post("/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert "_auth_user_id" not in signed_in_client.session


def test_signed_in_user_visiting_login_goes_to_the_dashboard(signed_in_client):
    response = signed_in_client.get("/login/")

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_unknown_url_renders_404_inside_the_layout(client, db):
    response = client.get("/no-such-page/")

    html = response.content.decode()
    assert response.status_code == 404
    assert "Page not found" in html
    assert 'class="navbar-brand fw-semibold" href="/">Konvergo</a>' in html
    assert '<ol class="breadcrumb">' in html


@pytest.mark.urls(__name__)
def test_permission_denied_renders_403_inside_the_layout(signed_in_client):
    response = signed_in_client.get("/denied/")

    html = response.content.decode()
    assert response.status_code == 403
    assert "Access denied" in html
    assert 'href="/">Konvergo</a>' in html


@pytest.mark.urls(__name__)
def test_server_error_renders_500_page(signed_in_client):
    signed_in_client.raise_request_exception = False

    response = signed_in_client.get("/boom/")

    html = response.content.decode()
    assert response.status_code == 500
    assert "Server error" in html
    assert 'href="/">Konvergo</a>' in html


def test_server_error_page_needs_no_database_or_request_context():
    # no `db` fixture: pytest-django fails the test if rendering touches the database
    request = RequestFactory().get("/")  # no session, no user

    # English explicitly: an earlier test's request may have left another language active.
    with translation.override("en"):
        response = server_error(request)

    assert response.status_code == 500
    assert b"Server error" in response.content
    assert b'dir="ltr"' in response.content


def test_htmx_refresh_after_session_expiry_loads_the_login_page_whole(client) -> None:
    response = client.get("/", headers={"HX-Request": "true"})

    assert response.status_code == 204
    assert response["HX-Redirect"] == "/login/?next=/"


@pytest.mark.django_db
def test_overview_lists_my_open_process_tasks_and_planned_activities(client) -> None:
    from datetime import timedelta
    from pathlib import Path

    from django.utils import timezone

    from konvergo.crm.models import Activity, Organization
    from konvergo.processes.services import LIVE, definition_deploy, process_start

    user = get_user_model().objects.create_user(username="anna", password="pw-anna-1234")
    LIVE.clear()
    models = Path(__file__).resolve().parents[4] / "tests" / "models"
    definition_deploy(xml=(models / "standard.bpmn").read_bytes())
    process_start("standard", business_key="Q-42", variables={"owner": "anna", "amount": 3})
    acme = Organization.objects.create(legal_name="ACME GmbH", owner=user)
    Activity.objects.create(
        kind="call",
        subject="Call ACME back",
        organization=acme,
        owner=user,
        due_at=timezone.now() + timedelta(days=1),
    )
    Activity.objects.create(
        kind="call", subject="Old call", organization=acme, owner=user, done_at=timezone.now()
    )
    client.force_login(user)

    page = client.get("/").content.decode()

    assert "Review request" in page
    assert "Q-42" in page
    assert "Call ACME back" in page
    assert "Old call" not in page  # done work is not on the list
