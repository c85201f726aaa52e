"""The organisation's pages: administration, org chart, profile, photos, notifications, search,
language and dates."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db.models import Model
from django.test import Client
from PIL import Image

from konvergo.core.models import BusinessCalendar
from konvergo.core.services import calendar_create
from konvergo.org.models import (
    Department,
    Deputy,
    Notification,
    Position,
    Role,
    Scope,
    Team,
    User,
)
from konvergo.org.services import deputy_create, notify, role_create
from konvergo.org.tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the factories' password
MODELS = {
    "user": ("org", "user"),
    "department": ("org", "department"),
    "team": ("org", "team"),
    "role": ("org", "role"),
    "deputy": ("org", "deputy"),
    "position": ("org", "position"),
    "calendar": ("core", "businesscalendar"),
}
_roles = iter(range(10**6))


def grant(user: User, *permissions: str, scope: str = Scope.ALL) -> User:
    """Give `user` a new role with these permissions; returns a fresh instance (no caches)."""
    role = role_create(name=f"role {next(_roles)}", scope=scope, permissions=permissions)
    user.roles.add(role)
    return User.objects.get(pk=user.pk)


def all_permissions(key: str) -> list[str]:
    app, model = MODELS[key]
    return [f"{app}.{action}_{model}" for action in ("view", "add", "change", "delete")]


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def html_of(response: Any) -> str:
    return str(response.content.decode())


def snapshot(model: type[Model]) -> list[dict[str, Any]]:
    return list(model._default_manager.order_by("pk").values())


# --- one description per administered object type -------------------------------------------


@dataclass(frozen=True)
class Case:
    key: str  # URL name prefix
    segment: str
    model: type[Model]
    make: Callable[[], Any]  # an existing record
    data: Callable[[], dict[str, Any]]  # a valid form for a new record
    label: str  # a name the valid form gives (to find it afterwards)
    needs: tuple[str, ...] = ()  # further permissions the form needs (choosing people)


def calendar_data(name: str) -> dict[str, Any]:
    """The new-calendar form as a browser sends it: Monday to Friday 9-17 as offered, two
    blank extra rows, and one day off."""
    data: dict[str, Any] = {
        "name": name,
        "time_zone": "Europe/Berlin",
        "country": "",
        "subdivision": "",
        "hours-TOTAL_FORMS": "7",
        "hours-INITIAL_FORMS": "5",
        "days_off-TOTAL_FORMS": "2",
        "days_off-INITIAL_FORMS": "0",
        "days_off-0-date": "2026-12-24",
        "days_off-0-name": "Christmas Eve",
        "days_off-1-date": "",
        "days_off-1-name": "",
    }
    for row in range(7):
        weekday = row < 5
        data[f"hours-{row}-weekday"] = str(row) if weekday else ""
        data[f"hours-{row}-start"] = "09:00" if weekday else ""
        data[f"hours-{row}-end"] = "17:00" if weekday else ""
    return data


def deputy_data() -> dict[str, Any]:
    anna = UserFactory.create(username="anna.d")
    jan = UserFactory.create(username="jan.d")
    return {
        "user": anna.pk,
        "deputy": jan.pk,
        "starts_on": "2026-12-01",
        "ends_on": "2026-12-14",
        "note": "Holiday cover",
    }


def make_deputy() -> Deputy:
    return deputy_create(
        user=UserFactory.create(),
        deputy=UserFactory.create(),
        starts_on=date(2026, 1, 5),
        ends_on=date(2026, 1, 9),
    )


CASES = [
    Case(
        "user",
        "users",
        User,
        lambda: UserFactory.create(username="existing"),
        lambda: {
            "username": "new.person",
            "first_name": "New",
            "last_name": "Person",
            "email": "new.person@example.com",
            "language": "pl",
            "time_zone": "Europe/Warsaw",
            "calendar_system": "gregorian",
            "phone": "+48 22 123 45 67",
            "is_active": "on",
        },
        "new.person",
    ),
    Case(
        "department",
        "departments",
        Department,
        lambda: DepartmentFactory.create(name="Existing"),
        lambda: {"name": "Logistics"},
        "Logistics",
    ),
    Case(
        "team",
        "teams",
        Team,
        lambda: Team.objects.create(name="Existing"),
        lambda: {"name": "Night shift", "description": "After 18:00"},
        "Night shift",
    ),
    Case(
        "role",
        "roles",
        Role,
        lambda: role_create(name="Existing"),
        lambda: {"name": "Auditor", "scope": "all", "permissions": ["org.view_role"]},
        "Auditor",
    ),
    Case(
        "deputy",
        "deputies",
        Deputy,
        make_deputy,
        deputy_data,
        "Holiday cover",
        needs=("org.view_user",),
    ),
    Case(
        "position",
        "positions",
        Position,
        lambda: Position.objects.create(name="Existing"),
        lambda: {"name": "Accountant"},
        "Accountant",
    ),
    Case(
        "calendar",
        "calendars",
        BusinessCalendar,
        lambda: calendar_create(name="Existing", time_zone="UTC", hours={}),
        lambda: calendar_data("Berlin office"),
        "Berlin office",
    ),
]
CASE_IDS = [case.key for case in CASES]


def find(case: Case) -> Any:
    field = {"user": "username", "deputy": "note"}.get(case.key, "name")
    return case.model._default_manager.filter(**{field: case.label}).first()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_permitted_user_lists_creates_edits_and_deletes(client, case: Case) -> None:
    admin = grant(
        UserFactory.create(username="admin.user"), *all_permissions(case.key), *case.needs
    )
    existing = case.make()
    signed_in(client, admin)
    base = f"/manage/{case.segment}/"

    listing = client.get(base)
    assert listing.status_code == 200
    assert f'href="{base}{existing.public_id}/edit/"' in html_of(listing)
    assert client.get(f"{base}new/").status_code == 200
    assert client.get(f"{base}{existing.public_id}/edit/").status_code == 200

    created = client.post(f"{base}new/", case.data())

    assert created.status_code == 302, html_of(created)
    assert created["Location"] == base
    record = find(case)
    assert record is not None

    edit_page = client.get(f"{base}{record.public_id}/edit/")
    assert edit_page.status_code == 200

    confirm = client.get(f"{base}{existing.public_id}/delete/")
    assert confirm.status_code == 200
    deleted = client.post(f"{base}{existing.public_id}/delete/")
    assert deleted.status_code == 302
    assert not case.model._default_manager.filter(pk=existing.pk).exists()


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_user_without_permission_gets_403_and_nothing_changes(client, case: Case) -> None:
    existing = case.make()
    data = case.data()
    # may view the list, but not add, change or delete
    viewer = grant(UserFactory.create(username="viewer"), all_permissions(case.key)[0])
    signed_in(client, viewer)
    base = f"/manage/{case.segment}/"
    before = snapshot(case.model)

    assert client.get(base).status_code == 200
    for url in [f"{base}new/", f"{base}{existing.public_id}/edit/"]:
        assert client.get(url).status_code == 403
        assert client.post(url, data).status_code == 403
    denied = client.post(f"{base}{existing.public_id}/delete/")

    assert denied.status_code == 403
    assert "Access denied" in html_of(denied)
    assert snapshot(case.model) == before


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_list_without_view_permission_is_403(client, case: Case) -> None:
    signed_in(client, UserFactory.create())

    response = client.get(f"/manage/{case.segment}/")

    assert response.status_code == 403
    assert "You may not view" in html_of(response)


def test_anonymous_visitor_is_sent_to_sign_in(client) -> None:
    response = client.get("/manage/departments/")

    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/manage/departments/"


def test_list_search_filters_by_name_and_paginates(client) -> None:
    for number in range(30):
        DepartmentFactory.create(name=f"Branch {number:02d}")
    DepartmentFactory.create(name="Logistics")
    signed_in(client, grant(UserFactory.create(), "org.view_department"))

    found = html_of(client.get("/manage/departments/", {"q": "logist"}))
    first_page = html_of(client.get("/manage/departments/"))
    second_page = html_of(client.get("/manage/departments/", {"page": 2}))

    assert ">Logistics<" in found
    assert "Branch 00" not in found
    assert "Branch 00" in first_page
    assert "Page 1 of 2" in first_page
    assert "Branch 29" in second_page
    assert "31 records" in first_page
    # no edit links for a user who may only view
    assert "/edit/" not in first_page


def test_users_list_query_count_does_not_grow_with_rows(
    client, django_assert_max_num_queries
) -> None:
    sales = DepartmentFactory.create(name="Sales")
    position = Position.objects.create(name="Seller")
    admin = grant(UserFactory.create(department=sales), *all_permissions("user"))
    signed_in(client, admin)
    roles = [role_create(name=f"r{n}") for n in range(3)]

    def add_users(count: int) -> None:
        for _ in range(count):
            UserFactory.create(department=sales, position=position).roles.set(roles)

    add_users(3)
    with django_assert_max_num_queries(12):
        assert client.get("/manage/users/").status_code == 200
    add_users(40)
    with django_assert_max_num_queries(12):
        response = client.get("/manage/users/")
    assert response.status_code == 200
    assert "44 records" in html_of(response)


def test_users_list_shows_only_users_in_the_viewers_scope(client) -> None:
    sales, finance = DepartmentFactory.create(name="Sales"), DepartmentFactory.create(name="Fin")
    manager = UserFactory.create(username="manager", department=sales)
    UserFactory.create(username="seller", department=sales)
    other = UserFactory.create(username="accountant", department=finance)
    manager = grant(manager, "org.view_user", "org.change_user", scope=Scope.DEPARTMENT)
    signed_in(client, manager)

    html = html_of(client.get("/manage/users/"))

    assert ">seller<" in html
    assert ">accountant<" not in html
    assert client.get(f"/manage/users/{other.public_id}/edit/").status_code == 404


# --- rules become form errors ---------------------------------------------------------------


def test_department_cycle_is_refused_with_the_message_on_the_parent_field(client) -> None:
    top = DepartmentFactory.create(name="Company")
    sales = DepartmentFactory.create(name="Sales", parent=top)
    emea = DepartmentFactory.create(name="Sales EMEA", parent=sales)
    signed_in(client, grant(UserFactory.create(), *all_permissions("department")))
    before = snapshot(Department)

    response = client.post(
        f"/manage/departments/{sales.public_id}/edit/", {"name": "Sales", "parent": emea.pk}
    )

    html = html_of(response)
    assert response.status_code == 200
    field_error = re.search(r'id="id_parent_error">(.*?)</div>', html, re.S)
    assert field_error is not None
    assert "Sales EMEA lies inside Sales, so it cannot be its parent." in field_error.group(1)
    assert 'data-testid="form-errors"' in html
    assert snapshot(Department) == before


def test_deputy_period_ending_before_it_starts_is_a_form_error(client) -> None:
    signed_in(client, grant(UserFactory.create(), *all_permissions("deputy"), "org.view_user"))
    data = {**deputy_data(), "starts_on": "2026-12-05", "ends_on": "2026-12-01"}

    response = client.post("/manage/deputies/new/", data)

    html = html_of(response)
    assert response.status_code == 200
    field_error = re.search(r'id="id_ends_on_error">(.*?)</div>', html, re.S)
    assert field_error is not None
    assert "The period ends (2026-12-01) before it starts (2026-12-05)." in field_error.group(1)
    assert Deputy.objects.count() == 0


def test_role_form_is_a_matrix_of_object_types_and_actions(client) -> None:
    admin = UserFactory.create(is_superuser=True)
    signed_in(client, admin)

    form = html_of(client.get("/manage/roles/new/"))
    response = client.post(
        "/manage/roles/new/",
        {
            "name": "Calendar keeper",
            "scope": "department",
            "permissions": ["core.view_businesscalendar", "core.change_businesscalendar"],
        },
    )

    for code in ["org.view_department", "org.delete_user", "core.add_businesscalendar"]:
        assert f'value="{code}"' in form
    assert "historical" not in form.lower()
    assert '<select name="scope"' in form
    assert response.status_code == 302
    role = Role.objects.get(name="Calendar keeper")
    assert role.scope == Scope.DEPARTMENT
    assert sorted(role.permissions.values_list("codename", flat=True)) == [
        "change_businesscalendar",
        "view_businesscalendar",
    ]


def test_role_edit_cannot_grant_what_the_editor_does_not_hold(client) -> None:
    role = role_create(name="Clerk", permissions=["org.view_team"])
    editor = grant(UserFactory.create(), *all_permissions("role"), scope=Scope.ALL)
    signed_in(client, editor)

    response = client.post(
        f"/manage/roles/{role.public_id}/edit/",
        {"name": "Clerk", "scope": "own", "permissions": ["org.view_team", "org.delete_user"]},
    )

    assert response.status_code == 200
    assert "You cannot grant permissions you do not hold" in html_of(response)
    assert list(role.permissions.values_list("codename", flat=True)) == ["view_team"]


def test_calendar_edit_replaces_hours_and_days_off(client) -> None:
    calendar = calendar_create(
        name="Warsaw",
        time_zone="Europe/Warsaw",
        hours={0: [(time(8), time(16))], 1: [(time(8), time(16))]},
        days_off=[(date(2026, 11, 11), "Independence Day")],
    )
    signed_in(client, grant(UserFactory.create(), *all_permissions("calendar")))
    form = html_of(client.get(f"/manage/calendars/{calendar.public_id}/edit/"))
    assert 'name="hours-0-start"' in form
    assert 'value="08:00"' in form
    data = {
        **calendar_data("Warsaw"),
        "hours-TOTAL_FORMS": "3",
        "hours-INITIAL_FORMS": "2",
        "hours-0-DELETE": "on",  # Monday goes
        "hours-0-weekday": "0",
        "hours-0-start": "08:00",
        "hours-0-end": "16:00",
        "hours-1-weekday": "1",  # Tuesday stays
        "hours-1-start": "08:00",
        "hours-1-end": "16:00",
        "hours-2-weekday": "2",  # Wednesday is new
        "hours-2-start": "10:00",
        "hours-2-end": "14:00",
        "days_off-TOTAL_FORMS": "2",
        "days_off-INITIAL_FORMS": "1",
        "days_off-0-DELETE": "on",
        "days_off-0-date": "2026-11-11",
        "days_off-0-name": "Independence Day",
        "days_off-1-date": "2026-12-24",
        "days_off-1-name": "Christmas Eve",
    }
    tuesday = calendar.working_hours.get(weekday=1)

    response = client.post(f"/manage/calendars/{calendar.public_id}/edit/", data)

    assert response.status_code == 302, html_of(response)
    calendar.refresh_from_db()
    assert calendar.time_zone == "Europe/Berlin"
    hours = [(h.weekday, h.start, h.end) for h in calendar.working_hours.all()]
    assert hours == [(1, time(8), time(16)), (2, time(10), time(14))]
    assert calendar.working_hours.get(weekday=1).pk == tuesday.pk  # unchanged rows are kept
    assert [(d.date, d.name) for d in calendar.days_off.all()] == [
        (date(2026, 12, 24), "Christmas Eve")
    ]


def test_calendar_hours_that_end_before_they_start_are_refused(client) -> None:
    signed_in(client, grant(UserFactory.create(), *all_permissions("calendar")))
    data = {**calendar_data("Bad"), "hours-0-start": "17:00", "hours-0-end": "09:00"}

    response = client.post("/manage/calendars/new/", data)

    assert response.status_code == 200
    assert "The interval must end after it starts." in html_of(response)
    assert not BusinessCalendar.objects.filter(name="Bad").exists()


def test_department_with_sub_departments_cannot_be_deleted(client) -> None:
    top = DepartmentFactory.create(name="Company")
    DepartmentFactory.create(name="Sales", parent=top)
    signed_in(client, grant(UserFactory.create(), *all_permissions("department")))

    response = client.post(f"/manage/departments/{top.public_id}/delete/")

    assert response.status_code == 200
    assert "Company still has sub-departments" in html_of(response)
    assert Department.objects.filter(pk=top.pk).exists()


def test_a_user_administrator_cannot_edit_a_superuser(client) -> None:
    root = UserFactory.create(username="root", is_superuser=True, email="root@example.com")
    signed_in(client, grant(UserFactory.create(), *all_permissions("user")))
    data = {
        "username": "root",
        "email": "attacker@example.com",
        "language": "en",
        "time_zone": "UTC",
        "calendar_system": "gregorian",
        "is_active": "on",
    }

    response = client.post(f"/manage/users/{root.public_id}/edit/", data)

    assert response.status_code == 200
    assert "Only a superuser may change or delete a superuser." in html_of(response)
    root.refresh_from_db()
    assert root.email == "root@example.com"


# --- navigation -----------------------------------------------------------------------------


def test_administration_menu_shows_only_permitted_sections(client) -> None:
    user = UserFactory.create()
    signed_in(client, user)
    plain = html_of(client.get("/"))
    signed_in(client, grant(user, "org.view_team", "org.view_department"))

    html = html_of(client.get("/"))

    assert 'id="kv-admin-menu"' not in plain
    assert "/org-chart/" not in plain
    assert 'id="kv-admin-menu"' in html
    assert 'href="/manage/teams/"' in html
    assert 'href="/manage/departments/"' in html
    assert 'href="/manage/users/"' not in html
    assert 'href="/org-chart/"' in html
    assert client.get("/manage/").status_code == 200
    signed_in(client, UserFactory.create())
    assert client.get("/manage/").status_code == 403


def test_pages_have_breadcrumbs(client) -> None:
    department = DepartmentFactory.create(name="Sales")
    signed_in(client, grant(UserFactory.create(), *all_permissions("department")))

    html = html_of(client.get(f"/manage/departments/{department.public_id}/edit/"))

    crumbs = re.search(r'<ol class="breadcrumb">(.*?)</ol>', html, re.S)
    assert crumbs is not None
    assert re.findall(r">([^<>]+)</(?:a|li)>", crumbs.group(1)) == [
        "Overview",
        "Administration",
        "Departments",
        "Sales",
    ]


# --- the org chart --------------------------------------------------------------------------


def test_org_chart_nests_departments_with_heads_and_members(client, django_assert_max_num_queries):
    top = DepartmentFactory.create(name="Management")
    sales = DepartmentFactory.create(name="Sales", parent=top)
    boss = UserFactory.create(first_name="Kata", last_name="Vogel", department=top)
    top.head = boss
    top.save()
    UserFactory.create(first_name="Jan", last_name="Kowalski", department=sales)
    UserFactory.create(first_name="Anna", last_name="Nowak", department=sales)
    viewer = grant(UserFactory.create(), "org.view_department", "org.view_user")
    signed_in(client, viewer)

    with django_assert_max_num_queries(12):
        response = client.get("/org-chart/")

    html = html_of(response)
    assert response.status_code == 200
    top_item = html.index(f'id="department-{top.public_id}"')
    sales_item = html.index(f'id="department-{sales.public_id}"')
    assert top_item < html.index('<ul class="kv-org-tree">', top_item) < sales_item
    assert "Kata Vogel" in html
    assert "2 members" in html
    assert "Anna Nowak" in html


def test_org_chart_needs_the_department_view_permission(client) -> None:
    signed_in(client, UserFactory.create())

    assert client.get("/org-chart/").status_code == 403


# --- profile, language, dates ---------------------------------------------------------------


def profile_data(**changes: Any) -> dict[str, Any]:
    return {
        "language": "en",
        "time_zone": "UTC",
        "calendar_system": "gregorian",
        "phone": "",
        **changes,
    }


def test_profile_change_of_language_applies_to_the_next_page(client) -> None:
    user = UserFactory.create()
    signed_in(client, user)

    response = client.post(
        "/profile/",
        profile_data(language="de", time_zone="Europe/Berlin", phone="0049 30 123 4567"),
    )

    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    user.refresh_from_db()
    assert (user.language, user.time_zone, user.phone) == ("de", "Europe/Berlin", "+49301234567")
    assert '<html lang="de" dir="ltr">' in html_of(client.get("/profile/"))


def test_profile_refuses_an_unknown_time_zone_and_a_bad_phone(client) -> None:
    user = UserFactory.create()
    signed_in(client, user)

    response = client.post("/profile/", profile_data(time_zone="Mars/Olympus", phone="12ab"))

    html = html_of(response)
    assert response.status_code == 200
    assert "Select a valid choice. Mars/Olympus is not one of the available choices." in html
    assert "Enter the number in international format" in html
    user.refresh_from_db()
    assert user.time_zone == "UTC"


def test_language_switcher_keeps_the_choice_in_the_profile(client) -> None:
    user = UserFactory.create()
    signed_in(client, user)

    client.post("/i18n/setlang/", {"language": "fa", "next": "/"})

    user.refresh_from_db()
    assert user.language == "fa"
    client.cookies.clear()  # a new device: no language cookie
    client.force_login(user)
    assert '<html lang="fa" dir="rtl">' in html_of(client.get("/"))


def test_signed_in_users_language_wins_over_the_browsers(client) -> None:
    signed_in(client, UserFactory.create(language="ru"))

    html = html_of(client.get("/", headers={"Accept-Language": "de"}))

    assert '<html lang="ru" dir="ltr">' in html


def persian_digits(text: str) -> str:
    return "".join(chr(0x06F0 + int(c)) if c.isdigit() else c for c in text)


def test_dates_are_shown_in_the_users_time_zone_and_calendar(client) -> None:
    viewer = UserFactory.create(calendar_system="solar_hijri", time_zone="Asia/Tehran")
    viewer = grant(viewer, "org.view_user", "org.view_deputy")
    User.objects.filter(pk=viewer.pk).update(last_login=datetime(2026, 11, 24, 21, 0, tzinfo=UTC))
    deputy_create(
        user=UserFactory.create(),
        deputy=UserFactory.create(),
        starts_on=date(2026, 11, 25),
        ends_on=date(2026, 11, 27),
    )
    signed_in(client, viewer)

    deputies = html_of(client.get("/manage/deputies/"))
    User.objects.filter(pk=viewer.pk).update(last_login=datetime(2026, 11, 24, 21, 0, tzinfo=UTC))
    users = html_of(client.get("/manage/users/", {"q": viewer.username}))

    assert '<time datetime="2026-11-25">1405/09/04</time>' in deputies
    # 21:00 UTC is 00:30 the next day in Tehran
    assert "1405/09/04 00:30</time>" in users
    User.objects.filter(pk=viewer.pk).update(language="fa")
    in_persian = html_of(client.get("/manage/deputies/"))
    assert f'<time datetime="2026-11-25">{persian_digits("1405/09/04")}</time>' in in_persian


# --- photos ---------------------------------------------------------------------------------


def image_bytes(image_format: str = "PNG", size: tuple[int, int] = (8, 8)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def test_photo_upload_is_stored_privately_and_served_to_permitted_users(client, media) -> None:
    owner = UserFactory.create()
    signed_in(client, owner)
    upload = SimpleUploadedFile("me.png", image_bytes(), content_type="image/png")

    response = client.post("/profile/", {**profile_data(), "photo": upload})

    assert response.status_code == 302
    owner.refresh_from_db()
    assert re.fullmatch(r"photos/[0-9a-f]{32}\.png", str(owner.photo.name))
    own = client.get(f"/people/{owner.public_id}/photo")
    assert own.status_code == 200
    assert own["Content-Type"] == "image/png"
    assert b"".join(own.streaming_content) == image_bytes()
    # a colleague who may see users gets it, one who may not gets nothing
    signed_in(client, grant(UserFactory.create(), "org.view_user"))
    assert client.get(f"/people/{owner.public_id}/photo").status_code == 200
    signed_in(client, UserFactory.create())
    assert client.get(f"/people/{owner.public_id}/photo").status_code == 404
    client.logout()
    assert client.get(f"/people/{owner.public_id}/photo").status_code == 302
    # and there is no public media URL
    assert Client().get(f"/media/{owner.photo.name}").status_code == 404


def test_photo_replacement_deletes_the_old_file(client, media, django_capture_on_commit_callbacks):
    owner = UserFactory.create()
    signed_in(client, owner)
    client.post(
        "/profile/", {**profile_data(), "photo": SimpleUploadedFile("a.png", image_bytes())}
    )
    owner.refresh_from_db()
    first = media / owner.photo.name

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            "/profile/",
            {**profile_data(), "photo": SimpleUploadedFile("b.webp", image_bytes("WEBP"))},
        )

    owner.refresh_from_db()
    assert str(owner.photo.name).endswith(".webp")
    assert not first.exists()
    assert (media / owner.photo.name).exists()


def test_photo_that_is_not_an_image_is_refused(client, media) -> None:
    owner = UserFactory.create()
    signed_in(client, owner)
    fake = SimpleUploadedFile("photo.jpg", b"this is a text file", content_type="image/jpeg")

    response = client.post("/profile/", {**profile_data(), "photo": fake})

    assert response.status_code == 200
    assert "Upload a valid image." in html_of(response)
    owner.refresh_from_db()
    assert not owner.photo
    assert list(media.iterdir()) == []


def test_photo_larger_than_2_mb_is_refused(client, media) -> None:
    owner = UserFactory.create()
    signed_in(client, owner)
    big = SimpleUploadedFile("big.png", image_bytes() + b"\0" * (2 * 1024 * 1024))

    response = client.post("/profile/", {**profile_data(), "photo": big})

    assert response.status_code == 200
    assert "The photo is larger than 2 MB." in html_of(response)
    owner.refresh_from_db()
    assert not owner.photo


def test_photo_in_another_image_format_is_refused(client, media) -> None:
    owner = UserFactory.create()
    signed_in(client, owner)
    gif = SimpleUploadedFile("anim.gif", image_bytes("GIF"), content_type="image/gif")

    response = client.post("/profile/", {**profile_data(), "photo": gif})

    assert response.status_code == 200
    assert "The photo must be a JPEG, PNG or WebP image." in html_of(response)


# --- notifications --------------------------------------------------------------------------


def test_notification_bell_counts_unread_and_htmx_marks_read(client) -> None:
    anna = UserFactory.create()
    first = notify(recipient=anna, title="Call ACME back", url="/manage/")
    notify(recipient=anna, title="Send the offer", url="https://evil.example/phish")
    signed_in(client, anna)

    page = html_of(client.get("/notifications/"))
    marked = client.post(f"/notifications/{first.public_id}/read/", headers={"HX-Request": "true"})

    assert 'data-count="2"' in page
    assert 'href="/manage/">Call ACME back</a>' in page
    assert "evil.example" not in page
    html = html_of(marked)
    assert marked.status_code == 200
    assert "<html" not in html
    assert f'id="notification-{first.public_id}" data-read="true"' in html
    assert 'id="kv-unread-badge"' in html
    assert 'data-count="1" hx-swap-oob="true"' in html
    assert Notification.objects.filter(read_at__isnull=True).count() == 1

    everything = client.post("/notifications/read-all/", headers={"HX-Request": "true"})

    assert 'data-count="0" hx-swap-oob="true"' in html_of(everything)
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_mark_read_without_htmx_redirects_and_needs_post(client) -> None:
    anna = UserFactory.create()
    item = notify(recipient=anna, title="Hello")
    signed_in(client, anna)

    assert client.get(f"/notifications/{item.public_id}/read/").status_code == 405
    response = client.post(f"/notifications/{item.public_id}/read/")

    assert response.status_code == 302
    assert response["Location"] == "/notifications/"
    item.refresh_from_db()
    assert item.read_at is not None


def test_someone_elses_notification_cannot_be_marked(client) -> None:
    item = notify(recipient=UserFactory.create(), title="Private")
    signed_in(client, UserFactory.create())

    response = client.post(f"/notifications/{item.public_id}/read/")

    assert response.status_code == 404
    item.refresh_from_db()
    assert item.read_at is None


def test_mark_read_needs_the_csrf_token() -> None:
    anna = UserFactory.create()
    item = notify(recipient=anna, title="Hello")
    client = Client(enforce_csrf_checks=True)
    client.force_login(anna)

    response = client.post(f"/notifications/{item.public_id}/read/")

    assert response.status_code == 403
    item.refresh_from_db()
    assert item.read_at is None


# --- search ---------------------------------------------------------------------------------


def test_search_finds_a_visible_department_and_not_what_the_user_cannot_see(client) -> None:
    department = DepartmentFactory.create(name="Logistics")
    UserFactory.create(username="logistics.lead", first_name="Lou", last_name="Gist")
    viewer = grant(UserFactory.create(), "org.view_department", "org.view_user", scope="own")
    signed_in(client, viewer)

    found = html_of(client.get("/search", {"q": "logist"}))
    signed_in(client, UserFactory.create())
    hidden = html_of(client.get("/search", {"q": "logist"}))

    assert f'href="/org-chart/#department-{department.public_id}">Logistics</a>' in found
    assert "Lou Gist" not in found  # another person: outside the viewer's "own" scope
    assert "Logistics</a>" not in hidden
    assert "Nothing found for “logist”." in hidden


def test_search_box_is_in_the_navigation(client) -> None:
    signed_in(client, UserFactory.create())

    html = html_of(client.get("/"))

    assert 'action="/search" method="get"' in html
    assert 'name="q"' in html


# --- passwords ------------------------------------------------------------------------------


def test_password_reset_by_email_lets_the_user_sign_in_with_the_new_password(client) -> None:
    user = UserFactory.create(username="olga", email="olga@example.com", language="ru")

    response = client.post("/password-reset/", {"email": "olga@example.com"})

    assert response.status_code == 302
    assert response["Location"] == "/password-reset/done/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["olga@example.com"]
    assert "Ваше имя пользователя: olga." in message.body  # in the user's own language
    link = re.search(r"http://testserver(/reset/\S+/)", str(message.body))
    assert link is not None
    form = client.get(link.group(1), follow=True)
    assert "Choose a new password" in html_of(form)
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a much better secret 42", "new_password2": "a much better secret 42"},
    )
    assert done.status_code == 302
    assert done["Location"] == "/reset/done/"
    assert client.login(username=user.username, password="a much better secret 42")


def test_password_change_keeps_the_user_signed_in(client) -> None:
    user = UserFactory.create()
    signed_in(client, user)

    page = html_of(client.get("/password-change/"))
    response = client.post(
        "/password-change/",
        {
            "old_password": PASSWORD,
            "new_password1": "another good secret 7",
            "new_password2": "another good secret 7",
        },
    )

    assert 'name="old_password"' in page
    assert 'class="form-control"' in page
    assert response.status_code == 302
    assert response["Location"] == "/password-change/done/"
    assert client.get("/").status_code == 200
    user.refresh_from_db()
    assert user.check_password("another good secret 7")


def test_user_menu_links_profile_and_password(client) -> None:
    signed_in(client, UserFactory.create())

    html = html_of(client.get("/"))

    assert 'href="/profile/"' in html
    assert 'href="/password-change/"' in html
    assert '<form action="/logout/" method="post">' in html
