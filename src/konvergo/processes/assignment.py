"""Who gets a user task, and by when: the projection row of a task that has just opened.

Assignment, in this order (the first that names somebody wins):
1. ``camunda:assignee`` - a user name, ``${expression}`` giving one, or a relative rule
   ``rule:<rule>`` (also as the ``assigneeRule`` property). Rules: ``initiator``,
   ``client_owner`` (the owner of the client of the subject record: a deal's organisation, else
   the record's own owner), ``subject_owner``, ``var(<name>)`` (a variable holding a user name),
   and the functions ``manager(<rule>)`` (the head of that person's department; the next head
   up for a head) and ``head(<rule>)`` (the head of that person's department).
   ``rule:head(client_owner)`` is "the head of the client owner's department".
2. ``camunda:candidateUsers`` / ``camunda:candidateGroups`` (comma lists, expressions, rules).
   A group names a role, a department or a team (``role:``/``department:``/``team:`` prefixes
   pick one when names collide).
3. The lane of the task: its name is read as a group (role, department or team of that name).

An assignee who is away (``org`` deputies) is replaced by their deputy; the task remembers for
whom (``on_behalf_of``). Candidate users who are away bring their deputies in as candidates.

Deadlines: ``camunda:dueDate`` and ``camunda:followUpDate`` take ISO 8601 durations, dates or
expressions. With the property ``businessCalendar`` (``assignee``, ``process`` or a calendar's
name) a duration counts business time on that calendar (days are working days, hours are
working hours); without it, plain elapsed time. The process calendar is the one named by the
variable ``business_calendar``, else the default calendar.
Reminders: at the follow-up date, else ``reminderBefore`` (property, ISO duration) before due,
default ``KONVERGO_INBOX_REMIND_BEFORE`` (PT1H). Escalation when overdue: property
``escalation`` = ``manager`` (tell the manager, the default), ``reassign`` (hand the task to
the manager) or ``none``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from konvergo.core import calendars
from konvergo.core.models import BusinessCalendar
from konvergo.core.rows import new_object
from konvergo.org.models import Department, Deputy, Role, Team, User
from konvergo.org.selectors import deputy_on, manager_of
from konvergo.processes.engine import expressions
from konvergo.processes.models import HumanTask, ProcessInstance

logger = logging.getLogger(__name__)

RULE_PREFIX = "rule:"
ESCALATIONS = ("manager", "reassign", "none")
_CALL = re.compile(r"^\s*([a-z_]+)\s*\((.*)\)\s*$")


class RuleError(ValueError):
    """A relative rule that cannot be read (a modelling mistake, logged, never fatal)."""


# --- groups ---------------------------------------------------------------------------------


GROUP_KINDS: tuple[tuple[str, str, Any], ...] = (
    ("role", "r", Role),
    ("department", "d", Department),
    ("team", "t", Team),
)


def groups_keys(names: Iterable[str]) -> dict[str, list[str]]:
    """Candidate keys ("r:<pk>", "d:<pk>", "t:<pk>") of each group name ([] if it names
    nothing): roles first, then departments, then teams. One query for all three kinds (a
    UNION ALL): advances create many tasks, and this is on their path."""
    kinds = tuple(k for k, _prefix, _model in GROUP_KINDS)
    wanted: dict[str, tuple[tuple[str, ...], str]] = {}
    for name in names:
        kind, _sep, rest = name.partition(":")
        if rest and kind.strip().lower() in kinds:
            wanted[name] = ((kind.strip().lower(),), rest.strip().lower())
        else:
            wanted[name] = (kinds, name.strip().lower())
    found: dict[str, list[str]] = {name: [] for name in wanted}
    if not wanted:
        return found
    lowered_names = sorted({lowered for _kinds, lowered in wanted.values()})
    by_kind: dict[str, dict[str, list[int]]] = {kind: {} for kind in kinds}
    for kind, lowered, pk in _groups_named(lowered_names):
        by_kind[kind].setdefault(lowered, []).append(pk)
    for kind, prefix, _model in GROUP_KINDS:
        for name, (name_kinds, lowered) in wanted.items():
            if kind in name_kinds and not found[name] and lowered in by_kind[kind]:
                found[name] = [f"{prefix}:{pk}" for pk in sorted(by_kind[kind][lowered])]
    return found


def _groups_named(lowered_names: list[str]) -> list[tuple[str, str, int]]:
    """(kind, lowered name, pk) of the roles, departments and teams with one of the names, in
    one hand-written UNION ALL (the ORM's compilation of it cost more than the query)."""
    quote = connection.ops.quote_name
    placeholders = ", ".join(["%s"] * len(lowered_names))
    # Identifiers come from the models' metadata; every value is a parameter.
    sql = " UNION ALL ".join(
        f"SELECT CAST(%s AS VARCHAR(20)), LOWER({name}), {quote(model._meta.pk.column)} "  # noqa: S608
        f"FROM {quote(model._meta.db_table)} WHERE LOWER({name}) IN ({placeholders})"
        for _kind, _prefix, model in GROUP_KINDS
        for name in [quote(model._meta.get_field("name").column)]
    )
    params: list[str] = []
    for kind, _prefix, _model in GROUP_KINDS:
        params += [kind, *lowered_names]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(kind, lowered, int(pk)) for kind, lowered, pk in cursor.fetchall()]


def group_keys(name: str) -> list[str]:
    """Candidate keys of one group name; [] if it names nothing."""
    return groups_keys([name])[name]


def user_keys(user: User) -> list[str]:
    """Every candidate key that lets `user` claim a task."""
    keys = [f"u:{user.pk}"]
    keys += [f"r:{pk}" for pk in user.roles.values_list("pk", flat=True)]
    if user.department_id is not None:
        keys.append(f"d:{user.department_id}")
    keys += [f"t:{pk}" for pk in user.teams.values_list("pk", flat=True)]
    return keys


def encode_candidates(keys: Iterable[str]) -> str:
    unique = sorted(set(keys))
    return f"|{'|'.join(unique)}|" if unique else ""


def is_candidate(user: User, task: HumanTask) -> bool:
    return bool(task.candidates) and any(f"|{key}|" in task.candidates for key in user_keys(user))


# --- people ---------------------------------------------------------------------------------


@dataclass
class Context:
    """What rules and expressions see: the instance, its subject record and the task data."""

    instance: ProcessInstance
    data: Mapping[str, Any]
    _subject: Any = field(default=None, repr=False)
    _subject_loaded: bool = False

    @property
    def subject(self) -> Any:
        if not self._subject_loaded:
            self._subject_loaded = True
            ct = self.instance.subject_type
            if ct is not None and self.instance.subject_id:
                model = ct.model_class()
                if model is not None:
                    self._subject = model._default_manager.filter(
                        pk=self.instance.subject_id
                    ).first()
        return self._subject


def _user_named(name: str, day: date | None = None) -> User | None:
    """The active user of that name; with `day`, annotated `away` (has a deputy period that
    day), so that deputy routing costs no second query for people who are at work."""
    name = name.strip()
    if not name:
        return None
    rows = User.objects.filter(username=name, is_active=True)
    if day is not None:
        rows = rows.annotate(
            away=Exists(
                Deputy.objects.filter(user=OuterRef("pk"), starts_on__lte=day, ends_on__gte=day)
            )
        )
    return rows.first()


def _stand_in(user: User, day: date) -> User | None:
    if getattr(user, "away", True) is False:
        return None
    return deputy_on(user=user, day=day)


def _owner(record: Any) -> User | None:
    owner = getattr(record, "owner", None)
    return owner if isinstance(owner, User) else None


def _head_of(user: User) -> User | None:
    """The head of the user's department (the next head up if that department has none)."""
    department = user.department
    seen: set[int] = set()
    while department is not None and department.pk not in seen:
        seen.add(department.pk)
        if department.head_id is not None:
            return department.head
        department = department.parent
    return None


def resolve_rule(rule: str, context: Context) -> User | None:
    """The person a relative rule names, or None (e.g. the client has no owner)."""
    rule = rule.strip()
    call = _CALL.match(rule)
    if call:
        function, argument = call.group(1), call.group(2).strip()
        if function == "var":
            value = context.data.get(argument)
            return _user_named(str(value)) if value else None
        inner = resolve_rule(argument, context)
        if inner is None:
            return None
        if function == "manager":
            return manager_of(inner)
        if function == "head":
            return _head_of(inner)
        raise RuleError(f"unknown rule function {function!r}")
    if rule == "initiator":
        return context.instance.started_by
    subject = context.subject
    if rule == "subject_owner":
        return _owner(subject) if subject is not None else None
    if rule == "client_owner":
        if subject is None:
            return None
        client = getattr(subject, "organization", None) or getattr(subject, "person", None)
        return _owner(client) or _owner(subject)
    raise RuleError(f"unknown rule {rule!r}")


def _text(value: str, context: Context) -> str:
    """A Camunda attribute: `${expr}` evaluated on the task data, anything else as written."""
    value = (value or "").strip()
    if value.startswith(("${", "#{")):
        data = dict(context.data)
        # Only read the starter (a query) when the expression asks for it.
        if "initiator" in value and "initiator" not in data and context.instance.started_by_id:
            starter = context.instance.started_by
            data["initiator"] = starter.username if starter is not None else None
        try:
            result = expressions.evaluate(value, data)
        except expressions.ExpressionError:
            logger.warning("Cannot evaluate %s for a user task", value)
            return ""
        if result is None:
            return ""
        if isinstance(result, list | tuple):
            return ",".join(str(v) for v in result)
        return str(result)
    return value


def _person(name: str, context: Context, day: date | None = None) -> User | None:
    if name.startswith(RULE_PREFIX):
        try:
            return resolve_rule(name[len(RULE_PREFIX) :], context)
        except RuleError as exc:
            logger.warning("Assignment rule %s: %s", name, exc)
            return None
    return _user_named(name, day)


def _names(text: str) -> list[str]:
    # Commas inside a rule's parentheses do not split (rules take one argument anyway).
    return [part.strip() for part in text.split(",") if part.strip()]


# --- the projection -------------------------------------------------------------------------


@dataclass(frozen=True)
class Assignment:
    assignee: User | None
    on_behalf_of: User | None
    candidate_users: list[str]
    candidate_groups: list[str]
    candidates: str


def resolve_assignment(
    *,
    instance: ProcessInstance,
    lane: str | None,
    extensions: Mapping[str, Any],
    data: Mapping[str, Any],
    day: date,
) -> Assignment:
    context = Context(instance=instance, data=data)
    assignee_text = _text(str(extensions.get("camunda:assignee", "")), context)
    if not assignee_text and extensions.get("assigneeRule"):
        assignee_text = RULE_PREFIX + str(extensions["assigneeRule"])
    assignee = _person(assignee_text, context, day) if assignee_text else None
    if assignee_text and assignee is None:
        logger.warning("Assignee %r of a task in %s names nobody", assignee_text, instance)

    keys: list[str] = []
    candidate_users: list[str] = []
    for name in _names(_text(str(extensions.get("camunda:candidateUsers", "")), context)):
        user = _person(name, context, day)
        if user is None:
            if not name.startswith(RULE_PREFIX):
                candidate_users.append(name)  # shown as written; nobody can claim through it
            continue
        candidate_users.append(user.username)
        keys.append(f"u:{user.pk}")
        stand_in = _stand_in(user, day)
        if stand_in is not None:
            keys.append(f"u:{stand_in.pk}")
    candidate_groups = _names(_text(str(extensions.get("camunda:candidateGroups", "")), context))
    if assignee is None and not candidate_users and not candidate_groups and lane:
        candidate_groups = [lane]  # the lane stands for a role, department or team
    for group, found in groups_keys(candidate_groups).items():
        if not found:
            logger.warning("Candidate group %r of a task in %s names nothing", group, instance)
        keys += found

    on_behalf_of = None
    if assignee is not None:
        stand_in = _stand_in(assignee, day)
        if stand_in is not None:
            assignee, on_behalf_of = stand_in, assignee
    return Assignment(
        assignee=assignee,
        on_behalf_of=on_behalf_of,
        candidate_users=candidate_users,
        candidate_groups=candidate_groups,
        candidates=encode_candidates(keys),
    )


# --- deadlines ------------------------------------------------------------------------------


def calendar_of_user(user: User | None) -> BusinessCalendar | None:
    """The calendar of the user's department (or the nearest department above with one), else
    the default calendar."""
    department = user.department if user is not None else None
    seen: set[int] = set()
    while department is not None and department.pk not in seen:
        seen.add(department.pk)
        if department.calendar_id is not None:
            return department.calendar
        department = department.parent
    return BusinessCalendar.objects.filter(is_default=True).first()


def calendar_of_process(data: Mapping[str, Any]) -> BusinessCalendar | None:
    name = data.get("business_calendar")
    if isinstance(name, str) and name:
        found = BusinessCalendar.objects.filter(name=name).first()
        if found is not None:
            return found
    return BusinessCalendar.objects.filter(is_default=True).first()


def _calendar(which: str, assignee: User | None, data: Mapping[str, Any]) -> Any:
    """The calendar spec a deadline counts on, or None for plain elapsed time."""
    which = which.strip()
    if not which:
        return None
    if which == "assignee":
        calendar = calendar_of_user(assignee) if assignee is not None else None
        calendar = calendar or calendar_of_process(data)
    elif which == "process":
        calendar = calendar_of_process(data)
    else:
        calendar = BusinessCalendar.objects.filter(name=which).first()
    if calendar is None:
        return None
    spec = calendars.spec_for(calendar)
    return spec if spec.has_working_hours else None


def add_duration(start: datetime, duration: timedelta, spec: Any) -> datetime:
    """`start` + `duration`; on a calendar, whole days are working days (the same local time
    on the n-th next working day) and the rest is working time."""
    if spec is None:
        return start + duration
    days, rest = (
        duration.days,
        timedelta(seconds=duration.seconds, microseconds=duration.microseconds),
    )
    moment = start
    if days:
        local = timezone.localtime(moment, spec.zone)
        day = local.date()
        while days:
            day += timedelta(days=1)
            if not spec.is_non_working_day(day) and spec.intervals_on(day.weekday()):
                days -= 1
        moment = local.replace(year=day.year, month=day.month, day=day.day)
        moment = calendars.next_business_start(spec, moment)
    return calendars.add_business_time(spec, moment, rest)


def moment_of(text: str, context: Context, now: datetime, spec: Any) -> datetime | None:
    """A due or follow-up date: ISO duration from now, an ISO date/time, or an expression
    giving either (or a datetime / duration)."""
    text = (text or "").strip()
    if not text:
        return None
    value: Any = text
    if text.startswith(("${", "#{")):
        try:
            value = expressions.evaluate(text, dict(context.data))
        except expressions.ExpressionError:
            logger.warning("Cannot evaluate the deadline %s", text)
            return None
    if isinstance(value, timedelta):
        return add_duration(now, value, spec)
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value)
    if isinstance(value, date):
        value = value.isoformat()
    value = str(value).strip()
    if value.upper().startswith("P"):
        try:
            return add_duration(now, expressions.parse_iso_duration(value), spec)
        except expressions.ExpressionError:
            logger.warning("Bad duration %s for a user task", value)
            return None
    moment = parse_datetime(value)
    if moment is None:
        day = parse_date(value)
        if day is None:
            logger.warning("Bad date %s for a user task", value)
            return None
        # A bare date is due at the end of that day (in the calendar's zone, else the server's).
        zone = spec.zone if spec is not None else timezone.get_default_timezone()
        return datetime.combine(day, datetime.max.time().replace(microsecond=0), tzinfo=zone)
    if timezone.is_naive(moment):
        zone = spec.zone if spec is not None else timezone.get_default_timezone()
        moment = moment.replace(tzinfo=zone)
    return moment


def _remind_before(extensions: Mapping[str, Any]) -> timedelta | None:
    text = str(extensions.get("reminderBefore") or "").strip() or getattr(
        settings, "KONVERGO_INBOX_REMIND_BEFORE", "PT1H"
    )
    if not text or text.lower() == "none":
        return None
    return _duration(text)


@lru_cache(maxsize=256)
def _duration(text: str) -> timedelta | None:
    try:
        return expressions.parse_iso_duration(text)
    except expressions.ExpressionError:
        logger.warning("Bad reminderBefore %s", text)
        return None


def _priority(text: str, context: Context) -> int:
    try:
        return int(_text(text, context) or 50)
    except ValueError:
        return 50


def human_task_for(instance: ProcessInstance, task: Any, now: datetime) -> HumanTask:
    """The HumanTask row (unsaved) for an engine task that has just opened (an OpenTask)."""
    extensions: Mapping[str, Any] = task.extensions
    data: Mapping[str, Any] = task.data
    context = Context(instance=instance, data=data)
    assignment = resolve_assignment(
        instance=instance,
        lane=task.lane,
        extensions=extensions,
        data=data,
        day=timezone.localdate(now),
    )
    spec = _calendar(
        str(extensions.get("businessCalendar") or ""),
        assignment.on_behalf_of or assignment.assignee,
        data,
    )
    due_at = moment_of(str(extensions.get("camunda:dueDate", "")), context, now, spec)
    follow_up_at = moment_of(str(extensions.get("camunda:followUpDate", "")), context, now, spec)
    remind_at = follow_up_at
    if remind_at is None and due_at is not None:
        before = _remind_before(extensions)
        remind_at = due_at - before if before is not None else None
    if remind_at is not None and remind_at <= now:
        remind_at = None  # too late to remind: the assignment notice says it all
    escalation = str(extensions.get("escalation") or "").strip().lower()
    assignee, on_behalf_of = assignment.assignee, assignment.on_behalf_of
    return new_object(  # one per opened task, also in timer sweeps: the constructor's fast path
        HumanTask,
        {
            "instance_id": instance.pk,
            "task_id": task.task_id,
            "element_id": task.element_id,
            "name": task.name,
            "assignee_id": assignee.pk if assignee is not None else None,
            "on_behalf_of_id": on_behalf_of.pk if on_behalf_of is not None else None,
            "candidate_users": assignment.candidate_users,
            "candidate_groups": assignment.candidate_groups,
            "candidates": assignment.candidates,
            "due_at": due_at,
            "follow_up_at": follow_up_at,
            "remind_at": remind_at,
            "escalation": escalation if escalation in ESCALATIONS else "",
            "priority": _priority(str(extensions.get("camunda:priority", "")), context),
            "form_key": str(extensions.get("camunda:formKey", "")),
        },
    )


# --- queries --------------------------------------------------------------------------------


def claimable_q(user: User) -> Q:
    """Unassigned tasks `user` may claim (as a candidate user or through a group)."""
    match = Q()
    for key in user_keys(user):
        match |= Q(candidates__contains=f"|{key}|")
    return Q(assignee__isnull=True) & match


def involved_q(user: User) -> Q:
    """Tasks that concern `user`: assigned to them, for them (deputy), delegated by them, or
    claimable by them."""
    return Q(assignee=user) | Q(on_behalf_of=user) | Q(delegated_by=user) | claimable_q(user)
