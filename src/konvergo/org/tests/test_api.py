"""The org REST API: users, departments, teams and roles under /api/v1.

Who may do what (one permission per action), which records they see (the same `visible()` as
the pages), that refused writes change nothing, the business rules in JSON errors, query
budgets and the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from konvergo.core.audit import audit_trail
from konvergo.org.models import Department, Position, Role, Team, User
from konvergo.org.services import api_token_create, role_create, team_create
from konvergo.org.tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1"


# --- helpers --------------------------------------------------------------------------------


class Api:
    """A client that sends one user's bearer token and JSON bodies."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(BASE + path, headers=self.headers)


def person(*permissions: str, scope: str = "all", **fields: Any) -> User:
    """A user holding exactly `permissions` ("view_user", ...) through one role."""
    user = UserFactory.create(**fields)
    if permissions:
        role = role_create(
            name=f"role of {user.username}",
            scope=scope,
            permissions=[f"org.{codename}" for codename in permissions],
        )
        user.roles.add(role)
    return user


def api_for(*permissions: str, scope: str = "all", **fields: Any) -> Api:
    return Api(person(*permissions, scope=scope, **fields))


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


# --- the permission matrix ------------------------------------------------------------------

KINDS: dict[str, type[User | Department | Team | Role]] = {
    "user": User,
    "department": Department,
    "team": Team,
    "role": Role,
}
PATHS = {"user": "/users", "department": "/departments", "team": "/teams", "role": "/roles"}
ACTION = {"list": "view", "read": "view", "create": "add", "update": "change", "delete": "delete"}
CREATE = {
    "user": {"username": "new.person", "first_name": "New", "email": "new@example.com"},
    "department": {"name": "New department"},
    "team": {"name": "New team"},
    "role": {"name": "New role", "scope": "team"},
}
UPDATE = {
    "user": {"first_name": "Changed"},
    "department": {"name": "Changed"},
    "team": {"description": "Changed"},
    "role": {"description": "Changed"},
}


@pytest.fixture
def targets() -> dict[str, Any]:
    """One record of each type for the matrix to read, change and delete."""
    member = UserFactory.create(username="member")
    return {
        "user": UserFactory.create(username="target", first_name="Tara"),
        "department": DepartmentFactory.create(name="Target department"),
        "team": team_create(name="Target team", description="As it was", members=[member]),
        "role": role_create(name="Target role", permissions=["org.view_team"]),
    }


def snapshot(target: Any) -> dict[str, Any]:
    """Everything a refused request might have touched."""
    model = type(target)
    related: dict[str, list[int]] = {}
    if isinstance(target, User):
        related["roles"] = sorted(target.roles.values_list("pk", flat=True))
    if isinstance(target, Team):
        related["members"] = sorted(target.members.values_list("pk", flat=True))
    if isinstance(target, Role):
        related["permissions"] = sorted(target.permissions.values_list("pk", flat=True))
    return {
        "counts": {m.__name__: m.objects.count() for m in (*KINDS.values(), Position)},
        "target": model.objects.filter(pk=target.pk).values().first(),
        "related": related,
    }


def perform(api: Api, kind: str, operation: str, target: Any) -> Any:
    one = f"{PATHS[kind]}/{target.public_id}"
    if operation == "list":
        return api.get(PATHS[kind])
    if operation == "read":
        return api.get(one)
    if operation == "create":
        return api.post(PATHS[kind], CREATE[kind])
    if operation == "update":
        return api.patch(one, UPDATE[kind])
    return api.delete(one)


MATRIX = [(kind, operation) for kind in KINDS for operation in ACTION]


@pytest.mark.parametrize(("kind", "operation"), MATRIX)
def test_the_permission_for_the_action_is_enough(targets, kind: str, operation: str) -> None:
    model = KINDS[kind]
    action = ACTION[operation]
    # Changing or deleting a record needs it to be visible, and visibility comes with "view".
    needed = {action, "view"} if operation in ("update", "delete") else {action}
    api = api_for(*(f"{a}_{model._meta.model_name}" for a in sorted(needed)))
    target = targets[kind]

    response = perform(api, kind, operation, target)

    expected = {"list": 200, "read": 200, "create": 201, "update": 200, "delete": 204}
    assert response.status_code == expected[operation], response.content[:500]
    if operation == "list":
        assert str(target.public_id) in {item["id"] for item in response.json()["items"]}
    elif operation == "read":
        assert response.json()["id"] == str(target.public_id)
    elif operation == "create":
        created = model.objects.get(public_id=response.json()["id"])
        assert all(getattr(created, field) == value for field, value in CREATE[kind].items())
    elif operation == "update":
        target.refresh_from_db()
        assert all(getattr(target, field) == value for field, value in UPDATE[kind].items())
    else:
        assert not model.objects.filter(pk=target.pk).exists()


@pytest.mark.parametrize("holds", ["nothing", "every other permission"])
@pytest.mark.parametrize(("kind", "operation"), MATRIX)
def test_without_the_permission_the_answer_is_403_and_nothing_changes(
    targets, kind: str, operation: str, holds: str
) -> None:
    model = KINDS[kind]
    action = ACTION[operation]
    others = [a for a in ("view", "add", "change", "delete") if a != action]
    granted = others if holds == "every other permission" else []
    api = api_for(*(f"{a}_{model._meta.model_name}" for a in granted))
    target = targets[kind]
    before = snapshot(target)

    response = perform(api, kind, operation, target)

    error = assert_error(response, 403, "forbidden")
    assert (
        error["message"]
        == f"You may not {'create' if action == 'add' else action} "
        + str(model._meta.verbose_name_plural)
        + "."
    )
    assert snapshot(target) == before


def test_anonymous_requests_get_401() -> None:
    response = Client().get(f"{BASE}/users")
    assert_error(response, 401, "unauthorized")


# --- visibility -----------------------------------------------------------------------------


@pytest.fixture
def team_scope() -> dict[str, Any]:
    """Olga sees users with scope "team": herself and the people of her teams."""
    olga = person(
        "view_user",
        "change_user",
        "delete_user",
        "view_team",
        "change_team",
        scope="team",
        username="olga",
    )
    mate = UserFactory.create(username="mate")
    stranger = UserFactory.create(username="stranger", first_name="Stan")
    team_create(name="Night shift", members=[olga, mate])
    other_team = team_create(name="Day shift", members=[mate, stranger])
    return {
        "api": Api(olga),
        "olga": olga,
        "mate": mate,
        "stranger": stranger,
        "other_team": other_team,
    }


def test_with_team_scope_the_list_has_only_team_mates(team_scope) -> None:
    response = team_scope["api"].get("/users")

    assert response.status_code == 200
    assert [u["username"] for u in response.json()["items"]] == ["mate", "olga"]
    assert response.json()["count"] == 2


def test_an_invisible_user_is_404_for_read_change_and_delete(team_scope) -> None:
    api, stranger = team_scope["api"], team_scope["stranger"]
    path = f"/users/{stranger.public_id}"
    before = snapshot(stranger)

    assert_error(api.get(path), 404, "not_found")
    assert_error(api.patch(path, {"first_name": "Hacked"}), 404, "not_found")
    assert_error(api.delete(path), 404, "not_found")
    assert snapshot(stranger) == before


def test_team_members_one_may_not_see_are_hidden_and_kept(team_scope) -> None:
    api, team = team_scope["api"], team_scope["other_team"]
    path = f"/teams/{team.public_id}"

    shown = api.get(path).json()["members"]
    changed = api.patch(path, {"members": [str(team_scope["olga"].public_id)]})

    assert [m["username"] for m in shown] == ["mate"]  # stranger is not Olga's to see
    assert changed.status_code == 200
    assert set(team.members.values_list("username", flat=True)) == {"olga", "stranger"}


def test_a_body_naming_an_invisible_user_is_refused(team_scope) -> None:
    api, stranger = team_scope["api"], team_scope["stranger"]
    team = team_scope["other_team"]

    response = api.patch(f"/teams/{team.public_id}", {"lead": str(stranger.public_id)})

    error = assert_error(response, 400, "bad_request")
    assert error["details"] == {"field": "lead", "unknown": [str(stranger.public_id)]}
    team.refresh_from_db()
    assert team.lead is None


# --- departments ----------------------------------------------------------------------------


@pytest.fixture
def tree() -> dict[str, Department]:
    top = DepartmentFactory.create(name="Company")
    sales = DepartmentFactory.create(name="Sales", parent=top)
    emea = DepartmentFactory.create(name="Sales EMEA", parent=sales)
    return {"top": top, "sales": sales, "emea": emea}


def test_moving_a_department_below_itself_is_400_and_keeps_the_parent(tree) -> None:
    api = api_for("view_department", "change_department")
    sales = tree["sales"]

    response = api.patch(f"/departments/{sales.public_id}", {"parent": str(tree["emea"].public_id)})

    error = assert_error(response, 400, "bad_request")
    assert error["details"] == {"field": "parent"}
    assert "Sales EMEA lies inside Sales" in error["message"]
    sales.refresh_from_db()
    assert sales.parent == tree["top"]


def test_deleting_a_department_with_children_is_refused(tree) -> None:
    api = api_for("view_department", "delete_department")

    response = api.delete(f"/departments/{tree['sales'].public_id}")

    assert_error(response, 400, "bad_request")
    assert Department.objects.count() == 3


def test_department_parent_and_head_by_public_id(tree) -> None:
    head = UserFactory.create(username="head")
    api = api_for("view_department", "add_department", "view_user")

    response = api.post(
        "/departments",
        {"name": "Sales APAC", "parent": str(tree["sales"].public_id), "head": str(head.public_id)},
    )

    assert response.status_code == 201
    body = response.json()
    assert body["parent"] == {"id": str(tree["sales"].public_id), "name": "Sales"}
    assert body["head"]["id"] == str(head.public_id)
    created = Department.objects.get(public_id=body["id"])
    assert (created.parent, created.head) == (tree["sales"], head)


def test_clearing_the_parent_with_null_moves_a_department_to_the_top(tree) -> None:
    api = api_for("view_department", "change_department")

    response = api.patch(f"/departments/{tree['emea'].public_id}", {"parent": None})

    assert response.status_code == 200
    assert response.json()["parent"] is None
    tree["emea"].refresh_from_db()
    assert tree["emea"].parent is None


def test_a_duplicate_department_name_under_one_parent_is_400(tree) -> None:
    api = api_for("add_department", "view_department")

    response = api.post("/departments", {"name": "Sales", "parent": str(tree["top"].public_id)})

    assert_error(response, 400, "bad_request")
    assert Department.objects.count() == 3


# --- roles ----------------------------------------------------------------------------------


def test_unknown_permission_names_are_refused_and_listed() -> None:
    api = api_for("add_role", "view_user")

    response = api.post(
        "/roles", {"name": "Odd", "permissions": ["org.view_user", "org.fly", "nonsense"]}
    )

    error = assert_error(response, 400, "bad_request")
    assert error["details"] == {"field": "permissions", "unknown": ["nonsense", "org.fly"]}
    assert "nonsense, org.fly" in error["message"]
    assert not Role.objects.filter(name="Odd").exists()


def test_unknown_permission_names_in_a_change_leave_the_role_as_it_was() -> None:
    role = role_create(name="Agents", permissions=["org.view_team"])
    api = api_for("view_role", "change_role")

    response = api.patch(f"/roles/{role.public_id}", {"permissions": ["org.nope"]})

    assert_error(response, 400, "bad_request")
    assert [p.codename for p in role.permissions.all()] == ["view_team"]


def test_role_permissions_are_read_and_written_as_app_label_dot_codename() -> None:
    api = api_for("add_role", "view_user")

    created = api.post(
        "/roles", {"name": "Readers", "scope": "own", "permissions": ["org.view_user"]}
    )

    assert created.status_code == 201
    assert created.json()["permissions"] == ["org.view_user"]
    assert created.json()["scope"] == "own"


def test_nobody_grants_a_permission_they_do_not_hold() -> None:
    api = api_for("add_role")

    response = api.post("/roles", {"name": "Admins", "permissions": ["org.delete_user"]})

    error = assert_error(response, 403, "forbidden")
    assert error["details"]["not_held"] == ["org.delete_user"]
    assert not Role.objects.filter(name="Admins").exists()


def test_nobody_grants_a_permission_wider_than_they_hold_it() -> None:
    api = api_for("add_role", "view_user", scope="team")

    narrow = api.post(
        "/roles", {"name": "Team readers", "scope": "team", "permissions": ["org.view_user"]}
    )
    wide = api.post(
        "/roles", {"name": "All readers", "scope": "all", "permissions": ["org.view_user"]}
    )

    assert narrow.status_code == 201
    assert_error(wide, 403, "forbidden")
    assert not Role.objects.filter(name="All readers").exists()


def test_widening_a_role_is_a_grant_too() -> None:
    role = role_create(name="Readers", scope="own", permissions=["org.view_user"])
    api = api_for("view_role", "change_role", "view_user", scope="team")

    response = api.patch(f"/roles/{role.public_id}", {"scope": "all"})

    assert_error(response, 403, "forbidden")
    role.refresh_from_db()
    assert role.scope == "own"


def test_nobody_gives_themselves_a_role_with_more_power() -> None:
    admins = role_create(name="Admins", scope="all", permissions=["org.delete_user"])
    api = api_for("view_user", "change_user", "view_role")

    response = api.patch(f"/users/{api.user.public_id}", {"roles": [str(admins.public_id)]})

    assert_error(response, 403, "forbidden")
    assert not api.user.roles.filter(pk=admins.pk).exists()


# --- users ----------------------------------------------------------------------------------


def test_a_created_user_has_no_usable_password_and_no_hash_is_shown() -> None:
    department = DepartmentFactory.create(name="Sales")
    role = role_create(name="Agents", scope="own", permissions=["org.view_team"])
    api = api_for(
        "add_user",
        "view_department",
        "view_role",
        "view_team",
        "view_position",
        "add_position",
        "change_role",
    )

    response = api.post(
        "/users",
        {
            "username": "anna",
            "first_name": "Anna",
            "last_name": "Nowak",
            "email": "anna@example.com",
            "language": "pl",
            "time_zone": "Europe/Warsaw",
            "calendar_system": "gregorian",
            "phone": "+48123456789",
            "department": str(department.public_id),
            "position": "Account Executive",
            "roles": [str(role.public_id)],
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert "password" not in body
    assert "password" not in response.content.decode()
    assert body["department"]["name"] == "Sales"
    assert body["position"]["name"] == "Account Executive"
    assert [r["id"] for r in body["roles"]] == [str(role.public_id)]
    anna = User.objects.get(username="anna")
    assert not anna.has_usable_password()
    assert (anna.language, anna.time_zone, anna.department) == ("pl", "Europe/Warsaw", department)
    assert list(anna.roles.all()) == [role]


def test_position_by_public_id_and_unknown_name_without_add_permission() -> None:
    position = Position.objects.create(name="Engineer")
    api = api_for("view_user", "change_user", "view_position")
    target = UserFactory.create()
    path = f"/users/{target.public_id}"

    by_id = api.patch(path, {"position": str(position.public_id)})
    unknown = api.patch(path, {"position": "Astronaut"})

    assert by_id.json()["position"] == {"id": str(position.public_id), "name": "Engineer"}
    assert_error(unknown, 400, "bad_request")
    assert not Position.objects.filter(name="Astronaut").exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "x", "language": "xx"}, "language"),
        ({"username": "x", "time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"username": "x", "calendar_system": "mayan"}, "calendar_system"),
        ({"username": ""}, "username"),
    ],
)
def test_invalid_user_fields_are_422_naming_the_field(body: dict[str, str], field: str) -> None:
    api = api_for("add_user")

    response = api.post("/users", body)

    error = assert_error(response, 422, "validation_error")
    assert error["details"][0]["loc"][-1] == field
    assert not User.objects.filter(username="x").exists()


def test_a_taken_username_is_400_naming_the_field() -> None:
    UserFactory.create(username="anna")
    api = api_for("add_user")

    error = assert_error(api.post("/users", {"username": "anna"}), 400, "bad_request")

    assert error["details"]["field"] == "username"


def test_null_for_a_required_field_in_a_change_is_422() -> None:
    api = api_for("view_user", "change_user")
    target = UserFactory.create(username="keep")

    response = api.patch(f"/users/{target.public_id}", {"username": None})

    assert_error(response, 422, "validation_error")
    target.refresh_from_db()
    assert target.username == "keep"


def test_only_a_superuser_changes_a_superuser() -> None:
    root = UserFactory.create(username="root", email="root@example.com", is_superuser=True)
    api = api_for("view_user", "change_user")

    response = api.patch(f"/users/{root.public_id}", {"email": "mine@example.com"})

    assert_error(response, 403, "forbidden")
    root.refresh_from_db()
    assert root.email == "root@example.com"


def test_nobody_deactivates_or_deletes_themselves() -> None:
    api = api_for("view_user", "change_user", "delete_user")
    path = f"/users/{api.user.public_id}"

    assert_error(api.patch(path, {"is_active": False}), 400, "bad_request")
    assert_error(api.delete(path), 400, "bad_request")
    api.user.refresh_from_db()
    assert api.user.is_active


def test_search_and_pagination() -> None:
    for name in ("Kowalski", "Kowalczyk", "Schmidt"):
        UserFactory.create(last_name=name)
    api = api_for("view_user")

    found = api.get("/users", q="kowal").json()
    page = api.get("/users", limit=2, offset=2).json()

    assert sorted(u["last_name"] for u in found["items"]) == ["Kowalczyk", "Kowalski"]
    assert found["count"] == 2
    assert page["count"] == 4  # three plus the caller
    assert len(page["items"]) == 2


# --- malformed input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/users/not-a-uuid", None),
        ("patch", "/departments/1234", {"name": "x"}),
        ("delete", "/teams/zzz", None),
        ("post", "/departments", {"name": "x", "parent": "not-a-uuid"}),
        ("post", "/teams", {"name": "x", "members": ["42"]}),
        ("post", "/users", {"username": "x", "roles": ["nope"]}),
    ],
)
def test_malformed_uuids_are_422_in_the_error_shape(method: str, path: str, body: Any) -> None:
    api = Api(UserFactory.create(is_superuser=True))
    call: Callable[..., Any] = getattr(api, method)

    response = call(path, body) if body is not None else call(path)

    assert_error(response, 422, "validation_error")
    assert Department.objects.count() == 0
    assert Team.objects.count() == 0


def test_a_well_formed_but_unknown_reference_is_400_naming_the_field() -> None:
    api = Api(UserFactory.create(is_superuser=True))
    missing = "00000000-0000-4000-8000-000000000000"

    response = api.post("/departments", {"name": "x", "parent": missing})

    error = assert_error(response, 400, "bad_request")
    assert error["details"] == {"field": "parent", "unknown": [missing]}


# --- query budgets --------------------------------------------------------------------------


# The token, the caller's permissions (2), their scope (1 per type read), the count, the rows,
# one more per prefetched relation: users -> roles, teams -> members, roles -> permissions.
BUDGET = {"user": 7, "department": 6, "team": 8, "role": 7}


def fill(kind: str, count: int) -> None:
    department = DepartmentFactory.create(name=f"Dept for {kind} {count}")
    position = Position.objects.create(name=f"Position {kind} {count}")
    role = role_create(name=f"Role {kind} {count}", permissions=["org.view_team"])
    for n in range(count):
        if kind == "user":
            user = UserFactory.create(department=department, position=position)
            user.roles.add(role)
        elif kind == "department":
            head = UserFactory.create()
            DepartmentFactory.create(name=f"D{n}", parent=department, head=head)
        elif kind == "team":
            team_create(
                name=f"T{kind}{count}-{n}",
                lead=UserFactory.create(),
                members=[UserFactory.create(), UserFactory.create()],
            )
        else:
            role_create(name=f"R{count}-{n}", permissions=["org.view_user", "org.view_team"])


def queries_to_list(api: Api, kind: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(PATHS[kind])
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("kind", list(KINDS))
def test_listing_costs_the_same_few_queries_for_3_or_30_rows(
    kind: str, django_assert_max_num_queries
) -> None:
    api = api_for(f"view_{KINDS[kind]._meta.model_name}")
    # Users seen with scope "team": team members are filtered by visibility, the costlier case.
    api.user.roles.add(role_create(name="Team view", scope="team", permissions=["org.view_user"]))
    api.get(PATHS[kind])  # the token's first use is recorded once; leave it out of the count

    fill(kind, 3)
    few = queries_to_list(api, kind)
    fill(kind, 27)
    with django_assert_max_num_queries(BUDGET[kind]):
        many = api.get(PATHS[kind], limit=100)

    assert many.json()["count"] >= 30
    assert queries_to_list(api, kind) == few


def test_listing_30_users_costs_a_fixed_number_of_queries(django_assert_max_num_queries) -> None:
    api = api_for("view_user")
    api.get("/users")
    fill("user", 30)

    with django_assert_max_num_queries(BUDGET["user"]):
        response = api.get("/users", limit=100)

    assert response.json()["count"] == 31
    assert all(len(item["roles"]) == 1 for item in response.json()["items"][:30])


# --- audit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("history_middleware", [True, False])
def test_api_writes_are_attributed_to_the_tokens_owner(settings, history_middleware: bool) -> None:
    # The API attributes its writes itself (acting_as), whatever the middleware saw.
    if not history_middleware:
        settings.MIDDLEWARE = [m for m in settings.MIDDLEWARE if "simple_history" not in m]
    api = api_for("add_department", "view_department", "change_user", "view_user")
    target = UserFactory.create()

    created = api.post("/departments", {"name": "Audit"})
    changed = api.patch(f"/users/{target.public_id}", {"phone": "+4930123456"})

    assert created.status_code == 201
    assert changed.status_code == 200
    department = Department.objects.get(public_id=created.json()["id"])
    assert audit_trail(department)[0].actor_id == api.user.pk
    entry = audit_trail(target)[0]
    assert (entry.action, entry.actor_id) == ("changed", api.user.pk)
    assert [(c.field, c.after) for c in entry.changes] == [("phone", "+4930123456")]


def test_changing_needs_seeing_so_change_without_view_is_404() -> None:
    target = UserFactory.create(first_name="Tara")
    api = api_for("change_user")

    response = api.patch(f"/users/{target.public_id}", {"first_name": "Changed"})

    assert_error(response, 404, "not_found")
    target.refresh_from_db()
    assert target.first_name == "Tara"
