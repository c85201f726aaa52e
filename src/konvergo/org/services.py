"""Writes for people and structure. Each function is one transaction and checks its rules."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, NotAllowed
from konvergo.org.models import (
    SCOPE_ORDER,
    ApiToken,
    CalendarSystem,
    Department,
    Deputy,
    Notification,
    Position,
    Role,
    Scope,
    Team,
    User,
)
from konvergo.org.selectors import deputy_on
from konvergo.org.tokens import TOKEN_PREFIX, token_digest

# --- API tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    raw: str  # shown to the user once, never stored


@transaction.atomic
def api_token_create(*, user: User, name: str = "") -> IssuedToken:
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=raw[: len(TOKEN_PREFIX) + 6], digest=token_digest(raw)
    )
    return IssuedToken(token=token, raw=raw)


def api_token_revoke(*, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


# --- departments ----------------------------------------------------------------------------


def department_check_parent(*, department: Department | None, parent: Department | None) -> None:
    """Refuse a parent that is the department itself or lies below it (a cycle)."""
    if department is None or department.pk is None or parent is None:
        return
    ancestor: Department | None = parent
    seen: set[int] = set()
    while ancestor is not None and ancestor.pk not in seen:
        if ancestor.pk == department.pk:
            raise BusinessError(
                _("%(parent)s lies inside %(department)s, so it cannot be its parent.")
                % {"parent": parent.name, "department": department.name},
                details={"field": "parent"},
            )
        seen.add(ancestor.pk)
        ancestor = ancestor.parent
    return


@transaction.atomic
def department_save(*, department: Department, actor: User | None = None) -> Department:
    """Create or update a department (fields already set on the instance)."""
    if department.pk is not None:
        # Lock the tree edge being changed so two concurrent moves cannot build a cycle.
        Department.objects.select_for_update().filter(pk=department.pk).first()
    department_check_parent(department=department, parent=department.parent)
    department.full_clean()
    department.save()
    return department


@transaction.atomic
def department_delete(*, department: Department) -> None:
    if department.children.exists():
        raise BusinessError(
            _("%(department)s still has sub-departments; move or delete them first.")
            % {"department": department.name}
        )
    User.objects.filter(department=department).update(department=None)
    department.delete()


# --- roles ----------------------------------------------------------------------------------


def permissions_by_name(names: Iterable[str]) -> list[Permission]:
    wanted = set(names)
    found = [
        p
        for p in Permission.objects.select_related("content_type")
        if f"{p.content_type.app_label}.{p.codename}" in wanted
    ]
    missing = wanted - {f"{p.content_type.app_label}.{p.codename}" for p in found}
    if missing:
        raise BusinessError(
            _("Unknown permissions: %(names)s") % {"names": ", ".join(sorted(missing))}
        )
    return found


@transaction.atomic
def role_create(
    *, name: str, scope: str = Scope.OWN, permissions: Iterable[str] = (), description: str = ""
) -> Role:
    role = Role(name=name, scope=scope, description=description)
    role.full_clean()
    role.save()
    role.permissions.set(permissions_by_name(permissions))
    return role


# --- deputies -------------------------------------------------------------------------------


def deputy_check(*, user: User, deputy: User, starts_on: date, ends_on: date) -> None:
    if ends_on < starts_on:
        raise BusinessError(
            _("The period ends (%(end)s) before it starts (%(start)s).")
            % {"end": ends_on.isoformat(), "start": starts_on.isoformat()},
            details={"field": "ends_on"},
        )
    if user.pk == deputy.pk:
        raise BusinessError(_("Nobody can be their own deputy."), details={"field": "deputy"})


@transaction.atomic
def deputy_create(
    *, user: User, deputy: User, starts_on: date, ends_on: date, note: str = ""
) -> Deputy:
    deputy_check(user=user, deputy=deputy, starts_on=starts_on, ends_on=ends_on)
    overlapping = Deputy.objects.select_for_update().filter(
        user=user, starts_on__lte=ends_on, ends_on__gte=starts_on
    )
    if overlapping.exists():
        raise BusinessError(
            _("%(user)s already has a deputy in that period.") % {"user": user},
            details={"field": "starts_on"},
        )
    return Deputy.objects.create(
        user=user, deputy=deputy, starts_on=starts_on, ends_on=ends_on, note=note
    )


# --- notifications --------------------------------------------------------------------------


@transaction.atomic
def notify(
    *, recipient: User, title: str, body: str = "", url: str = "", when: Any = None
) -> Notification:
    """An in-app notification; while the recipient is away, their deputy gets it instead."""
    today = timezone.localdate(when) if when is not None else timezone.localdate()
    deputy = deputy_on(user=recipient, day=today)
    return Notification.objects.create(
        recipient=deputy or recipient,
        on_behalf_of=recipient if deputy else None,
        title=title,
        body=body,
        url=url,
    )


def notifications_mark_read(*, user: User, public_ids: Iterable[Any] | None = None) -> int:
    """Mark some (or all) of the user's unread notifications read; returns how many."""
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if public_ids is not None:
        unread = unread.filter(public_id__in=list(public_ids))
    return unread.update(read_at=timezone.now())


# --- API services ---------------------------------------------------------------------------
# Writes behind the REST API (org/api.py); usable from pages and commands too. `actor` is who
# asks; None (commands, jobs) skips the rules that protect against the actor's own escalation.

USER_FIELDS = frozenset(
    {
        "username",
        "first_name",
        "last_name",
        "email",
        "language",
        "time_zone",
        "calendar_system",
        "phone",
        "department",
        "position",
        "is_active",
    }
)
TEAM_FIELDS = frozenset({"name", "description", "lead"})
ROLE_FIELDS = frozenset({"name", "description", "scope"})


def _assign(instance: Any, changes: Mapping[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on {type(instance).__name__}")
    for field, value in changes.items():
        setattr(instance, field, value)


def permission_key(permission: Permission) -> str:
    return f"{permission.content_type.app_label}.{permission.codename}"


def permissions_resolve(names: Iterable[str]) -> list[Permission]:
    """The permissions named "app_label.codename"; unknown names are refused, all listed."""
    wanted = set(names)
    query = Q()
    for name in wanted:
        app_label, _dot, codename = name.partition(".")
        query |= Q(content_type__app_label=app_label, codename=codename)
    found = list(Permission.objects.select_related("content_type").filter(query)) if wanted else []
    missing = sorted(wanted - {permission_key(p) for p in found})
    if missing:
        raise BusinessError(
            _("Unknown permissions: %(names)s") % {"names": ", ".join(missing)},
            details={"field": "permissions", "unknown": missing},
        )
    return found


def _held_scopes(actor: User) -> dict[int, int]:
    """Permission pk -> the widest scope (index in SCOPE_ORDER) the actor holds it with."""
    held: dict[int, int] = {}
    for permission_id, scope in Role.objects.filter(users=actor).values_list(
        "permissions", "scope"
    ):
        if permission_id is not None:
            held[permission_id] = max(held.get(permission_id, -1), SCOPE_ORDER.index(Scope(scope)))
    return held


def grants_check(*, actor: User | None, grants: Iterable[tuple[Iterable[Permission], str]]) -> None:
    """Refuse to hand out what the actor does not hold: each permission, at least as wide.

    `grants` are (permissions, scope) pairs, e.g. the roles being given to someone. Without
    this, anyone allowed to edit roles or users could make themselves an administrator.
    """
    if actor is None or actor.is_superuser:
        return
    held = _held_scopes(actor)
    beyond = sorted(
        {
            permission_key(permission)
            for permissions, scope in grants
            for permission in permissions
            if held.get(permission.pk, -1) < SCOPE_ORDER.index(Scope(scope))
        }
    )
    if beyond:
        raise NotAllowed(
            _(
                "You cannot grant permissions you do not hold yourself "
                "(at that visibility): %(names)s"
            )
            % {"names": ", ".join(beyond)},
            details={"field": "permissions", "not_held": beyond},
        )


def _user_guard(*, actor: User | None, user: User) -> None:
    # Whoever may change a superuser's e-mail could take the account over by password reset.
    if actor is not None and user.is_superuser and not actor.is_superuser:
        raise NotAllowed(_("Only a superuser may change or delete a superuser."))


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    username: str,
    email: str = "",
    first_name: str = "",
    last_name: str = "",
    language: str = "en",
    time_zone: str = "UTC",
    calendar_system: str = CalendarSystem.GREGORIAN,
    phone: str = "",
    department: Department | None = None,
    position: Position | None = None,
    roles: Collection[Role] = (),
    is_active: bool = True,
) -> User:
    """A new user without a usable password: they set one through the password reset."""
    grants_check(actor=actor, grants=[(role.permissions.all(), role.scope) for role in roles])
    user = User(
        username=username,
        email=email,
        first_name=first_name,
        last_name=last_name,
        language=language,
        time_zone=time_zone,
        calendar_system=calendar_system,
        phone=phone,
        department=department,
        position=position,
        is_active=is_active,
    )
    user.set_unusable_password()
    user.full_clean()
    user.save()
    user.roles.set(roles)
    return user


@transaction.atomic
def user_update(
    *,
    user: User,
    actor: User | None,
    changes: Mapping[str, Any],
    roles: Collection[Role] | None = None,
) -> User:
    """Set `changes` (field -> value, see USER_FIELDS) and, unless None, the user's roles."""
    _user_guard(actor=actor, user=user)
    if actor is not None and actor.pk == user.pk and changes.get("is_active") is False:
        raise BusinessError(_("You cannot deactivate yourself."), details={"field": "is_active"})
    _assign(user, changes, USER_FIELDS)
    if roles is not None:
        current = set(user.roles.all())
        added = [role for role in roles if role not in current]
        grants_check(actor=actor, grants=[(role.permissions.all(), role.scope) for role in added])
    user.full_clean(exclude=["password"])
    user.save()
    if roles is not None:
        user.roles.set(roles)
    return user


@transaction.atomic
def user_delete(*, user: User, actor: User | None) -> None:
    _user_guard(actor=actor, user=user)
    if actor is not None and actor.pk == user.pk:
        raise BusinessError(_("You cannot delete yourself."))
    user.delete()


@transaction.atomic
def position_get_or_create(*, name: str) -> Position:
    position, _created = Position.objects.get_or_create(name=name)
    return position


@transaction.atomic
def team_create(
    *,
    name: str,
    description: str = "",
    lead: User | None = None,
    members: Collection[User] = (),
) -> Team:
    team = Team(name=name, description=description, lead=lead)
    team.full_clean()
    team.save()
    team.members.set(members)
    return team


@transaction.atomic
def team_update(
    *, team: Team, changes: Mapping[str, Any], members: Collection[User] | None = None
) -> Team:
    """Set `changes` (see TEAM_FIELDS) and, unless None, the members."""
    _assign(team, changes, TEAM_FIELDS)
    team.full_clean()
    team.save()
    if members is not None:
        team.members.set(members)
    return team


@transaction.atomic
def team_delete(*, team: Team) -> None:
    team.delete()


@transaction.atomic
def role_create_as(
    *,
    actor: User | None,
    name: str,
    scope: str = Scope.OWN,
    permissions: Iterable[str] = (),
    description: str = "",
) -> Role:
    """`role_create` for someone: refuses permissions the actor does not hold themselves."""
    granted = permissions_resolve(permissions)
    grants_check(actor=actor, grants=[(granted, scope)])
    role = Role(name=name, scope=scope, description=description)
    role.full_clean()
    role.save()
    role.permissions.set(granted)
    return role


@transaction.atomic
def role_update(
    *,
    role: Role,
    actor: User | None,
    changes: Mapping[str, Any],
    permissions: Iterable[str] | None = None,
) -> Role:
    """Set `changes` (see ROLE_FIELDS) and, unless None, the permissions ("app.codename")."""
    before = set(role.permissions.select_related("content_type"))
    widened = SCOPE_ORDER.index(Scope(changes.get("scope", role.scope))) > SCOPE_ORDER.index(
        Scope(role.scope)
    )
    _assign(role, changes, ROLE_FIELDS)
    after = set(permissions_resolve(permissions)) if permissions is not None else before
    # Holders of the role get what is added, and everything when its visibility widens.
    grants_check(actor=actor, grants=[(after if widened else after - before, role.scope)])
    role.full_clean()
    role.save()
    if permissions is not None:
        role.permissions.set(after)
    return role


@transaction.atomic
def role_delete(*, role: Role) -> None:
    role.delete()


# --- web pages ------------------------------------------------------------------------------
# Writes behind the pages (org/views.py, web/views.py) that the API services above do not cover.

PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@transaction.atomic
def user_set_language(*, user: User, language: str) -> User:
    """The language switcher's choice, kept for the user's next sign-in."""
    if language not in dict(settings.LANGUAGES):
        raise BusinessError(
            _("%(code)s is not a language of Konvergo.") % {"code": language},
            details={"field": "language"},
        )
    if user.language != language:
        user.language = language
        user.save(update_fields=["language"])
    return user


@transaction.atomic
def profile_update(
    *,
    user: User,
    language: str,
    time_zone: str,
    calendar_system: str,
    phone: str,
    photo: File[Any] | None = None,
    remove_photo: bool = False,
) -> User:
    """What a user changes about themselves. `photo` is an upload already checked to be an
    image (it carries Pillow's `image.format`, as Django's ImageField leaves it). It is stored
    under a random name, never the upload's own; the file it replaces is deleted once the
    change is committed."""
    previous = user.photo.name if user.photo else ""
    user.language = language
    user.time_zone = time_zone
    user.calendar_system = calendar_system
    user.phone = phone
    if photo is not None:
        image_format = getattr(getattr(photo, "image", None), "format", None)
        extension = PHOTO_FORMATS.get(str(image_format))
        if extension is None:
            raise BusinessError(
                _("The photo must be a JPEG, PNG or WebP image."), details={"field": "photo"}
            )
        photo.name = f"{uuid.uuid4().hex}.{extension}"
        user.photo = photo  # the descriptor wraps the File in a FieldFile
    elif remove_photo:
        user.photo = None
    user.full_clean(exclude=["password"])
    user.save()
    current = user.photo.name if user.photo else ""
    if previous and previous != current:
        storage = user.photo.storage
        transaction.on_commit(lambda: storage.delete(previous))
    return user


@transaction.atomic
def position_save(*, position: Position) -> Position:
    """Create or update a position (fields already set on the instance)."""
    position.full_clean()
    position.save()
    return position


@transaction.atomic
def position_delete(*, position: Position) -> None:
    position.delete()  # its holders keep their accounts, without a position


@transaction.atomic
def deputy_update(
    *,
    period: Deputy,
    user: User,
    deputy: User,
    starts_on: date,
    ends_on: date,
    note: str = "",
) -> Deputy:
    """Change a deputy period; the same rules as deputy_create, the period itself excepted."""
    deputy_check(user=user, deputy=deputy, starts_on=starts_on, ends_on=ends_on)
    Deputy.objects.select_for_update().filter(pk=period.pk).first()
    overlapping = (
        Deputy.objects.select_for_update()
        .filter(user=user, starts_on__lte=ends_on, ends_on__gte=starts_on)
        .exclude(pk=period.pk)
    )
    if overlapping.exists():
        raise BusinessError(
            _("%(user)s already has a deputy in that period.") % {"user": user},
            details={"field": "starts_on"},
        )
    period.user = user
    period.deputy = deputy
    period.starts_on = starts_on
    period.ends_on = ends_on
    period.note = note
    period.save()
    return period


@transaction.atomic
def deputy_delete(*, period: Deputy) -> None:
    period.delete()
