"""Who gets a user task and by when: attributes, expressions, lanes, relative rules, deputies,
deadlines in business time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
import time_machine

from konvergo.core.models import BusinessCalendar, WorkingHours
from konvergo.crm.tests.factories import OrganizationFactory
from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.org.models import Deputy, Role, Team
from konvergo.org.tests.factories import DepartmentFactory, UserFactory
from konvergo.processes.models import HumanTask, TaskStatus
from konvergo.processes.services import definition_deploy, process_start

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # a Monday


def start(
    tasks: list[dict[str, Any]], *, lanes: dict[str, list[str]] | None = None, **kwargs: Any
) -> HumanTask:
    definition_deploy(xml=user_tasks_xml("p", tasks, lanes=lanes))
    with time_machine.travel(T0, tick=False):
        instance = process_start("p", **kwargs)
    return instance.tasks.get(status=TaskStatus.OPEN)


def test_assignee_and_candidates_from_attributes_and_expressions() -> None:
    jan = UserFactory.create(username="jan")
    anna = UserFactory.create(username="anna")
    sales = Role.objects.create(name="Sales")
    task = start(
        [{"id": "t", "attrs": {"candidateUsers": "${who}", "candidateGroups": "Sales, nobody"}}],
        variables={"who": ["anna", "jan"]},
    )
    assert task.assignee is None
    assert task.candidate_users == ["anna", "jan"]
    assert task.candidate_groups == ["Sales", "nobody"]
    assert set(task.candidates.strip("|").split("|")) == {
        f"r:{sales.pk}",
        f"u:{anna.pk}",
        f"u:{jan.pk}",
    }


def test_lane_names_a_role_or_a_department() -> None:
    finance = DepartmentFactory.create(name="Finance")
    clerk = UserFactory.create(department=finance)
    task = start([{"id": "t"}], lanes={"Finance": ["start", "t", "end"]})
    assert task.candidate_groups == ["Finance"]
    assert task.candidates == f"|d:{finance.pk}|"

    from konvergo.processes.assignment import is_candidate

    assert is_candidate(clerk, task)
    assert not is_candidate(UserFactory.create(), task)


def test_lane_with_prefix_picks_a_team_and_own_attributes_win_over_the_lane() -> None:
    night = Team.objects.create(name="Night")
    jan = UserFactory.create(username="jan")
    definition_deploy(
        xml=user_tasks_xml(
            "p",
            [{"id": "a"}, {"id": "b", "attrs": {"assignee": "jan"}}],
            lanes={"team:Night": ["start", "a", "b", "end"]},
        )
    )
    instance = process_start("p")
    first = instance.tasks.get()
    assert first.candidates == f"|t:{night.pk}|"
    from konvergo.processes.services import task_complete

    task_complete(task=first, actor=jan)
    second = instance.tasks.get(status=TaskStatus.OPEN)
    assert (second.assignee, second.candidates) == (jan, "")


def test_head_of_the_client_owners_department_and_the_initiators_manager() -> None:
    boss = UserFactory.create(username="boss")
    sales = DepartmentFactory.create(name="Sales", head=boss)
    owner = UserFactory.create(department=sales)
    client = OrganizationFactory.create(owner=owner)
    big_boss = UserFactory.create()
    board = DepartmentFactory.create(name="Board", head=big_boss)
    sales.parent = board
    sales.save()
    boss.department = sales
    boss.save()

    task = start(
        [
            {"id": "approve", "attrs": {"assignee": "rule:head(client_owner)"}},
        ],
        subject=client,
    )
    assert task.assignee == boss

    definition_deploy(
        xml=user_tasks_xml(
            "q", [{"id": "check", "properties": {"assigneeRule": "manager(initiator)"}}]
        )
    )
    # The initiator is the head of Sales: the manager is the head one level up.
    instance = process_start("q", actor=boss)
    assert instance.tasks.get().assignee == big_boss


def test_rule_naming_nobody_leaves_the_task_to_its_candidates() -> None:
    Role.objects.create(name="Sales")
    task = start(
        [{"id": "t", "attrs": {"assignee": "rule:client_owner", "candidateGroups": "Sales"}}]
    )
    assert task.assignee is None
    assert task.candidates.startswith("|r:")


def test_work_for_an_absent_user_goes_to_the_deputy_chain() -> None:
    anna = UserFactory.create(username="anna")
    ben = UserFactory.create(username="ben")
    cleo = UserFactory.create(username="cleo")
    Deputy.objects.create(
        user=anna, deputy=ben, starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 5)
    )
    Deputy.objects.create(
        user=ben, deputy=cleo, starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 3)
    )
    task = start([{"id": "t", "attrs": {"assignee": "anna", "candidateUsers": "ben"}}])
    assert (task.assignee, task.on_behalf_of) == (cleo, anna)
    # Ben is away too: his deputy may claim in his place.
    assert set(task.candidates.strip("|").split("|")) == {f"u:{ben.pk}", f"u:{cleo.pk}"}


def test_due_date_in_business_time_on_the_assignees_calendar() -> None:
    calendar = BusinessCalendar.objects.create(name="Berlin office", time_zone="Europe/Berlin")
    for weekday in range(5):
        WorkingHours.objects.create(calendar=calendar, weekday=weekday, start=time(9), end=time(17))
    department = DepartmentFactory.create(calendar=calendar)
    UserFactory.create(username="jan", department=department)
    # Friday 16:00 Berlin: four working hours end on Monday at 12:00.
    friday = datetime(2026, 11, 6, 15, 0, tzinfo=UTC)
    definition_deploy(
        xml=user_tasks_xml(
            "p",
            [
                {
                    "id": "t",
                    "attrs": {"assignee": "jan", "dueDate": "PT4H", "followUpDate": "P1D"},
                    "properties": {"businessCalendar": "assignee"},
                }
            ],
        )
    )
    with time_machine.travel(friday, tick=False):
        task = process_start("p").tasks.get()
    assert task.due_at == datetime(2026, 11, 9, 11, 0, tzinfo=UTC)
    # One working day later: Monday at the same local time (16:00 Berlin).
    assert task.follow_up_at == datetime(2026, 11, 9, 15, 0, tzinfo=UTC)
    assert task.remind_at == task.follow_up_at


def test_plain_due_date_without_calendar_and_reminder_default() -> None:
    task = start(
        [{"id": "t", "attrs": {"dueDate": "P2D", "priority": "${prio}"}}], variables={"prio": 70}
    )
    assert task.due_at == T0 + timedelta(days=2)
    assert task.remind_at == T0 + timedelta(days=2) - timedelta(hours=1)
    assert task.priority == 70


def test_reminder_and_escalation_from_properties() -> None:
    task = start(
        [
            {
                "id": "t",
                "attrs": {"dueDate": "2026-11-10T12:00:00Z"},
                "properties": {"reminderBefore": "P1D", "escalation": "reassign"},
            }
        ]
    )
    assert task.due_at == datetime(2026, 11, 10, 12, 0, tzinfo=UTC)
    assert task.remind_at == datetime(2026, 11, 9, 12, 0, tzinfo=UTC)
    assert task.escalation == "reassign"


def test_assignment_costs_few_queries_per_task() -> None:
    """Advances create tasks inside the engine's transaction: keep the lookups few."""
    from types import SimpleNamespace

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from konvergo.processes.assignment import human_task_for

    UserFactory.create(username="jan")
    Role.objects.create(name="sales")
    Role.objects.create(name="support")
    definition_deploy(xml=user_tasks_xml("p", [{"id": "t"}]))
    instance = process_start("p")
    task = SimpleNamespace(
        task_id="x",
        element_id="review",
        name="Review",
        lane=None,
        extensions={
            "camunda:assignee": "${owner}",
            "camunda:candidateGroups": "sales, support",
            "camunda:dueDate": "P2D",
            "camunda:priority": "70",
        },
        data={"owner": "jan"},
    )
    with CaptureQueriesContext(connection) as queries:
        row = human_task_for(instance, task, T0)
    assert row.assignee is not None and row.assignee.username == "jan"
    assert row.candidates.count("|r:") == 2
    assert len(queries) == 2  # the assignee (with "away?"), the roles
