"""Tickets: the status workflow and its refusals, optimistic concurrency, sanitised rich text,
replies and notes, merge and split, assignment rules, processes and outbox events."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from konvergo.core.errors import BusinessError, Conflict, FieldErrors
from konvergo.core.models import Event
from konvergo.crm.tests.factories import OrganizationFactory, PersonFactory
from konvergo.org.services import deputy_create
from konvergo.processes.models import ProcessInstance
from konvergo.processes.services import definition_deploy
from konvergo.tickets import choices
from konvergo.tickets.library import HARDWARE_REPLACEMENT_BPMN, HARDWARE_REPLACEMENT_KEY
from konvergo.tickets.models import Comment, Ticket, TicketLink
from konvergo.tickets.selectors import tickets_assigned_to
from konvergo.tickets.services.setup import assignment_rule_create, category_create
from konvergo.tickets.services.tickets import (
    comment_add,
    ticket_create,
    ticket_merge,
    ticket_split,
    ticket_start_process,
    ticket_transition,
    ticket_update,
    tickets_bulk,
)
from konvergo.tickets.tests.factories import desk

pytestmark = pytest.mark.django_db


def new_ticket(d, **extra) -> Ticket:
    fields = {"subject": "Laptop broken", "queue": d.queue, "assignee": d.agents[0], **extra}
    return ticket_create(actor=d.agents[0], **fields)


def events(name: str) -> list[dict[str, Any]]:
    return [e.payload for e in Event.objects.filter(name=name).order_by("occurred_at")]


def test_a_ticket_gets_a_number_the_default_priority_and_a_created_event() -> None:
    d = desk()
    customer = OrganizationFactory.create(custom_data={"customer_tier": "A"})

    ticket = new_ticket(d, organization=customer)

    assert ticket.number == ticket.pk
    assert ticket.priority.key == "P4"
    assert ticket.status == choices.Status.NEW
    assert ticket.customer_tier == "A"
    assert ticket.version == 1
    assert events("tickets.ticket.created") == [
        {
            "ticket": str(ticket.public_id),
            "number": ticket.number,
            "status": "new",
            "priority": "P4",
            "queue": str(d.queue.public_id),
            "assignee": str(d.agents[0].public_id),
        }
    ]


def test_rich_text_is_sanitised() -> None:
    d = desk()

    ticket = new_ticket(
        d,
        description='<p onclick="steal()">Hi<script>alert(1)</script> '
        '<a href="javascript:evil()">x</a> <b>bold</b></p>',
    )
    comment = comment_add(actor=d.agents[0], ticket=ticket, body="a < b\n\nnext", is_public=False)

    assert ticket.description == '<p>Hi <a rel="noopener noreferrer">x</a> <b>bold</b></p>'
    assert comment.body == "<p>a &lt; b</p>\n\n<p>next</p>"


def test_the_workflow_from_new_to_closed_emits_each_status_change() -> None:
    d = desk()
    ticket = new_ticket(d)

    for status in ("open", "pending_customer", "open", "resolved", "closed"):
        ticket = ticket_transition(actor=d.agents[0], ticket=ticket, status=status)

    assert ticket.status == "closed"
    assert ticket.resolved_at is not None and ticket.closed_at is not None
    assert [(e["previous"], e["status"]) for e in events("tickets.ticket.status_changed")] == [
        ("new", "open"),
        ("open", "pending_customer"),
        ("pending_customer", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
    ]


def test_an_invalid_transition_is_refused_with_a_clear_message() -> None:
    d = desk()
    ticket = new_ticket(d)

    with pytest.raises(BusinessError) as refused:
        ticket_transition(actor=d.agents[0], ticket=ticket, status="reopened")

    assert refused.value.message == "A ticket that is New cannot become Reopened."
    assert Ticket.objects.get(pk=ticket.pk).status == "new"


def test_closing_with_empty_mandatory_fields_is_refused() -> None:
    d = desk()
    hardware = category_create(
        name="Hardware",
        fields=[
            {"key": "serial", "label": "Serial number", "required": True},
            {"key": "room", "label": "Room"},
        ],
    )
    ticket = new_ticket(d, category=hardware, custom_data={"room": "2.14"})

    with pytest.raises(FieldErrors) as refused:
        ticket_transition(actor=d.agents[0], ticket=ticket, status="closed")

    assert refused.value.errors == {
        "custom_data": ["Fill in the mandatory fields first: Serial number."]
    }
    assert Ticket.objects.get(pk=ticket.pk).status == "new"
    ticket = ticket_update(
        actor=d.agents[0],
        ticket=ticket,
        version=ticket.version,
        custom_data={"room": "2.14", "serial": "SN-1"},
    )
    assert ticket_transition(actor=d.agents[0], ticket=ticket, status="closed").status == "closed"


def test_reopening_after_the_reopen_window_is_refused() -> None:
    d = desk()
    ticket = new_ticket(d)
    with time_machine.travel(timezone.now(), tick=False):
        ticket = ticket_transition(actor=d.agents[0], ticket=ticket, status="resolved")
        resolved_on = timezone.now()

    inside = ticket_transition(
        actor=d.agents[0], ticket=ticket, status="reopened", now=resolved_on + timedelta(days=13)
    )
    assert inside.status == "reopened"
    ticket = ticket_transition(actor=d.agents[0], ticket=inside, status="closed", now=resolved_on)

    with pytest.raises(BusinessError) as refused:
        ticket_transition(
            actor=d.agents[0], ticket=ticket, status="reopened", now=resolved_on + timedelta(15)
        )

    assert refused.value.message.startswith("The reopen window of 14 days ended on ")
    assert Ticket.objects.get(pk=ticket.pk).status == "closed"


def test_a_stale_edit_is_a_conflict_and_changes_nothing() -> None:
    d = desk()
    ticket = new_ticket(d)
    seen = ticket.version
    ticket_update(actor=d.agents[1], ticket=ticket, version=seen, subject="Laptop on fire")

    with pytest.raises(Conflict) as refused:
        ticket_update(actor=d.agents[0], ticket=ticket, version=seen, subject="Laptop fine")

    assert refused.value.status == 409
    assert refused.value.details == {"version": seen + 1}
    assert Ticket.objects.get(pk=ticket.pk).subject == "Laptop on fire"


def test_the_first_public_reply_stops_the_first_response_clock_a_note_does_not() -> None:
    d = desk()
    ticket = new_ticket(d, priority=d.priorities["P2"])

    comment_add(actor=d.agents[0], ticket=ticket, body="Internal: check stock", is_public=False)
    ticket.refresh_from_db()
    assert ticket.first_response_at is None
    assert ticket.first_response_due_at is not None

    comment_add(actor=d.agents[0], ticket=ticket, body="We are on it", is_public=True)
    ticket.refresh_from_db()
    assert ticket.first_response_at is not None
    assert ticket.first_response_due_at is None
    assert ticket.status == "open"
    assert [e["status"] for e in events("tickets.ticket.replied")] == ["open"]


def test_merge_moves_the_conversation_and_closes_the_source() -> None:
    d = desk()
    target = new_ticket(d, subject="Printer jammed")
    source = new_ticket(d, subject="Printer jammed again")
    comment_add(actor=d.agents[0], ticket=source, body="Paper tray 2", is_public=True)

    ticket_merge(actor=d.agents[0], source=source, target=target)

    source.refresh_from_db()
    assert source.status == "closed"
    assert source.merged_into == target
    assert list(target.comments.values_list("body", flat=True)) == [
        "<p>Paper tray 2</p>",
        f"<p>Ticket #{source.number} (Printer jammed again) was merged into this one.</p>",
    ]
    with pytest.raises(BusinessError):
        ticket_merge(actor=d.agents[0], source=source, target=target)


def test_split_makes_a_linked_ticket_from_some_comments() -> None:
    d = desk()
    ticket = new_ticket(d)
    keep = comment_add(actor=None, ticket=ticket, body="Laptop", is_public=True, from_customer=True)
    move = comment_add(
        actor=None, ticket=ticket, body="Also my phone", is_public=True, from_customer=True
    )

    new = ticket_split(actor=d.agents[0], ticket=ticket, comments=[move], subject="Phone broken")

    assert list(Comment.objects.filter(ticket=ticket)) == [keep]
    assert list(Comment.objects.filter(ticket=new)) == [move]
    assert TicketLink.objects.filter(source=new, target=ticket, kind="split_from").exists()


def test_round_robin_skips_absent_agents_and_least_loaded_balances() -> None:
    d = desk(agents=3)
    a0, a1, a2 = d.agents
    assignment_rule_create(team=d.team, queue=d.queue, strategy=choices.Strategy.ROUND_ROBIN)
    today = timezone.localdate()
    deputy_create(user=a1, deputy=a2, starts_on=today, ends_on=today + timedelta(days=3))

    picked = [ticket_create(actor=None, subject=f"T{n}", queue=d.queue).assignee for n in range(4)]

    assert picked == [a0, a2, a0, a2]


def test_least_loaded_picks_the_agent_with_fewest_open_tickets() -> None:
    d = desk(agents=2)
    a0, a1 = d.agents
    for _ in range(2):
        new_ticket(d, assignee=a0)
    assignment_rule_create(team=d.team, strategy=choices.Strategy.LEAST_LOADED)

    picked = [ticket_create(actor=None, subject=f"T{n}", queue=d.queue).assignee for n in range(3)]

    assert picked == [a1, a1, a0]


def test_a_whole_team_away_gives_the_ticket_to_a_deputy() -> None:
    d = desk(agents=1)
    assignment_rule_create(team=d.team)
    deputy_create(
        user=d.agents[0], deputy=d.lead, starts_on=date(2000, 1, 1), ends_on=date(2100, 1, 1)
    )

    assert ticket_create(actor=None, subject="x", queue=d.queue).assignee == d.lead


def test_a_category_starts_its_process_automatically_with_the_ticket_as_subject() -> None:
    d = desk()
    definition_deploy(xml=HARDWARE_REPLACEMENT_BPMN)
    hardware = category_create(
        name="Hardware", process_key=HARDWARE_REPLACEMENT_KEY, process_auto=True
    )

    ticket = new_ticket(d, category=hardware)

    instance = ProcessInstance.objects.get(public_id=ticket.process_instance)
    assert (instance.subject_id, instance.business_key) == (
        str(ticket.pk),
        f"ticket-{ticket.number}",
    )
    with pytest.raises(BusinessError, match="already started"):
        ticket_start_process(actor=d.agents[0], ticket=ticket)


def test_a_missing_process_is_noted_on_auto_start_and_refused_by_hand() -> None:
    d = desk()
    software = category_create(name="Software", process_key="nowhere", process_auto=True)

    ticket = new_ticket(d, category=software)

    assert ticket.process_instance == ""
    assert "could not be started" in ticket.comments.get().body
    with pytest.raises(BusinessError, match="there is no process 'nowhere'"):
        ticket_start_process(actor=d.agents[0], ticket=ticket)


def test_bulk_actions_change_what_they_may_and_report_the_rest() -> None:
    d = desk()
    fresh = new_ticket(d)
    done = ticket_transition(actor=d.agents[0], ticket=new_ticket(d), status="closed")

    count, refusals = tickets_bulk(
        actor=d.agents[0], tickets=[fresh, done], action="status", value="open"
    )

    assert count == 1
    assert refusals == [f"#{done.number}: A ticket that is Closed cannot become Open."]
    assert Ticket.objects.get(pk=fresh.pk).status == "open"


def test_tickets_assigned_to_lists_open_work_only() -> None:
    d = desk()
    mine = new_ticket(d, priority=d.priorities["P1"])
    other = new_ticket(d, priority=d.priorities["P4"])
    ticket_transition(actor=d.agents[0], ticket=new_ticket(d), status="closed")
    new_ticket(d, assignee=d.agents[1])

    assert list(tickets_assigned_to(d.agents[0])) == [mine, other]


def test_a_requester_brings_their_organisation() -> None:
    d = desk()
    person = PersonFactory.create()
    org = OrganizationFactory.create()
    person.employments.create(organization=org, is_primary=True)

    assert new_ticket(d, requester=person).organization == org


def test_a_new_category_keeps_only_its_own_fields() -> None:
    d = desk()
    hardware = category_create(name="Hardware", fields=[{"key": "serial"}, {"key": "room"}])
    access = category_create(name="Access", fields=[{"key": "room"}])
    ticket = new_ticket(d, category=hardware, custom_data={"serial": "SN-1", "room": "2.14"})

    ticket = ticket_update(actor=None, ticket=ticket, version=ticket.version, category=access)

    assert ticket.custom_data == {"room": "2.14"}
