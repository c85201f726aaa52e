"""How an advance reaches the database: the live workflow cache, the projections an instance
had at its last version, and the rows a set of advances writes.

An advance changes a handful of rows in a few tables (the instance, its human tasks, timers,
subscriptions and step history). `Writes` collects them and writes each kind with one
statement (`core.rows`: `executemany` on SQLite, one multi-row statement on PostgreSQL), so a
timer sweep that fires a hundred instances in one transaction costs about as many statements
as firing one, and a single advance skips the ORM's per-query compilation on its hot path.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, cast
from uuid import UUID

from django.db import connection, models

from konvergo.core.rows import (
    db_value,
    delete_rows,
    insert_rows,
    objects_from_rows,
    select_columns,
    update_rows,
)
from konvergo.processes.engine.runtime import Snapshot
from konvergo.processes.models import (
    HumanTask,
    IncidentStatus,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    StepRecord,
    TaskStatus,
    Timer,
)

# --- projections ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Projections:
    """The wait rows an instance has in the database, to write only what changed."""

    open_tasks: frozenset[str]
    timers: frozenset[tuple[str, str, datetime]]
    subscriptions: frozenset[tuple[str, str, str, str]]
    open_incidents: frozenset[str]

    @classmethod
    def of(cls, snapshot: Snapshot) -> Projections:
        return cls(
            open_tasks=frozenset(t.task_id for t in snapshot.open_tasks),
            timers=frozenset((t.task_id, t.element_id, t.due_at) for t in snapshot.timers),
            subscriptions=frozenset(
                (s.task_id, s.element_id, s.kind, s.name) for s in snapshot.subscriptions
            ),
            open_incidents=frozenset(f.task_id for f in snapshot.failures),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tasks": sorted(self.open_tasks),
            "timers": sorted([t, e, d.isoformat()] for t, e, d in self.timers),
            "subscriptions": sorted([list(s) for s in self.subscriptions]),
            "incidents": sorted(self.open_incidents),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Projections | None:
        if "tasks" not in data:
            return None  # written before this column existed: read the tables
        return cls(
            open_tasks=frozenset(data["tasks"]),
            timers=frozenset(
                (t, e, datetime.fromisoformat(d)) for t, e, d in data.get("timers", [])
            ),
            subscriptions=frozenset(tuple(s) for s in data.get("subscriptions", [])),
            open_incidents=frozenset(data.get("incidents", [])),
        )

    @classmethod
    def load(cls, instance: ProcessInstance) -> Projections:
        cached = cls.from_json(instance.waits or {})
        if cached is not None:
            return cached
        return cls(
            open_tasks=frozenset(
                instance.tasks.filter(status=TaskStatus.OPEN).values_list("task_id", flat=True)
            ),
            timers=frozenset(instance.timers.values_list("task_id", "element_id", "due_at")),
            subscriptions=frozenset(
                instance.subscriptions.values_list("task_id", "element_id", "kind", "name")
            ),
            open_incidents=frozenset(
                instance.incidents.filter(status=IncidentStatus.OPEN).values_list(
                    "task_id", flat=True
                )
            ),
        )


EMPTY = Projections(frozenset(), frozenset(), frozenset(), frozenset())


# --- live workflow cache --------------------------------------------------------------------


class LiveCache:
    """Live workflow objects by instance, valid only for the version they were saved as, with
    the projection rows written at that version.

    An entry is taken out while an advance uses it and put back only after commit, so a
    rolled-back advance can never leave a mutated object behind.
    """

    def __init__(self, size: int = 2000) -> None:
        self.size = size
        self.items: OrderedDict[int, tuple[int, Any, Projections]] = OrderedDict()

    def take(self, instance_id: int, version: int) -> tuple[Any, Projections | None]:
        entry = self.items.pop(instance_id, None)
        if entry is None or entry[0] != version:
            return None, None
        return entry[1], entry[2]

    def put(self, instance_id: int, version: int, workflow: Any, known: Projections) -> None:
        self.items[instance_id] = (version, workflow, known)
        self.items.move_to_end(instance_id)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def clear(self) -> None:
        self.items.clear()


LIVE = LiveCache()


# --- reads --------------------------------------------------------------------------------

# Definition versions never change: kept per process, by id and UUID (an integer id can come
# back after a rolled-back deploy; the UUID cannot).
_DEFINITIONS: dict[tuple[int, str], ProcessDefinition] = {}


def latest_definition_ref(key: str, version: int | None = None) -> tuple[int, Any] | None:
    """(id, UUID) of the latest version of process `key`, or of `version`; None if none."""
    d = ProcessDefinition
    sql = (
        f"SELECT {_name(d, 'id')}, {_name(d, 'public_id')} FROM {_name(d)} "  # noqa: S608
        f"WHERE {_name(d, 'key')} = %s"
    )
    params: list[Any] = [key]
    if version:
        sql += f" AND {_name(d, 'version')} = %s"
        params.append(version)
    sql += f" ORDER BY {_name(d, 'version')} DESC LIMIT 1"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return (row[0], row[1]) if row else None


def lock_instances(
    instance_ids: list[int], *, skip_locked: bool = False, running_only: bool = False
) -> list[ProcessInstance]:
    """The instance rows, locked until the transaction ends (PostgreSQL: FOR UPDATE of these
    rows only, skipping those another worker holds when asked; SQLite: the transaction's write
    lock), each with its definition from the per-process cache. One hand-written SELECT: the
    hot path of every advance, where the ORM's query building cost more than the query."""
    if not instance_ids:
        return []
    i, d = ProcessInstance, ProcessDefinition
    params: list[Any] = list(instance_ids)
    # Identifiers come from the models' metadata; every value is a parameter.
    sql = (
        f"SELECT {select_columns(i)}, {_name(d)}.{_name(d, 'public_id')} "  # noqa: S608
        f"FROM {_name(i)} INNER JOIN {_name(d)} "
        f"ON {_name(d)}.{_name(d, 'id')} = {_name(i)}.{_name(i, 'definition')} "
        f"WHERE {_name(i)}.{_name(i, 'id')} IN ({', '.join(['%s'] * len(instance_ids))})"
    )
    if connection.features.has_select_for_update:
        sql += f" FOR UPDATE OF {_name(i)}"
        if skip_locked and connection.features.has_select_for_update_skip_locked:
            sql += " SKIP LOCKED"
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        found = objects_from_rows(i, cursor.fetchall())
    for instance, (definition_uuid,) in found:
        instance.definition = definition_cached(instance.definition_id, definition_uuid)
    # The status is checked here, not in the WHERE clause: given `status = ?`, SQLite chose the
    # status index and read every running instance's entry for each batch of timers.
    return [
        instance
        for instance, _rest in found
        if not running_only or instance.status == InstanceStatus.RUNNING
    ]


def due_timers(now: datetime, limit: int) -> list[tuple[int, str, datetime]]:
    """(instance id, task id, due at) of the first `limit` timers due by `now` of running
    instances, oldest first. Written out so that the timers' `due_at` index drives the query
    (with CROSS JOIN, SQLite keeps that order; left to itself it read every running instance
    and sorted all their timers, a cost that grew with the backlog)."""
    t, i = Timer, ProcessInstance
    sql = (
        f"SELECT {_name(t)}.{_name(t, 'instance')}, {_name(t)}.{_name(t, 'task_id')}, "  # noqa: S608
        f"{_name(t)}.{_name(t, 'due_at')} FROM {_name(t)} CROSS JOIN {_name(i)} "
        f"WHERE {_name(i)}.{_name(i, 'id')} = {_name(t)}.{_name(t, 'instance')} "
        f"AND {_name(t)}.{_name(t, 'due_at')} <= %s AND {_name(i)}.{_name(i, 'status')} = %s "
        f"ORDER BY {_name(t)}.{_name(t, 'due_at')} LIMIT %s"
    )
    due_at = _field(t, "due_at")
    converters = connection.ops.get_db_converters(due_at.get_col(t._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [db_value(due_at, now), InstanceStatus.RUNNING.value, limit])
        rows = cursor.fetchall()
    found = []
    for instance_id, task_id, value in rows:
        for converter in converters:
            value = converter(value, due_at, connection)
        found.append((instance_id, task_id, value))
    return found


def definition_cached(definition_id: int, public_id: Any) -> ProcessDefinition:
    """A definition version by id, read once per process (checked against its UUID)."""
    key = (definition_id, UUID(str(public_id)).hex)  # a UUID, or the column as stored
    definition = _DEFINITIONS.get(key)
    if definition is None:
        definition = _DEFINITIONS[key] = ProcessDefinition.objects.get(pk=definition_id)
    return definition


# --- writes ---------------------------------------------------------------------------------


def _name(model: type[models.Model], field_name: str | None = None) -> str:
    """A quoted table name, or column name of `field_name`."""
    if field_name is None:
        return connection.ops.quote_name(model._meta.db_table)
    return connection.ops.quote_name(_field(model, field_name).get_attname_column()[1] or "")


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def _prep(model: type[models.Model], name: str, value: Any) -> Any:
    return db_value(_field(model, name), value)


def _instance_values(instance: ProcessInstance) -> list[Any]:
    """The `_INSTANCE_FIELDS` of `instance`, then its id, for the UPDATE of an advance."""
    return [*(db_value(f, getattr(instance, f.attname)) for f in _instance_fields()), instance.pk]


@lru_cache(maxsize=1)
def _instance_fields() -> tuple[models.Field[Any, Any], ...]:
    return tuple(_field(ProcessInstance, name) for name in _INSTANCE_FIELDS)


_INSTANCE_FIELDS = ("state", "waits", "variables", "version", "status", "ended_at", "updated_at")
_TASK_CLOSE_FIELDS = ("status", "completed_at", "updated_at", "completed_by")


@dataclass
class Writes:
    """The rows one or many advances change, written together by `flush` (in the caller's
    transaction)."""

    instances: list[ProcessInstance] = field(default_factory=list)
    # (status, completed_at, completed_by_id, instance_id, task_id)
    tasks_closed: list[tuple[str, datetime, int | None, int, str]] = field(default_factory=list)
    new_tasks: list[HumanTask] = field(default_factory=list)
    timers_gone: list[tuple[int, str]] = field(default_factory=list)
    new_timers: list[Timer] = field(default_factory=list)
    subscriptions_gone: list[tuple[int, str]] = field(default_factory=list)
    new_subscriptions: list[MessageSubscription] = field(default_factory=list)
    steps: list[StepRecord] = field(default_factory=list)

    def flush(self) -> None:
        with connection.cursor() as cursor:
            update_rows(
                cursor,
                ProcessInstance,
                _INSTANCE_FIELDS,
                ["id"],
                [_instance_values(i) for i in self.instances],
            )
            update_rows(
                cursor,
                HumanTask,
                _TASK_CLOSE_FIELDS,
                ["instance", "task_id", "status"],
                [
                    (
                        status,
                        _prep(HumanTask, "completed_at", at),
                        _prep(HumanTask, "updated_at", at),
                        actor_id,
                        instance_id,
                        task_id,
                        TaskStatus.OPEN.value,
                    )
                    for status, at, actor_id, instance_id, task_id in self.tasks_closed
                ],
            )
            delete_rows(cursor, Timer, ["instance", "task_id"], self.timers_gone)
            delete_rows(
                cursor, MessageSubscription, ["instance", "task_id"], self.subscriptions_gone
            )
            for rows in (self.new_tasks, self.new_timers, self.new_subscriptions, self.steps):
                insert_rows(cursor, rows)
