"""The scene around the service desk services: a Berlin desk with P1-P4, the default ladder,
and a team with a lead in a department with a head."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time

from konvergo.core.models import BusinessCalendar
from konvergo.core.services import calendar_create
from konvergo.org.models import Department, Scope, Team, User
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory
from konvergo.tickets.models import EscalationLevel, Priority, Queue, SlaPolicy
from konvergo.tickets.services.setup import (
    escalation_ladder_ensure_default,
    priorities_ensure_defaults,
    queue_create,
    sla_policy_create,
)

NINE_TO_FIVE = ((time(9), time(17)),)
AGENT_PERMISSIONS = [
    "tickets.view_ticket", "tickets.add_ticket", "tickets.change_ticket",
    "tickets.view_queue", "tickets.add_queue", "tickets.view_slapolicy", "tickets.add_slapolicy",
    "crm.view_organization", "crm.view_person",
]  # fmt: skip


def berlin_calendar(name: str = "Berlin desk") -> BusinessCalendar:
    """Mon-Fri 9-17 Europe/Berlin, German (Berlin) public holidays."""
    return calendar_create(
        name=name,
        time_zone="Europe/Berlin",
        country="DE",
        subdivision="BE",
        hours={day: NINE_TO_FIVE for day in range(5)},
    )


def agent(username: str = "", *, scope: str = Scope.TEAM, **extra: object) -> User:
    """A user with a service desk agent role."""
    user = UserFactory.create(**({"username": username} if username else {}), **extra)
    role = role_create(name=f"Agent {user.username}", permissions=AGENT_PERMISSIONS, scope=scope)
    user.roles.add(role)
    return user


@dataclass
class Desk:
    calendar: BusinessCalendar
    queue: Queue
    team: Team
    department: Department
    lead: User
    head: User
    agents: list[User]
    priorities: dict[str, Priority]
    ladder: list[EscalationLevel]


def desk(*, agents: int = 2, policies: bool = True) -> Desk:
    calendar = berlin_calendar()
    head = agent("head", scope=Scope.ALL)
    lead = agent("lead")
    department = Department.objects.create(name="Support", head=head)
    team = Team.objects.create(name="First line", lead=lead)
    members = [agent(f"agent{i}", department=department) for i in range(agents)]
    team.members.add(*members)
    queue = queue_create(name="Support", team=team, department=department, calendar=calendar)
    priorities = {p.key: p for p in priorities_ensure_defaults()}
    if policies:
        # P1: 1 h / 2 h / 4 h; P2: 2 h / 4 h / 8 h; P3: 4 h / 8 h / 16 h; P4: 8 h / 16 h / 40 h.
        for key, (first, nxt, resolution) in {
            "P1": (60, 120, 240),
            "P2": (120, 240, 480),
            "P3": (240, 480, 960),
            "P4": (480, 960, 2400),
        }.items():
            sla_policy_create(
                name=f"{key} standard",
                priority=priorities[key],
                first_response_minutes=first,
                next_response_minutes=nxt,
                resolution_minutes=resolution,
            )
    return Desk(
        calendar=calendar,
        queue=queue,
        team=team,
        department=department,
        lead=lead,
        head=head,
        agents=members,
        priorities=priorities,
        ladder=escalation_ladder_ensure_default(),
    )


def policy(priority: Priority) -> SlaPolicy:
    return SlaPolicy.objects.get(priority=priority, category=None, customer_tier="")
