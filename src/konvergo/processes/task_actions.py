"""What people do with an open user task besides completing it: claim, unclaim, delegate with a
note, and return a delegated task. Each checks who may do it, locks the task row, writes a
HumanTaskLog entry and an event, all in one transaction.

A change of assignee clears `notified_at`, so the inbox's sweep tells the new assignee (in-app
and by e-mail) after the commit; nothing is sent for a rolled-back change.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, Conflict, NotAllowed
from konvergo.core.events import emit
from konvergo.org.models import User
from konvergo.org.selectors import deputy_on
from konvergo.processes.assignment import is_candidate
from konvergo.processes.models import HumanTask, HumanTaskLog, TaskStatus

MANAGE = "processes.change_humantask"
VIEW = "processes.view_humantask"


def _is(user: Any, other_id: int | None) -> bool:
    return other_id is not None and user.pk == other_id


def may_view(user: Any, task: HumanTask) -> bool:
    if not user.is_authenticated:
        return False
    return (
        _is(user, task.assignee_id)
        or _is(user, task.on_behalf_of_id)
        or _is(user, task.delegated_by_id)
        or (task.assignee_id is None and is_candidate(user, task))
        or user.has_perm(VIEW)
    )


def may_complete(user: Any, task: HumanTask) -> bool:
    """The assignee; for an unassigned task a candidate (anyone if it has no candidates);
    and people who manage process tasks."""
    if not user.is_authenticated:
        return False
    if _is(user, task.assignee_id) or user.has_perm(MANAGE):
        return True
    if task.assignee_id is None:
        return not task.candidates or is_candidate(user, task)
    return False


def require_may_complete(user: Any, task: HumanTask) -> None:
    if not may_complete(user, task):
        raise NotAllowed(_("You may not complete this task."))


def require_may_delegate(user: Any, task: HumanTask) -> None:
    if task.assignee_id != user.pk and not user.has_perm(MANAGE):
        raise NotAllowed(_("Only the assignee may delegate this task; claim it first."))


def _locked(task: HumanTask) -> HumanTask:
    locked = (
        HumanTask.objects.select_for_update(of=("self",))
        .select_related("instance", "assignee", "delegated_by")
        .get(pk=task.pk)
    )
    if locked.status != TaskStatus.OPEN:
        raise Conflict(
            _("This task is already %(status)s.") % {"status": locked.get_status_display().lower()}
        )
    return locked


def _log(task: HumanTask, action: str, actor: User, **fields: Any) -> None:
    HumanTaskLog.objects.create(task=task, action=action, actor=actor, **fields)
    emit(
        f"processes.task.{action}",
        subject=task.instance,
        actor=actor,
        payload={
            "task": str(task.public_id),
            "element_id": task.element_id,
            "assignee": task.assignee.username if task.assignee else None,
            **({"note": fields["note"]} if fields.get("note") else {}),
        },
    )


def _save(task: HumanTask, *fields: str) -> None:
    task.save(update_fields=[*fields, "updated_at"])


@transaction.atomic
def task_claim(*, task: HumanTask, actor: User) -> HumanTask:
    """Take an unassigned task you are a candidate for; someone else's task is a Conflict."""
    locked = _locked(task)
    if locked.assignee_id == actor.pk:
        return locked
    if locked.assignee_id is not None:
        raise Conflict(_("%(user)s has already claimed this task.") % {"user": locked.assignee})
    if locked.candidates and not is_candidate(actor, locked) and not actor.has_perm(MANAGE):
        raise NotAllowed(_("You are not one of the people who may claim this task."))
    locked.assignee = actor
    locked.notified_at = None
    _save(locked, "assignee", "notified_at")
    _log(locked, "claimed", actor, to_user=actor)
    return locked


@transaction.atomic
def task_unclaim(*, task: HumanTask, actor: User) -> HumanTask:
    """Give a task back to its candidates (the assignee, or someone who manages tasks)."""
    locked = _locked(task)
    if locked.assignee_id is None:
        raise Conflict(_("Nobody has claimed this task."))
    if locked.assignee_id != actor.pk and not actor.has_perm(MANAGE):
        raise NotAllowed(_("Only the assignee may give this task back."))
    previous = locked.assignee
    locked.assignee = None
    locked.on_behalf_of = None
    locked.delegated_by = None
    locked.delegation_note = ""
    _save(locked, "assignee", "on_behalf_of", "delegated_by", "delegation_note")
    _log(locked, "unclaimed", actor, from_user=previous)
    return locked


@transaction.atomic
def task_delegate(*, task: HumanTask, to_user: User, note: str = "", actor: User) -> HumanTask:
    """Hand a task to someone else with a note; they can return it to you when done.

    A delegate who is away is replaced by their deputy. The person who delegated first stays
    the one it returns to, even if it is delegated on."""
    locked = _locked(task)
    require_may_delegate(actor, locked)
    if not to_user.is_active:
        raise BusinessError(
            _("%(user)s cannot receive tasks (inactive).") % {"user": to_user},
            details={"field": "to_user"},
        )
    stand_in = deputy_on(user=to_user, day=timezone.localdate())
    receiver = stand_in or to_user
    if receiver.pk == locked.assignee_id:
        raise BusinessError(
            _("The task is already assigned to %(user)s.") % {"user": receiver},
            details={"field": "to_user"},
        )
    previous = locked.assignee
    if locked.delegated_by_id is None:
        locked.delegated_by = previous or actor
    locked.delegation_note = note.strip()
    locked.assignee = receiver
    locked.on_behalf_of = to_user if stand_in else None
    locked.notified_at = None
    _save(locked, "assignee", "on_behalf_of", "delegated_by", "delegation_note", "notified_at")
    _log(locked, "delegated", actor, from_user=previous, to_user=receiver, note=note.strip())
    return locked


@transaction.atomic
def task_return(*, task: HumanTask, note: str = "", actor: User) -> HumanTask:
    """Give a delegated task back to the person who delegated it."""
    locked = _locked(task)
    if locked.delegated_by_id is None:
        raise Conflict(_("This task was not delegated."))
    if locked.assignee_id != actor.pk and not actor.has_perm(MANAGE):
        raise NotAllowed(_("Only the person it was delegated to may return this task."))
    owner = locked.delegated_by
    previous = locked.assignee
    locked.assignee = owner
    locked.delegated_by = None
    locked.on_behalf_of = None
    locked.delegation_note = note.strip()
    locked.notified_at = None
    _save(locked, "assignee", "on_behalf_of", "delegated_by", "delegation_note", "notified_at")
    _log(locked, "returned", actor, from_user=previous, to_user=owner, note=note.strip())
    return locked
