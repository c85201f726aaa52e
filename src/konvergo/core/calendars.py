"""Business-time arithmetic on business calendars: deadlines, SLA clocks and reminders.

A calendar has working intervals per weekday in its local time zone, the public holidays of a
country and its own days off. All functions take and return aware datetimes; results are in UTC.

The clock is walked day by day in local time. Each working interval of a local date is turned
into a UTC interval (wall times with fold=0), so a DST switch inside an interval gives it its real
elapsed length, and intervals that a switch makes empty are dropped. Every local date owns the UTC
window from its midnight to the next midnight; its intervals are clipped to that window and to
each other, so the UTC intervals never overlap and do not depend on where a walk started.

Interval ends are exclusive: the end of an interval is not business time, but it is where an
amount of time that runs out exactly there ends.
"""

from __future__ import annotations

import functools
import itertools
import zoneinfo
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from konvergo.core.models import BusinessCalendar

__all__ = [
    "CalendarError",
    "CalendarSpec",
    "Interval",
    "add_business_time",
    "business_time_between",
    "is_business_time",
    "next_business_start",
    "public_holidays",
    "spec_for",
]

Interval: TypeAlias = tuple[time, time]

# A TimeField cannot hold 24:00, so an interval ending at time.max ends at the next midnight.
END_OF_DAY = time.max

# Searching further than this for working time means the calendar has none left to give.
MAX_IDLE_DAYS = 20 * 366

_ONE_DAY = timedelta(days=1)
_ZERO = timedelta(0)


class CalendarError(ValueError):
    """A calendar or an argument that business-time arithmetic cannot work with."""


@dataclass(frozen=True)
class CalendarSpec:
    """A business calendar as plain values: what every function here computes with.

    `hours` maps a weekday (0 = Monday … 6 = Sunday) to its working intervals in local wall time;
    a weekday that is missing or has no intervals is not worked. An interval ending at
    `time.max` runs until midnight. `country` and `subdivision` select public holidays from the
    `holidays` package; `days_off` are the calendar's own extra non-working dates.
    """

    time_zone: str
    hours: Mapping[int, tuple[Interval, ...]]
    country: str = ""
    subdivision: str = ""
    days_off: frozenset[date] = frozenset()
    # Derived in __post_init__: the zone object and intervals indexed by weekday, for speed.
    _zone: zoneinfo.ZoneInfo = field(init=False, repr=False, compare=False)
    _week: tuple[tuple[Interval, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            zone = zoneinfo.ZoneInfo(self.time_zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise CalendarError(f"Unknown time zone {self.time_zone!r}.") from None
        week: list[tuple[Interval, ...]] = [() for _ in range(7)]
        for weekday, intervals in self.hours.items():
            if weekday not in range(7):
                raise CalendarError(f"Weekday must be 0 (Monday) to 6 (Sunday), not {weekday!r}.")
            week[weekday] = _checked_intervals(weekday, intervals)
        # Frozen dataclass: normalised values are set once, here, through object.__setattr__.
        object.__setattr__(self, "_zone", zone)
        object.__setattr__(self, "_week", tuple(week))
        object.__setattr__(
            self, "hours", MappingProxyType({day: iv for day, iv in enumerate(week) if iv})
        )
        # Country codes are upper case in `holidays`; some subdivisions are names ("Zone A").
        object.__setattr__(self, "country", self.country.strip().upper())
        object.__setattr__(self, "subdivision", self.subdivision.strip())
        object.__setattr__(self, "days_off", frozenset(self.days_off))

    @property
    def zone(self) -> zoneinfo.ZoneInfo:
        return self._zone

    @property
    def has_working_hours(self) -> bool:
        return any(self._week)

    def intervals_on(self, weekday: int) -> tuple[Interval, ...]:
        """The working intervals of a weekday in local wall time, sorted."""
        return self._week[weekday]

    def is_non_working_day(self, day: date) -> bool:
        """Whether a local date has no working time: no hours that weekday, a public holiday of
        the calendar's country, or one of its own days off."""
        if not self._week[day.weekday()] or day in self.days_off:
            return True
        if not self.country:
            return False
        return day in public_holidays(self.country, self.subdivision, day.year)


def _checked_intervals(weekday: int, intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    ordered = sorted(intervals)
    for start, end in ordered:
        if start.tzinfo is not None or end.tzinfo is not None:
            raise CalendarError(
                f"Working hours are local wall times, not aware times (weekday {weekday})."
            )
        if end <= start:
            raise CalendarError(
                f"Working interval {start:%H:%M}-{end:%H:%M} on weekday {weekday}"
                " does not end after it starts."
            )
    for (_, previous_end), (start, _) in itertools.pairwise(ordered):
        if start < previous_end:
            raise CalendarError(f"Working intervals on weekday {weekday} overlap at {start:%H:%M}.")
    return tuple(ordered)


@functools.lru_cache(maxsize=512)
def public_holidays(country: str, subdivision: str, year: int) -> frozenset[date]:
    """The public holidays of a country (and optional subdivision) in one year."""
    import holidays  # imported here: the package loads many country modules

    try:
        found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError as exc:
        raise CalendarError(
            f"No public holidays known for {country!r} {subdivision!r}: {exc}"
        ) from None
    return frozenset(found)


def spec_for(calendar: BusinessCalendar) -> CalendarSpec:
    """The spec of a calendar row, from prefetched working hours and days off if there are any
    (`prefetch_related("working_hours", "days_off")`), otherwise with two queries.

    Build it once when computing many deadlines on the same calendar.
    """
    hours: dict[int, list[Interval]] = {}
    for row in calendar.working_hours.all():
        hours.setdefault(row.weekday, []).append((row.start, row.end))
    return CalendarSpec(
        time_zone=calendar.time_zone,
        hours={weekday: tuple(intervals) for weekday, intervals in hours.items()},
        country=calendar.country,
        subdivision=calendar.subdivision,
        days_off=frozenset(row.date for row in calendar.days_off.all()),
    )


def add_business_time(
    calendar: BusinessCalendar | CalendarSpec, start: datetime, duration: timedelta
) -> datetime:
    """The moment (UTC) at which `duration` of working time has elapsed, counting from `start`.

    An amount that runs out exactly at the end of an interval ends there, not at the start of the
    next interval. A zero duration gives `start` itself.
    """
    spec = _spec(calendar)
    start = _utc(start, "start")
    if duration < _ZERO:
        raise CalendarError(f"Business time to add must not be negative, got {duration}.")
    _require_working_hours(spec)
    if duration == _ZERO:
        return start
    remaining = duration
    for interval_start, interval_end in _utc_intervals(spec, start):
        if interval_end <= start:
            continue
        begin = max(interval_start, start)
        available = interval_end - begin
        if remaining <= available:
            return begin + remaining
        remaining -= available
    raise AssertionError("unreachable: _utc_intervals ends only by raising")  # pragma: no cover


def business_time_between(
    calendar: BusinessCalendar | CalendarSpec, a: datetime, b: datetime
) -> timedelta:
    """The working time in [a, b); the negative of the working time in [b, a) if b is before a."""
    spec = _spec(calendar)
    a = _utc(a, "a")
    b = _utc(b, "b")
    _require_working_hours(spec)
    if b < a:
        return -_between(spec, b, a)
    return _between(spec, a, b)


def is_business_time(calendar: BusinessCalendar | CalendarSpec, moment: datetime) -> bool:
    """Whether `moment` lies inside a working interval (its start included, its end not)."""
    spec = _spec(calendar)
    moment = _utc(moment, "moment")
    _require_working_hours(spec)
    for interval_start, interval_end in _utc_intervals(spec, moment, until=moment):
        if interval_start > moment:
            return False
        if moment < interval_end:
            return True
    return False


def next_business_start(calendar: BusinessCalendar | CalendarSpec, moment: datetime) -> datetime:
    """The first moment of working time at or after `moment` (UTC); `moment` itself if it is
    working time."""
    spec = _spec(calendar)
    moment = _utc(moment, "moment")
    _require_working_hours(spec)
    for interval_start, interval_end in _utc_intervals(spec, moment):
        if interval_end > moment:
            return max(interval_start, moment)
    raise AssertionError("unreachable: _utc_intervals ends only by raising")  # pragma: no cover


def _between(spec: CalendarSpec, a: datetime, b: datetime) -> timedelta:
    total = _ZERO
    if a == b:
        return total
    for interval_start, interval_end in _utc_intervals(spec, a, until=b):
        if interval_start >= b:
            break
        if interval_end > a:
            total += min(interval_end, b) - max(interval_start, a)
    return total


def _utc_intervals(
    spec: CalendarSpec, since: datetime, *, until: datetime | None = None
) -> Iterator[tuple[datetime, datetime]]:
    """The working intervals in UTC, in order and disjoint, of the local dates from the one
    before `since`'s through the one after `until`'s (a margin for midnight DST switches).

    Callers skip the intervals outside their range. Without `until` the walk is endless, so it
    gives up after MAX_IDLE_DAYS days without any working time rather than spin forever.
    """
    zone = spec.zone
    day = _previous_day(_local_date(spec, since))
    last_day = None if until is None else _next_day(_local_date(spec, until))
    idle_days = 0
    while last_day is None or day <= last_day:
        worked = False
        if not spec.is_non_working_day(day):
            next_day = _next_day(day)
            window_end = _local_to_utc(next_day, time(0), zone)
            cursor = _local_to_utc(day, time(0), zone)
            for start_time, end_time in spec.intervals_on(day.weekday()):
                start = max(_local_to_utc(day, start_time, zone), cursor)
                if end_time == END_OF_DAY:
                    end = window_end
                else:
                    end = min(_local_to_utc(day, end_time, zone), window_end)
                # A DST switch can make an interval empty or inverted: it has no working time.
                if end > start:
                    worked = True
                    cursor = end
                    yield start, end
        idle_days = 0 if worked else idle_days + 1
        if last_day is None and idle_days > MAX_IDLE_DAYS:
            raise CalendarError(
                f"No working time in the {MAX_IDLE_DAYS} days up to {day}:"
                " the calendar's working days are all holidays or days off."
            )
        day = _next_day(day)


def _next_day(day: date) -> date:
    try:
        return day + _ONE_DAY
    except OverflowError:
        raise CalendarError("Business time runs past the last date Python can represent.") from None


def _previous_day(day: date) -> date:
    return day - _ONE_DAY if day > date.min else day


def _local_to_utc(day: date, wall_time: time, zone: zoneinfo.ZoneInfo) -> datetime:
    # fold=0: an ambiguous wall time is its first occurrence, a skipped one uses the old offset.
    return datetime.combine(day, wall_time, tzinfo=zone).astimezone(UTC)


def _local_date(spec: CalendarSpec, moment: datetime) -> date:
    return moment.astimezone(spec.zone).date()


def _utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise CalendarError(f"{name} must be an aware datetime, got naive {moment.isoformat()}.")
    return moment.astimezone(UTC)


def _spec(calendar: BusinessCalendar | CalendarSpec) -> CalendarSpec:
    return calendar if isinstance(calendar, CalendarSpec) else spec_for(calendar)


def _require_working_hours(spec: CalendarSpec) -> None:
    if not spec.has_working_hours:
        raise CalendarError("The calendar has no working hours on any weekday.")
