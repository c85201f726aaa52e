"""`kdate` / `kdatetime`: the reader's time zone, calendar system and digits."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from django.template import Context, Template
from django.utils import timezone, translation

from konvergo.web.dates import calendar_override


def render_dates(value: Any) -> str:
    return Template("{% load kdates %}{{ value|kdate }}|{{ value|kdatetime }}").render(
        Context({"value": value})
    )


def persian_digits(text: str) -> str:
    return "".join(chr(0x06F0 + int(c)) if c.isdigit() else c for c in text)


def test_solar_hijri_with_latin_digits_outside_persian() -> None:
    with calendar_override("solar_hijri"), translation.override("en"):
        assert render_dates(date(2026, 11, 25)) == "1405/09/04|1405/09/04"


def test_solar_hijri_with_persian_digits_in_persian() -> None:
    moment = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)

    with calendar_override("solar_hijri"), translation.override("fa"):
        shown = render_dates(moment)

    assert shown == persian_digits("1405/09/04|1405/09/04 10:30")


def test_gregorian_uses_djangos_localized_formats() -> None:
    moment = datetime(2026, 11, 25, 10, 30, tzinfo=UTC)

    with translation.override("en"):
        english = render_dates(moment)
    with translation.override("de"):
        german = render_dates(moment)

    assert english == "Nov. 25, 2026|Nov. 25, 2026, 10:30 a.m."
    assert german.startswith("25. November 2026|25. November 2026")


def test_datetimes_are_shown_in_the_active_time_zone() -> None:
    late_evening = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)

    with (
        timezone.override("Asia/Tehran"),
        calendar_override("solar_hijri"),
        translation.override("en"),
    ):
        shown = render_dates(late_evening)

    assert shown == "1405/09/04|1405/09/04 00:30"  # already the next day in Tehran


def test_empty_values_render_nothing_and_text_passes_through() -> None:
    assert render_dates(None) == "|"
    assert render_dates("") == "|"
    assert render_dates("soon") == "soon|soon"
