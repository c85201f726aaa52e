"""Writes on tickets: create, edit (optimistic concurrency), status workflow, replies and notes,
attachments, merge, split, links, processes and bulk actions.

Every write is one transaction that locks the ticket row, checks the `version` the caller saw
(a stale one is a Conflict, 409), changes it, bumps the version and emits its outbox events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.files import File
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, Conflict, FieldErrors
from konvergo.core.events import emit
from konvergo.crm.models import Organization, Person, Tag
from konvergo.org.models import User
from konvergo.org.services import notify
from konvergo.processes.services import process_start
from konvergo.tickets import choices
from konvergo.tickets.models import (
    Attachment,
    Category,
    Comment,
    Priority,
    Queue,
    Ticket,
    TicketLink,
)
from konvergo.tickets.sanitize import clean_html
from konvergo.tickets.services import sla
from konvergo.tickets.services.assignment import pick_assignee

MAX_ATTACHMENT_BYTES = 25 * 1024 * 1024
EDITABLE = frozenset(
    {
        "subject",
        "description",
        "queue",
        "category",
        "priority",
        "assignee",
        "requester",
        "organization",
        "customer_tier",
        "custom_data",
        "tags",
        "parent",
    }
)


def default_priority() -> Priority:
    """The least urgent level (P4 by default) when a ticket names none."""
    priority = Priority.objects.order_by("-rank").first()
    if priority is None:
        raise BusinessError(_("Set up at least one priority level first."))
    return priority


def tier_of(organization: Organization | None) -> str:
    """The customer tier: the organisation's `customer_tier` custom field, if it has one."""
    if organization is None:
        return ""
    return str((organization.custom_data or {}).get("customer_tier") or "")[:40]


def _payload(ticket: Ticket, **extra: Any) -> dict[str, Any]:
    return {
        "ticket": str(ticket.public_id),
        "number": ticket.number,
        "status": ticket.status,
        "priority": ticket.priority.key,
        "queue": str(ticket.queue.public_id),
        "assignee": str(ticket.assignee.public_id) if ticket.assignee else None,
        **extra,
    }


def _locked(ticket: Ticket, version: int | None) -> Ticket:
    """The ticket re-read under a row lock; Conflict if someone saved since `version`."""
    fresh = (
        Ticket.objects.select_for_update(of=("self",))
        .select_related("queue", "priority", "assignee", "category", "sla_policy")
        .get(pk=ticket.pk)
    )
    if version is not None and fresh.version != version:
        raise Conflict(
            _(
                "Ticket %(ref)s was changed by someone else meanwhile (version %(now)s, you "
                "edited version %(old)s). Reload it and apply your change again."
            )
            % {"ref": fresh.reference, "now": fresh.version, "old": version},
            details={"version": fresh.version},
        )
    return fresh


def _save(ticket: Ticket) -> None:
    ticket.version += 1
    ticket.save()


def _notify_assignee(ticket: Ticket, actor: User | None) -> None:
    if ticket.assignee is not None and ticket.assignee != actor:
        notify(
            recipient=ticket.assignee,
            title=_("Ticket %(ref)s assigned to you: %(subject)s")
            % {"ref": ticket.reference, "subject": ticket.subject},
            url=f"/tickets/{ticket.public_id}/",
        )


def _check_custom_data(category: Category | None, data: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(data, Mapping):
        raise FieldErrors({"custom_data": [_("Custom fields must be an object of key: value.")]})
    known = {str(f.get("key")) for f in (category.fields if category else []) or []}
    unknown = sorted(set(data) - known)
    if unknown:
        raise FieldErrors(
            {"custom_data": [_("Unknown fields: %(keys)s") % {"keys": ", ".join(unknown)}]}
        )
    return {str(k): v for k, v in data.items()}


def missing_mandatory_fields(ticket: Ticket) -> list[str]:
    """Labels of the category's required fields that are still empty."""
    fields = (ticket.category.fields if ticket.category else []) or []
    data = ticket.custom_data or {}
    return [
        str(f.get("label") or f.get("key"))
        for f in fields
        if f.get("required") and data.get(str(f.get("key"))) in (None, "", [])
    ]


@transaction.atomic
def ticket_create(
    *,
    actor: User | None,
    subject: str,
    queue: Queue,
    description: str = "",
    priority: Priority | None = None,
    category: Category | None = None,
    requester: Person | None = None,
    organization: Organization | None = None,
    assignee: User | None = None,
    tags: Iterable[Tag] = (),
    custom_data: Mapping[str, Any] | None = None,
    parent: Ticket | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket: SLA clock started, assigned by the rules if no one is named, the
    category's process started if it starts automatically."""
    now = now or timezone.now()
    subject = (subject or "").strip()
    if not subject:
        raise FieldErrors({"subject": [_("A ticket needs a subject.")]})
    if organization is None and requester is not None:
        employment = requester.employments.filter(is_primary=True).first()
        organization = employment.organization if employment else None
    ticket = Ticket(
        subject=subject[:255],
        description=clean_html(description),
        queue=queue,
        priority=priority or default_priority(),
        category=category,
        requester=requester,
        organization=organization,
        assignee=assignee,
        customer_tier=tier_of(organization),
        custom_data=_check_custom_data(category, custom_data or {}),
        parent=parent,
        sla_started_at=now,
    )
    if ticket.assignee is None:
        ticket.assignee = pick_assignee(ticket, day=timezone.localdate(now))
    sla.sla_assign_policy(ticket)
    sla.sla_refresh(ticket, fired=set())
    ticket.save()
    # The number is the row id: unique and gap-tolerant without a counter row to fight over.
    Ticket.objects.filter(pk=ticket.pk).update(number=ticket.pk)
    ticket.number = ticket.pk
    if tags:
        ticket.tags.set(list(tags))
    emit("tickets.ticket.created", subject=ticket, payload=_payload(ticket), actor=actor)
    if ticket.assignee is not None:
        emit("tickets.ticket.assigned", subject=ticket, payload=_payload(ticket), actor=actor)
        _notify_assignee(ticket, actor)
    if category is not None and category.process_key and category.process_auto:
        _start_process(ticket, actor=actor, refuse=False)
    return ticket


def _start_process(ticket: Ticket, *, actor: User | None, refuse: bool) -> None:
    category = ticket.category
    if category is None:
        raise BusinessError(_("This ticket's category starts no process."))
    try:
        with transaction.atomic():
            instance = process_start(
                category.process_key,
                business_key=f"ticket-{ticket.number}",
                subject=ticket,
                variables={
                    "ticket_number": ticket.number,
                    "ticket_subject": ticket.subject,
                    "priority": ticket.priority.key,
                    "category": category.name,
                },
                actor=actor,
            )
    except BusinessError as exc:
        if refuse:
            raise
        # An automatic start must not cost the customer their ticket: it is noted instead.
        Comment.objects.create(
            ticket=ticket,
            body=clean_html(
                _("The process %(key)s could not be started: %(error)s")
                % {"key": category.process_key, "error": exc.message}
            ),
        )
        return
    ticket.process_instance = str(instance.public_id)
    Ticket.objects.filter(pk=ticket.pk).update(process_instance=ticket.process_instance)
    emit(
        "tickets.ticket.process_started",
        subject=ticket,
        payload=_payload(ticket, process=category.process_key, instance=str(instance.public_id)),
        actor=actor,
    )


@transaction.atomic
def ticket_start_process(*, actor: User, ticket: Ticket, version: int | None = None) -> Ticket:
    """Start the category's process by hand (e.g. a hardware replacement with an approval)."""
    ticket = _locked(ticket, version)
    if ticket.category is None or not ticket.category.process_key:
        raise BusinessError(_("This ticket's category starts no process."))
    if ticket.process_instance:
        raise BusinessError(_("A process was already started for this ticket."))
    _start_process(ticket, actor=actor, refuse=True)
    Ticket.objects.filter(pk=ticket.pk).update(version=F("version") + 1)
    ticket.refresh_from_db()
    return ticket


@transaction.atomic
def ticket_update(
    *,
    actor: User | None,
    ticket: Ticket,
    version: int | None,
    now: datetime | None = None,
    **changes: Any,
) -> Ticket:
    """Change a ticket's fields. A priority, category or tier change picks the SLA policy again
    and recomputes the due times; a queue change measures them on the new queue's calendar."""
    unknown = set(changes) - EDITABLE
    if unknown:
        raise FieldErrors({name: [_("This field cannot be changed here.")] for name in unknown})
    now = now or timezone.now()
    ticket = _locked(ticket, version)
    before_assignee = ticket.assignee_id
    before_priority = ticket.priority
    tags = changes.pop("tags", None)
    if "subject" in changes:
        changes["subject"] = (changes["subject"] or "").strip()[:255]
        if not changes["subject"]:
            raise FieldErrors({"subject": [_("A ticket needs a subject.")]})
    if "description" in changes:
        changes["description"] = clean_html(changes["description"])
    if "priority" in changes and changes["priority"] is None:
        raise FieldErrors({"priority": [_("A ticket needs a priority.")]})
    if "queue" in changes and changes["queue"] is None:
        raise FieldErrors({"queue": [_("A ticket needs a queue.")]})
    if "parent" in changes and changes["parent"] is not None:
        _check_parent(ticket, changes["parent"])
    category = changes.get("category", ticket.category)
    if "category" in changes and "custom_data" not in changes:
        # A new category keeps the values of the fields it shares with the old one.
        known = {str(f.get("key")) for f in (category.fields if category else []) or []}
        changes["custom_data"] = {k: v for k, v in (ticket.custom_data or {}).items() if k in known}
    if "custom_data" in changes or "category" in changes:
        changes["custom_data"] = _check_custom_data(
            category, changes.get("custom_data", ticket.custom_data) or {}
        )
    for name, value in changes.items():
        setattr(ticket, name, value)
    if "organization" in changes and "customer_tier" not in changes:
        ticket.customer_tier = tier_of(ticket.organization)
    if {"priority", "category", "customer_tier", "organization", "queue"} & set(changes):
        sla.sla_assign_policy(ticket)
        sla.sla_refresh(ticket)
    _save(ticket)
    if tags is not None:
        ticket.tags.set(list(tags))
    if ticket.priority_id != before_priority.pk:
        emit(
            "tickets.ticket.priority_changed",
            subject=ticket,
            payload=_payload(ticket, previous=before_priority.key),
            actor=actor,
        )
    if ticket.assignee_id != before_assignee:
        emit("tickets.ticket.assigned", subject=ticket, payload=_payload(ticket), actor=actor)
        _notify_assignee(ticket, actor)
    emit("tickets.ticket.updated", subject=ticket, payload=_payload(ticket), actor=actor)
    return ticket


def _check_parent(ticket: Ticket, parent: Ticket) -> None:
    node: Ticket | None = parent
    seen = set()
    while node is not None and node.pk not in seen:
        if node.pk == ticket.pk:
            raise FieldErrors({"parent": [_("A ticket cannot be its own ancestor.")]})
        seen.add(node.pk)
        node = node.parent


def _reopen_deadline(ticket: Ticket) -> datetime | None:
    done_at = ticket.closed_at or ticket.resolved_at
    if done_at is None:
        return None
    return done_at + timedelta(days=ticket.queue.reopen_window_days)


@transaction.atomic
def ticket_transition(
    *,
    actor: User | None,
    ticket: Ticket,
    status: str,
    version: int | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Move a ticket along the status workflow; the SLA clock pauses while pending and
    resumes after."""
    now = now or timezone.now()
    ticket = _locked(ticket, version)
    previous = ticket.status
    if status not in choices.Status.values:
        raise FieldErrors({"status": [_("Unknown status %(s)s.") % {"s": status}]})
    if status not in choices.TRANSITIONS[previous]:
        raise BusinessError(
            _("A ticket that is %(from)s cannot become %(to)s.")
            % {
                "from": choices.Status(previous).label,
                "to": choices.Status(status).label,
            },
            details={"field": "status"},
        )
    if status in choices.DONE_STATUSES:
        missing = missing_mandatory_fields(ticket)
        if missing:
            raise FieldErrors(
                {
                    "custom_data": [
                        _("Fill in the mandatory fields first: %(fields)s.")
                        % {"fields": ", ".join(missing)}
                    ]
                },
                message=_("Mandatory fields are empty: %(fields)s.")
                % {"fields": ", ".join(missing)},
            )
    if status == choices.Status.REOPENED:
        deadline = _reopen_deadline(ticket)
        if deadline is not None and now > deadline:
            raise BusinessError(
                _(
                    "The reopen window of %(days)s days ended on %(date)s; open a new ticket "
                    "and link it to this one instead."
                )
                % {"days": ticket.queue.reopen_window_days, "date": f"{deadline:%Y-%m-%d}"},
                details={"field": "status"},
            )
    spec = sla.queue_calendar(ticket.queue)
    if status in choices.PAUSED_STATUSES or status in choices.DONE_STATUSES:
        # A resolved ticket's clock stands still too: reopening it does not count the time
        # it was resolved against the SLA.
        sla.sla_pause(ticket, now=now)
    else:
        sla.sla_resume(ticket, now=now, spec=spec)
    if status == choices.Status.RESOLVED:
        ticket.resolved_at = now
    if status == choices.Status.CLOSED:
        ticket.closed_at = now
        ticket.resolved_at = ticket.resolved_at or now
    if status == choices.Status.REOPENED:
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.status = status
    sla.sla_refresh(ticket, spec=spec)
    _save(ticket)
    emit(
        "tickets.ticket.status_changed",
        subject=ticket,
        payload=_payload(ticket, previous=previous),
        actor=actor,
    )
    return ticket


@transaction.atomic
def comment_add(
    *,
    actor: User | None,
    ticket: Ticket,
    body: str,
    is_public: bool,
    from_customer: bool = False,
    author_name: str = "",
    files: Iterable[File[Any]] = (),
    now: datetime | None = None,
) -> Comment:
    """A public reply or an internal note; the first agent reply stops the first-response clock,
    a customer's message starts the next-response clock (and takes a ticket that waited for
    the customer back to open)."""
    now = now or timezone.now()
    text = clean_html(body)
    if not text:
        raise FieldErrors({"body": [_("Write something first.")]})
    ticket = _locked(ticket, None)
    comment = Comment.objects.create(
        ticket=ticket,
        author=actor if not from_customer else None,
        author_name=author_name or (str(actor) if actor else ""),
        body=text,
        is_public=is_public or from_customer,
        from_customer=from_customer,
    )
    for upload in files:
        _attach(ticket, upload, actor=actor, comment=comment, is_public=comment.is_public)
    previous = ticket.status
    if from_customer:
        if ticket.status == choices.Status.PENDING_CUSTOMER:
            ticket.status = choices.Status.OPEN
            sla.sla_resume(ticket, now=now)
        if ticket.first_response_at is not None and ticket.next_response_due_at is None:
            ticket.next_response_due_at = sla.next_response_due(ticket, since=now)
    elif is_public:
        if ticket.first_response_at is None:
            ticket.first_response_at = now
        ticket.next_response_due_at = None
        if ticket.status in (choices.Status.NEW, choices.Status.REOPENED):
            ticket.status = choices.Status.OPEN
    sla.sla_refresh(ticket)
    _save(ticket)
    kind = "customer_replied" if from_customer else ("replied" if is_public else "noted")
    emit(
        f"tickets.ticket.{kind}",
        subject=ticket,
        payload=_payload(ticket, comment=str(comment.public_id)),
        actor=actor,
    )
    if ticket.status != previous:
        emit(
            "tickets.ticket.status_changed",
            subject=ticket,
            payload=_payload(ticket, previous=previous),
            actor=actor,
        )
    if from_customer and ticket.assignee is not None:
        notify(
            recipient=ticket.assignee,
            title=_("The customer replied on %(ref)s") % {"ref": ticket.reference},
            url=f"/tickets/{ticket.public_id}/",
        )
    return comment


def _attach(
    ticket: Ticket,
    upload: File[Any],
    *,
    actor: User | None,
    comment: Comment | None,
    is_public: bool,
) -> Attachment:
    size = upload.size or 0
    if size > MAX_ATTACHMENT_BYTES:
        raise FieldErrors(
            {
                "files": [
                    _("%(name)s is larger than %(mb)s MB.")
                    % {"name": upload.name, "mb": MAX_ATTACHMENT_BYTES // (1024 * 1024)}
                ]
            }
        )
    return Attachment.objects.create(
        ticket=ticket,
        comment=comment,
        file=upload,
        name=(upload.name or "file")[:255],
        size=size,
        is_public=is_public,
        uploaded_by=actor,
    )


@transaction.atomic
def attachment_add(
    *, actor: User | None, ticket: Ticket, upload: File[Any], is_public: bool = False
) -> Attachment:
    ticket = _locked(ticket, None)
    attachment = _attach(ticket, upload, actor=actor, comment=None, is_public=is_public)
    _save(ticket)
    return attachment


@transaction.atomic
def ticket_link(*, actor: User | None, source: Ticket, target: Ticket, kind: str) -> TicketLink:
    if source.pk == target.pk:
        raise FieldErrors({"target": [_("A ticket cannot be linked to itself.")]})
    if kind not in choices.LinkKind.values:
        raise FieldErrors({"kind": [_("Unknown link kind %(k)s.") % {"k": kind}]})
    link, _created = TicketLink.objects.get_or_create(source=source, target=target, kind=kind)
    return link


@transaction.atomic
def ticket_merge(
    *, actor: User | None, source: Ticket, target: Ticket, now: datetime | None = None
) -> Ticket:
    """Merge `source` into `target`: its comments, attachments and tags move over, and the
    source is closed with a pointer to the target."""
    now = now or timezone.now()
    if source.pk == target.pk:
        raise BusinessError(_("A ticket cannot be merged into itself."))
    # Lock both rows in one fixed order (by id) so two opposite merges cannot deadlock.
    first, second = sorted([source, target], key=lambda t: t.pk)
    locked = {t.pk: _locked(t, None) for t in (first, second)}
    source, target = locked[source.pk], locked[target.pk]
    if source.merged_into_id is not None or target.merged_into_id is not None:
        raise BusinessError(_("A merged ticket cannot be merged again."))
    Comment.objects.filter(ticket=source).update(ticket=target)
    Attachment.objects.filter(ticket=source).update(ticket=target)
    target.tags.add(*source.tags.all())
    Ticket.objects.filter(parent=source).update(parent=target)
    Comment.objects.create(
        ticket=target,
        author=actor,
        author_name=str(actor) if actor else "",
        body=clean_html(
            _("Ticket %(ref)s (%(subject)s) was merged into this one.")
            % {"ref": source.reference, "subject": source.subject}
        ),
    )
    previous = source.status
    source.merged_into = target
    source.status = choices.Status.CLOSED
    source.closed_at = now
    source.resolved_at = source.resolved_at or now
    sla.sla_refresh(source)
    _save(source)
    _save(target)
    emit(
        "tickets.ticket.merged",
        subject=source,
        payload=_payload(source, into=str(target.public_id)),
        actor=actor,
    )
    if previous != source.status:
        emit(
            "tickets.ticket.status_changed",
            subject=source,
            payload=_payload(source, previous=previous),
            actor=actor,
        )
    return target


@transaction.atomic
def ticket_split(
    *, actor: User | None, ticket: Ticket, comments: Iterable[Comment], subject: str
) -> Ticket:
    """A new ticket for the same customer from some comments of this one (they move over)."""
    ticket = _locked(ticket, None)
    moving = [c for c in comments if c.ticket_id == ticket.pk]
    if not moving:
        raise FieldErrors({"comments": [_("Choose the comments that make the new ticket.")]})
    new = ticket_create(
        actor=actor,
        subject=subject,
        queue=ticket.queue,
        description=moving[0].body,
        priority=ticket.priority,
        category=ticket.category,
        requester=ticket.requester,
        organization=ticket.organization,
    )
    Comment.objects.filter(pk__in=[c.pk for c in moving]).update(ticket=new)
    Attachment.objects.filter(comment__in=[c.pk for c in moving]).update(ticket=new)
    TicketLink.objects.create(source=new, target=ticket, kind=choices.LinkKind.SPLIT_FROM)
    _save(ticket)
    emit(
        "tickets.ticket.split",
        subject=ticket,
        payload=_payload(ticket, new=str(new.public_id)),
        actor=actor,
    )
    return new


BULK_ACTIONS = ("assign", "status", "priority")


@transaction.atomic
def tickets_bulk(
    *, actor: User, tickets: Iterable[Ticket], action: str, value: Any
) -> tuple[int, list[str]]:
    """Apply one change to many tickets; returns how many changed and what was refused (a
    refused ticket keeps its state; the others change)."""
    if action not in BULK_ACTIONS:
        raise FieldErrors({"action": [_("Unknown bulk action.")]})
    done = 0
    refusals: list[str] = []
    for ticket in sorted(tickets, key=lambda t: t.pk):
        try:
            with transaction.atomic():
                if action == "assign":
                    ticket_update(actor=actor, ticket=ticket, version=None, assignee=value)
                elif action == "priority":
                    ticket_update(actor=actor, ticket=ticket, version=None, priority=value)
                else:
                    ticket_transition(actor=actor, ticket=ticket, status=str(value))
            done += 1
        except BusinessError as exc:
            refusals.append(f"{ticket.reference}: {exc.message}")
    return done, refusals
