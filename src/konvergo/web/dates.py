"""Dates as each person wants to read them: in their time zone, and in the Solar Hijri calendar
when they chose it (with Persian digits when the page is in Persian).

The calendar system is activated per request like the time zone (see `web.middleware`); code
that renders for someone outside a request (e-mails, jobs) wraps it in `calendar_override`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from datetime import date, datetime

import jdatetime  # type: ignore[import-untyped]  # ships no type information
from django.utils import formats, timezone, translation

GREGORIAN = "gregorian"
SOLAR_HIJRI = "solar_hijri"

_calendar_system: ContextVar[str] = ContextVar("konvergo_calendar_system", default=GREGORIAN)
_PERSIAN_DIGITS = str.maketrans("0123456789", "۰۱۲۳۴۵۶۷۸۹")


def activate_calendar(system: str) -> Token[str]:
    return _calendar_system.set(system)


def deactivate_calendar(token: Token[str]) -> None:
    _calendar_system.reset(token)


def get_calendar() -> str:
    return _calendar_system.get()


@contextmanager
def calendar_override(system: str) -> Iterator[None]:
    token = activate_calendar(system)
    try:
        yield
    finally:
        deactivate_calendar(token)


def _digits(text: str) -> str:
    language = translation.get_language() or ""
    return text.translate(_PERSIAN_DIGITS) if language.split("-")[0] == "fa" else text


def _local(value: datetime) -> datetime:
    return timezone.localtime(value) if timezone.is_aware(value) else value


def format_date(value: date | datetime | None) -> str:
    """The day of `value` (a datetime counts in the active time zone)."""
    if value is None:
        return ""
    day = _local(value).date() if isinstance(value, datetime) else value
    if get_calendar() == SOLAR_HIJRI:
        return _digits(jdatetime.date.fromgregorian(date=day).strftime("%Y/%m/%d"))
    return formats.date_format(day, "DATE_FORMAT")


def format_datetime(value: date | datetime | None) -> str:
    """Date and time of day in the active time zone; a plain date is shown as a date."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        return format_date(value)
    moment = _local(value)
    if get_calendar() == SOLAR_HIJRI:
        shown = jdatetime.datetime.fromgregorian(datetime=moment.replace(tzinfo=None))
        return _digits(shown.strftime("%Y/%m/%d %H:%M"))
    return formats.date_format(moment, "DATETIME_FORMAT")
