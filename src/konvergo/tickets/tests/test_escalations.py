"""The escalation ladder: each level fires once at its moment, to the right person, however
often the sweep runs and however many workers run it at once."""

from __future__ import annotations

import threading
import zoneinfo
from datetime import datetime

import pytest
import time_machine
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from konvergo.core.models import Event
from konvergo.org.models import Notification
from konvergo.tickets import choices
from konvergo.tickets.models import Escalation, Ticket
from konvergo.tickets.selectors import escalation_counts
from konvergo.tickets.services.escalations import escalations_fire_due
from konvergo.tickets.services.tickets import comment_add, ticket_create, ticket_transition
from konvergo.tickets.tests.factories import desk

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def berlin(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=BERLIN)  # March 2026: 2nd is a Monday


def p1_ticket(d) -> Ticket:
    # Monday 9:00, P1: first response 1 h, resolution 4 h.
    with time_machine.travel(berlin(2, 9), tick=False):
        return ticket_create(
            actor=d.agents[0],
            subject="Mail server down",
            queue=d.queue,
            priority=d.priorities["P1"],
            assignee=d.agents[0],
        )


def fired(ticket: Ticket) -> list[tuple[str, int, str]]:
    return list(
        Escalation.objects.filter(ticket=ticket)
        .order_by("fired_at", "metric", "level")
        .values_list("metric", "level", "notified__username")
    )


@pytest.mark.django_db
def test_the_ladder_fires_each_level_once_at_its_moment_to_its_person() -> None:
    d = desk()
    ticket = p1_ticket(d)
    assert ticket.next_escalation_at == berlin(2, 9, 45)  # 75 % of the 1 h first response

    assert escalations_fire_due(now=berlin(2, 9, 44)) == 0
    # 9:45: the warning on the first response goes to the assignee.
    assert escalations_fire_due(now=berlin(2, 9, 45)) == 1
    assert escalations_fire_due(now=berlin(2, 9, 45)) == 0  # the same sweep again: nothing
    assert fired(ticket) == [("first_response", 0, "agent0")]

    # The agent answers at 9:50: the first-response ladder stops there.
    with time_machine.travel(berlin(2, 9, 50), tick=False):
        comment_add(actor=d.agents[0], ticket=ticket, body="Looking into it", is_public=True)
    ticket.refresh_from_db()
    assert ticket.next_escalation_at == berlin(2, 12)  # 75 % of the 4 h resolution

    # Breach of the resolution at 13:00: warning and level 1 (to the team lead).
    assert escalations_fire_due(now=berlin(2, 13)) == 2
    assert escalations_fire_due(now=berlin(2, 13, 30)) == 0
    # Level 2 at breach + 4 business hours: 17:00 Monday is the end of the day, so it fires at
    # the start of Tuesday + 0 — 13:00 + 4 h = 17:00 Monday.
    ticket.refresh_from_db()
    assert ticket.next_escalation_at == berlin(2, 17)
    assert escalations_fire_due(now=berlin(2, 17)) == 1

    assert fired(ticket) == [
        ("first_response", 0, "agent0"),
        ("resolution", 0, "agent0"),
        ("resolution", 1, "lead"),
        ("resolution", 2, "head"),
    ]
    ticket.refresh_from_db()
    # Level 2 raises the priority; P1 is the top, so it stays P1 and nothing is due any more.
    assert ticket.priority.key == "P1"
    assert ticket.next_escalation_at is None
    # Recorded, notified and emitted for every level.
    assert (
        Notification.objects.filter(url=f"/tickets/{ticket.public_id}/")
        .filter(title__startswith="Level 2")
        .values_list("recipient__username", flat=True)
        .get()
        == "head"
    )
    assert Event.objects.filter(name="tickets.ticket.escalated").count() == 4
    # Sweeping again much later changes nothing.
    assert escalations_fire_due(now=berlin(20, 12)) == 0
    assert Escalation.objects.count() == 4


@pytest.mark.django_db
def test_level_two_raises_the_priority_and_shortens_the_targets() -> None:
    d = desk()
    with time_machine.travel(berlin(2, 9), tick=False):
        ticket = ticket_create(
            actor=d.agents[0], subject="VPN slow", queue=d.queue, priority=d.priorities["P3"],
            assignee=d.agents[0],
        )  # fmt: skip
        comment_add(actor=d.agents[0], ticket=ticket, body="On it", is_public=True)
    # P3 resolution = 16 h: due Tuesday 17:00; level 2 at 16 h + 4 h = Wednesday 13:00.
    version = Ticket.objects.get(pk=ticket.pk).version

    assert escalations_fire_due(now=berlin(4, 13)) == 3
    ticket.refresh_from_db()

    assert ticket.priority.key == "P2"
    assert ticket.sla_policy is not None and ticket.sla_policy.name == "P2 standard"
    assert ticket.version == version + 1  # a stale edit after the escalation gets a 409
    assert ticket.resolution_due_at == berlin(2, 17)  # P2: 8 h from Monday 9:00
    assert [(m, lvl) for m, lvl, _ in fired(ticket)] == [
        ("resolution", 0),
        ("resolution", 1),
        ("resolution", 2),
    ]


@pytest.mark.django_db
def test_a_paused_ticket_does_not_escalate() -> None:
    d = desk()
    ticket = p1_ticket(d)
    with time_machine.travel(berlin(2, 9, 10), tick=False):
        comment_add(actor=d.agents[0], ticket=ticket, body="Need logs", is_public=True)
        ticket_transition(actor=d.agents[0], ticket=ticket, status=choices.Status.PENDING_CUSTOMER)

    assert escalations_fire_due(now=berlin(9, 12)) == 0
    assert Escalation.objects.count() == 0
    assert Ticket.objects.get(pk=ticket.pk).next_escalation_at is None


@pytest.mark.django_db
def test_the_sweep_reads_only_due_tickets() -> None:
    d = desk()
    for _ in range(5):
        p1_ticket(d)

    # Nothing due: one query on tickets (the indexed one), whatever the number of open tickets.
    with CaptureQueriesContext(connection) as queries:
        assert escalations_fire_due(now=berlin(2, 9, 30)) == 0

    on_tickets = [q["sql"] for q in queries if '"tickets_ticket"' in q["sql"]]
    assert len(on_tickets) == 1
    assert '"next_escalation_at" <=' in on_tickets[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SKIP LOCKED needs PostgreSQL (two workers)"
)
def test_two_workers_sweeping_at_once_fire_each_level_exactly_once() -> None:
    d = desk()
    tickets = [p1_ticket(d) for _ in range(30)]
    barrier = threading.Barrier(2)
    counts: list[int] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait()
            counts.append(escalations_fire_due(now=berlin(2, 17)))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sweep) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    # Per ticket: first response warning, L1, L2 and resolution warning, L1 (L2 at 17:00 too).
    per_ticket = {(m, lvl) for m, lvl, _ in fired(tickets[0])}
    assert per_ticket == {
        ("first_response", 0),
        ("first_response", 1),
        ("first_response", 2),
        ("resolution", 0),
        ("resolution", 1),
        ("resolution", 2),
    }
    assert sum(counts) == Escalation.objects.count() == 30 * 6
    assert escalations_fire_due(now=berlin(2, 17)) == 0


@pytest.mark.django_db
def test_a_level_may_reassign_the_ticket_and_escalations_are_counted_for_reports() -> None:
    d = desk()
    level_two = d.ladder[2]
    level_two.reassign_to = d.lead
    level_two.save()
    ticket = p1_ticket(d)

    escalations_fire_due(now=berlin(2, 17))

    ticket.refresh_from_db()
    assert ticket.assignee == d.lead
    assert Event.objects.filter(name="tickets.ticket.assigned").count() == 2  # created, then L2
    assert escalation_counts(since=berlin(2, 0), until=berlin(3, 0)) == {
        ("first_response", 0): 1,
        ("first_response", 1): 1,
        ("first_response", 2): 1,
        ("resolution", 0): 1,
        ("resolution", 1): 1,
        ("resolution", 2): 1,
    }
