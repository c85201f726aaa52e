"""Start events that start instances by themselves: message, signal and timer start events.

Deploy records them (see processes.services); a message or signal nobody waits for starts the
latest version of each process with a matching start event, and the worker starts timer-started
processes when their time comes. SpiffWorkflow would otherwise only let an already created
instance wait at its start event.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState

from konvergo.processes.engine import expressions
from konvergo.processes.engine.parser import ParsedModel
from konvergo.processes.engine.runtime import Runner, Snapshot


@dataclass(frozen=True)
class StartDefinition:
    process_id: str
    element_id: str
    kind: str  # "message", "signal" or "timer"
    name: str  # message or signal name; "" for timers
    expression: str  # timer expression (our language); "" otherwise


def start_definitions(model: ParsedModel) -> list[StartDefinition]:
    """The top-level start events of each process that carry a message, signal or timer."""
    found = []
    for process_id, spec in model.specs.items():
        for task_spec in spec.task_specs.values():
            if not isinstance(task_spec, StartEvent):
                continue
            definition = getattr(task_spec, "event_definition", None)
            element_id = str(task_spec.bpmn_id or task_spec.name)
            if isinstance(definition, MessageEventDefinition):
                found.append(
                    StartDefinition(process_id, element_id, "message", definition.name, "")
                )
            elif isinstance(definition, SignalEventDefinition):
                found.append(StartDefinition(process_id, element_id, "signal", definition.name, ""))
            elif isinstance(definition, TimerEventDefinition):
                found.append(
                    StartDefinition(process_id, element_id, "timer", "", definition.expression)
                )
    return found


@dataclass(frozen=True)
class TimerSchedule:
    due_at: datetime | None  # None: it never fires (again)
    remaining: int  # cycles left after this one; -1 unbounded; 0 for one-off timers
    interval: timedelta | None


def first_due(expression: str, now: datetime) -> TimerSchedule:
    """When a timer start event fires first: a date, now + a duration, or a cycle's start."""
    text = str(expressions.evaluate(expression, {})).strip()
    if text.upper().startswith("R"):
        cycles, start, duration = TimerEventDefinition.parse_iso_recurring_interval(text)
        return TimerSchedule(
            due_at=start, remaining=cycles - 1 if cycles > 0 else -1, interval=duration
        )
    if text.upper().startswith("P"):
        parsed = TimerEventDefinition.parse_iso_duration(text)
        return TimerSchedule(
            due_at=now + TimerEventDefinition.get_timedelta_from_start(parsed, now),
            remaining=0,
            interval=None,
        )
    return TimerSchedule(due_at=TimerEventDefinition.get_datetime(text), remaining=0, interval=None)


def next_due(
    schedule_due: datetime, remaining: int, interval: timedelta | None, now: datetime
) -> TimerSchedule:
    """The occurrence after `schedule_due` (skipping those missed while the system was down:
    a nightly start after a week's downtime starts once, not seven times)."""
    if interval is None or remaining == 0:
        return TimerSchedule(due_at=None, remaining=0, interval=interval)
    due = schedule_due + interval
    skipped = 0
    while due <= now:
        due += interval
        skipped += 1
    left = -1 if remaining < 0 else max(remaining - 1 - skipped, 0)
    if remaining > 0 and remaining - 1 - skipped < 0:
        return TimerSchedule(due_at=None, remaining=0, interval=interval)
    return TimerSchedule(due_at=due, remaining=left, interval=interval)


def start_by_event(runner: Runner, start: StartDefinition, payload: dict[str, Any]) -> Snapshot:
    """Create the instance and let `start` fire at once (message, signal or timer)."""
    runner.start({})
    if start.kind in {"message", "signal"}:
        _count, snapshot = runner.correlate(start.name, payload, signal=start.kind == "signal")
        return snapshot
    past = (datetime.now().astimezone() - timedelta(microseconds=1)).isoformat()
    for task in runner.workflow.get_tasks(state=TaskState.WAITING):
        if str(task.task_spec.bpmn_id) != start.element_id:
            continue
        definition = task.task_spec.event_definition
        if isinstance(definition, CycleTimerEventDefinition):
            value = task._get_internal_data("event_value") or {}
            # One occurrence per instance: the schedule of the next ones is ours.
            task._set_internal_data(event_value={**value, "cycles": 1, "next": past})
        else:
            task._set_internal_data(event_value=past)
        task.data.update(payload)
    return runner.fire_timers()
