"""Writes of the core: business calendars."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, time

from django.db import transaction

from konvergo.core.models import BusinessCalendar, CalendarDayOff, WorkingHours


@transaction.atomic
def calendar_create(
    *,
    name: str,
    time_zone: str,
    hours: Mapping[int, Iterable[tuple[time, time]]],
    country: str = "",
    subdivision: str = "",
    days_off: Iterable[tuple[date, str]] = (),
    is_default: bool = False,
) -> BusinessCalendar:
    """Create a calendar with its weekly hours (weekday 0 = Monday) and own days off."""
    calendar = BusinessCalendar(
        name=name,
        time_zone=time_zone,
        country=country.upper(),
        subdivision=subdivision,
        is_default=is_default,
    )
    calendar.full_clean()
    if is_default:
        BusinessCalendar.objects.filter(is_default=True).update(is_default=False)
    calendar.save()
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=weekday, start=start, end=end)
        for weekday, intervals in hours.items()
        for start, end in intervals
    )
    CalendarDayOff.objects.bulk_create(
        CalendarDayOff(calendar=calendar, date=day, name=label) for day, label in days_off
    )
    return calendar
