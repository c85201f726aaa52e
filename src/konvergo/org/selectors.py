"""Reads for people and structure."""

from __future__ import annotations

from django.utils import timezone

from konvergo.org.models import ApiToken, User
from konvergo.org.services import token_digest


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
