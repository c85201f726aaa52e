"""Claim, unclaim, delegate with a note, return: who may, what is logged, what nothing changes."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from konvergo.core.errors import BusinessError, Conflict, NotAllowed
from konvergo.core.models import Event
from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.org.models import Deputy, Role, User
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import HumanTask, HumanTaskLog, TaskStatus
from konvergo.processes.services import definition_deploy, process_start, task_complete
from konvergo.processes.task_actions import (
    may_complete,
    task_claim,
    task_delegate,
    task_return,
    task_unclaim,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def sales() -> Role:
    return Role.objects.create(name="Sales")


def group_task() -> HumanTask:
    definition_deploy(xml=user_tasks_xml("p", [{"id": "t", "attrs": {"candidateGroups": "Sales"}}]))
    return process_start("p").tasks.get()


def member(role: Role, **kwargs: object) -> User:
    user = UserFactory.create(**kwargs)
    user.roles.add(role)
    return user


def test_a_candidate_claims_and_unclaims(sales: Role) -> None:
    task = group_task()
    anna = member(sales)
    outsider = UserFactory.create()

    with pytest.raises(NotAllowed):
        task_claim(task=task, actor=outsider)
    assert not may_complete(outsider, task)
    assert may_complete(anna, task)

    task_claim(task=task, actor=anna)
    task.refresh_from_db()
    assert task.assignee == anna
    with pytest.raises(Conflict):
        task_claim(task=task, actor=member(sales))

    task_unclaim(task=task, actor=anna)
    task.refresh_from_db()
    assert task.assignee is None
    assert list(HumanTaskLog.objects.values_list("action", "actor")) == [
        ("claimed", anna.pk),
        ("unclaimed", anna.pk),
    ]
    assert list(
        Event.objects.filter(name__startswith="processes.task.").values_list("name", flat=True)
    ) == ["processes.task.claimed", "processes.task.unclaimed"]


def test_delegate_with_a_note_then_return(sales: Role) -> None:
    task = group_task()
    anna = member(sales)
    ben = UserFactory.create()
    task_claim(task=task, actor=anna)

    with pytest.raises(NotAllowed):
        task_delegate(task=task, to_user=anna, note="", actor=ben)
    task_delegate(task=task, to_user=ben, note="Please check the figures", actor=anna)
    task.refresh_from_db()
    assert (task.assignee, task.delegated_by, task.delegation_note) == (
        ben,
        anna,
        "Please check the figures",
    )
    assert task.notified_at is None  # the inbox sweep tells Ben
    assert may_complete(ben, task) and not may_complete(anna, task)

    with pytest.raises(NotAllowed):
        task_return(task=task, actor=anna)
    task_return(task=task, note="Figures fine", actor=ben)
    task.refresh_from_db()
    assert (task.assignee, task.delegated_by) == (anna, None)
    log = list(HumanTaskLog.objects.values_list("action", "from_user", "to_user", "note"))
    assert log[1:] == [
        ("delegated", anna.pk, ben.pk, "Please check the figures"),
        ("returned", ben.pk, anna.pk, "Figures fine"),
    ]
    with pytest.raises(Conflict):
        task_return(task=task, actor=anna)


def test_delegating_to_someone_away_reaches_their_deputy(sales: Role) -> None:
    task = group_task()
    anna = member(sales)
    ben, cleo = UserFactory.create(), UserFactory.create()
    today = timezone.localdate()
    Deputy.objects.create(user=ben, deputy=cleo, starts_on=today, ends_on=today)
    task_claim(task=task, actor=anna)
    task_delegate(task=task, to_user=ben, note="", actor=anna)
    task.refresh_from_db()
    assert (task.assignee, task.on_behalf_of, task.delegated_by) == (cleo, ben, anna)


def test_no_action_on_a_finished_task_and_no_delegation_to_inactive_users(sales: Role) -> None:
    task = group_task()
    anna = member(sales)
    gone = UserFactory.create(is_active=False)
    task_claim(task=task, actor=anna)
    with pytest.raises(BusinessError) as caught:
        task_delegate(task=task, to_user=gone, note="", actor=anna)
    assert caught.value.details == {"field": "to_user"}
    task_complete(task=task, actor=anna)
    task.refresh_from_db()
    assert task.status == TaskStatus.COMPLETED
    for action in (task_claim, task_unclaim):
        with pytest.raises(Conflict):
            action(task=task, actor=anna)
    assert HumanTaskLog.objects.count() == 1


def test_managers_of_tasks_may_act_on_any_task(sales: Role) -> None:
    task = group_task()
    anna = member(sales)
    admin_role = Role.objects.create(name="Process admin")
    admin_role.permissions.add(Permission.objects.get(codename="change_humantask"))
    admin = UserFactory.create()
    admin.roles.add(admin_role)
    task_claim(task=task, actor=anna)
    assert may_complete(admin, task)
    task_unclaim(task=task, actor=admin)
    task.refresh_from_db()
    assert task.assignee is None
