"""Configuration of the service desk: priorities, categories, queues, SLA policies, the
escalation ladder and assignment rules."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import FieldErrors
from konvergo.core.models import BusinessCalendar
from konvergo.org.models import Department, Team, User
from konvergo.tickets import choices
from konvergo.tickets.models import (
    AssignmentRule,
    Category,
    EscalationLevel,
    Priority,
    Queue,
    SlaPolicy,
    Ticket,
)

DEFAULT_PRIORITIES = (
    ("P1", "Critical"),
    ("P2", "High"),
    ("P3", "Normal"),
    ("P4", "Low"),
)


@transaction.atomic
def priorities_ensure_defaults() -> list[Priority]:
    """P1-P4, unless priorities are already configured."""
    if not Priority.objects.exists():
        for rank, (key, name) in enumerate(DEFAULT_PRIORITIES, start=1):
            Priority.objects.create(key=key, name=name, rank=rank)
    return list(Priority.objects.order_by("rank"))


@transaction.atomic
def queue_create(
    *,
    name: str,
    team: Team | None = None,
    department: Department | None = None,
    calendar: BusinessCalendar | None = None,
    reopen_window_days: int = 14,
) -> Queue:
    name = (name or "").strip()
    if not name:
        raise FieldErrors({"name": [_("A queue needs a name.")]})
    if Queue.objects.filter(name=name).exists():
        raise FieldErrors({"name": [_("A queue with this name exists already.")]})
    return Queue.objects.create(
        name=name,
        team=team,
        department=department,
        calendar=calendar,
        reopen_window_days=reopen_window_days,
    )


def _check_fields(fields: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    checked = []
    keys = set()
    for index, field in enumerate(fields):
        key = str(field.get("key") or "").strip()
        if not key or not key.replace("_", "").isalnum() or key in keys:
            raise FieldErrors(
                {f"fields.{index}.key": [_("Each field needs its own key (letters, digits, _).")]}
            )
        keys.add(key)
        checked.append(
            {
                "key": key,
                "label": str(field.get("label") or key),
                "required": bool(field.get("required")),
            }
        )
    return checked


@transaction.atomic
def category_create(
    *,
    name: str,
    department: Department | None = None,
    fields: Iterable[Mapping[str, Any]] = (),
    process_key: str = "",
    process_auto: bool = False,
) -> Category:
    name = (name or "").strip()
    if not name:
        raise FieldErrors({"name": [_("A category needs a name.")]})
    if process_auto and not process_key:
        raise FieldErrors({"process_key": [_("Name the process to start automatically.")]})
    return Category.objects.create(
        name=name,
        department=department,
        fields=_check_fields(fields),
        process_key=process_key.strip(),
        process_auto=process_auto,
    )


TARGETS = ("first_response_minutes", "next_response_minutes", "resolution_minutes")


@transaction.atomic
def sla_policy_create(
    *,
    name: str,
    priority: Priority,
    first_response_minutes: int,
    next_response_minutes: int,
    resolution_minutes: int,
    category: Category | None = None,
    customer_tier: str = "",
) -> SlaPolicy:
    """A policy; targets are business minutes and must be positive."""
    values = {
        "first_response_minutes": first_response_minutes,
        "next_response_minutes": next_response_minutes,
        "resolution_minutes": resolution_minutes,
    }
    errors = {
        key: [_("A target must be a positive number of minutes.")]
        for key, value in values.items()
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0
    }
    if not (name or "").strip():
        errors["name"] = [_("A policy needs a name.")]
    if SlaPolicy.objects.filter(
        priority=priority, category=category, customer_tier=customer_tier.strip()
    ).exists():
        errors["priority"] = [
            _("A policy for this priority, category and customer tier exists already.")
        ]
    if errors:
        raise FieldErrors(errors)
    return SlaPolicy.objects.create(
        name=name.strip(),
        priority=priority,
        category=category,
        customer_tier=customer_tier.strip(),
        **values,
    )


@transaction.atomic
def escalation_level_create(
    *,
    level: int,
    name: str,
    percent: int = 100,
    after_minutes: int = 0,
    notify: str = choices.Notify.ASSIGNEE,
    raise_priority: bool = False,
    reassign_to: User | None = None,
) -> EscalationLevel:
    if percent <= 0 or after_minutes < 0:
        raise FieldErrors({"percent": [_("The level must fire after a positive share.")]})
    if notify not in choices.Notify.values:
        raise FieldErrors({"notify": [_("Unknown recipient.")]})
    if EscalationLevel.objects.filter(level=level).exists():
        raise FieldErrors({"level": [_("This level exists already.")]})
    if not name.strip():
        raise FieldErrors({"name": [_("Name the level.")]})
    created = EscalationLevel.objects.create(
        level=level,
        name=name.strip(),
        percent=percent,
        after_minutes=after_minutes,
        notify=notify,
        raise_priority=raise_priority,
        reassign_to=reassign_to,
    )
    _tickets_look_again()
    return created


@transaction.atomic
def escalation_ladder_ensure_default() -> list[EscalationLevel]:
    """The issue's ladder: warning at 75 % to the assignee, level 1 at breach to the team lead,
    level 2 at breach + 4 business hours to the department head with the priority raised."""
    if not EscalationLevel.objects.exists():
        escalation_level_create(level=0, name="Warning", percent=75)
        escalation_level_create(
            level=1, name="Level 1", percent=100, notify=choices.Notify.TEAM_LEAD
        )
        escalation_level_create(
            level=2,
            name="Level 2",
            percent=100,
            after_minutes=240,
            notify=choices.Notify.DEPARTMENT_HEAD,
            raise_priority=True,
        )
    return list(EscalationLevel.objects.order_by("level"))


@transaction.atomic
def assignment_rule_create(
    *,
    team: Team,
    strategy: str = choices.Strategy.ROUND_ROBIN,
    queue: Queue | None = None,
    category: Category | None = None,
    organization: Any = None,
    position: int = 0,
) -> AssignmentRule:
    if strategy not in choices.Strategy.values:
        raise FieldErrors({"strategy": [_("Unknown strategy.")]})
    return AssignmentRule.objects.create(
        team=team,
        strategy=strategy,
        queue=queue,
        category=category,
        organization=organization,
        position=position,
    )


@transaction.atomic
def escalation_level_delete(level: EscalationLevel) -> None:
    """Take a rung off the ladder. Escalations it already fired stay on their tickets (they
    keep the level's number and name); tickets waiting for it look again."""
    level.delete()
    _tickets_look_again()


@transaction.atomic
def assignment_rule_delete(rule: AssignmentRule) -> None:
    rule.delete()


def _tickets_look_again() -> None:
    """After the ladder changed: every open ticket's next escalation moment is recomputed by
    the sweep. Setting it to now makes the sweep look at each ticket once (it fires nothing
    that is not due and stores the right moment); it never loads all tickets here."""
    Ticket.objects.exclude(status__in=choices.DONE_STATUSES).filter(
        sla_policy__isnull=False
    ).update(next_escalation_at=timezone.now())
