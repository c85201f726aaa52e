"""Business-time arithmetic: properties over random calendars and moments, then the examples a
user would check by hand (weekends, holidays, lunch breaks, DST nights, a Persian week)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from konvergo.core.calendars import (
    END_OF_DAY,
    CalendarError,
    CalendarSpec,
    Interval,
    add_business_time,
    business_time_between,
    is_business_time,
    next_business_start,
    spec_for,
)
from konvergo.core.models import BusinessCalendar, CalendarDayOff, WorkingHours

ZONES = [
    "UTC",
    "Europe/Berlin",
    "Europe/Warsaw",
    "Asia/Tehran",
    "America/New_York",
    "Europe/Moscow",
]
COUNTRIES = ["", "DE", "PL", "IR", "US", "RU"]
NINE_TO_FIVE = ((time(9), time(17)),)
WITH_LUNCH = ((time(9), time(12)), (time(13), time(17)))
ONE_MICROSECOND = timedelta(microseconds=1)

Week = dict[int, tuple[Interval, ...]]


def at(zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=ZoneInfo(zone))


def hours(count: float) -> timedelta:
    return timedelta(hours=count)


def office(
    zone: str = "Europe/Berlin",
    *,
    country: str = "",
    subdivision: str = "",
    days_off: frozenset[date] = frozenset(),
) -> CalendarSpec:
    """Monday to Friday 09:00-17:00."""
    return CalendarSpec(
        time_zone=zone,
        hours=dict.fromkeys(range(5), NINE_TO_FIVE),
        country=country,
        subdivision=subdivision,
        days_off=days_off,
    )


def transition_days(zone_name: str, first_year: int, last_year: int) -> set[date]:
    """Local dates on which the zone's UTC offset changes (DST switches)."""
    zone = ZoneInfo(zone_name)
    found = set()
    day = date(first_year, 1, 1)
    while day.year <= last_year:
        following = day + timedelta(days=1)
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        if midnight.utcoffset() != datetime.combine(following, time(0), tzinfo=zone).utcoffset():
            found.add(day)
        day = following
    return found


TRANSITION_DAYS = {zone: sorted(transition_days(zone, 2019, 2030)) for zone in ZONES}


# --- strategies -------------------------------------------------------------------------------


def quarter_to_time(quarter: int) -> time:
    return END_OF_DAY if quarter == 96 else time(quarter // 4, quarter % 4 * 15)


@st.composite
def random_week(draw: st.DrawFn) -> Week:
    """Up to three intervals per weekday on a quarter-hour grid, some touching midnight."""
    week = {}
    for weekday in range(7):
        bounds = sorted(draw(st.lists(st.integers(0, 96), unique=True, max_size=6)))
        pairs = list(zip(bounds[::2], bounds[1::2], strict=False))
        week[weekday] = tuple((quarter_to_time(a), quarter_to_time(b)) for a, b in pairs)
    return week


def weekly_total(week: Week) -> timedelta:
    def seconds(moment: time) -> int:
        return 86400 if moment == END_OF_DAY else moment.hour * 3600 + moment.minute * 60

    return timedelta(
        seconds=sum(seconds(end) - seconds(start) for ivs in week.values() for start, end in ivs)
    )


@st.composite
def aware_moments(draw: st.DrawFn, calendar_zone: str) -> datetime:
    """A moment 2019-2030, often within two days of a DST switch of the calendar's zone, given in
    the calendar's zone or another one."""
    zone = ZoneInfo(draw(st.sampled_from([calendar_zone, *ZONES])))
    near_switch = draw(st.booleans())
    if near_switch and TRANSITION_DAYS[calendar_zone]:
        day = draw(st.sampled_from(TRANSITION_DAYS[calendar_zone]))
        offset = timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400)))
        midnight = datetime.combine(day, time(0), tzinfo=ZoneInfo(calendar_zone))
        return (midnight + offset).astimezone(zone)
    moment: datetime = draw(
        st.datetimes(
            # Hypothesis takes naive bounds and attaches the drawn zone itself.
            min_value=datetime(2019, 1, 1),  # noqa: DTZ001
            max_value=datetime(2030, 12, 31),  # noqa: DTZ001
            timezones=st.just(zone),
        )
    )
    return moment


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[CalendarSpec, datetime]:
    """A calendar and a start; the calendar's own days off fall in the weeks after the start."""
    calendar_zone = draw(st.sampled_from(ZONES))
    start = draw(aware_moments(calendar_zone))
    week: Week = draw(
        st.one_of(
            st.just(dict.fromkeys(range(5), NINE_TO_FIVE)),
            st.just(dict.fromkeys(range(5), WITH_LUNCH)),
            random_week(),
        )
    )
    # At least a working day a week keeps 500 business hours within about ten years.
    assume(weekly_total(week) >= hours(8))
    offsets = draw(st.lists(st.integers(-1, 120), max_size=15))
    spec = CalendarSpec(
        time_zone=calendar_zone,
        hours=week,
        country=draw(st.sampled_from(COUNTRIES)),
        days_off=frozenset(start.date() + timedelta(days=offset) for offset in offsets),
    )
    return spec, start


business_durations = st.integers(0, 500 * 60).map(lambda minutes: timedelta(minutes=minutes))


# --- properties -------------------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios(), duration=business_durations)
def test_between_measures_what_add_added(scenario, duration):
    spec, start = scenario

    end = add_business_time(spec, start, duration)

    assert end.tzinfo is UTC
    assert end >= start
    assert business_time_between(spec, start, end) == duration
    assert business_time_between(spec, end, start) == -duration


@settings(max_examples=150, deadline=None)
@given(scenario=scenarios(), duration=business_durations.filter(lambda d: d > timedelta(0)))
def test_add_ends_inside_or_at_the_end_of_working_time_on_a_working_day(scenario, duration):
    spec, start = scenario

    end = add_business_time(spec, start, duration)

    last_counted = end - ONE_MICROSECOND
    assert is_business_time(spec, last_counted)
    assert not spec.is_non_working_day(last_counted.astimezone(spec.zone).date())
    assert spec.intervals_on(last_counted.astimezone(spec.zone).weekday())


@settings(max_examples=150, deadline=None)
@given(
    scenario=scenarios(),
    first=st.integers(0, 40 * 24 * 60),
    second=st.integers(0, 40 * 24 * 60),
)
def test_between_is_additive(scenario, first, second):
    spec, a = scenario
    b = a + timedelta(minutes=first)
    c = b + timedelta(minutes=second)

    assert business_time_between(spec, a, b) + business_time_between(
        spec, b, c
    ) == business_time_between(spec, a, c)


@settings(max_examples=100, deadline=None)
@given(scenario=scenarios())
def test_next_business_start_is_the_first_working_moment(scenario):
    spec, moment = scenario

    begin = next_business_start(spec, moment)

    assert begin >= moment
    assert is_business_time(spec, begin)
    assert business_time_between(spec, moment, begin) == timedelta(0)
    assert (begin == moment.astimezone(UTC)) == is_business_time(spec, moment)


# --- examples -----------------------------------------------------------------------------------


def test_friday_afternoon_plus_two_hours_is_monday_morning():
    end = add_business_time(office(), at("Europe/Berlin", 2026, 3, 6, 16), hours(2))

    assert end == at("Europe/Berlin", 2026, 3, 9, 10)
    assert end.tzinfo is UTC
    assert end == datetime(2026, 3, 9, 9, tzinfo=UTC)


def test_amount_used_up_at_the_end_of_an_interval_ends_there():
    end = add_business_time(office(), at("Europe/Berlin", 2026, 3, 6, 16), hours(1))

    assert end == at("Europe/Berlin", 2026, 3, 6, 17)


def test_zero_duration_returns_the_start_in_utc_even_outside_working_time():
    saturday = at("Europe/Berlin", 2026, 3, 7, 12)

    end = add_business_time(office(), saturday, timedelta(0))

    assert end == saturday
    assert end.tzinfo is UTC


def test_start_outside_working_time_counts_from_the_next_interval():
    spec = office()

    assert add_business_time(spec, at("Europe/Berlin", 2026, 3, 7, 12), hours(1)) == at(
        "Europe/Berlin", 2026, 3, 9, 10
    )
    assert add_business_time(spec, at("Europe/Berlin", 2026, 3, 9, 6), hours(8)) == at(
        "Europe/Berlin", 2026, 3, 9, 17
    )


def test_german_public_holidays_are_skipped():
    with_holidays = office(country="DE")
    thursday_before_easter = at("Europe/Berlin", 2026, 4, 2, 16)

    # Good Friday 3 April and Easter Monday 6 April are holidays in all of Germany.
    assert add_business_time(office(), thursday_before_easter, hours(2)) == at(
        "Europe/Berlin", 2026, 4, 3, 10
    )
    assert add_business_time(with_holidays, thursday_before_easter, hours(2)) == at(
        "Europe/Berlin", 2026, 4, 7, 10
    )
    # Christmas Day (Friday 25 December) and the Second Day of Christmas.
    assert add_business_time(with_holidays, at("Europe/Berlin", 2026, 12, 24, 16), hours(2)) == at(
        "Europe/Berlin", 2026, 12, 28, 10
    )
    assert with_holidays.is_non_working_day(date(2026, 12, 25))
    assert with_holidays.is_non_working_day(date(2026, 12, 26))
    assert not with_holidays.is_non_working_day(date(2026, 12, 24))
    # The week of 21 December has three working days.
    assert business_time_between(
        with_holidays, at("Europe/Berlin", 2026, 12, 21), at("Europe/Berlin", 2026, 12, 28)
    ) == hours(32)


def test_regional_holidays_depend_on_the_subdivision():
    # Epiphany (6 January 2026, a Tuesday) is a holiday in Bavaria, not in Berlin.
    bavaria = office(country="DE", subdivision="BY")
    berlin = office(country="DE", subdivision="BE")

    assert bavaria.is_non_working_day(date(2026, 1, 6))
    assert not berlin.is_non_working_day(date(2026, 1, 6))


def test_own_day_off_is_skipped():
    spec = office("UTC", days_off=frozenset({date(2026, 3, 9)}))

    end = add_business_time(spec, at("UTC", 2026, 3, 6, 16), hours(2))

    assert end == at("UTC", 2026, 3, 10, 10)
    assert spec.is_non_working_day(date(2026, 3, 9))
    assert not is_business_time(spec, at("UTC", 2026, 3, 9, 12))


def test_lunch_break_is_not_working_time():
    spec = CalendarSpec("Europe/Warsaw", hours=dict.fromkeys(range(5), WITH_LUNCH))
    monday = (2026, 3, 9)

    assert add_business_time(spec, at("Europe/Warsaw", *monday, 11), hours(2)) == at(
        "Europe/Warsaw", *monday, 14
    )
    assert add_business_time(
        spec, at("Europe/Warsaw", *monday, 11, 30), timedelta(minutes=30)
    ) == at("Europe/Warsaw", *monday, 12)
    assert business_time_between(
        spec, at("Europe/Warsaw", *monday, 9), at("Europe/Warsaw", *monday, 17)
    ) == hours(7)
    assert not is_business_time(spec, at("Europe/Warsaw", *monday, 12, 30))
    assert is_business_time(spec, at("Europe/Warsaw", *monday, 13))
    assert not is_business_time(spec, at("Europe/Warsaw", *monday, 12))
    assert next_business_start(spec, at("Europe/Warsaw", *monday, 12, 30)) == at(
        "Europe/Warsaw", *monday, 13
    )
    assert next_business_start(spec, at("Europe/Warsaw", *monday, 10)) == at(
        "Europe/Warsaw", *monday, 10
    )


@pytest.mark.parametrize(
    ("zone", "switch_day", "real_hours"),
    [
        ("Europe/Berlin", date(2026, 3, 29), 3),
        ("Europe/Berlin", date(2026, 10, 25), 5),
        ("America/New_York", date(2026, 3, 8), 3),
        ("America/New_York", date(2026, 11, 1), 5),
    ],
)
def test_night_interval_on_a_dst_switch_day_has_its_real_length(zone, switch_day, real_hours):
    spec = CalendarSpec(zone, hours={switch_day.weekday(): ((time(0), time(4)),)})
    midnight = datetime.combine(switch_day, time(0), tzinfo=ZoneInfo(zone))
    next_midnight = datetime.combine(switch_day + timedelta(days=1), time(0), tzinfo=ZoneInfo(zone))

    assert business_time_between(spec, midnight, next_midnight) == hours(real_hours)
    assert add_business_time(spec, midnight, hours(real_hours)) == datetime.combine(
        switch_day, time(4), tzinfo=ZoneInfo(zone)
    )


def test_office_day_on_a_dst_switch_day_is_eight_hours():
    spec = CalendarSpec("Europe/Berlin", hours=dict.fromkeys(range(7), NINE_TO_FIVE))

    for switch_day in (date(2026, 3, 29), date(2026, 10, 25)):
        midnight = datetime.combine(switch_day, time(0), tzinfo=ZoneInfo("Europe/Berlin"))
        assert business_time_between(spec, midnight, midnight + timedelta(days=1)) == hours(8)


def test_interval_inside_the_skipped_hour_is_no_working_time():
    # On 29 March 2026 Berlin clocks jump from 02:00 to 03:00: 02:00-03:00 never happens.
    spec = CalendarSpec(
        "Europe/Berlin",
        hours={6: ((time(2), time(3)),), 0: ((time(9), time(10)),)},
    )

    end = add_business_time(spec, at("Europe/Berlin", 2026, 3, 28, 12), timedelta(minutes=30))

    assert end == at("Europe/Berlin", 2026, 3, 30, 9, 30)
    # A week later the hour exists again.
    assert business_time_between(
        spec, at("Europe/Berlin", 2026, 4, 5), at("Europe/Berlin", 2026, 4, 6)
    ) == hours(1)


def test_interval_until_midnight_joins_the_next_day():
    spec = CalendarSpec("UTC", hours=dict.fromkeys(range(7), ((time(0), END_OF_DAY),)))
    start = at("UTC", 2026, 3, 6, 22)

    assert add_business_time(spec, start, hours(48)) == start + hours(48)
    assert business_time_between(spec, start, start + timedelta(days=10)) == timedelta(days=10)


def test_persian_week_skips_the_weekend_and_iranian_public_holidays():
    # Saturday to Wednesday is the working week; Thursday and Friday are the weekend.
    working_weekdays = {5, 6, 0, 1, 2}
    plain = CalendarSpec(
        "Asia/Tehran", hours=dict.fromkeys(working_weekdays, ((time(8), time(16)),))
    )
    iranian = dataclasses.replace(plain, country="IR")
    public = holidays.country_holidays("IR", years=[2026, 2027])
    holiday = min(day for day in public if day.year == 2026 and day.weekday() in working_weekdays)
    next_working_day = holiday + timedelta(days=1)
    while next_working_day.weekday() not in working_weekdays or next_working_day in public:
        next_working_day += timedelta(days=1)
    holiday_morning = at("Asia/Tehran", holiday.year, holiday.month, holiday.day, 8)

    assert iranian.is_non_working_day(holiday)
    assert not is_business_time(iranian, holiday_morning + hours(2))
    assert add_business_time(plain, holiday_morning, hours(1)) == holiday_morning + hours(1)
    assert add_business_time(iranian, holiday_morning, hours(1)) == datetime.combine(
        next_working_day, time(9), tzinfo=ZoneInfo("Asia/Tehran")
    )
    # Wednesday 16:00 plus two hours is Saturday 10:00 (2026-01-07 is a Wednesday).
    assert add_business_time(plain, at("Asia/Tehran", 2026, 1, 7, 15), hours(2)) == at(
        "Asia/Tehran", 2026, 1, 10, 9
    )


def test_two_thousand_business_hours_span_a_year_of_working_days():
    spec = office(country="DE")
    start = at("Europe/Berlin", 2026, 1, 5, 9)

    end = add_business_time(spec, start, hours(2000))

    assert business_time_between(spec, start, end) == hours(2000)
    assert at("Europe/Berlin", 2026, 12, 1, 0) < end < at("Europe/Berlin", 2027, 3, 1, 0)


# --- errors -----------------------------------------------------------------------------------


def test_naive_datetimes_are_refused():
    naive = datetime(2026, 3, 6, 16)  # noqa: DTZ001 - the point of the test
    aware = at("UTC", 2026, 3, 6, 16)
    spec = office()

    with pytest.raises(CalendarError, match="aware"):
        add_business_time(spec, naive, hours(1))
    with pytest.raises(CalendarError, match="aware"):
        business_time_between(spec, aware, naive)
    with pytest.raises(CalendarError, match="aware"):
        is_business_time(spec, naive)
    with pytest.raises(CalendarError, match="aware"):
        next_business_start(spec, naive)


def test_negative_duration_is_refused():
    with pytest.raises(CalendarError, match="negative"):
        add_business_time(office(), at("UTC", 2026, 3, 6, 16), -hours(1))


def test_calendar_without_hours_is_refused():
    empty = CalendarSpec("UTC", hours={0: ()})
    start = at("UTC", 2026, 3, 6, 16)

    with pytest.raises(CalendarError, match="no working hours"):
        add_business_time(empty, start, hours(1))
    with pytest.raises(CalendarError, match="no working hours"):
        business_time_between(empty, start, start + hours(1))
    with pytest.raises(CalendarError, match="no working hours"):
        next_business_start(empty, start)


@pytest.mark.parametrize(
    ("hours_by_weekday", "message"),
    [
        ({0: ((time(9), time(12)), (time(11), time(17)))}, "overlap"),
        ({0: ((time(9), time(9)),)}, "does not end after"),
        ({0: ((time(17), time(9)),)}, "does not end after"),
        ({7: NINE_TO_FIVE}, "Weekday"),
    ],
)
def test_invalid_working_hours_are_refused(hours_by_weekday, message):
    with pytest.raises(CalendarError, match=message):
        CalendarSpec("UTC", hours=hours_by_weekday)


def test_unknown_time_zone_and_country_are_refused():
    with pytest.raises(CalendarError, match="time zone"):
        CalendarSpec("Mars/Olympus_Mons", hours={0: NINE_TO_FIVE})
    with pytest.raises(CalendarError, match="public holidays"):
        add_business_time(office(country="XX"), at("UTC", 2026, 3, 6, 16), hours(1))


def test_calendar_whose_working_days_are_all_off_gives_up():
    mondays = frozenset(date(2026, 1, 5) + timedelta(weeks=week) for week in range(52 * 22))
    spec = CalendarSpec("UTC", hours={0: NINE_TO_FIVE}, days_off=mondays)

    with pytest.raises(CalendarError, match="No working time"):
        add_business_time(spec, at("UTC", 2026, 1, 1), hours(1))


# --- database ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_spec_and_deadline_from_calendar_rows(
    django_assert_max_num_queries, django_assert_num_queries
):
    calendar = BusinessCalendar.objects.create(
        name="Berlin office", time_zone="Europe/Berlin", country="DE"
    )
    WorkingHours.objects.bulk_create(
        WorkingHours(calendar=calendar, weekday=weekday, start=start, end=end)
        for weekday in range(5)
        for start, end in reversed(WITH_LUNCH)
    )
    CalendarDayOff.objects.create(calendar=calendar, date=date(2026, 3, 9), name="Team day")
    fresh = BusinessCalendar.objects.get(pk=calendar.pk)

    with django_assert_max_num_queries(2):
        spec = spec_for(fresh)
    with django_assert_max_num_queries(2):
        end = add_business_time(fresh, at("Europe/Berlin", 2026, 3, 6, 16), hours(2))

    assert spec.time_zone == "Europe/Berlin"
    assert spec.country == "DE"
    assert dict(spec.hours) == dict.fromkeys(range(5), WITH_LUNCH)
    assert spec.days_off == frozenset({date(2026, 3, 9)})
    # Friday 16-17, Monday is the team day, Tuesday 09-10.
    assert end == at("Europe/Berlin", 2026, 3, 10, 10)

    prefetched = BusinessCalendar.objects.prefetch_related("working_hours", "days_off").get(
        pk=calendar.pk
    )
    with django_assert_num_queries(0):
        assert spec_for(prefetched) == spec


@pytest.mark.django_db
def test_a_new_default_calendar_takes_the_mark_from_the_old_one() -> None:
    from konvergo.core.models import BusinessCalendar
    from konvergo.core.services import calendar_create

    nine_to_five = {0: [(time(9), time(17))]}
    calendar_create(name="Old", time_zone="UTC", hours=nine_to_five, is_default=True)
    calendar_create(name="New", time_zone="UTC", hours=nine_to_five, is_default=True)

    assert list(
        BusinessCalendar.objects.filter(is_default=True).values_list("name", flat=True)
    ) == ["New"]
