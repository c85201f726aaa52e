"""The escalation sweep: fires the ladder's levels whose moment has come.

It never loads every ticket: the only query over all tickets is
`next_escalation_at <= now` on a partial index, in batches. Each batch is one transaction whose
rows are locked with SKIP LOCKED on PostgreSQL, so two workers sweeping at once split the work
instead of doing it twice; the unique (ticket, target, level) constraint is the last guard, so
a level fires exactly once however often the sweep runs.
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.utils.translation import gettext as _

from konvergo.core.events import emit
from konvergo.core.jobs import register_sweep
from konvergo.org.models import User
from konvergo.org.selectors import manager_of
from konvergo.org.services import notify
from konvergo.tickets import choices
from konvergo.tickets.models import Escalation, EscalationLevel, Priority, Ticket
from konvergo.tickets.services import sla

BATCH = 500


def due_tickets(now: datetime) -> list[Ticket]:
    """One locked batch of tickets with a level due (the bare indexed query plus the lock)."""
    queryset = (
        Ticket.objects.filter(next_escalation_at__lte=now)
        .order_by("next_escalation_at")
        .select_related(
            "queue__team__lead", "queue__department__head", "queue__calendar", "priority",
            "sla_policy", "assignee", "category__department__head",
        )
    )  # fmt: skip
    if connection.features.has_select_for_update_skip_locked:
        queryset = queryset.select_for_update(skip_locked=True, of=("self",))
    return list(queryset[:BATCH])


def escalations_fire_due(*, now: datetime) -> int:
    """Fire every level due at `now`; returns how many fired."""
    levels = sla.ladder()
    fired = 0
    while True:
        with transaction.atomic():
            tickets = due_tickets(now)
            # What already fired on the batch, in one query (the rows are locked now).
            done: dict[int, set[tuple[str, int]]] = {t.pk: set() for t in tickets}
            for ticket_id, metric, level in Escalation.objects.filter(
                ticket_id__in=list(done)
            ).values_list("ticket_id", "metric", "level"):
                done[ticket_id].add((metric, level))
            for ticket in tickets:
                fired += _escalate(ticket, now=now, levels=levels, fired_keys=done[ticket.pk])
        if len(tickets) < BATCH:
            return fired


@register_sweep("tickets.escalations")
def escalation_sweep(now: datetime) -> int:
    return escalations_fire_due(now=now)


def _recipient(ticket: Ticket, level: EscalationLevel) -> User | None:
    if level.notify == choices.Notify.TEAM_LEAD:
        team = ticket.queue.team
        if team is not None and team.lead_id is not None:
            return team.lead
    if level.notify == choices.Notify.DEPARTMENT_HEAD:
        department = ticket.queue.department or (
            ticket.category.department if ticket.category else None
        )
        if department is not None and department.head_id is not None:
            return department.head
        if ticket.assignee is not None:
            return manager_of(ticket.assignee)
    return ticket.assignee


def _raise_priority(ticket: Ticket) -> None:
    higher = Priority.objects.filter(rank__lt=ticket.priority.rank).order_by("-rank").first()
    if higher is not None:
        ticket.priority = higher
        sla.sla_assign_policy(ticket)


def _escalate(
    ticket: Ticket,
    *,
    now: datetime,
    levels: list[EscalationLevel],
    fired_keys: set[tuple[str, int]],
) -> int:
    spec = sla.queue_calendar(ticket.queue)
    count = 0
    changed = False
    reassigned = False
    # Fire in order; a raised priority shortens the targets, so look again after each.
    while True:
        due = sorted(
            (p for p in sla.pending_escalations(ticket, spec, levels, fired_keys) if p.at <= now),
            key=lambda p: (p.at, p.level.level),
        )
        if not due:
            break
        pending = due[0]
        level = pending.level
        fired_keys.add((pending.metric, level.level))
        recipient = _recipient(ticket, level)
        try:
            with transaction.atomic():
                Escalation.objects.create(
                    ticket=ticket,
                    metric=pending.metric,
                    level=level.level,
                    name=level.name,
                    due_at=pending.due_at,
                    fired_at=now,
                    notified=recipient,
                )
        except IntegrityError:
            continue  # another worker fired it first
        count += 1
        previous_priority = ticket.priority.key
        if level.raise_priority:
            _raise_priority(ticket)
        if level.reassign_to_id is not None and level.reassign_to != ticket.assignee:
            ticket.assignee = level.reassign_to
            reassigned = True
        changed = changed or level.raise_priority or level.reassign_to_id is not None
        metric_label = choices.Metric(pending.metric).label
        if recipient is not None:
            notify(
                recipient=recipient,
                title=_("%(level)s: %(metric)s of %(ref)s")
                % {"level": level.name, "metric": metric_label, "ref": ticket.reference},
                body=_("%(subject)s — due %(due)s")
                % {"subject": ticket.subject, "due": f"{pending.due_at:%Y-%m-%d %H:%M} UTC"},
                url=f"/tickets/{ticket.public_id}/",
                when=now,
            )
        emit(
            "tickets.ticket.escalated",
            subject=ticket,
            payload={
                "ticket": str(ticket.public_id),
                "number": ticket.number,
                "metric": pending.metric,
                "level": level.level,
                "name": level.name,
                "due_at": pending.due_at.isoformat(),
                "notified": str(recipient.public_id) if recipient else None,
                "priority": ticket.priority.key,
                "previous_priority": previous_priority,
            },
        )
    sla.sla_refresh(ticket, spec=spec, levels=levels, fired=fired_keys)
    if changed:
        ticket.version += 1
        ticket.save()
    if reassigned and ticket.assignee is not None:
        emit(
            "tickets.ticket.assigned",
            subject=ticket,
            payload={
                "ticket": str(ticket.public_id),
                "number": ticket.number,
                "status": ticket.status,
                "priority": ticket.priority.key,
                "queue": str(ticket.queue.public_id),
                "assignee": str(ticket.assignee.public_id),
            },
        )
        notify(
            recipient=ticket.assignee,
            title=_("Ticket %(ref)s escalated to you: %(subject)s")
            % {"ref": ticket.reference, "subject": ticket.subject},
            url=f"/tickets/{ticket.public_id}/",
            when=now,
        )
    else:
        # Only the sweep's own columns: an agent's concurrent edit is not overwritten.
        Ticket.objects.filter(pk=ticket.pk).update(
            next_escalation_at=ticket.next_escalation_at,
            first_response_due_at=ticket.first_response_due_at,
            resolution_due_at=ticket.resolution_due_at,
        )
    return count
