"""The service desk part of the demo company: priorities P1-P4 and the escalation ladder,
categories per department (one starts the hardware replacement process), three queues on the
offices' calendars, SLA policies, agent roles, a round-robin rule, and tickets in every state
(some overdue and escalated)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from django.utils import timezone

from konvergo.core.audit import acting_as
from konvergo.core.demo import register_demo_step
from konvergo.core.models import BusinessCalendar
from konvergo.crm.models import Organization
from konvergo.org.models import Department, Scope, Team, User
from konvergo.org.services import role_create
from konvergo.processes.services import definition_deploy
from konvergo.tickets.library import HARDWARE_REPLACEMENT_BPMN, HARDWARE_REPLACEMENT_KEY
from konvergo.tickets.models import Ticket
from konvergo.tickets.services.escalations import escalations_fire_due
from konvergo.tickets.services.setup import (
    assignment_rule_create,
    category_create,
    escalation_ladder_ensure_default,
    priorities_ensure_defaults,
    queue_create,
    sla_policy_create,
)
from konvergo.tickets.services.tickets import (
    comment_add,
    ticket_create,
    ticket_start_process,
    ticket_transition,
    ticket_update,
)

AGENT = [
    *(f"tickets.{a}_ticket" for a in ("view", "add", "change")),
    "tickets.view_queue",
    "tickets.view_slapolicy",
    "tickets.view_category",
    "tickets.view_priority",
    "crm.view_organization",
    "crm.view_person",
    "crm.view_activity",
]
MANAGER = [
    *AGENT,
    *(
        f"tickets.{action}_{model}"
        for model in ("queue", "slapolicy", "category", "escalationlevel", "assignmentrule")
        for action in ("add", "change", "delete")
    ),
]
# P1..P4 targets in business minutes: first response, next response, resolution.
TARGETS = {
    "P1": (30, 60, 240),
    "P2": (120, 240, 960),
    "P3": (240, 480, 2400),
    "P4": (480, 960, 4800),
}
# (subject, queue, category, priority, client short name, status, hours ago)
TICKETS = [
    (
        "Delivery arrived damaged",
        "Customer service",
        "Delivery problem",
        "P2",
        "Müller & Söhne",
        "new",
        1,
    ),
    (
        "Invoice 2024-117 charged twice",
        "Finance desk",
        "Invoice question",
        "P2",
        "Bergmann Logistik",
        "open",
        30,
    ),
    (
        "Where is my order 4711?",
        "Customer service",
        "Delivery problem",
        "P3",
        "Nevsky Consulting",
        "pending_customer",
        20,
    ),
    (
        "Carrier lost a pallet",
        "Customer service",
        "Complaint",
        "P1",
        "Волга Трейд",
        "pending_third_party",
        8,
    ),
    (
        "Portal login fails for all users",
        "Customer service",
        "Complaint",
        "P1",
        "Müller & Söhne",
        "open",
        60,
    ),
    (
        "Wrong VAT rate on pro-forma",
        "Finance desk",
        "Invoice question",
        "P3",
        "Bergmann Logistik",
        "resolved",
        90,
    ),
    (
        "Change of delivery address",
        "Customer service",
        "Delivery problem",
        "P4",
        "Nevsky Consulting",
        "closed",
        200,
    ),
    (
        "Replacement parts incomplete",
        "Customer service",
        "Complaint",
        "P2",
        "Волга Трейд",
        "reopened",
        48,
    ),
    ("Laptop screen broken", "Internal IT", "Hardware", "P3", "", "open", 5),
    ("New joiner needs accounts", "Internal IT", "Access and accounts", "P3", "", "new", 2),
    ("Payslip missing overtime", "HR desk", "Payroll question", "P3", "", "open", 26),
]
DONE_ONCE = ("resolved", "closed", "reopened")  # mandatory fields filled before resolving
PATHS = {
    "new": [],
    "open": ["open"],
    "pending_customer": ["open", "pending_customer"],
    "pending_third_party": ["open", "pending_third_party"],
    "resolved": ["open", "resolved"],
    "closed": ["open", "resolved", "closed"],
    "reopened": ["open", "resolved", "reopened"],
}


def _calendar(name: str) -> BusinessCalendar | None:
    return BusinessCalendar.objects.filter(name=name).first()


def _department(name: str) -> Department | None:
    return Department.objects.filter(name=name).first()


def _user(username: str) -> User | None:
    return User.objects.filter(username=username).first()


def _people() -> tuple[Team | None, User | None]:
    """The service desk team (the Customer Service department) and its roles."""
    agent_role = role_create(
        name="Service desk agent",
        scope=Scope.TEAM,
        permissions=AGENT,
        description="Works the tickets of their team's queues.",
    )
    manager_role = role_create(
        name="Service desk manager",
        scope=Scope.ALL,
        permissions=MANAGER,
        description="Sees every ticket and sets up queues, SLAs and escalation.",
    )
    service = _department("Customer Service")
    members = list(User.objects.filter(department=service)) if service else []
    head = service.head if service else None
    for member in members:
        member.roles.add(manager_role if member == head else agent_role)
    for username in ("katharina.vogel", "thomas.schmidt", "dmitri.sokolov"):
        user = _user(username)
        if user is not None:
            user.roles.add(manager_role)
    if not members:
        return None, head
    team = Team.objects.create(name="Service desk", lead=head)
    team.members.add(*[m for m in members if m != head])
    return team, head


@register_demo_step(45, "tickets")
def demo_tickets(say: Callable[[str], None]) -> None:
    actor = User.objects.filter(is_superuser=True).order_by("pk").first()
    with acting_as(actor):
        _demo(say)


def _demo(say: Callable[[str], None]) -> None:
    priorities = {p.key: p for p in priorities_ensure_defaults()}
    escalation_ladder_ensure_default()
    team, _head = _people()
    definition_deploy(xml=HARDWARE_REPLACEMENT_BPMN)
    categories = {
        "Delivery problem": category_create(
            name="Delivery problem", department=_department("Customer Service")
        ),
        "Complaint": category_create(
            name="Complaint",
            department=_department("Customer Service"),
            fields=[{"key": "root_cause", "label": "Root cause", "required": True}],
        ),
        "Invoice question": category_create(
            name="Invoice question",
            department=_department("Finance"),
            fields=[{"key": "invoice_number", "label": "Invoice number", "required": True}],
        ),
        "Hardware": category_create(
            name="Hardware",
            department=_department("Management"),
            fields=[{"key": "serial", "label": "Serial number"}],
            process_key=HARDWARE_REPLACEMENT_KEY,
        ),
        "Access and accounts": category_create(
            name="Access and accounts", department=_department("Management")
        ),
        "Payroll question": category_create(
            name="Payroll question", department=_department("Human Resources")
        ),
    }
    queues = {
        "Customer service": queue_create(
            name="Customer service",
            team=team,
            department=_department("Customer Service"),
            calendar=_calendar("Tehran office"),
        ),
        "Finance desk": queue_create(
            name="Finance desk",
            department=_department("Finance"),
            calendar=_calendar("Warsaw office"),
        ),
        "Internal IT": queue_create(name="Internal IT", calendar=_calendar("Berlin office")),
        "HR desk": queue_create(
            name="HR desk", department=_department("Human Resources"), reopen_window_days=7
        ),
    }
    for key, (first, nxt, resolution) in TARGETS.items():
        sla_policy_create(
            name=f"{key} standard", priority=priorities[key], first_response_minutes=first,
            next_response_minutes=nxt, resolution_minutes=resolution,
        )  # fmt: skip
    for key in ("P1", "P2"):
        first, nxt, resolution = TARGETS[key]
        sla_policy_create(
            name=f"{key} tier A", priority=priorities[key], customer_tier="A",
            first_response_minutes=first // 2, next_response_minutes=nxt // 2,
            resolution_minutes=resolution // 2,
        )  # fmt: skip
    if team is not None:
        assignment_rule_create(team=team, queue=queues["Customer service"])
    clients = {o.short_name: o for o in Organization.objects.exclude(short_name="")}
    now = timezone.now()
    it_person = _user("katharina.vogel")
    finance = _user("marta.zielinska")
    hr = _user("dmitri.sokolov")
    made = 0
    for subject, queue, category, priority, client, status, hours_ago in TICKETS:
        opened = now - timedelta(hours=hours_ago)
        assignee = {"Finance desk": finance, "HR desk": hr, "Internal IT": it_person}.get(queue)
        ticket = ticket_create(
            actor=None,
            subject=subject,
            description=f"<p>{subject}.</p>",
            queue=queues[queue],
            category=categories[category],
            priority=priorities[priority],
            organization=clients.get(client),
            assignee=assignee,
            now=opened,
        )
        # Opened hours ago, as its SLA clock says (created_at is set on insert).
        Ticket.objects.filter(pk=ticket.pk).update(created_at=opened)
        agent = ticket.assignee
        if category in ("Invoice question", "Complaint") and status in DONE_ONCE:
            key = "invoice_number" if category == "Invoice question" else "root_cause"
            ticket = ticket_update(
                actor=agent, ticket=ticket, version=None, now=opened,
                custom_data={key: "INV-2024-117" if key == "invoice_number" else "Carrier"},
            )  # fmt: skip
        step_at = opened
        for index, step in enumerate(PATHS[status]):
            step_at = opened + timedelta(hours=hours_ago * (index + 1) / (len(PATHS[status]) + 1))
            if step == "open":
                comment_add(
                    actor=agent, ticket=ticket, is_public=True, now=step_at,
                    body="Thank you, we are looking into it.",
                )  # fmt: skip
                ticket.refresh_from_db()
            if step == "reopened":
                comment_add(
                    actor=None, ticket=ticket, is_public=True, from_customer=True, now=step_at,
                    author_name=str(ticket.organization or "Customer"),
                    body="Two parts are still missing.",
                )  # fmt: skip
                ticket.refresh_from_db()
            if ticket.status != step:
                ticket = ticket_transition(actor=agent, ticket=ticket, status=step, now=step_at)
        if status == "open" and category == "Payroll question":
            comment_add(
                actor=agent, ticket=ticket, is_public=False, now=step_at,
                body="Checked the time sheets: 6 hours are missing in March.",
            )  # fmt: skip
        if category == "Hardware" and agent is not None:
            ticket_start_process(actor=agent, ticket=ticket)
        made += 1
    fired = escalations_fire_due(now=now)
    say(
        f"{len(queues)} queues, {len(categories)} categories, "
        f"{len(TARGETS) + 2} SLA policies, {made} tickets in every state, {fired} escalations"
    )
