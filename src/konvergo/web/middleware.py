"""Per-request preferences of the signed-in user: language, time zone and calendar system."""

from __future__ import annotations

import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from konvergo.web.dates import GREGORIAN, activate_calendar, deactivate_calendar


class UserPreferencesMiddleware:
    """Runs after AuthenticationMiddleware (and after LocaleMiddleware, whose guess from the
    cookie or the browser it overrides): a signed-in user always gets the language, time zone
    and calendar of their profile."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.languages = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return self.get_response(request)
        language = getattr(user, "language", "")
        if language in self.languages:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        try:
            timezone.activate(zoneinfo.ZoneInfo(getattr(user, "time_zone", "") or "UTC"))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            timezone.deactivate()
        token = activate_calendar(getattr(user, "calendar_system", "") or GREGORIAN)
        try:
            return self.get_response(request)
        finally:
            deactivate_calendar(token)
            timezone.deactivate()
