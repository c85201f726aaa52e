"""Who gets a new ticket: assignment rules by queue, category or customer.

The first matching rule picks a member of its team, round-robin (the next after the one it
picked last) or least-loaded (fewest open tickets). Members who are away today (they have a
deputy period covering today) are skipped; if the whole team is away, the ticket goes to the
deputy of the member whose turn it was.
"""

from __future__ import annotations

from datetime import date

from django.db.models import Count, Q

from konvergo.org.models import Deputy, User
from konvergo.org.selectors import deputy_on
from konvergo.tickets import choices
from konvergo.tickets.models import AssignmentRule, Ticket


def matching_rule(ticket: Ticket) -> AssignmentRule | None:
    return (
        AssignmentRule.objects.select_for_update()
        .filter(
            Q(queue__isnull=True) | Q(queue_id=ticket.queue_id),
            Q(category__isnull=True) | Q(category_id=ticket.category_id),
            Q(organization__isnull=True) | Q(organization_id=ticket.organization_id),
        )
        .order_by("position", "id")
        .first()
    )


def _round_robin(members: list[User], last_id: int | None) -> User:
    for member in members:
        if last_id is None or member.pk > last_id:
            return member
    return members[0]


def _least_loaded(members: list[User]) -> User:
    loads = dict(
        Ticket.objects.filter(assignee__in=members, status__in=choices.OPEN_STATUSES)
        .values("assignee")
        .annotate(n=Count("pk"))
        .values_list("assignee", "n")
    )
    return min(members, key=lambda member: (loads.get(member.pk, 0), member.pk))


def pick_assignee(ticket: Ticket, *, day: date) -> User | None:
    """The agent a rule gives this ticket to, or None (no rule, empty team). Must run inside
    the transaction that saves the ticket: the rule row is locked so two new tickets do not
    both get the same round-robin turn."""
    rule = matching_rule(ticket)
    if rule is None:
        return None
    members = list(rule.team.members.filter(is_active=True).order_by("pk"))
    if not members:
        return None
    away = set(
        Deputy.objects.filter(user__in=members, starts_on__lte=day, ends_on__gte=day).values_list(
            "user_id", flat=True
        )
    )
    present = [member for member in members if member.pk not in away]
    if present:
        chosen = (
            _least_loaded(present)
            if rule.strategy == choices.Strategy.LEAST_LOADED
            else _round_robin(present, rule.last_assigned_id)
        )
    else:
        turn = _round_robin(members, rule.last_assigned_id)
        deputy = deputy_on(user=turn, day=day)
        if deputy is None:
            return None
        chosen = deputy
    if chosen in members:
        rule.last_assigned = chosen
        rule.save(update_fields=["last_assigned", "updated_at"])
    return chosen
