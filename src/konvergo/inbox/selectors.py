"""One list of everything a person must do: process user tasks, CRM follow-ups (planned
activities) and ticket assignments (`tickets.selectors.tickets_assigned_to`), in sections,
sorted by due date and priority.

Each source is read with a fixed number of queries, whatever the number of items.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.db.models import Model, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from konvergo.crm.models import Activity
from konvergo.org.models import Deputy, User
from konvergo.processes.assignment import claimable_q
from konvergo.processes.models import HumanTask, ProcessInstance, TaskStatus
from konvergo.tickets.models import Ticket
from konvergo.tickets.selectors import tickets_assigned_to

SECTIONS = {
    "mine": _("Mine"),
    "groups": _("My groups"),
    "overdue": _("Overdue"),
    "today": _("Due today"),
    "delegated": _("Delegated by me"),
}
KINDS = {"task": _("Process task"), "activity": _("Follow-up"), "ticket": _("Ticket")}
DEFAULT_PRIORITY = 50
LIMIT = 200


@dataclass(frozen=True)
class Item:
    """A row of the inbox, whatever it comes from."""

    kind: str  # "task", "activity" or "ticket"
    public_id: UUID
    title: str
    url: str
    due_at: datetime | None
    priority: int
    context: str  # the process, client or queue it belongs to
    claimable: bool = False
    on_behalf_of: str = ""
    delegated_to: str = ""
    note: str = ""

    @property
    def kind_label(self) -> str:
        return str(KINDS[self.kind])

    def overdue(self, now: datetime) -> bool:
        return self.due_at is not None and self.due_at < now


FAR = datetime.max.replace(tzinfo=UTC)
ORDERS = {"due": _("Due date"), "priority": _("Priority")}


def sort_key(item: Item) -> tuple[bool, datetime, int]:
    """Due first (undated last), then the higher priority."""
    return (item.due_at is None, item.due_at or FAR, -item.priority)


def priority_key(item: Item) -> tuple[int, bool, datetime]:
    return (-item.priority, item.due_at is None, item.due_at or FAR)


def ordered(items: list[Item], order: str) -> list[Item]:
    return sorted(items, key=priority_key if order == "priority" else sort_key)


# --- process tasks --------------------------------------------------------------------------


def task_url(task: HumanTask) -> str:
    return reverse("inbox:task", args=[task.public_id])


def _task_rows() -> QuerySet[HumanTask]:
    return HumanTask.objects.filter(status=TaskStatus.OPEN).select_related(
        "instance__definition", "on_behalf_of", "assignee"
    )


def _task_item(task: HumanTask, *, claimable: bool = False, delegated: bool = False) -> Item:
    instance = task.instance
    context = instance.definition.name
    if instance.business_key:
        context = f"{context} · {instance.business_key}"
    return Item(
        kind="task",
        public_id=task.public_id,
        title=task.name,
        url=task_url(task),
        due_at=task.due_at,
        priority=task.priority,
        context=context,
        claimable=claimable,
        on_behalf_of=str(task.on_behalf_of) if task.on_behalf_of else "",
        delegated_to=str(task.assignee) if delegated and task.assignee else "",
        note=task.delegation_note,
    )


def my_tasks(user: User) -> QuerySet[HumanTask]:
    return _task_rows().filter(assignee=user)


def claimable_tasks(user: User) -> QuerySet[HumanTask]:
    return _task_rows().filter(claimable_q(user))


def delegated_tasks(user: User) -> QuerySet[HumanTask]:
    return _task_rows().filter(delegated_by=user).exclude(assignee=user)


# --- CRM follow-ups -------------------------------------------------------------------------


def standing_in_for(user: User, now: datetime) -> list[int]:
    """The people `user` is the deputy of today (their follow-ups come to the deputy too)."""
    today = timezone.localdate(now)
    return list(
        Deputy.objects.filter(deputy=user, starts_on__lte=today, ends_on__gte=today).values_list(
            "user_id", flat=True
        )
    )


def my_activities(user: User, now: datetime) -> QuerySet[Activity]:
    owners = [user.pk, *standing_in_for(user, now)]
    return Activity.objects.filter(
        owner_id__in=owners, done_at__isnull=True, archived=False, due_at__isnull=False
    ).select_related("organization", "person", "deal", "owner")


def _activity_url(activity: Activity) -> str:
    try:
        return reverse("crm:activity_detail", args=[activity.public_id])
    except NoReverseMatch:
        return ""


def _activity_item(activity: Activity, user: User) -> Item:
    client = activity.organization or activity.person or activity.deal
    return Item(
        kind="activity",
        public_id=activity.public_id,
        title=f"{activity.get_kind_display()}: {activity.subject}",
        url=_activity_url(activity),
        due_at=activity.due_at,
        priority=DEFAULT_PRIORITY,
        context=str(client) if client else "",
        on_behalf_of=str(activity.owner) if activity.owner_id != user.pk else "",
    )


# --- tickets -------------------------------------------------------------------------------


def _ticket_item(ticket: Ticket) -> Item:
    # The nearest SLA deadline still running: the first response until it is given, then the
    # next response and the resolution.
    dues = [
        ticket.first_response_due_at if ticket.first_response_at is None else None,
        ticket.next_response_due_at,
        ticket.resolution_due_at,
    ]
    due = min((d for d in dues if d is not None), default=None)
    try:
        url = reverse("tickets:detail", args=[ticket.public_id])
    except NoReverseMatch:
        url = ""
    rank = ticket.priority.rank if ticket.priority_id else 3
    return Item(
        kind="ticket",
        public_id=ticket.public_id,
        title=f"#{ticket.number} {ticket.subject}" if ticket.number else ticket.subject,
        url=url,
        due_at=due,
        # P1 is the most urgent: 100, P2 75, P3 50, P4 25 (the scale of process tasks).
        priority=max(0, 125 - 25 * rank),
        context=str(ticket.queue),
    )


def my_tickets(user: User) -> list[Item]:
    return [_ticket_item(t) for t in tickets_assigned_to(user)[:LIMIT]]


# --- the inbox ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inbox:
    mine: list[Item]
    groups: list[Item]
    delegated: list[Item]
    now: datetime
    day_end: datetime

    def section(self, name: str) -> list[Item]:
        if name == "groups":
            return self.groups
        if name == "delegated":
            return self.delegated
        if name == "overdue":
            return sorted((i for i in self.mine + self.groups if i.overdue(self.now)), key=sort_key)
        if name == "today":
            return sorted(
                (
                    i
                    for i in self.mine + self.groups
                    if i.due_at is not None and self.now <= i.due_at < self.day_end
                ),
                key=sort_key,
            )
        return self.mine

    def counts(self) -> dict[str, int]:
        return {name: len(self.section(name)) for name in SECTIONS}


def inbox_for(user: User, now: datetime | None = None) -> Inbox:
    now = now or timezone.now()
    local = timezone.localtime(now)
    day_end = local.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    mine = [_task_item(t) for t in my_tasks(user)[:LIMIT]]
    mine += [_activity_item(a, user) for a in my_activities(user, now)[:LIMIT]]
    mine += my_tickets(user)
    groups = [_task_item(t, claimable=True) for t in claimable_tasks(user)[:LIMIT]]
    delegated = [_task_item(t, delegated=True) for t in delegated_tasks(user)[:LIMIT]]
    return Inbox(
        mine=sorted(mine, key=sort_key),
        groups=sorted(groups, key=sort_key),
        delegated=sorted(delegated, key=sort_key),
        now=now,
        day_end=day_end,
    )


@dataclass(frozen=True)
class Badge:
    open: int
    overdue: int


def badge_for(user: User, now: datetime | None = None) -> Badge:
    """The counts in the navigation: my open work plus what I may claim, and how much of it
    is overdue (counting queries, no rows loaded; a ticket counts as overdue past its
    resolution time)."""
    now = now or timezone.now()
    tasks = HumanTask.objects.filter(status=TaskStatus.OPEN).filter(
        Q(assignee=user) | claimable_q(user)
    )
    activities = my_activities(user, now)
    tickets = tickets_assigned_to(user)
    return Badge(
        open=tasks.count() + activities.count() + tickets.count(),
        overdue=tasks.filter(due_at__lt=now).count()
        + activities.filter(due_at__lt=now).count()
        + tickets.filter(resolution_due_at__lt=now).count(),
    )


# --- the task page --------------------------------------------------------------------------


def subject_of(instance: ProcessInstance) -> tuple[Model | None, str]:
    """The record a process instance concerns, and its page ("" if none)."""
    ct = instance.subject_type
    if ct is None or not instance.subject_id:
        return None, ""
    model = ct.model_class()
    if model is None:
        return None, ""
    record = model._default_manager.filter(pk=instance.subject_id).first()
    if record is None:
        return None, ""
    public_id = getattr(record, "public_id", None)
    url = ""
    # CRM pages are "<model>_detail", an app about one kind of record has "detail".
    for name in (f"{ct.app_label}:{ct.model}_detail", f"{ct.app_label}:detail"):
        try:
            url = reverse(name, args=[public_id])
        except NoReverseMatch:
            continue
        break
    return record, url


def subject_data(record: Model | None) -> dict[str, Any]:
    """What a form may show of the linked record: `subject` always, and `client` / `deal` /
    `ticket` / `document` under their own names (form-js text fields: {{client.name}})."""
    if record is None:
        return {}
    meta = record._meta
    data: dict[str, Any] = {"type": meta.model_name, "name": str(record)}
    for field in ("legal_name", "title", "subject", "status", "amount", "currency", "industry"):
        value = getattr(record, field, None)
        if value is not None and value != "":
            data[field] = str(value)
    owner = getattr(record, "owner", None)
    if owner is not None:
        data["owner"] = str(owner)
    result: dict[str, Any] = {"subject": data}
    kind = meta.model_name or ""
    if kind in ("organization", "person"):
        result["client"] = data
    elif kind in ("deal", "ticket", "document"):
        result[kind] = data
        client = getattr(record, "organization", None) or getattr(record, "person", None)
        if client is not None:
            result["client"] = {"name": str(client), "type": client._meta.model_name}
    return result
