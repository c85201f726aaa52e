"""Helpers for views that serve a full page and, to htmx, only the fragment that changed."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import resolve_url


def is_htmx(request: HttpRequest) -> bool:
    """True for a request htmx made to swap a fragment (not for a boosted page navigation)."""
    return request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers


class HtmxLoginRedirectMiddleware:
    """When a session expires, an htmx fragment request would swap the login page into the
    fragment; tell htmx to load the login page as a whole page instead."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code == 302 and is_htmx(request):
            location = response.get("Location", "")
            if location.startswith(resolve_url(settings.LOGIN_URL)):
                redirect = HttpResponse(status=204)
                redirect["HX-Redirect"] = location
                return redirect
        return response
