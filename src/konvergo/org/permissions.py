"""Who may do what, and which records they see.

Permissions are Django's (`app.action_model`, action = view/add/change/delete), granted through
roles (`RoleBackend`), so `user.has_perm()` and the Django admin agree with our pages and API.
Record visibility is a scope per role (own / team / department subtree / all); `visible()` turns
it into a queryset filter, and every selector used by pages and the API goes through it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from konvergo.core.errors import NotAllowed
from konvergo.org.models import SCOPE_ORDER, Department, Scope, User

M = TypeVar("M", bound=models.Model)
ACTIONS = ("view", "add", "change", "delete")


class RoleBackend(ModelBackend):
    """Django's model backend with permissions coming from roles instead of groups."""

    def _get_group_permissions(self, user_obj: Any) -> Any:
        return Permission.objects.filter(roles__users=user_obj)


def permission_name(action: str, model: type[models.Model]) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def can(user: Any, action: str, model: type[models.Model]) -> bool:
    return bool(user.is_authenticated and user.has_perm(permission_name(action, model)))


DENIED = {
    "view": _("You may not view %(things)s."),
    "add": _("You may not create %(things)s."),
    "change": _("You may not change %(things)s."),
    "delete": _("You may not delete %(things)s."),
}


def require(user: Any, action: str, model: type[models.Model]) -> None:
    """Raise NotAllowed (403 on pages and in the API) unless `user` may `action` on `model`."""
    if not can(user, action, model):
        raise NotAllowed(str(DENIED[action] % {"things": model._meta.verbose_name_plural}))


def scope_for(user: User, model: type[models.Model]) -> Scope | None:
    """The widest scope among the user's roles that let them view `model`; None: no access."""
    if not can(user, "view", model):
        return None
    if user.is_superuser:
        return Scope.ALL
    cache: dict[str, Scope] = user.__dict__.setdefault("_scope_cache", {})
    key = permission_name("view", model)
    if key not in cache:
        app_label, codename = key.split(".")
        scopes = {
            Scope(value)
            for value in user.roles.filter(
                permissions__codename=codename, permissions__content_type__app_label=app_label
            ).values_list("scope", flat=True)
        }
        cache[key] = max(scopes, key=SCOPE_ORDER.index) if scopes else Scope.OWN
    return cache[key]


def department_subtree_ids(department_id: int | None) -> set[int]:
    """The department and every department below it (one query per level)."""
    if department_id is None:
        return set()
    found = {department_id}
    frontier = {department_id}
    while frontier:
        frontier = (
            set(Department.objects.filter(parent_id__in=frontier).values_list("pk", flat=True))
            - found
        )
        found |= frontier
    return found


def owner_q(owner_path: str, user: User, scope: Scope) -> Q:
    """Filter for records whose owner (reached by `owner_path`, "" = the record is a user)
    falls inside `scope` as seen by `user`."""
    prefix = f"{owner_path}__" if owner_path else ""
    own = Q(**{f"{prefix}pk": user.pk})
    if scope == Scope.OWN:
        return own
    if scope == Scope.TEAM:
        return own | Q(**{f"{prefix}teams__in": user.teams.values("pk")})
    return own | Q(**{f"{prefix}department__in": department_subtree_ids(user.department_id)})


def visible(user: Any, queryset: models.QuerySet[M]) -> models.QuerySet[M]:
    """The records of `queryset` that `user` may see.

    Models with a `VISIBILITY_OWNER` path (to the responsible user; "" for users themselves)
    are filtered by the user's scope; other types are directory data, all or nothing.
    """
    model = queryset.model
    if not user.is_authenticated:
        return queryset.none()
    scope = scope_for(user, model)
    if scope is None:
        return queryset.none()
    owner_path: str | None = getattr(model, "VISIBILITY_OWNER", None)
    if scope == Scope.ALL or owner_path is None:
        return queryset
    # A subquery, not a join: joins on the team/department paths would be reused by callers'
    # own filters and prefetches and silently drop rows (or duplicate them).
    allowed = model._default_manager.filter(owner_q(owner_path, user, scope)).values("pk")
    return queryset.filter(pk__in=allowed)
