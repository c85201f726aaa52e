"""Reads of the service desk, for the pages, the API and other apps (the inbox).

Visibility: with an "all" scope a user sees every ticket; otherwise the tickets their role's
scope gives them through the assignee, plus every ticket in the queues of their teams (an
agent must see the unassigned tickets waiting for their team).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Q, QuerySet
from django.urls import reverse
from django.utils.translation import gettext as _

from konvergo.crm.models import Organization
from konvergo.crm.selectors import TimelineItem
from konvergo.org.models import Scope, User
from konvergo.org.permissions import scope_for, visible
from konvergo.tickets import choices
from konvergo.tickets.models import Comment, Escalation, Queue, Ticket

LIST_RELATED = ("queue", "priority", "assignee", "category", "organization", "requester")


def tickets_visible(user: Any, queryset: QuerySet[Ticket] | None = None) -> QuerySet[Ticket]:
    queryset = Ticket.objects.all() if queryset is None else queryset
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    scope = scope_for(user, Ticket)
    if scope is None:
        return queryset.none()
    if scope == Scope.ALL:
        return queryset
    mine = visible(user, Ticket.objects.all()).values("pk")
    team_queues = Queue.objects.filter(team__members=user).values("pk")
    return queryset.filter(Q(pk__in=mine) | Q(queue__in=team_queues))


def ticket_list(
    user: Any,
    *,
    queue: Queue | None = None,
    mine: bool = False,
    status: str = "",
    open_only: bool = False,
    q: str = "",
) -> QuerySet[Ticket]:
    """Tickets for a queue view or "my tickets", most urgent first (overdue on top)."""
    tickets = tickets_visible(user).select_related(*LIST_RELATED)
    if queue is not None:
        tickets = tickets.filter(queue=queue)
    if mine:
        tickets = tickets.filter(assignee=user)
    if status:
        tickets = tickets.filter(status=status)
    elif open_only:
        tickets = tickets.filter(status__in=choices.OPEN_STATUSES)
    for word in q.split():
        match = Q(subject__icontains=word)
        if word.lstrip("#").isdigit():
            match |= Q(number=int(word.lstrip("#")))
        tickets = tickets.filter(match)
    return tickets.order_by("priority__rank", "resolution_due_at", "-created_at")


def tickets_assigned_to(user: User) -> QuerySet[Ticket]:
    """The open tickets assigned to `user`, for the inbox: plain indexed columns (assignee,
    status, priority, due times); most urgent first."""
    return (
        Ticket.objects.filter(assignee=user, status__in=choices.OPEN_STATUSES)
        .select_related("priority", "queue")
        .order_by("priority__rank", "resolution_due_at", "created_at")
    )


def ticket_comments(ticket: Ticket, *, public_only: bool = False) -> QuerySet[Comment]:
    comments = ticket.comments.select_related("author").prefetch_related("attachments")
    return comments.filter(is_public=True) if public_only else comments


def ticket_by_secret(secret: str) -> Ticket | None:
    """The ticket a customer follows by its secret link."""
    if not secret or len(secret) > 64:
        return None
    return Ticket.objects.select_related("queue", "priority").filter(secret=secret).first()


def queues_for(user: Any) -> QuerySet[Queue]:
    return Queue.objects.select_related("team", "calendar").order_by("name")


def ticket_timeline_items(user: Any, record: Any) -> list[TimelineItem]:
    """The client's tickets in the CRM dossier timeline (registered in TicketsConfig.ready)."""
    if scope_for(user, Ticket) is None:
        return []
    side = "organization" if isinstance(record, Organization) else "requester"
    rows = (
        tickets_visible(user)
        .filter(**{side: record})
        .select_related("priority")
        .order_by("-created_at")[:20]
    )
    return [
        TimelineItem(
            kind="ticket",
            when=ticket.created_at,
            title=_("Ticket %(ref)s: %(subject)s (%(status)s)")
            % {
                "ref": ticket.reference,
                "subject": ticket.subject,
                "status": ticket.get_status_display(),
            },
            url=reverse("tickets:detail", args=[ticket.public_id]),
            planned=False,
            record=ticket,
        )
        for ticket in rows
    ]


def escalation_counts(*, since: Any, until: Any) -> dict[tuple[str, int], int]:
    """How many escalations fired per (target, level) in [since, until), for reports."""
    rows = (
        Escalation.objects.filter(fired_at__gte=since, fired_at__lt=until)
        .values_list("metric", "level")
        .annotate(n=Count("pk"))
        .order_by("metric", "level")
    )
    return {(metric, level): n for metric, level, n in rows}
