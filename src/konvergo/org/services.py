"""Writes for people and structure. Each function is one transaction and checks its rules."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.contrib.auth.models import Permission
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError
from konvergo.org.models import ApiToken, Department, Deputy, Notification, Role, Scope, User
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
