"""One inbox across sources: process tasks, CRM follow-ups (also those of an absent colleague
one stands in for) and ticket assignments, sorted by due date then priority, in a fixed number
of queries however many items there are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from konvergo.crm.tests.factories import OrganizationFactory
from konvergo.crm.tests.factories_deals import ActivityFactory
from konvergo.inbox.selectors import badge_for, inbox_for, ordered
from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.org.models import Deputy, User
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.services import definition_deploy, process_start
from konvergo.tickets.services.tickets import ticket_create
from konvergo.tickets.tests.factories import desk

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday


def tasks_for(user: User, count: int, *, due: str = "PT5H", priority: int = 50) -> None:
    definition_deploy(
        xml=user_tasks_xml(
            f"p{priority}{due}",
            [
                {
                    "id": "t",
                    "attrs": {"assignee": user.username, "dueDate": due, "priority": priority},
                }
            ],
        )
    )
    with time_machine.travel(T0, tick=False):
        for _ in range(count):
            process_start(f"p{priority}{due}")


def test_sources_sections_and_order() -> None:
    service = desk(agents=1)
    jan = service.agents[0]
    away = UserFactory.create(username="away")
    Deputy.objects.create(user=away, deputy=jan, starts_on=T0.date(), ends_on=T0.date())
    client = OrganizationFactory.create(legal_name="ACME GmbH", owner=jan)
    tasks_for(jan, 1, due="PT5H", priority=80)
    tasks_for(jan, 1, due="PT5H", priority=20)
    ActivityFactory.create(
        owner=jan, subject="Call ACME", organization=client, due_at=T0 - timedelta(hours=1)
    )
    ActivityFactory.create(owner=away, subject="Visit Beta", due_at=T0 + timedelta(days=3))
    ActivityFactory.create(owner=jan, subject="No date")  # not planned: not in the inbox
    with time_machine.travel(T0, tick=False):
        ticket_create(
            actor=None,
            subject="Printer down",
            queue=service.queue,
            priority=service.priorities["P1"],
            assignee=jan,
            now=T0,
        )
        inbox = inbox_for(jan, T0 + timedelta(minutes=1))
    titles = [(i.kind, i.title, i.on_behalf_of) for i in inbox.mine]
    assert [t[1] for t in titles][:1] == ["Task: Call ACME"]  # overdue first
    assert ("activity", "Task: Visit Beta", str(away)) in titles
    assert [t for t in titles if t[0] == "task"] == [("task", "t", ""), ("task", "t", "")]
    tasks = [i for i in inbox.mine if i.kind == "task"]
    assert [t.priority for t in tasks] == [80, 20]  # same due time: higher priority first
    ticket = next(i for i in inbox.mine if i.kind == "ticket")
    assert ticket.title.endswith("Printer down")
    assert ticket.priority == 100
    assert ticket.url.startswith("/tickets/")
    assert inbox.counts()["overdue"] == 1
    assert [i.title for i in inbox.section("overdue")] == ["Task: Call ACME"]
    by_priority = ordered(inbox.mine, "priority")
    assert [i.priority for i in by_priority][:3] == [100, 80, 50]  # P1 ticket, then tasks
    badge = badge_for(jan, T0 + timedelta(minutes=1))
    assert (badge.open, badge.overdue) == (len(inbox.mine), 1)


def test_query_count_does_not_grow_with_the_items() -> None:
    jan = UserFactory.create(username="jan")
    tasks_for(jan, 2)
    ActivityFactory.create_batch(2, owner=jan, due_at=T0)
    with CaptureQueriesContext(connection) as few:
        inbox_for(jan, T0)
    tasks_for(jan, 8, due="PT7H")
    ActivityFactory.create_batch(8, owner=jan, due_at=T0)
    with CaptureQueriesContext(connection) as many:
        inbox = inbox_for(jan, T0)
    assert len(inbox.mine) == 20
    assert len(many) == len(few) <= 12
