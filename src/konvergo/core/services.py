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
    if is_default:
        # Take the mark from the old default first: full_clean checks the one-default rule.
        BusinessCalendar.objects.filter(is_default=True).update(is_default=False)
    calendar.full_clean()
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


def _demote_other_defaults(calendar: BusinessCalendar) -> None:
    others = BusinessCalendar.objects.filter(is_default=True)
    if calendar.pk is not None:
        others = others.exclude(pk=calendar.pk)
    others.update(is_default=False)


@transaction.atomic
def calendar_update(
    *,
    calendar: BusinessCalendar,
    name: str,
    time_zone: str,
    hours: Mapping[int, Iterable[tuple[time, time]]],
    country: str = "",
    subdivision: str = "",
    days_off: Iterable[tuple[date, str]] = (),
    is_default: bool = False,
) -> BusinessCalendar:
    """Replace a calendar's settings, weekly hours and own days off (as in calendar_create).

    Rows that stay the same are kept, so the audit trail shows only what really changed.
    Making it the default takes that mark from the calendar that had it.
    """
    BusinessCalendar.objects.select_for_update().filter(pk=calendar.pk).first()
    calendar.name = name
    calendar.time_zone = time_zone
    calendar.country = country.upper()
    calendar.subdivision = subdivision
    calendar.is_default = is_default
    if is_default:
        _demote_other_defaults(calendar)
    calendar.full_clean()
    calendar.save()

    wanted_hours = {
        (weekday, start, end) for weekday, intervals in hours.items() for start, end in intervals
    }
    for row in list(calendar.working_hours.all()):
        key = (row.weekday, row.start, row.end)
        if key in wanted_hours:
            wanted_hours.discard(key)
        else:
            row.delete()
    for weekday, start, end in sorted(wanted_hours):
        WorkingHours.objects.create(calendar=calendar, weekday=weekday, start=start, end=end)

    wanted_days = dict(days_off)
    for day_off in list(calendar.days_off.all()):
        if day_off.date not in wanted_days:
            day_off.delete()
            continue
        label = wanted_days.pop(day_off.date)
        if day_off.name != label:
            day_off.name = label
            day_off.save(update_fields=["name"])
    for day, label in sorted(wanted_days.items()):
        CalendarDayOff.objects.create(calendar=calendar, date=day, name=label)
    return calendar


@transaction.atomic
def calendar_delete(*, calendar: BusinessCalendar) -> None:
    calendar.delete()  # departments on it fall back to the default calendar (calendar = NULL)
