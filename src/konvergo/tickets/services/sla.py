"""SLA clocks on the queue's business calendar (core.calendars, the one calendar service).

A ticket's clock starts when it is created. While it waits for the customer or a third party
(and while it is resolved or closed, until it is reopened), the clock stands still: the
business time spent paused is added up in `sla_paused_total`. So every due time is one
formula, whatever happened before:

    due = add_business_time(calendar, sla_started_at, target + sla_paused_total)

which also gives the new due times when the priority (and with it the policy) changes. While
paused, the due times are empty: nothing is due and nothing escalates. An escalation level fires
at `percent` of the target plus `after_minutes`, by the same formula.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from django.db.models import Q

from konvergo.core.calendars import (
    END_OF_DAY,
    CalendarSpec,
    add_business_time,
    business_time_between,
    spec_for,
)
from konvergo.core.models import BusinessCalendar
from konvergo.tickets import choices
from konvergo.tickets.models import EscalationLevel, Priority, Queue, SlaPolicy, Ticket

# Without any calendar configured, the clock runs around the clock.
ROUND_THE_CLOCK = CalendarSpec(
    time_zone="UTC", hours={day: ((time(0), END_OF_DAY),) for day in range(7)}
)

# Specs built from calendar rows, keyed by (id, updated_at): a sweep over many tickets on the
# same calendar reads its hours once; an edited calendar has a new updated_at.
_specs: dict[tuple[int, datetime], CalendarSpec] = {}


def calendar_spec(calendar: BusinessCalendar | None) -> CalendarSpec:
    if calendar is None:
        return ROUND_THE_CLOCK
    key = (calendar.pk, calendar.updated_at)
    spec = _specs.get(key)
    if spec is None:
        if len(_specs) > 256:
            _specs.clear()
        spec = _specs[key] = spec_for(calendar)
    return spec


def queue_calendar(queue: Queue) -> CalendarSpec:
    """The queue's calendar, else the default calendar, else round the clock."""
    calendar = queue.calendar
    if calendar is None:
        calendar = BusinessCalendar.objects.filter(is_default=True).first()
    return calendar_spec(calendar)


def policy_for(
    *, priority: Priority, category_id: int | None, customer_tier: str
) -> SlaPolicy | None:
    """The most specific policy for a priority x category x tier (category before tier)."""
    candidates = SlaPolicy.objects.filter(priority=priority).filter(
        Q(category__isnull=True) | Q(category_id=category_id),
        Q(customer_tier="") | Q(customer_tier=customer_tier),
    )
    best: SlaPolicy | None = None
    best_score = -1
    for policy in candidates:
        score = (2 if policy.category_id is not None else 0) + (1 if policy.customer_tier else 0)
        if score > best_score:
            best, best_score = policy, score
    return best


def target(policy: SlaPolicy, metric: str) -> timedelta:
    minutes = (
        policy.first_response_minutes
        if metric == choices.Metric.FIRST_RESPONSE
        else policy.resolution_minutes
    )
    return timedelta(minutes=minutes)


def due_at(spec: CalendarSpec, ticket: Ticket, amount: timedelta) -> datetime:
    """When `amount` of running clock has elapsed since the ticket's clock started."""
    start = ticket.sla_started_at or ticket.created_at
    return add_business_time(spec, start, amount + ticket.sla_paused_total)


def active_metrics(ticket: Ticket) -> list[str]:
    """The targets still running: first response until answered, resolution until done."""
    if ticket.sla_policy_id is None or ticket.sla_started_at is None or ticket.is_paused:
        return []
    metrics: list[str] = []
    if ticket.first_response_at is None and ticket.status not in choices.DONE_STATUSES:
        metrics.append(choices.Metric.FIRST_RESPONSE)
    if ticket.status not in choices.DONE_STATUSES:
        metrics.append(choices.Metric.RESOLUTION)
    return metrics


@dataclass(frozen=True)
class PendingEscalation:
    metric: str
    level: EscalationLevel
    at: datetime
    due_at: datetime  # the target's due time it escalates


def pending_escalations(
    ticket: Ticket,
    spec: CalendarSpec,
    ladder: Iterable[EscalationLevel],
    fired: set[tuple[str, int]],
) -> Iterator[PendingEscalation]:
    """The levels not yet fired on the running targets, with the moment each fires."""
    policy = ticket.sla_policy
    if policy is None:
        return
    levels = list(ladder)
    for metric in active_metrics(ticket):
        full = target(policy, metric)
        due = due_at(spec, ticket, full)
        for level in levels:
            if (metric, level.level) in fired:
                continue
            amount = full * level.percent / 100 + timedelta(minutes=level.after_minutes)
            yield PendingEscalation(metric, level, due_at(spec, ticket, amount), due)


def ladder() -> list[EscalationLevel]:
    return list(EscalationLevel.objects.select_related("reassign_to").order_by("level"))


def sla_refresh(
    ticket: Ticket,
    *,
    spec: CalendarSpec | None = None,
    levels: list[EscalationLevel] | None = None,
    fired: set[tuple[str, int]] | None = None,
) -> None:
    """Recompute the stored due times and the next escalation moment (the caller saves)."""
    spec = spec or queue_calendar(ticket.queue)
    policy = ticket.sla_policy
    metrics = active_metrics(ticket)
    ticket.first_response_due_at = (
        due_at(spec, ticket, target(policy, choices.Metric.FIRST_RESPONSE))
        if policy is not None and choices.Metric.FIRST_RESPONSE in metrics
        else None
    )
    ticket.resolution_due_at = (
        due_at(spec, ticket, target(policy, choices.Metric.RESOLUTION))
        if policy is not None and choices.Metric.RESOLUTION in metrics
        else None
    )
    if ticket.is_paused or ticket.status in choices.DONE_STATUSES:
        ticket.next_response_due_at = None
    if fired is None:
        fired = set(ticket.escalations.values_list("metric", "level")) if ticket.pk else set()
    moments = [
        p.at
        for p in pending_escalations(
            ticket, spec, levels if levels is not None else ladder(), fired
        )
    ]
    ticket.next_escalation_at = min(moments) if moments else None


def sla_assign_policy(ticket: Ticket) -> None:
    ticket.sla_policy = policy_for(
        priority=ticket.priority,
        category_id=ticket.category_id,
        customer_tier=ticket.customer_tier,
    )


def sla_pause(ticket: Ticket, *, now: datetime) -> None:
    if ticket.sla_paused_since is None:
        ticket.sla_paused_since = now


def sla_resume(ticket: Ticket, *, now: datetime, spec: CalendarSpec | None = None) -> None:
    if ticket.sla_paused_since is None:
        return
    spec = spec or queue_calendar(ticket.queue)
    if now > ticket.sla_paused_since:
        ticket.sla_paused_total += business_time_between(spec, ticket.sla_paused_since, now)
    ticket.sla_paused_since = None


def time_left(ticket: Ticket, *, now: datetime, spec: CalendarSpec | None = None) -> timedelta:
    """Business time left until the nearest running target (negative: overdue by that much)."""
    due = min(
        (d for d in (ticket.first_response_due_at, ticket.resolution_due_at) if d), default=None
    )
    if due is None:
        return timedelta(0)
    spec = spec or queue_calendar(ticket.queue)
    return business_time_between(spec, now, due)


def next_response_due(ticket: Ticket, *, since: datetime) -> datetime | None:
    policy = ticket.sla_policy
    if policy is None:
        return None
    return add_business_time(
        queue_calendar(ticket.queue), since, timedelta(minutes=policy.next_response_minutes)
    )
