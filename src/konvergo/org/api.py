"""REST endpoints for users, departments, teams and roles (mounted at /api/v1 by konvergo.api).

Each endpoint checks the permission for its action (`require`) before anything else, then reads
through `visible()`, the same filter the pages use: a record the caller may not see answers
404 as if it did not exist, a missing permission 403, and a refused write changes nothing.
Related records named in a body must be visible to the caller too. Writes run inside
`acting_as(caller)`, so the audit trail names the token's owner even though ninja
authenticates after simple-history's middleware has looked at the request.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from uuid import UUID

from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Prefetch, Q
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Status
from ninja.errors import AuthenticationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.params.functions import Query as query_param

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError
from konvergo.org.models import Department, Position, Role, Team, User
from konvergo.org.permissions import can, require, visible
from konvergo.org.schemas import (
    DepartmentIn,
    DepartmentOut,
    DepartmentPatch,
    RoleIn,
    RoleOut,
    RolePatch,
    TeamIn,
    TeamOut,
    TeamPatch,
    UserIn,
    UserOut,
    UserPatch,
)
from konvergo.org.services import (
    department_delete,
    department_save,
    position_get_or_create,
    role_create_as,
    role_delete,
    role_update,
    team_create,
    team_delete,
    team_update,
    user_create,
    user_delete,
    user_update,
)

M = TypeVar("M", bound=models.Model)

MAX_PAGE = 200
SEARCH = query_param(
    "", max_length=100, description="Words that must all occur in the name (or username)."
)

router = Router()
users = Router(tags=["users"])
departments = Router(tags=["departments"])
teams = Router(tags=["teams"])
roles = Router(tags=["roles"])
router.add_router("/users", users)
router.add_router("/departments", departments)
router.add_router("/teams", teams)
router.add_router("/roles", roles)


# --- helpers --------------------------------------------------------------------------------


def caller(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # unreachable: the API requires authentication
        raise AuthenticationError()
    return user


def allowed(request: HttpRequest, action: str, model: type[models.Model]) -> User:
    """The caller, once they may `action` records of `model` (403 otherwise)."""
    user = caller(request)
    require(user, action, model)
    return user


def get_visible(user: User, queryset: models.QuerySet[M], public_id: UUID) -> M:
    record = visible(user, queryset).filter(public_id=public_id).first()
    if record is None:
        raise Http404
    return record


def search(queryset: models.QuerySet[M], q: str, fields: Iterable[str]) -> models.QuerySet[M]:
    for word in q.split():
        match = Q()
        for field in fields:
            match |= Q(**{f"{field}__icontains": word})
        queryset = queryset.filter(match)
    return queryset


def unknown(field: str, ids: Iterable[object]) -> BusinessError:
    names = sorted(str(i) for i in ids)
    return BusinessError(
        _("No such record for %(field)s: %(ids)s") % {"field": field, "ids": ", ".join(names)},
        details={"field": field, "unknown": names},
    )


def referenced(
    user: User, queryset: models.QuerySet[M], public_id: UUID | None, field: str
) -> M | None:
    """The record a body names by public id; it must be one the caller may see (400 if not)."""
    if public_id is None:
        return None
    record = visible(user, queryset).filter(public_id=public_id).first()
    if record is None:
        raise unknown(field, [public_id])
    return record


def referenced_all(
    user: User, queryset: models.QuerySet[M], public_ids: Iterable[UUID], field: str
) -> list[M]:
    wanted = set(public_ids)
    found = list(visible(user, queryset).filter(public_id__in=wanted)) if wanted else []
    missing = wanted - {getattr(record, "public_id") for record in found}  # noqa: B009
    if missing:
        raise unknown(field, missing)
    return found


@contextmanager
def writing(user: User) -> Iterator[None]:
    """Attribute the writes to `user`; a model validation error becomes a 400."""
    with acting_as(user):
        try:
            yield
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"": exc.messages}
            raise BusinessError(
                " ".join(message for messages in errors.values() for message in messages),
                details={"field": next(iter(errors)), "errors": errors},
            ) from exc


# --- users ----------------------------------------------------------------------------------


def user_rows() -> models.QuerySet[User]:
    return User.objects.select_related("department", "position").prefetch_related("roles")


def roles_with_permissions() -> models.QuerySet[Role]:
    return Role.objects.prefetch_related(
        Prefetch("permissions", queryset=Permission.objects.select_related("content_type"))
    )


def position_named(user: User, value: str | None) -> Position | None:
    """A position by public id or name; a new name creates it for those who may add positions."""
    if value is None:
        return None
    try:
        public_id = UUID(value)
    except ValueError:
        pass  # a name
    else:
        return referenced(user, Position.objects.all(), public_id, "position")
    found = visible(user, Position.objects.filter(name=value)).first()
    if found is not None:
        return found
    if not can(user, "add", Position):
        raise unknown("position", [value])
    return position_get_or_create(name=value)


def user_references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Turn the public ids (and position name) of a body into records, in place."""
    if "department" in data:
        data["department"] = referenced(
            user, Department.objects.all(), data["department"], "department"
        )
    if "position" in data:
        data["position"] = position_named(user, data["position"])
    if data.get("roles") is not None:
        data["roles"] = referenced_all(user, roles_with_permissions(), data["roles"], "roles")
    return data


@users.get("", response=list[UserOut], summary="List users")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def users_list(request: HttpRequest, q: str = SEARCH) -> models.QuerySet[User]:
    user = allowed(request, "view", User)
    rows = search(user_rows(), q, ["username", "first_name", "last_name"])
    return visible(user, rows).order_by("username")


@users.get("/{user_id}", response=UserOut, summary="One user")
def users_get(request: HttpRequest, user_id: UUID) -> User:
    return get_visible(allowed(request, "view", User), user_rows(), user_id)


@users.post(
    "",
    response={201: UserOut},
    summary="Create a user (without a password: they set one by password reset)",
)
def users_create(request: HttpRequest, payload: UserIn) -> Status[User]:
    user = allowed(request, "add", User)
    with writing(user), transaction.atomic():  # a new position is created with the user
        created = user_create(actor=user, **user_references(user, payload.model_dump()))
    return Status(201, user_rows().get(pk=created.pk))


@users.patch("/{user_id}", response=UserOut, summary="Change a user")
def users_update(request: HttpRequest, user_id: UUID, payload: UserPatch) -> User:
    user = allowed(request, "change", User)
    target = get_visible(user, User.objects.all(), user_id)
    with writing(user), transaction.atomic():  # a new position is created with the change
        changes = user_references(user, payload.changes())
        new_roles = changes.pop("roles", None)
        user_update(user=target, actor=user, changes=changes, roles=new_roles)
    return user_rows().get(pk=target.pk)


@users.delete("/{user_id}", response={204: None}, summary="Delete a user")
def users_delete(request: HttpRequest, user_id: UUID) -> Status[None]:
    user = allowed(request, "delete", User)
    target = get_visible(user, User.objects.all(), user_id)
    with writing(user):
        user_delete(user=target, actor=user)
    return Status(204, None)


# --- departments ----------------------------------------------------------------------------


def department_rows() -> models.QuerySet[Department]:
    return Department.objects.select_related("parent", "head")


def department_references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    if "parent" in data:
        data["parent"] = referenced(user, Department.objects.all(), data["parent"], "parent")
    if "head" in data:
        data["head"] = referenced(user, User.objects.all(), data["head"], "head")
    return data


@departments.get("", response=list[DepartmentOut], summary="List departments")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def departments_list(request: HttpRequest, q: str = SEARCH) -> models.QuerySet[Department]:
    user = allowed(request, "view", Department)
    return visible(user, search(department_rows(), q, ["name"])).order_by("name", "pk")


@departments.get("/{department_id}", response=DepartmentOut, summary="One department")
def departments_get(request: HttpRequest, department_id: UUID) -> Department:
    return get_visible(allowed(request, "view", Department), department_rows(), department_id)


@departments.post("", response={201: DepartmentOut}, summary="Create a department")
def departments_create(request: HttpRequest, payload: DepartmentIn) -> Status[Department]:
    user = allowed(request, "add", Department)
    department = Department(**department_references(user, payload.model_dump()))
    with writing(user):
        department_save(department=department, actor=user)
    return Status(201, department_rows().get(pk=department.pk))


@departments.patch(
    "/{department_id}",
    response=DepartmentOut,
    summary="Change a department (moving it below itself is refused)",
)
def departments_update(
    request: HttpRequest, department_id: UUID, payload: DepartmentPatch
) -> Department:
    user = allowed(request, "change", Department)
    department = get_visible(user, Department.objects.all(), department_id)
    for field, value in department_references(user, payload.changes()).items():
        setattr(department, field, value)
    with writing(user):
        department_save(department=department, actor=user)
    return department_rows().get(pk=department.pk)


@departments.delete(
    "/{department_id}",
    response={204: None},
    summary="Delete a department (refused while it has sub-departments)",
)
def departments_delete(request: HttpRequest, department_id: UUID) -> Status[None]:
    user = allowed(request, "delete", Department)
    department = get_visible(user, Department.objects.all(), department_id)
    with writing(user):
        department_delete(department=department)
    return Status(204, None)


# --- teams ----------------------------------------------------------------------------------


def team_rows(user: User) -> models.QuerySet[Team]:
    # Members the caller may not see are left out, as they are everywhere else. Through a
    # subquery: the prefetch would reuse visible()'s join on team membership and lose rows.
    seen = visible(user, User.objects.all()).values("pk")
    members = User.objects.filter(pk__in=seen).order_by("username")
    return Team.objects.select_related("lead").prefetch_related(
        Prefetch("members", queryset=members, to_attr="visible_members")
    )


def team_references(user: User, data: dict[str, Any], team: Team | None = None) -> dict[str, Any]:
    if "lead" in data:
        data["lead"] = referenced(user, User.objects.all(), data["lead"], "lead")
    if data.get("members") is not None:
        members = referenced_all(user, User.objects.all(), data["members"], "members")
        if team is not None:
            # Members the caller cannot see are not theirs to remove.
            hidden = team.members.exclude(pk__in=visible(user, User.objects.all()).values("pk"))
            members += list(hidden)
        data["members"] = members
    return data


@teams.get("", response=list[TeamOut], summary="List teams")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def teams_list(request: HttpRequest, q: str = SEARCH) -> models.QuerySet[Team]:
    user = allowed(request, "view", Team)
    return visible(user, search(team_rows(user), q, ["name"])).order_by("name")


@teams.get("/{team_id}", response=TeamOut, summary="One team")
def teams_get(request: HttpRequest, team_id: UUID) -> Team:
    user = allowed(request, "view", Team)
    return get_visible(user, team_rows(user), team_id)


@teams.post("", response={201: TeamOut}, summary="Create a team")
def teams_create(request: HttpRequest, payload: TeamIn) -> Status[Team]:
    user = allowed(request, "add", Team)
    data = team_references(user, payload.model_dump())
    with writing(user):
        team = team_create(**data)
    return Status(201, team_rows(user).get(pk=team.pk))


@teams.patch("/{team_id}", response=TeamOut, summary="Change a team")
def teams_update(request: HttpRequest, team_id: UUID, payload: TeamPatch) -> Team:
    user = allowed(request, "change", Team)
    team = get_visible(user, Team.objects.all(), team_id)
    changes = team_references(user, payload.changes(), team)
    members = changes.pop("members", None)
    with writing(user):
        team_update(team=team, changes=changes, members=members)
    return team_rows(user).get(pk=team.pk)


@teams.delete("/{team_id}", response={204: None}, summary="Delete a team")
def teams_delete(request: HttpRequest, team_id: UUID) -> Status[None]:
    user = allowed(request, "delete", Team)
    team = get_visible(user, Team.objects.all(), team_id)
    with writing(user):
        team_delete(team=team)
    return Status(204, None)


# --- roles ----------------------------------------------------------------------------------


@roles.get("", response=list[RoleOut], summary="List roles")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def roles_list(request: HttpRequest, q: str = SEARCH) -> models.QuerySet[Role]:
    user = allowed(request, "view", Role)
    return visible(user, search(roles_with_permissions(), q, ["name"])).order_by("name")


@roles.get("/{role_id}", response=RoleOut, summary="One role")
def roles_get(request: HttpRequest, role_id: UUID) -> Role:
    return get_visible(allowed(request, "view", Role), roles_with_permissions(), role_id)


@roles.post(
    "",
    response={201: RoleOut},
    summary="Create a role (granting only permissions you hold yourself)",
)
def roles_create(request: HttpRequest, payload: RoleIn) -> Status[Role]:
    user = allowed(request, "add", Role)
    with writing(user):
        role = role_create_as(actor=user, **payload.model_dump())
    return Status(201, roles_with_permissions().get(pk=role.pk))


@roles.patch("/{role_id}", response=RoleOut, summary="Change a role")
def roles_update(request: HttpRequest, role_id: UUID, payload: RolePatch) -> Role:
    user = allowed(request, "change", Role)
    role = get_visible(user, Role.objects.all(), role_id)
    changes = payload.changes()
    permissions = changes.pop("permissions", None)
    with writing(user):
        role_update(role=role, actor=user, changes=changes, permissions=permissions)
    return roles_with_permissions().get(pk=role.pk)


@roles.delete("/{role_id}", response={204: None}, summary="Delete a role")
def roles_delete(request: HttpRequest, role_id: UUID) -> Status[None]:
    user = allowed(request, "delete", Role)
    role = get_visible(user, Role.objects.all(), role_id)
    with writing(user):
        role_delete(role=role)
    return Status(204, None)
