"""SLA due times on the queue's business calendar: weekends, holidays, DST, pause and resume,
priority changes; and the arithmetic itself as properties (hypothesis)."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, time, timedelta

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st

from konvergo.core.calendars import CalendarSpec, business_time_between
from konvergo.core.errors import FieldErrors
from konvergo.tickets import choices
from konvergo.tickets.models import SlaPolicy, Ticket
from konvergo.tickets.services import sla
from konvergo.tickets.services.setup import sla_policy_create
from konvergo.tickets.services.tickets import (
    comment_add,
    ticket_create,
    ticket_transition,
    ticket_update,
)
from konvergo.tickets.tests.factories import desk

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
pytestmark = pytest.mark.django_db


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def open_ticket(d, priority: str = "P3", **extra) -> Ticket:
    return ticket_create(
        actor=d.agents[0],
        subject="Printer on fire",
        queue=d.queue,
        priority=d.priorities[priority],
        assignee=d.agents[0],
        **extra,
    )


def test_due_times_count_business_hours_only() -> None:
    d = desk()
    # Monday 10:00; P3 = 4 h first response, 16 h resolution on a 9-17 calendar.
    with time_machine.travel(berlin(2026, 3, 2, 10), tick=False):
        ticket = open_ticket(d)

    assert ticket.first_response_due_at == berlin(2026, 3, 2, 14)
    assert ticket.resolution_due_at == berlin(2026, 3, 4, 10)  # Wednesday 10:00
    assert ticket.sla_policy == SlaPolicy.objects.get(name="P3 standard")


def test_the_clock_skips_the_weekend() -> None:
    d = desk()
    with time_machine.travel(berlin(2026, 3, 6, 15), tick=False):  # Friday 15:00
        ticket = open_ticket(d)

    assert ticket.first_response_due_at == berlin(2026, 3, 9, 11)  # Monday 11:00


def test_the_clock_skips_public_holidays() -> None:
    d = desk()
    # Thursday before Easter 15:00: Good Friday and Easter Monday are Berlin holidays.
    with time_machine.travel(berlin(2026, 4, 2, 15), tick=False):
        ticket = open_ticket(d)

    assert ticket.first_response_due_at == berlin(2026, 4, 7, 11)  # Tuesday 11:00 (CEST)


def test_the_clock_keeps_local_office_hours_across_the_dst_switch() -> None:
    d = desk()
    # Friday 16:00 CET; summer time starts on Sunday 29 March 2026.
    with time_machine.travel(berlin(2026, 3, 27, 16), tick=False):
        ticket = open_ticket(d, "P1")  # 1 h first response, 4 h resolution

    assert ticket.first_response_due_at == datetime(2026, 3, 27, 16, tzinfo=UTC)  # 17:00 CET
    # 1 h on Friday, 3 h on Monday: 12:00 in summer time is 10:00 UTC, not 11:00.
    assert ticket.resolution_due_at == berlin(2026, 3, 30, 12)
    assert ticket.resolution_due_at == datetime(2026, 3, 30, 10, tzinfo=UTC)


def test_pending_customer_pauses_the_clock_and_resuming_moves_the_due_times() -> None:
    d = desk()
    with time_machine.travel(berlin(2026, 3, 2, 10), tick=False):
        ticket = open_ticket(d)
    with time_machine.travel(berlin(2026, 3, 2, 10, 30), tick=False):
        comment_add(actor=d.agents[0], ticket=ticket, body="Which printer?", is_public=True)
    with time_machine.travel(berlin(2026, 3, 2, 11), tick=False):
        ticket = ticket_transition(
            actor=d.agents[0], ticket=ticket, status=choices.Status.PENDING_CUSTOMER
        )

    # Paused: nothing is due, nothing escalates.
    assert ticket.resolution_due_at is None
    assert ticket.next_escalation_at is None

    # The customer answers the next day at 11:00: 8 business hours later.
    with time_machine.travel(berlin(2026, 3, 3, 11), tick=False):
        comment_add(
            actor=None, ticket=ticket, body="The one on floor 2", is_public=True,
            from_customer=True, author_name="Customer",
        )  # fmt: skip
    ticket.refresh_from_db()

    assert ticket.status == choices.Status.OPEN
    assert ticket.sla_paused_total == timedelta(hours=8)
    assert ticket.resolution_due_at == berlin(2026, 3, 5, 10)  # Wednesday 10:00 + 8 h
    assert ticket.next_response_due_at == berlin(2026, 3, 4, 11)  # P3: 8 h next response


def test_a_pause_over_a_weekend_and_holiday_costs_only_its_business_time() -> None:
    d = desk()
    with time_machine.travel(berlin(2026, 4, 1, 9), tick=False):  # Wednesday before Easter
        ticket = open_ticket(d)
    with time_machine.travel(berlin(2026, 4, 2, 16), tick=False):  # Thursday 16:00
        ticket = ticket_transition(
            actor=d.agents[0], ticket=ticket, status=choices.Status.PENDING_THIRD_PARTY
        )
    with time_machine.travel(berlin(2026, 4, 7, 10), tick=False):  # Tuesday after Easter
        ticket = ticket_transition(actor=d.agents[0], ticket=ticket, status=choices.Status.OPEN)

    assert ticket.sla_paused_total == timedelta(hours=2)  # Thu 16-17 and Tue 9-10
    # 16 h from Wed 9:00 = Thu 17:00; + 2 h paused = Tue 11:00.
    assert ticket.resolution_due_at == berlin(2026, 4, 7, 11)


def test_a_priority_change_recomputes_the_targets_from_the_start() -> None:
    d = desk()
    with time_machine.travel(berlin(2026, 3, 2, 10), tick=False):
        ticket = open_ticket(d)
    with time_machine.travel(berlin(2026, 3, 2, 11), tick=False):
        ticket = ticket_update(
            actor=d.agents[0], ticket=ticket, version=ticket.version, priority=d.priorities["P1"]
        )

    assert ticket.sla_policy == SlaPolicy.objects.get(name="P1 standard")
    assert ticket.first_response_due_at == berlin(2026, 3, 2, 11)
    assert ticket.resolution_due_at == berlin(2026, 3, 2, 14)
    assert ticket.next_escalation_at == berlin(2026, 3, 2, 10, 45)  # 75 % of 1 h


def test_the_most_specific_policy_wins() -> None:
    d = desk()
    from konvergo.tickets.services.setup import category_create

    hardware = category_create(name="Hardware")
    sla_policy_create(
        name="P3 hardware gold", priority=d.priorities["P3"], category=hardware,
        customer_tier="A", first_response_minutes=30, next_response_minutes=60,
        resolution_minutes=120,
    )  # fmt: skip
    sla_policy_create(
        name="P3 gold", priority=d.priorities["P3"], customer_tier="A",
        first_response_minutes=90, next_response_minutes=60, resolution_minutes=120,
    )  # fmt: skip

    found = sla.policy_for(priority=d.priorities["P3"], category_id=hardware.pk, customer_tier="A")
    tier_only = sla.policy_for(priority=d.priorities["P3"], category_id=None, customer_tier="A")
    plain = sla.policy_for(priority=d.priorities["P3"], category_id=None, customer_tier="B")

    assert (found and found.name, tier_only and tier_only.name, plain and plain.name) == (
        "P3 hardware gold",
        "P3 gold",
        "P3 standard",
    )


@pytest.mark.parametrize("bad", [0, -5])
def test_policies_with_zero_or_negative_targets_are_refused(bad: int) -> None:
    d = desk(policies=False)

    with pytest.raises(FieldErrors) as refused:
        sla_policy_create(
            name="Broken", priority=d.priorities["P2"], first_response_minutes=bad,
            next_response_minutes=60, resolution_minutes=bad,
        )  # fmt: skip

    assert refused.value.errors == {
        "first_response_minutes": ["A target must be a positive number of minutes."],
        "resolution_minutes": ["A target must be a positive number of minutes."],
    }
    assert SlaPolicy.objects.count() == 0


# --- the arithmetic as properties -----------------------------------------------------------

SPEC = CalendarSpec(
    time_zone="Europe/Berlin",
    hours={day: ((time(9), time(17)),) for day in range(5)},
    country="DE",
    subdivision="BE",
)
POLICY = SlaPolicy(
    pk=1, name="p", first_response_minutes=60, next_response_minutes=60, resolution_minutes=960
)


def naive(year: int, month: int, day: int) -> datetime:
    """A naive bound for hypothesis (its datetimes strategy wants naive limits)."""
    return datetime(year, month, day, tzinfo=UTC).replace(tzinfo=None)


# Around both DST switches of 2026, Easter and Christmas, plus any moment of the year.
moments = st.one_of(
    st.datetimes(min_value=naive(2026, 3, 20), max_value=naive(2026, 4, 10)),
    st.datetimes(min_value=naive(2026, 10, 20), max_value=naive(2026, 11, 5)),
    st.datetimes(min_value=naive(2026, 12, 18), max_value=naive(2027, 1, 5)),
    st.datetimes(min_value=naive(2026, 1, 1), max_value=naive(2026, 12, 31)),
).map(lambda naive: naive.replace(tzinfo=UTC))


def _ticket(start: datetime, resolution_minutes: int) -> Ticket:
    policy = SlaPolicy(
        pk=1, name="p", first_response_minutes=60, next_response_minutes=60,
        resolution_minutes=resolution_minutes,
    )  # fmt: skip
    return Ticket(
        status=choices.Status.OPEN, sla_policy=policy, sla_started_at=start,
        first_response_at=start,
    )  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(
    start=moments,
    minutes=st.integers(min_value=1, max_value=5000),
    pause_after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=10)),
    pause_for=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=20)),
)
def test_running_business_time_until_due_is_the_target_whatever_the_pause(
    start, minutes, pause_after, pause_for
):
    ticket = _ticket(start, minutes)
    paused_at = start + pause_after
    resumed_at = paused_at + pause_for
    sla.sla_pause(ticket, now=paused_at)
    sla.sla_resume(ticket, now=resumed_at, spec=SPEC)
    sla.sla_refresh(ticket, spec=SPEC, levels=[], fired=set())

    due = ticket.resolution_due_at
    assert due is not None
    running = business_time_between(SPEC, start, due) - business_time_between(
        SPEC, paused_at, resumed_at
    )
    assert running == timedelta(minutes=minutes)


@settings(max_examples=60, deadline=None)
@given(start=moments, minutes=st.integers(min_value=1, max_value=5000))
def test_a_higher_priority_never_makes_the_due_time_later(start, minutes):
    shorter = _ticket(start, minutes)
    longer = _ticket(start, minutes + 30)
    for ticket in (shorter, longer):
        sla.sla_refresh(ticket, spec=SPEC, levels=[], fired=set())

    assert shorter.resolution_due_at is not None and longer.resolution_due_at is not None
    assert shorter.resolution_due_at <= longer.resolution_due_at
    # A due time is always on a working day in office hours (or at an interval's end).
    local = shorter.resolution_due_at.astimezone(BERLIN)
    assert not SPEC.is_non_working_day(local.date())
    assert time(9) < local.time() <= time(17)


def test_time_spent_resolved_does_not_count_when_the_ticket_is_reopened() -> None:
    d = desk()
    with time_machine.travel(berlin(2026, 3, 2, 10), tick=False):
        ticket = open_ticket(d)  # resolution due Wednesday 10:00
    with time_machine.travel(berlin(2026, 3, 2, 12), tick=False):
        ticket = ticket_transition(actor=d.agents[0], ticket=ticket, status="resolved")
    with time_machine.travel(berlin(2026, 3, 3, 12), tick=False):
        ticket = ticket_transition(actor=d.agents[0], ticket=ticket, status="reopened")

    assert ticket.sla_paused_total == timedelta(hours=8)
    assert ticket.resolution_due_at == berlin(2026, 3, 5, 10)
