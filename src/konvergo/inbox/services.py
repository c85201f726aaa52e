"""Writes of the inbox: comments, the digest preference, and the notices the worker sends.

Notices (the `inbox.notices` sweep, inbox/tasks.py), each sent once:
- absence: open tasks of someone who is away today go to their deputy (`on_behalf_of` keeps
  for whom), who then gets the assignment notice;
- assignment: a task got a (new) assignee, or opened for a group: in-app and e-mail;
- reminder: at the task's `remind_at` (follow-up date, or before due);
- overdue: the assignee hears that the task is late, and, unless the model handles lateness
  itself with a boundary timer on the task, the escalation rule applies: the manager hears of
  it (``manager``, the default) or gets the task (``reassign``); ``none`` does neither;
- the daily digest, for people who asked for it, once per day after DIGEST_HOUR their time.

Each notice is claimed by a conditional update of its timestamp inside the transaction that
writes the notification and sends the mail: a failure (e.g. a refused address) rolls the claim
back and the next sweep tries again; two workers never both send it.
"""

from __future__ import annotations

import logging
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from konvergo.core.errors import BusinessError
from konvergo.core.events import emit
from konvergo.inbox.models import Comment, Preference
from konvergo.org.models import Deputy, User
from konvergo.org.selectors import deputy_on, manager_of
from konvergo.org.services import notify
from konvergo.processes.models import HumanTask, HumanTaskLog, ProcessDefinition, TaskStatus

logger = logging.getLogger(__name__)
BATCH = 100
DIGEST_HOUR = 7
MAX_GROUP_NOTICES = 25
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"


# --- comments and preferences ---------------------------------------------------------------


@transaction.atomic
def comment_add(*, task: HumanTask, author: User, text: str) -> Comment:
    text = text.strip()
    if not text:
        raise BusinessError(
            translation.gettext("Write a comment first."), details={"field": "text"}
        )
    if len(text) > 5000:
        raise BusinessError(
            translation.gettext("A comment can have at most 5000 characters."),
            details={"field": "text"},
        )
    comment = Comment.objects.create(process=task.instance, task=task, author=author, text=text)
    emit(
        "inbox.comment.added",
        subject=task.instance,
        actor=author,
        payload={"task": str(task.public_id), "comment": str(comment.public_id)},
    )
    return comment


@transaction.atomic
def preference_set_digest(*, user: User, enabled: bool) -> Preference:
    preference, _created = Preference.objects.select_for_update().get_or_create(user=user)
    if preference.daily_digest != enabled:
        preference.daily_digest = enabled
        preference.save(update_fields=["daily_digest"])
    return preference


# --- texts ----------------------------------------------------------------------------------


def _zone(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def _absolute(path: str) -> str:
    base = getattr(settings, "KONVERGO_BASE_URL", "")
    return f"{base.rstrip('/')}{path}" if base else path


def _message(template: str, recipient: User, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and text of a notice in the recipient's language, times in their zone."""
    with (
        translation.override(recipient.language or settings.LANGUAGE_CODE),
        timezone.override(_zone(recipient)),
    ):
        full = {"recipient": recipient, **context}
        subject = render_to_string(f"inbox/email/{template}_subject.txt", full).strip()
        body = render_to_string(f"inbox/email/{template}.txt", full).strip()
    return " ".join(subject.split())[:200], body


def _send(recipient: User, template: str, context: dict[str, Any], url: str, now: datetime) -> None:
    """In-app (to the deputy while the recipient is away, as notify() routes) and by e-mail to
    whoever gets it, in their language."""
    reader = deputy_on(user=recipient, day=timezone.localdate(now)) or recipient
    title, body = _message(
        template, reader, {**context, "absent": recipient if reader != recipient else None}
    )
    notify(recipient=recipient, title=title, body=body, url=url, when=now)
    if reader.email:
        send_mail(title, f"{body}\n\n{_absolute(url)}", None, [reader.email])


def _task_url(task: HumanTask) -> str:
    return reverse("inbox:task", args=[task.public_id])


def _claimed(task_id: int, field: str, now: datetime, extra: Q | None = None) -> HumanTask | None:
    """Lock and claim one notice of a task (its `field` set to now), or None if it is gone."""
    rows = HumanTask.objects.filter(
        pk=task_id, status=TaskStatus.OPEN, **{f"{field}__isnull": True}
    )
    if extra is not None:
        rows = rows.filter(extra)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True, of=("self",))
    task = rows.select_related(
        "instance__definition", "assignee", "on_behalf_of", "delegated_by"
    ).first()
    if task is None:
        return None
    if not HumanTask.objects.filter(pk=task_id, **{f"{field}__isnull": True}).update(
        **{field: now}
    ):
        return None
    return task


def _each(ids: Iterable[int], send: Any, now: datetime) -> int:
    sent = 0
    for task_id in ids:
        try:
            with transaction.atomic():
                sent += send(task_id, now)
        except Exception:
            # One broken notice must not hold up the others; its claim was rolled back.
            logger.exception("Inbox notice for task %s failed", task_id)
    return sent


# --- assignment -----------------------------------------------------------------------------


def _group_members(task: HumanTask) -> list[User]:
    """People who may claim a group task (capped: a notice to a whole company helps nobody)."""
    match = Q()
    for key in task.candidates.strip("|").split("|"):
        kind, _sep, pk = key.partition(":")
        if not pk.isdigit():
            continue
        field = {"u": "pk", "r": "roles", "d": "department", "t": "teams"}.get(kind)
        if field:
            match |= Q(**{field: int(pk)})
    if not match:
        return []
    return list(User.objects.filter(match, is_active=True).distinct()[:MAX_GROUP_NOTICES])


def _notify_assigned(task_id: int, now: datetime) -> int:
    task = _claimed(task_id, "notified_at", now)
    if task is None:
        return 0
    context = {
        "task": task,
        "process": task.instance.definition.name,
        "group": task.assignee is None,
    }
    recipients = [task.assignee] if task.assignee is not None else _group_members(task)
    for recipient in recipients:
        _send(recipient, "assigned", context, _task_url(task), now)
    return 1


def tasks_notify_assigned(now: datetime) -> int:
    ids = list(
        HumanTask.objects.filter(status=TaskStatus.OPEN, notified_at__isnull=True)
        .filter(Q(assignee__isnull=False) | ~Q(candidates=""))
        .order_by("created_at")
        .values_list("pk", flat=True)[:BATCH]
    )
    return _each(ids, _notify_assigned, now)


# --- absences -------------------------------------------------------------------------------


def tasks_route_to_deputies(now: datetime) -> int:
    """Open tasks of people who are away today go to their deputies (who hear of it as of any
    new assignment); the task remembers for whom, and the trail records the hand-over."""
    today = timezone.localdate(now)
    absent = set(
        Deputy.objects.filter(starts_on__lte=today, ends_on__gte=today).values_list(
            "user_id", flat=True
        )
    )
    if not absent:
        return 0
    moved = 0
    for user in User.objects.filter(
        pk__in=absent, process_tasks__status=TaskStatus.OPEN
    ).distinct():
        stand_in = deputy_on(user=user, day=today)
        if stand_in is None:
            continue
        with transaction.atomic():
            rows = HumanTask.objects.filter(assignee=user, status=TaskStatus.OPEN)
            for task in rows.select_for_update(of=("self",)):
                HumanTaskLog.objects.create(
                    task=task, action="deputy", from_user=user, to_user=stand_in
                )
                moved += 1
            rows.update(
                assignee=stand_in,
                on_behalf_of=user,
                notified_at=None,
                updated_at=now,
            )
    return moved


# --- reminders ------------------------------------------------------------------------------


def _remind(task_id: int, now: datetime) -> int:
    task = _claimed(task_id, "reminded_at", now, Q(remind_at__lte=now))
    if task is None:
        return 0
    context = {"task": task, "process": task.instance.definition.name}
    recipients = [task.assignee] if task.assignee is not None else _group_members(task)
    for recipient in recipients:
        _send(recipient, "reminder", context, _task_url(task), now)
    return 1


def tasks_send_reminders(now: datetime) -> int:
    ids = list(
        HumanTask.objects.filter(
            status=TaskStatus.OPEN, remind_at__lte=now, reminded_at__isnull=True
        )
        .order_by("remind_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    return _each(ids, _remind, now)


# --- escalation -----------------------------------------------------------------------------


@lru_cache(maxsize=256)
def _elements_with_boundary_timer(definition: UUID) -> frozenset[str]:
    """Activities of a version that carry a boundary timer: the model handles lateness there.
    (Cached by the version's UUID: a version never changes, and a UUID is never reused.)"""
    from lxml import etree

    xml = ProcessDefinition.objects.values_list("bpmn_xml", flat=True).get(public_id=definition)
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(xml.encode(), parser=parser)
    return frozenset(
        str(node.get("attachedToRef"))
        for node in root.iter(f"{{{BPMN_NS}}}boundaryEvent")
        if node.find(f"{{{BPMN_NS}}}timerEventDefinition") is not None
    )


def escalation_rule(task: HumanTask) -> str:
    """What lateness does to this task: the model's `escalation` property, else the default
    (KONVERGO_INBOX_ESCALATION); `none` where the model has a boundary timer on the task."""
    if task.element_id in _elements_with_boundary_timer(task.instance.definition.public_id):
        return "none"
    return task.escalation or getattr(settings, "KONVERGO_INBOX_ESCALATION", "manager")


def _escalate(task_id: int, now: datetime) -> int:
    task = _claimed(task_id, "escalated_at", now, Q(due_at__lt=now))
    if task is None:
        return 0
    context: dict[str, Any] = {"task": task, "process": task.instance.definition.name}
    url = _task_url(task)
    late = task.assignee
    if late is not None:
        _send(late, "overdue", context, url, now)
    rule = escalation_rule(task)
    responsible = task.on_behalf_of or late
    manager = manager_of(responsible) if responsible is not None else None
    if rule == "none" or manager is None or manager == late:
        return 1
    _send(manager, "escalated", {**context, "late": late, "rule": rule}, url, now)
    if rule == "reassign":
        HumanTask.objects.filter(pk=task.pk).update(
            assignee=manager, on_behalf_of=None, notified_at=None, updated_at=now
        )
        HumanTaskLog.objects.create(
            task=task, action="escalated", from_user=late, to_user=manager, note=""
        )
    emit(
        "processes.task.escalated",
        subject=task.instance,
        payload={
            "task": str(task.public_id),
            "element_id": task.element_id,
            "rule": rule,
            "manager": manager.username,
        },
    )
    return 1


def tasks_escalate_overdue(now: datetime) -> int:
    ids = list(
        HumanTask.objects.filter(status=TaskStatus.OPEN, due_at__lt=now, escalated_at__isnull=True)
        .order_by("due_at", "pk")
        .values_list("pk", flat=True)[:BATCH]
    )
    return _each(ids, _escalate, now)


# --- the daily digest -----------------------------------------------------------------------


def _digest(preference_id: int, now: datetime) -> int:
    from konvergo.inbox.selectors import inbox_for

    preference = Preference.objects.select_related("user").get(pk=preference_id)
    user = preference.user
    local = timezone.localtime(now, _zone(user))
    if local.hour < DIGEST_HOUR or preference.last_digest_on == local.date():
        return 0
    claimed = (
        Preference.objects.filter(pk=preference_id, daily_digest=True)
        .filter(Q(last_digest_on__isnull=True) | Q(last_digest_on__lt=local.date()))
        .update(last_digest_on=local.date())
    )
    if not claimed:
        return 0
    with timezone.override(_zone(user)):
        inbox = inbox_for(user, now)
    if not inbox.mine and not inbox.groups:
        return 1  # nothing to do today: no mail
    title, body = _message(
        "digest",
        user,
        {
            "mine": inbox.mine[:20],
            "groups": inbox.groups[:20],
            "overdue": inbox.section("overdue"),
            "counts": inbox.counts(),
            "inbox_url": _absolute(reverse("inbox:index")),
        },
    )
    if user.email:
        send_mail(title, body, None, [user.email])
    return 1


def digests_send(now: datetime) -> int:
    """Digests due by now: the claim (`last_digest_on`) makes each one go out once a day.

    Whose morning it is depends on each person's time zone, so the query takes everybody who
    might be due (no zone is more than 14 hours ahead of UTC) and `_digest` decides."""
    latest_local_day = (now + timedelta(hours=14)).date()
    candidates = list(
        Preference.objects.filter(daily_digest=True, user__is_active=True)
        .filter(Q(last_digest_on__isnull=True) | Q(last_digest_on__lt=latest_local_day))
        .order_by("pk")
        .values_list("pk", flat=True)[:1000]
    )
    sent = 0
    for pk in candidates:
        try:
            with transaction.atomic():
                sent += _digest(pk, now)
        except Exception:
            logger.exception("Inbox digest %s failed", pk)
    return sent


_digests_checked: list[datetime] = []
DIGEST_CHECK_EVERY = timedelta(minutes=5)


def inbox_notices(now: datetime) -> int:
    """Everything the inbox sends, in one pass; safe to run twice. Digests are looked at every
    few minutes only (they are daily; the worker loop turns every few seconds)."""
    done = tasks_route_to_deputies(now) + tasks_notify_assigned(now)
    done += tasks_send_reminders(now) + tasks_escalate_overdue(now)
    last = _digests_checked[-1] if _digests_checked else None
    if last is None or not timedelta(0) <= now - last < DIGEST_CHECK_EVERY:
        _digests_checked[:] = [now]
        done += digests_send(now)
    return done
