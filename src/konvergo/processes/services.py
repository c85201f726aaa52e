"""Deploy processes, start instances, and advance them durably.

Every advance is one transaction: lock the instance row, load its state (or take the live
workflow from the cache when its version matches), step, then write the state, a new version,
the projections (human tasks, timers, subscriptions, incidents, steps) and events together.
A crash before commit changes nothing; after commit every wait is visible in an indexed table.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, partial
from typing import Any
from uuid import UUID

import orjson
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models, transaction
from django.db.models import Max
from django.utils import timezone

from konvergo.core.audit import record_created
from konvergo.core.errors import BusinessError, Conflict
from konvergo.core.events import emit
from konvergo.core.rows import insert_row, new_object
from konvergo.processes.engine.errors import DeployError, TaskNotOpen
from konvergo.processes.engine.parser import ParsedModel, parse_bpmn
from konvergo.processes.engine.runtime import CompiledProcess, OpenTask, Runner, Snapshot
from konvergo.processes.models import (
    HumanTask,
    Incident,
    IncidentStatus,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    StartTrigger,
    StepRecord,
    TaskStatus,
    Timer,
)
from konvergo.processes.persistence import (
    EMPTY,
    Projections,
    Writes,
    definition_cached,
    due_timers,
    latest_definition_ref,
    lock_instances,
)
from konvergo.processes.persistence import LIVE as LIVE  # tests and benchmarks clear it
from konvergo.processes.registry import call_connector, connector_names

logger = logging.getLogger(__name__)
INCIDENT_RETRIES = 3
INCIDENT_BACKOFF = timedelta(seconds=30)


class DeployRefused(BusinessError):
    status = 422
    code = "invalid_model"


# --- deploy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployResult:
    definitions: list[ProcessDefinition]
    created: bool


def content_hash(xml: bytes, dmn: Iterable[bytes] = ()) -> str:
    digest = hashlib.sha256(xml)
    for document in dmn:
        digest.update(b"\0dmn\0" + document)
    return digest.hexdigest()


def definition_deploy(
    *,
    xml: bytes | str,
    dmn: Iterable[bytes | str] = (),
    actor: Any = None,
    forms: Mapping[str, bytes | str] | None = None,
) -> DeployResult:
    """Validate and store a BPMN file; the same content again returns the existing versions.

    `forms` maps file names to form-js schemas deployed with it (processes/forms.py)."""
    from konvergo.processes.forms import forms_digest, forms_store, parse_forms

    parsed_forms = parse_forms(forms or {})
    raw = xml.encode() if isinstance(xml, str) else xml
    dmn_raw = [d.encode() if isinstance(d, str) else d for d in dmn]
    try:
        model = parse_bpmn(raw, dmn=dmn_raw)
    except DeployError as exc:
        raise DeployRefused(
            exc.message, details={"element_id": exc.element_id, "line": exc.line}
        ) from None
    unknown = {
        name: element for name, element in model.connectors.items() if name not in connector_names()
    }
    if unknown:
        name, element = sorted(unknown.items())[0]
        raise DeployRefused(f"unknown connector {name!r}", details={"element_id": element})
    digest = content_hash(raw, [*dmn_raw, forms_digest(parsed_forms)] if parsed_forms else dmn_raw)
    created = False
    definitions = []
    new_versions = []
    with transaction.atomic():
        for process_id in model.process_ids:
            existing = ProcessDefinition.objects.filter(key=process_id, content_hash=digest).first()
            if existing is not None:
                definitions.append(existing)
                continue
            latest = (
                ProcessDefinition.objects.select_for_update()
                .filter(key=process_id)
                .aggregate(v=Max("version"))["v"]
            )
            new_versions.append(
                ProcessDefinition.objects.create(
                    key=process_id,
                    name=model.names[process_id],
                    version=(latest or 0) + 1,
                    content_hash=digest,
                    bpmn_xml=raw.decode(),
                    dmn_xml=[d.decode() for d in dmn_raw],
                    connectors=sorted(model.connectors),
                    deployed_by=actor if getattr(actor, "pk", None) else None,
                )
            )
            definitions.append(new_versions[-1])
            forms_store(new_versions[-1], parsed_forms)
            created = True
        start_triggers_register(new_versions, model=model)
    return DeployResult(definitions=definitions, created=created)


def compiled_process(definition: ProcessDefinition) -> CompiledProcess:
    return _compiled(definition.public_id)


@lru_cache(maxsize=256)
def _compiled(public_id: UUID) -> CompiledProcess:
    """Parsed spec of a definition version, cached by its UUID (a version never changes, and
    unlike an integer key a UUID is never reused after a rolled-back deploy)."""
    definition = ProcessDefinition.objects.get(public_id=public_id)
    model = parse_bpmn(definition.bpmn_xml.encode(), dmn=[d.encode() for d in definition.dmn_xml])
    return CompiledProcess.from_model(model, definition.key)


# --- start and advance ----------------------------------------------------------------------


def check_json(variables: Mapping[str, Any] | None) -> dict[str, Any]:
    """Process variables are stored as JSON: refuse anything else at the edge."""
    data = dict(variables or {})
    try:
        json.dumps(data)
    except (TypeError, ValueError) as exc:
        raise BusinessError(
            f"variables must be JSON values: {exc}", details={"field": "variables"}
        ) from None
    return data


def definition_for(key: str, version: int | None = None) -> ProcessDefinition:
    """The latest (or the given) version of a process; only its id and UUID are read, the
    rest comes from the per-process cache of versions, which never change."""
    found = latest_definition_ref(key, version)
    definition = definition_cached(*found) if found else None
    if definition is None:
        which = f"version {version} of " if version else ""
        raise BusinessError(
            f"there is no {which}process {key!r}", details={"field": "definition_key"}
        )
    return definition


def process_start(
    definition_key: str,
    *,
    business_key: str = "",
    subject: models.Model | None = None,
    variables: Mapping[str, Any] | None = None,
    actor: Any = None,
    version: int | None = None,
) -> ProcessInstance:
    """Start an instance and run it to its first waits, in one transaction."""
    data = check_json(variables)
    definition = definition_for(definition_key, version)
    with transaction.atomic():
        instance = ProcessInstance(
            definition=definition,
            business_key=business_key,
            subject_type=ContentType.objects.get_for_model(subject)
            if subject is not None
            else None,
            subject_id=str(subject.pk) if subject is not None else "",
            started_by=actor if getattr(actor, "pk", None) else None,
        )
        runner = Runner(compiled_process(definition), connectors=call_connector)
        snapshot = runner.start({**data, "business_key": business_key} if business_key else data)
        writes = Writes()
        _save(instance, snapshot, known=EMPTY, writes=writes, actor=actor)  # inserts the row
        writes.flush()
        emit(
            "processes.instance.started",
            subject=instance,
            payload={"definition": definition.key, "business_key": business_key},
            actor=actor,
        )
    return instance


def _advance(
    instance_id: int,
    action: Callable[[Runner], Snapshot],
    *,
    actor: Any = None,
    allow_statuses: tuple[str, ...] = (InstanceStatus.RUNNING,),
    completed_task_id: str = "",
    skip_locked: bool = False,
    precondition: Callable[[Projections], bool] | None = None,
    check: Callable[[ProcessInstance], None] | None = None,
) -> ProcessInstance | None:
    """Lock the instance, `check` it (raising refuses the advance), run `action` on its
    workflow and write what changed, in one transaction."""
    with transaction.atomic():
        found = lock_instances([instance_id], skip_locked=skip_locked)
        if not found:
            if skip_locked:
                return None  # another worker holds it
            raise ProcessInstance.DoesNotExist(f"no process instance {instance_id}")
        instance = found[0]
        if instance.status not in allow_statuses:
            raise Conflict(f"the process instance is {instance.get_status_display().lower()}")
        if check is not None:
            check(instance)
        writes = Writes()
        if not _step(
            instance,
            action,
            writes=writes,
            actor=actor,
            completed_task_id=completed_task_id,
            precondition=precondition,
        ):
            return None
        writes.flush()
    return instance


def _step(
    instance: ProcessInstance,
    action: Callable[[Runner], Snapshot],
    *,
    writes: Writes,
    actor: Any = None,
    completed_task_id: str = "",
    precondition: Callable[[Projections], bool] | None = None,
    keep_live: bool = True,
) -> bool:
    """Run `action` on the locked instance's workflow (the live one when its version matches)
    and record what it changed in `writes`; False if the precondition no longer holds.
    `keep_live`: keep the workflow in the live cache for the instance's next advance."""
    workflow, known = LIVE.take(instance.pk, instance.version)
    known = known or Projections.load(instance)
    if precondition is not None and not precondition(known):
        if workflow is not None:  # unused: give it back for the next advance
            LIVE.put(instance.pk, instance.version, workflow, known)
        return False
    runner = Runner(
        compiled_process(instance.definition),
        state=None if workflow is not None else orjson.loads(instance.state),
        workflow=workflow,
        connectors=call_connector,
    )
    snapshot = action(runner)
    _save(
        instance,
        snapshot,
        known=known,
        writes=writes,
        actor=actor,
        completed_task_id=completed_task_id,
        keep_live=keep_live,
    )
    return True


def _save(
    instance: ProcessInstance,
    snapshot: Snapshot,
    *,
    known: Projections,
    writes: Writes | None = None,
    actor: Any = None,
    completed_task_id: str = "",
    keep_live: bool = True,
) -> None:
    """Put the new state on `instance` and record in `writes` whatever changed in the
    projections; the caller flushes `writes` in its transaction (without `writes`, they are
    written at once). The per-advance history is StepRecord, so the row is updated directly
    (a new instance is inserted here)."""
    if writes is None:
        writes = Writes()
        _save(
            instance,
            snapshot,
            known=known,
            writes=writes,
            actor=actor,
            completed_task_id=completed_task_id,
            keep_live=keep_live,
        )
        writes.flush()
        return
    now = timezone.now()
    actor_obj = actor if getattr(actor, "pk", None) else None
    # orjson: a tenth of the json module's time on every advance (the state is most of it)
    instance.state = orjson.dumps(snapshot.state).decode()
    instance.variables = snapshot.variables
    instance.version += 1
    instance.updated_at = now
    if snapshot.completed:
        instance.status = InstanceStatus.COMPLETED
        instance.ended_at = now
    new = Projections.of(snapshot)
    instance.waits = new.to_json()
    if instance.pk is None:  # a start: the row and its "created" history row, without save()
        with connection.cursor() as cursor:
            insert_row(cursor, instance)
            record_created(cursor, instance)
    else:
        writes.instances.append(instance)
    if keep_live:
        version, workflow = instance.version, snapshot.workflow
        transaction.on_commit(lambda: LIVE.put(instance.pk, version, workflow, new))

    # Human tasks: new ones appear; vanished ones were completed, or cancelled (e.g. by an
    # interrupting boundary timer).
    for task_id in known.open_tasks - new.open_tasks:
        if task_id == completed_task_id:
            closed = (TaskStatus.COMPLETED.value, now, getattr(actor_obj, "pk", None))
        else:
            closed = (TaskStatus.CANCELLED.value, now, None)
        writes.tasks_closed.append((*closed, instance.pk, task_id))
    writes.new_tasks += [
        _human_task(instance, t, now)
        for t in snapshot.open_tasks
        if t.task_id not in known.open_tasks
    ]

    if known.timers != new.timers:
        writes.timers_gone += [(instance.pk, key[0]) for key in known.timers - new.timers]
        writes.new_timers += [
            Timer(instance=instance, task_id=task_id, element_id=element_id, due_at=due_at)
            for task_id, element_id, due_at in new.timers - known.timers
        ]
    if known.subscriptions != new.subscriptions:
        writes.subscriptions_gone += [
            (instance.pk, key[0]) for key in known.subscriptions - new.subscriptions
        ]
        writes.new_subscriptions += [
            MessageSubscription(
                instance=instance,
                task_id=task_id,
                element_id=element_id,
                kind=kind,
                name=name,
                correlation_key=instance.business_key,
            )
            for task_id, element_id, kind, name in new.subscriptions - known.subscriptions
        ]

    if known.open_incidents - new.open_incidents:
        instance.incidents.filter(
            status=IncidentStatus.OPEN, task_id__in=known.open_incidents - new.open_incidents
        ).update(status=IncidentStatus.RESOLVED, resolved_at=now, next_retry_at=None)
    for failure in snapshot.failures:
        _record_incident(instance, failure, now)

    actor_id = getattr(actor_obj, "pk", None)
    writes.steps += [
        new_object(
            StepRecord,
            {
                "instance_id": instance.pk,
                "element_id": s.element_id,
                "name": s.name,
                "kind": s.kind,
                "finished_at": s.finished_at,
                "actor_id": actor_id if s.kind == "UserTask" else None,
            },
        )
        for s in snapshot.steps
    ]
    if snapshot.completed:
        emit(
            "processes.instance.completed",
            subject=instance,
            payload={"definition": instance.definition.key, "business_key": instance.business_key},
        )
    # Messages and signals thrown for other instances go out through the events outbox: the
    # worker delivers them after this commit, each in its own transaction, so instances that
    # message each other never lock one another (nor recurse) inside one transaction. A message
    # goes to the waiting instances with the same business key (all of them if the sender has
    # none), a signal to every waiting instance; never back to the sender.
    for thrown in snapshot.thrown:
        emit(
            "processes.message.thrown",
            subject=instance,
            payload={
                "name": thrown.name,
                "signal": thrown.kind == "signal",
                "correlation_key": instance.business_key,
                "variables": thrown.payload,
                "sender": instance.pk,
            },
        )


def _record_incident(instance: ProcessInstance, failure: Any, now: datetime) -> None:
    incident = instance.incidents.filter(
        task_id=failure.task_id, status=IncidentStatus.OPEN
    ).first()
    if incident is None:
        Incident.objects.create(
            instance=instance,
            task_id=failure.task_id,
            element_id=failure.element_id,
            message=failure.message,
            variables=failure.data,
            next_retry_at=now + INCIDENT_BACKOFF,
        )
        emit(
            "processes.incident.opened",
            subject=instance,
            payload={"element_id": failure.element_id, "message": failure.message},
        )
        return
    incident.attempts += 1
    incident.message = failure.message
    incident.variables = failure.data
    # Automatic retries back off; after the last one a person retries after fixing the cause.
    incident.next_retry_at = (
        now + INCIDENT_BACKOFF * 2 ** (incident.attempts - 1)
        if incident.attempts <= INCIDENT_RETRIES
        else None
    )
    incident.save(update_fields=["attempts", "message", "variables", "next_retry_at", "updated_at"])


def _human_task(instance: ProcessInstance, task: OpenTask, now: datetime) -> HumanTask:
    """Assignee, candidates, deputies, deadlines and reminders: processes/assignment.py."""
    from konvergo.processes.assignment import human_task_for

    return human_task_for(instance, task, now)


# --- actions on running instances -----------------------------------------------------------


def task_complete(
    *, task: HumanTask, variables: Mapping[str, Any] | None = None, actor: Any = None
) -> ProcessInstance:
    """Complete a human task with variables; completing it twice is a Conflict (409)."""
    from konvergo.processes.forms import validate_task_data

    data = check_json(variables)
    if task.status != TaskStatus.OPEN:
        raise Conflict("this task is already completed")
    checked: dict[str, Any] = {}

    def check(instance: ProcessInstance) -> None:
        # FieldErrors (422) before anything changes; against the locked instance's variables
        checked.update(validate_task_data(task, data, instance))

    try:
        instance = _advance(
            task.instance_id,
            lambda runner: runner.complete_task(task.task_id, checked),
            actor=actor,
            completed_task_id=task.task_id,
            check=check,
        )
    except TaskNotOpen:
        raise Conflict("this task is already completed") from None
    if instance is None:  # only skip_locked advances return None
        raise Conflict("the process instance is busy; try again")
    return instance


def _fire(runner: Runner, *, task_ids: list[str]) -> Snapshot:
    return runner.fire_timers(task_ids)


def timers_fire_due(now: datetime | None = None, *, limit: int = 2000, batch: int = 100) -> int:
    """Fire due timers in due order, oldest first.

    One query finds the due timers; their instances are then fired in batches, each batch one
    transaction that locks its instances (skipping those another worker holds), fires each
    whose locked version still has those timers pending, and writes all their rows with one
    statement per kind of change. Each instance's advance is whole or absent: if writing a
    batch fails, its instances are fired again one transaction each, so only the offender
    fails.
    """
    now = now or timezone.now()
    due: dict[int, set[tuple[str, datetime]]] = {}
    for instance_id, task_id, due_at in due_timers(now, limit):
        due.setdefault(instance_id, set()).add((task_id, due_at))
    ids = list(due)
    fired = 0
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        try:
            fired += _fire_batch(chunk, due)
        except Exception:
            logger.exception("Firing a batch of %d timers failed; firing one by one", len(chunk))
            for instance_id in chunk:
                fired += _fire_one(instance_id, due[instance_id])
    return fired


def _fire_batch(ids: list[int], due: Mapping[int, set[tuple[str, datetime]]]) -> int:
    fired = 0
    with transaction.atomic():
        rows = lock_instances(ids, skip_locked=True, running_only=True)
        writes = Writes()
        order = {instance_id: n for n, instance_id in enumerate(ids)}  # due order
        for instance in sorted(rows, key=lambda row: order[row.pk]):
            timers = due[instance.pk]
            if _step(
                instance,
                partial(_fire, task_ids=[task_id for task_id, _due in timers]),
                writes=writes,
                precondition=partial(_still_due, timers=timers),
                # A sweep fires thousands of instances whose next advance is mostly far off:
                # caching them would only churn the cache and grow the heap the garbage
                # collector scans (half of a 20,000-timer sweep's time went to it).
                keep_live=False,
            ):
                fired += 1
        writes.flush()
    return fired


def _fire_one(instance_id: int, timers: set[tuple[str, datetime]]) -> int:
    try:
        instance = _advance(
            instance_id,
            partial(_fire, task_ids=[task_id for task_id, _due in timers]),
            skip_locked=True,
            precondition=partial(_still_due, timers=timers),
        )
    except Exception:
        logger.exception("Firing the timers of process instance %s failed", instance_id)
        return 0
    return 0 if instance is None else 1


def _still_due(known: Projections, *, timers: set[tuple[str, datetime]]) -> bool:
    """True while the locked version still has one of the timers we found due (same task and
    due time: a cycle timer fired meanwhile by another worker has moved on)."""
    return any((task_id, due) in timers for task_id, _element, due in known.timers)


def timer_reschedule(*, instance: ProcessInstance, element_id: str, due_at: datetime) -> int:
    """Move the pending timers of an element to `due_at` (administration, demo data, tests).

    The timer row is what the worker obeys; the instance's `waits` are kept in step with it.
    """
    with transaction.atomic():
        locked = ProcessInstance.objects.select_for_update().get(pk=instance.pk)
        moved = locked.timers.filter(element_id=element_id).update(due_at=due_at)
        known = Projections.load(locked)
        locked.waits = Projections(
            open_tasks=known.open_tasks,
            timers=frozenset((t, e, due_at if e == element_id else d) for t, e, d in known.timers),
            subscriptions=known.subscriptions,
            open_incidents=known.open_incidents,
        ).to_json()
        locked.save(update_fields=["waits", "updated_at"])
    LIVE.take(instance.pk, locked.version)  # the live object is fine, but keep one source
    return moved


def message_correlate(
    name: str,
    *,
    correlation_key: str = "",
    variables: Mapping[str, Any] | None = None,
    signal: bool = False,
    exclude_instance: int | None = None,
) -> int:
    """Deliver a message to the instances waiting for it (by business key); returns matches."""
    data = check_json(variables)
    kind = "signal" if signal else "message"
    waiting = MessageSubscription.objects.filter(
        kind=kind, name=name, instance__status=InstanceStatus.RUNNING
    ).exclude(instance_id=exclude_instance)
    if correlation_key and not signal:
        waiting = waiting.filter(correlation_key=correlation_key)
    matched = 0
    for instance_id in sorted(set(waiting.values_list("instance_id", flat=True))):
        result: dict[str, int] = {}

        def deliver(runner: Runner, result: dict[str, int] = result) -> Snapshot:
            count, snapshot = runner.correlate(name, data, signal=signal)
            result["count"] = count
            return snapshot

        try:
            _advance(instance_id, deliver)
        except Conflict:
            continue  # it finished or was cancelled since we looked: nobody waits any more
        matched += result.get("count", 0)
    if not matched or signal:
        # Camunda's order: a message goes to a waiting instance if there is one, otherwise it
        # starts the processes whose start event catches it; a signal does both.
        matched += processes_start_by_message(
            name, correlation_key=correlation_key, variables=data, signal=signal
        )
    if not matched:
        logger.info("%s %r (key %r) matched no waiting instance", kind, name, correlation_key)
    return matched


def incident_retry(*, incident: Incident, actor: Any = None) -> ProcessInstance:
    if incident.status != IncidentStatus.OPEN:
        raise Conflict("this incident is already resolved")
    instance = _advance(
        incident.instance_id, lambda runner: runner.retry(incident.task_id), actor=actor
    )
    if instance is None:  # only skip_locked advances return None
        raise Conflict("the process instance is busy; try again")
    return instance


def incidents_retry_due(now: datetime | None = None) -> int:
    now = now or timezone.now()
    retried = 0
    for incident in Incident.objects.filter(status=IncidentStatus.OPEN, next_retry_at__lte=now)[
        :100
    ]:
        try:
            incident_retry(incident=incident)
        except Conflict:
            continue
        retried += 1
    return retried


def instance_cancel(*, instance: ProcessInstance, reason: str, actor: Any = None) -> None:
    with transaction.atomic():
        locked = ProcessInstance.objects.select_for_update().get(pk=instance.pk)
        if locked.status in (InstanceStatus.COMPLETED, InstanceStatus.CANCELLED):
            raise Conflict(f"the process instance is already {locked.status}")
        locked.status = InstanceStatus.CANCELLED
        locked.cancel_reason = reason
        locked.ended_at = timezone.now()
        locked.version += 1
        locked.save(update_fields=["status", "cancel_reason", "ended_at", "version", "updated_at"])
        locked.tasks.filter(status=TaskStatus.OPEN).update(
            status=TaskStatus.CANCELLED, completed_at=timezone.now()
        )
        locked.timers.all().delete()
        locked.subscriptions.all().delete()
        locked.incidents.filter(status=IncidentStatus.OPEN).update(
            status=IncidentStatus.RESOLVED, resolved_at=timezone.now(), next_retry_at=None
        )
        emit(
            "processes.instance.cancelled", subject=locked, payload={"reason": reason}, actor=actor
        )


def instance_set_suspended(
    *, instance: ProcessInstance, suspended: bool, actor: Any = None
) -> None:
    with transaction.atomic():
        locked = ProcessInstance.objects.select_for_update().get(pk=instance.pk)
        source = InstanceStatus.RUNNING if suspended else InstanceStatus.SUSPENDED
        if locked.status != source:
            raise Conflict(f"the process instance is {locked.status}")
        locked.status = InstanceStatus.SUSPENDED if suspended else InstanceStatus.RUNNING
        locked.save(update_fields=["status", "updated_at"])


# --- administration -------------------------------------------------------------------------


def instance_migrate(
    *,
    instance: ProcessInstance,
    version: int,
    mapping: Mapping[str, str] | None = None,
    actor: Any = None,
) -> ProcessInstance:
    """Move a running instance to another version of its process (activity ids mapped)."""
    from konvergo.processes.engine.migration import MigrationRefused, migrate_state

    with transaction.atomic():
        locked = (
            ProcessInstance.objects.select_for_update()
            .select_related("definition")
            .get(pk=instance.pk)
        )
        if locked.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
            raise Conflict(f"the process instance is {locked.status}")
        target = definition_for(locked.definition.key, version)
        source_version = locked.definition.version
        try:
            state = migrate_state(
                orjson.loads(locked.state), target=compiled_process(target), mapping=mapping or {}
            )
        except MigrationRefused as exc:
            raise BusinessError(exc.message, details={"element_ids": exc.element_ids}) from None
        LIVE.take(locked.pk, locked.version)  # the cached object belongs to the old version
        runner = Runner(compiled_process(target), state=state, connectors=call_connector)
        known = Projections.load(locked)
        locked.definition = target
        locked.save(update_fields=["definition", "updated_at"])  # audited: who moved it, when
        _save(locked, runner.snapshot(), known=known, actor=actor)
        emit(
            "processes.instance.migrated",
            subject=locked,
            payload={
                "from_version": source_version,
                "to_version": target.version,
                "mapping": dict(mapping or {}),
            },
            actor=actor,
        )
    return locked


def instance_set_variables(
    *, instance: ProcessInstance, changes: Mapping[str, Any], actor: Any = None
) -> ProcessInstance:
    """Change process variables of a running instance (e.g. to fix the cause of an incident).

    The change is audited: the instance's history records the variables before and after.
    """
    data = check_json(changes)

    def apply(runner: Runner) -> Snapshot:
        return runner.set_variables(data)

    actor_obj = actor if getattr(actor, "pk", None) else None
    with transaction.atomic():
        # Engine advances skip history; record the values as they are now, so that the trail
        # shows this change as before -> after.
        before = ProcessInstance.objects.select_for_update().get(pk=instance.pk)
        before._history_user = actor_obj  # type: ignore[attr-defined]
        before.save(update_fields=["variables", "updated_at"])
        updated = _advance(
            instance.pk,
            apply,
            actor=actor,
            allow_statuses=(InstanceStatus.RUNNING, InstanceStatus.SUSPENDED),
        )
        if updated is None:
            raise Conflict("the process instance is busy; try again")
        after = ProcessInstance.objects.get(pk=updated.pk)
        after._history_user = actor_obj  # type: ignore[attr-defined]
        after.save(update_fields=["variables", "updated_at"])
    return updated


# --- start events that start processes by themselves ---------------------------------------


def start_triggers_register(
    definitions: Iterable[ProcessDefinition], *, model: ParsedModel
) -> None:
    """Record the message/signal/timer start events of newly deployed versions (all parsed
    from `model`, the file just deployed); the versions they replace stop starting by
    themselves (the latest version wins, as in Camunda)."""
    from konvergo.processes.engine.starts import first_due, start_definitions

    now = timezone.now()
    starts = start_definitions(model)
    for definition in definitions:
        StartTrigger.objects.filter(definition__key=definition.key, active=True).exclude(
            definition=definition
        ).update(active=False)
        for start in starts:
            if start.process_id != definition.key:
                continue
            trigger = StartTrigger(
                definition=definition,
                element_id=start.element_id,
                kind=start.kind,
                name=start.name,
                expression=start.expression,
            )
            if start.kind == "timer":
                schedule = first_due(start.expression, now)
                trigger.due_at = schedule.due_at
                trigger.remaining = schedule.remaining
                trigger.interval_seconds = (
                    schedule.interval.total_seconds() if schedule.interval else None
                )
            trigger.save()


def _start_from_trigger(
    trigger: StartTrigger, *, business_key: str = "", variables: Mapping[str, Any] | None = None
) -> ProcessInstance:
    from konvergo.processes.engine.starts import StartDefinition, start_by_event

    definition = trigger.definition
    start = StartDefinition(
        definition.key, trigger.element_id, trigger.kind, trigger.name, trigger.expression
    )
    data = dict(variables or {})
    instance = ProcessInstance.objects.create(definition=definition, business_key=business_key)
    runner = Runner(compiled_process(definition), connectors=call_connector)
    snapshot = start_by_event(
        runner, start, {**data, "business_key": business_key} if business_key else data
    )
    _save(instance, snapshot, known=EMPTY)
    emit(
        "processes.instance.started",
        subject=instance,
        payload={
            "definition": definition.key,
            "business_key": business_key,
            "start_event": trigger.element_id,
            "trigger": trigger.kind,
        },
    )
    return instance


def processes_start_by_message(
    name: str,
    *,
    correlation_key: str = "",
    variables: Mapping[str, Any] | None = None,
    signal: bool = False,
) -> int:
    """Start the latest version of every process with a matching message/signal start event."""
    started = 0
    triggers = StartTrigger.objects.select_related("definition").filter(
        active=True, kind="signal" if signal else "message", name=name
    )
    for trigger in triggers:
        with transaction.atomic():
            _start_from_trigger(trigger, business_key=correlation_key, variables=variables)
        started += 1
    return started


def start_timers_fire_due(now: datetime | None = None, *, limit: int = 200) -> int:
    """Start the timer-started processes whose time has come (late ones once, in due order)."""
    from konvergo.processes.engine.starts import next_due

    now = now or timezone.now()
    started = 0
    due_ids = list(
        StartTrigger.objects.filter(active=True, kind="timer", due_at__lte=now)
        .order_by("due_at")
        .values_list("pk", flat=True)[:limit]
    )
    for trigger_id in due_ids:
        with transaction.atomic():
            rows = StartTrigger.objects.select_related("definition").filter(
                pk=trigger_id, active=True, due_at__lte=now
            )
            if connection.features.has_select_for_update_skip_locked:
                rows = rows.select_for_update(skip_locked=True)
            else:
                rows = rows.select_for_update()
            trigger = rows.first()
            if trigger is None or trigger.due_at is None:
                continue  # another worker took it
            _start_from_trigger(trigger)
            interval = (
                timedelta(seconds=trigger.interval_seconds) if trigger.interval_seconds else None
            )
            following = next_due(trigger.due_at, trigger.remaining, interval, now)
            trigger.due_at = following.due_at
            trigger.remaining = following.remaining
            trigger.active = following.due_at is not None
            trigger.save(update_fields=["due_at", "remaining", "active"])
            started += 1
    return started


def instance_move_token(
    *, instance: ProcessInstance, from_element: str, to_element: str, actor: Any = None
) -> ProcessInstance:
    """Move the tokens waiting at one activity to another (administration; audited as a step
    and an event)."""
    from konvergo.processes.engine.errors import TokenMoveRefused

    def move(runner: Runner) -> Snapshot:
        return runner.move_token(from_element, to_element)

    try:
        with transaction.atomic():
            moved = _advance(
                instance.pk,
                move,
                actor=actor,
                allow_statuses=(InstanceStatus.RUNNING, InstanceStatus.SUSPENDED),
            )
            if moved is None:
                raise Conflict("the process instance is busy; try again")
            emit(
                "processes.instance.token_moved",
                subject=moved,
                actor=actor,
                payload={"from": from_element, "to": to_element},
            )
    except TokenMoveRefused as exc:
        raise BusinessError(str(exc), details={"field": "to_element"}) from None
    return moved
