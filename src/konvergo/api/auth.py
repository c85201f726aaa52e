"""API authentication: personal bearer tokens for programs, the session for the browser."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from konvergo.org.models import User
from konvergo.org.selectors import user_for_api_token


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        user = user_for_api_token(token)
        if user is not None:
            request.user = user
        return user


# Session auth keeps Django's CSRF check, so a browser page cannot be tricked into writes.
api_auth = [BearerToken(), SessionAuth(csrf=True)]
