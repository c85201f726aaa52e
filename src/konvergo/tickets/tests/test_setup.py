"""Configuring the escalation ladder and the assignment rules, on the setup page and through
the API: permission first, the service's refusals shown where they belong, and tickets already
open obey a new rung."""

from __future__ import annotations

import zoneinfo
from datetime import datetime

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from konvergo.org.models import User
from konvergo.org.services import role_create
from konvergo.tickets.models import AssignmentRule, Escalation, EscalationLevel
from konvergo.tickets.services.escalations import escalations_fire_due
from konvergo.tickets.services.tickets import ticket_create
from konvergo.tickets.tests.factories import agent, desk
from konvergo.tickets.tests.test_api import Api

pytestmark = pytest.mark.django_db
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")


def desk_admin() -> User:
    user = agent("deskadmin")
    role = role_create(
        name="Service desk administrator",
        permissions=["tickets.change_escalationlevel", "tickets.change_assignmentrule"],
    )
    user.roles.add(role)
    return user


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_an_administrator_adds_and_removes_a_rung_of_the_ladder_on_the_setup_page() -> None:
    d = desk()
    client = signed_in(desk_admin())

    refused = client.post(
        reverse("tickets:setup"),
        {"add_level": "1", "level": 3, "name": "Director", "percent": 0, "after_minutes": 0,
         "notify": "department_head"},
    )  # fmt: skip
    assert refused.status_code == 200
    assert "The level must fire after a positive share." in refused.content.decode()
    added = client.post(
        reverse("tickets:setup"),
        {"add_level": "1", "level": 3, "name": "Director", "percent": 200, "after_minutes": 0,
         "notify": "department_head", "raise_priority": "on"},
    )  # fmt: skip
    assert added.status_code == 302
    page = client.get(reverse("tickets:setup")).content.decode()
    assert "3 · Director · at 200 % of the target + 0 business minutes" in page

    director = EscalationLevel.objects.get(level=3)
    removed = client.post(reverse("tickets:setup"), {"delete_level": str(director.public_id)})
    assert removed.status_code == 302
    assert list(EscalationLevel.objects.values_list("level", flat=True)) == [
        level.level for level in d.ladder
    ]


def test_an_agent_sees_the_ladder_but_cannot_change_it() -> None:
    d = desk()
    client = signed_in(d.agents[0])

    page = client.get(reverse("tickets:setup")).content.decode()
    assert "Add an escalation level" not in page
    assert "Level 1" in page
    refused = client.post(reverse("tickets:setup"), {"delete_level": str(d.ladder[0].public_id)})
    assert refused.status_code == 403
    assert EscalationLevel.objects.count() == len(d.ladder)


def test_a_new_rung_applies_to_tickets_already_open() -> None:
    d = desk()
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=BERLIN), tick=False):
        ticket = ticket_create(
            actor=d.agents[0],
            subject="Printer jam",
            queue=d.queue,
            priority=d.priorities["P1"],  # first response due 10:00
            assignee=d.agents[0],
        )
    with time_machine.travel(datetime(2026, 3, 2, 9, 20, tzinfo=BERLIN), tick=False):
        Api(desk_admin()).post(
            "/escalation-levels",
            {"level": 5, "name": "Early notice", "percent": 25, "notify": "team_lead"},
        )
    # 25 % of the hour has passed at 9:15: the next sweep fires the new rung, to the lead.
    assert escalations_fire_due(now=datetime(2026, 3, 2, 9, 21, tzinfo=BERLIN)) == 1
    early = Escalation.objects.get(ticket=ticket, level=5)
    assert (early.name, early.metric, early.notified) == ("Early notice", "first_response", d.lead)


def test_the_api_configures_ladder_and_assignment_rules_with_permission() -> None:
    d = desk()
    admin, agent_api = Api(desk_admin()), Api(d.agents[0])

    assert agent_api.post("/escalation-levels", {"level": 4, "name": "x"}).status_code == 403
    unknown = admin.post("/escalation-levels", {"level": 4, "name": "Boss", "notify": "the moon"})
    assert unknown.status_code == 422
    assert unknown.json()["error"]["details"] == {"notify": ["Unknown recipient."]}
    created = admin.post(
        "/escalation-levels",
        {"level": 4, "name": "Boss", "percent": 150, "notify": "department_head"},
    )
    assert created.status_code == 201
    assert [lvl["name"] for lvl in admin.get("/escalation-levels").json()][-1] == "Boss"

    rule = admin.post(
        "/assignment-rules",
        {"team": str(d.team.public_id), "queue": str(d.queue.public_id),
         "strategy": "least_loaded", "position": 2},
    )  # fmt: skip
    assert rule.status_code == 201
    assert rule.json()["team"]["name"] == "First line"
    assert agent_api.get("/assignment-rules").json()[0]["strategy"] == "least_loaded"
    rule_id = rule.json()["id"]
    deleted = admin.client.delete(
        f"/api/v1/tickets/assignment-rules/{rule_id}", headers=admin.headers
    )
    assert deleted.status_code == 204
    assert not AssignmentRule.objects.exists()
    gone = admin.client.delete(f"/api/v1/tickets/assignment-rules/{rule_id}", headers=admin.headers)
    assert gone.status_code == 404
