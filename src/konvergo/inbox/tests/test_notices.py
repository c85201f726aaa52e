"""Assignment notices, reminders, escalations and the daily digest, with a frozen clock: each
is sent once however often the sweep runs, in-app and by e-mail in the recipient's language."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core import mail

from konvergo.core.jobs import Worker
from konvergo.inbox.models import Preference
from konvergo.inbox.services import inbox_notices, tasks_escalate_overdue
from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.org.models import Deputy, Notification, Role, User
from konvergo.org.tests.factories import DepartmentFactory, UserFactory
from konvergo.processes.models import HumanTask, HumanTaskLog
from konvergo.processes.services import definition_deploy, process_start

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)  # Monday 09:00 UTC


@pytest.fixture
def team() -> dict[str, User]:
    boss = UserFactory.create(username="boss", language="de", email="boss@example.com")
    sales = DepartmentFactory.create(name="Sales", head=boss)
    jan = UserFactory.create(username="jan", department=sales, email="jan@example.com")
    boss.department = sales
    boss.save()
    return {"boss": boss, "jan": jan}


def start(task: dict[str, Any]) -> HumanTask:
    definition_deploy(xml=user_tasks_xml("p", [task], name="Offer approval"))
    with time_machine.travel(T0, tick=False):
        return process_start("p").tasks.get()


def sweep(at: datetime) -> int:
    with time_machine.travel(at, tick=False):
        return inbox_notices(at)


def titles(user: User) -> list[str]:
    return list(
        Notification.objects.filter(recipient=user).order_by("pk").values_list("title", flat=True)
    )


def test_assignment_notice_once_in_app_and_by_mail(team: dict[str, User]) -> None:
    start({"id": "check", "name": "Check offer", "attrs": {"assignee": "jan"}})
    assert sweep(T0) == 1
    assert sweep(T0 + timedelta(minutes=1)) == 0
    assert titles(team["jan"]) == ["New task for you: Check offer"]
    assert [(m.to, m.subject) for m in mail.outbox] == [
        (["jan@example.com"], "New task for you: Check offer")
    ]
    assert 'You have a new task: "Check offer" in "Offer approval".' in mail.outbox[0].body
    assert "/inbox/tasks/" in mail.outbox[0].body


def test_group_task_notice_goes_to_the_members(team: dict[str, User]) -> None:
    role = Role.objects.create(name="Approvers")
    anna = UserFactory.create(username="anna")
    anna.roles.add(role)
    start({"id": "check", "name": "Check offer", "attrs": {"candidateGroups": "Approvers"}})
    sweep(T0)
    assert titles(anna) == ["A task you may claim: Check offer"]


def test_reminder_before_due_then_overdue_and_escalation_to_the_manager(
    team: dict[str, User],
) -> None:
    start(
        {
            "id": "check",
            "name": "Check offer",
            "attrs": {"assignee": "jan", "dueDate": "PT4H"},
            "properties": {"reminderBefore": "PT1H"},
        }
    )
    sweep(T0)
    assert sweep(T0 + timedelta(hours=2, minutes=59)) == 0  # not yet
    assert sweep(T0 + timedelta(hours=3)) == 1
    assert sweep(T0 + timedelta(hours=3, minutes=30)) == 0
    assert titles(team["jan"])[-1] == "Reminder: Check offer"

    assert sweep(T0 + timedelta(hours=4)) == 0  # due now is not late yet
    assert sweep(T0 + timedelta(hours=4, seconds=1)) == 1
    assert sweep(T0 + timedelta(hours=5)) == 0
    assert titles(team["jan"])[-1] == "Overdue: Check offer"
    # The manager reads it in German, their language.
    assert titles(team["boss"]) == ["Eskalation: Check offer ist überfällig"]
    boss_mail = [m for m in mail.outbox if m.to == ["boss@example.com"]]
    assert len(boss_mail) == 1
    task = HumanTask.objects.get()
    assert task.assignee == team["jan"]  # the default rule tells, it does not take the task
    assert task.escalated_at == T0 + timedelta(hours=4, seconds=1)


def test_reassign_rule_hands_the_task_to_the_manager(team: dict[str, User]) -> None:
    start(
        {
            "id": "check",
            "attrs": {"assignee": "jan", "dueDate": "PT1H"},
            "properties": {"escalation": "reassign"},
        }
    )
    sweep(T0)
    sweep(T0 + timedelta(hours=2))
    task = HumanTask.objects.get()
    assert task.assignee == team["boss"]
    assert list(HumanTaskLog.objects.values_list("action", "from_user", "to_user")) == [
        ("escalated", team["jan"].pk, team["boss"].pk)
    ]
    sweep(T0 + timedelta(hours=2, minutes=1))  # the new assignee hears of it, once
    # in German, the boss's language
    assert titles(team["boss"]) == [
        "Eskalation: check ist überfällig",
        "Neue Aufgabe für Sie: check",
    ]


def test_a_boundary_timer_of_the_model_replaces_the_default_escalation(
    team: dict[str, User],
) -> None:
    start({"id": "check", "attrs": {"assignee": "jan", "dueDate": "PT1H"}, "timer": "PT2H"})
    sweep(T0)
    sweep(T0 + timedelta(hours=1, minutes=5))
    assert titles(team["boss"]) == []
    assert titles(team["jan"])[-1].startswith("Overdue")


def test_escalation_reaches_the_managers_deputy(team: dict[str, User]) -> None:
    stand_in = UserFactory.create(username="vice", email="vice@example.com")
    Deputy.objects.create(
        user=team["boss"], deputy=stand_in, starts_on=date(2026, 11, 1), ends_on=date(2026, 11, 9)
    )
    start({"id": "check", "attrs": {"assignee": "jan", "dueDate": "PT1H"}})
    with time_machine.travel(T0 + timedelta(hours=2), tick=False):
        assert tasks_escalate_overdue(T0 + timedelta(hours=2)) == 1
    notice = Notification.objects.get(recipient=stand_in)
    assert notice.on_behalf_of == team["boss"]
    assert any(m.to == ["vice@example.com"] for m in mail.outbox)


def test_daily_digest_once_a_day_after_seven_local_time(team: dict[str, User]) -> None:
    team["jan"].time_zone = "Europe/Berlin"
    team["jan"].save()
    Preference.objects.create(user=team["jan"], daily_digest=True)
    start({"id": "check", "name": "Check offer", "attrs": {"assignee": "jan", "dueDate": "PT1H"}})
    sweep(T0)  # the assignment notice
    mail.outbox.clear()
    morning = datetime(2026, 11, 3, 5, 30, tzinfo=UTC)  # 06:30 in Berlin: too early
    assert sweep(morning) == 1  # (the overdue notice, not a digest)
    assert [m.subject for m in mail.outbox if m.to == ["jan@example.com"]] == [
        "Overdue: Check offer"
    ]
    mail.outbox.clear()
    later = datetime(2026, 11, 3, 6, 10, tzinfo=UTC)  # 07:10 in Berlin
    sweep(later)
    sweep(later + timedelta(hours=1))
    assert [m.subject for m in mail.outbox] == ["Your inbox: 1 open item, 1 overdue"]
    assert mail.outbox[0].to == ["jan@example.com"]
    assert "- Check offer (Offer approval" in mail.outbox[0].body
    sweep(datetime(2026, 11, 4, 6, 10, tzinfo=UTC))
    assert len(mail.outbox) == 2  # the next day again


def test_the_worker_runs_the_sweep(team: dict[str, User]) -> None:
    start({"id": "check", "attrs": {"assignee": "jan"}})
    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        Worker().run_sweeps(T0 + timedelta(seconds=5))
    assert len(titles(team["jan"])) == 1


def test_open_tasks_of_someone_who_goes_away_move_to_the_deputy(team: dict[str, User]) -> None:
    start({"id": "check", "name": "Check offer", "attrs": {"assignee": "jan"}})
    sweep(T0)
    vice = UserFactory.create(username="vice")
    Deputy.objects.create(
        user=team["jan"], deputy=vice, starts_on=date(2026, 11, 3), ends_on=date(2026, 11, 4)
    )
    assert sweep(T0 + timedelta(hours=1)) == 0  # not away yet
    tuesday = datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert sweep(tuesday) == 2  # moved, then announced
    task = HumanTask.objects.get()
    assert (task.assignee, task.on_behalf_of) == (vice, team["jan"])
    assert titles(vice) == ["New task for you: Check offer"]
    assert list(HumanTaskLog.objects.values_list("action", "from_user", "to_user")) == [
        ("deputy", team["jan"].pk, vice.pk)
    ]
    assert sweep(tuesday + timedelta(hours=1)) == 0
