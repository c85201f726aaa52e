"""Reads for people and structure."""

from __future__ import annotations

from datetime import date

from django.utils import timezone

from konvergo.org.models import ApiToken, Department, Deputy, User
from konvergo.org.tokens import token_digest


def user_for_api_token(raw_token: str) -> User | None:
    """The active user owning an unrevoked token, or None. Records when the token was used."""
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw_token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a hot API client must not write on every request.
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


def manager_of(user: User) -> User | None:
    """The head of the user's department; for the head, the head of the next department up."""
    department: Department | None = user.department
    seen: set[int] = set()
    while department is not None and department.pk not in seen:
        seen.add(department.pk)
        if department.head_id is not None and department.head_id != user.pk:
            return department.head
        department = department.parent
    return None


def deputy_on(*, user: User, day: date) -> User | None:
    """Who stands in for `user` on `day`, following chains (A away -> B away -> C)."""
    seen = {user.pk}
    current = user
    while True:
        period = (
            Deputy.objects.select_related("deputy")
            .filter(user=current, starts_on__lte=day, ends_on__gte=day, deputy__is_active=True)
            .first()
        )
        if period is None or period.deputy.pk in seen:
            return None if current is user else current
        seen.add(period.deputy.pk)
        current = period.deputy


def unread_notification_count(user: User) -> int:
    return user.notifications.filter(read_at__isnull=True).count()
