"""The core's part of the demo company: business calendars of its three offices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, time

from django.utils import timezone

from konvergo.core.demo import DEMO_MARKER_CALENDAR, register_demo_step
from konvergo.core.services import calendar_create

NINE_TO_FIVE = [(time(9), time(17))]


@register_demo_step(10, "calendars")
def demo_calendars(say: Callable[[str], None]) -> None:
    year = timezone.localdate().year
    calendar_create(
        name=DEMO_MARKER_CALENDAR,
        time_zone="Europe/Berlin",
        country="DE",
        subdivision="BE",
        hours={day: [(time(8, 30), time(12, 30)), (time(13, 15), time(17))] for day in range(5)},
        days_off=[(date(year, 12, 24), "Christmas Eve"), (date(year, 12, 31), "New Year's Eve")],
        is_default=True,
    )
    calendar_create(
        name="Warsaw office",
        time_zone="Europe/Warsaw",
        country="PL",
        hours={day: NINE_TO_FIVE for day in range(5)},
    )
    # Iran's working week runs Saturday to Wednesday (Thursday half-day here).
    calendar_create(
        name="Tehran office",
        time_zone="Asia/Tehran",
        country="IR",
        hours={
            5: NINE_TO_FIVE,
            6: NINE_TO_FIVE,
            0: NINE_TO_FIVE,
            1: NINE_TO_FIVE,
            2: NINE_TO_FIVE,
            3: [(time(9), time(13))],
        },
    )
    say("3 business calendars (Berlin, Warsaw, Tehran)")
