"""Run process instances on SpiffWorkflow and report what they wait for, in our own dataclasses.

The state is stored without the model (the model lives once per definition version): a saved
instance is its task tree and data only, and loading it attaches a private copy of the cached
parsed spec (SpiffWorkflow mutates specs at run time, so instances must not share one).
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.bpmn.serializer.workflow import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.specs.mixins.multiinstance_task import MultiInstanceTask
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.camunda.serializer.config import CAMUNDA_CONFIG
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.task import Task
from SpiffWorkflow.util.task import TaskState

from konvergo.processes.engine import expressions
from konvergo.processes.engine.errors import StepError, TaskNotOpen, TokenMoveRefused
from konvergo.processes.engine.parser import COMPLETED_WITH, ParsedModel

logging.getLogger("spiff").setLevel(logging.WARNING)  # it logs every state change (~15 % cost)
logging.getLogger("spiff.metrics").setLevel(logging.WARNING)

ConnectorCaller = Callable[[str, dict[str, Any], str], dict[str, Any]]
"""(connector name, inputs, element id) -> outputs; raises to make an incident."""


# --- what the rest of Konvergo sees -----------------------------------------------------------


@dataclass(frozen=True)
class OpenTask:
    task_id: str
    element_id: str
    name: str
    lane: str | None
    extensions: dict[str, Any]
    data: dict[str, Any]


@dataclass(frozen=True)
class PendingTimer:
    task_id: str
    element_id: str
    due_at: datetime


@dataclass(frozen=True)
class PendingMessage:
    task_id: str
    element_id: str
    name: str
    kind: str  # "message" or "signal"


@dataclass(frozen=True)
class ThrownEvent:
    """A message or signal an instance threw for other instances (a message nothing inside the
    instance caught; a signal always, as signals are broadcast)."""

    kind: str  # "message" or "signal"
    name: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class FailedStep:
    task_id: str
    element_id: str
    message: str
    data: dict[str, Any]


@dataclass(frozen=True)
class Step:
    element_id: str
    name: str
    kind: str  # the BPMN element type, e.g. "UserTask", "ExclusiveGateway"
    finished_at: datetime


@dataclass
class Snapshot:
    """An instance after an advance: its state to store and the projections to write."""

    state: dict[str, Any]
    completed: bool
    variables: dict[str, Any]
    open_tasks: list[OpenTask]
    timers: list[PendingTimer]
    subscriptions: list[PendingMessage]
    failures: list[FailedStep]
    steps: list[Step] = field(default_factory=list)
    thrown: list[ThrownEvent] = field(default_factory=list)
    workflow: Any = field(default=None, repr=False)  # the live object, for the caller's cache


# --- the script environment -----------------------------------------------------------------


class SafeEnvironment(BasePythonScriptEngineEnvironment):  # type: ignore[misc]
    """Conditions, scripts and timers in Konvergo's expression language; never Python eval."""

    def __init__(self, connectors: ConnectorCaller) -> None:
        super().__init__({})
        self.connectors = connectors

    def evaluate(
        self, expression: str, context: dict[str, Any], external_context: Any = None
    ) -> Any:
        return expressions.evaluate(expression, {**(external_context or {}), **context})

    def execute(self, script: str, context: dict[str, Any], external_context: Any = None) -> bool:
        expressions.run_script(script, context)
        return True

    def call_service(self, context: dict[str, Any], **kwargs: Any) -> Any:
        spec = kwargs["spec"]
        inputs = {
            name: (expressions.evaluate(text, context) if text.startswith(("${", "#{")) else text)
            for name, text in spec.extensions.get("inputs", {}).items()
        }
        if not inputs:
            inputs = dict(context)
        outputs = self.connectors(kwargs["connector"], inputs, spec.bpmn_id or spec.name)
        mapping: dict[str, str] = spec.extensions.get("outputs", {})
        if mapping:
            for name, text in mapping.items():
                context[name] = (
                    expressions.evaluate(text, outputs) if text.startswith(("${", "#{")) else text
                )
        elif result_variable := spec.extensions.get("camunda:resultVariable"):
            context[result_variable] = outputs
        else:
            context.update(outputs)
        return True


class SafeScriptEngine(PythonScriptEngine):  # type: ignore[misc]
    def __init__(self, connectors: ConnectorCaller) -> None:
        super().__init__(environment=SafeEnvironment(connectors))

    def validate(self, expression: str) -> None:
        expressions.validate_expression(expression)

    def call_service(self, task: Any, **kwargs: Any) -> Any:
        # Our own wrapper: SpiffWorkflow's hides the real error behind a NameError.
        return self.environment.call_service(task.data, **kwargs)


def no_connectors(name: str, inputs: dict[str, Any], element_id: str) -> dict[str, Any]:
    raise LookupError(f"no connector named {name!r} is registered")


# --- compiled definitions and state ---------------------------------------------------------


class LeanWorkflowConverter(BpmnWorkflowConverter):  # type: ignore[misc]
    """Serialises an instance without its model (the model is stored once per version)."""

    def to_dict(self, workflow: Any) -> dict[str, Any]:
        dct: dict[str, Any] = super(BpmnWorkflowConverter, self).to_dict(workflow)
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct


class KonvergoWorkflow(BpmnWorkflow):  # type: ignore[misc]
    """A signal is broadcast: besides the catch events of this instance, it goes to the other
    instances (SpiffWorkflow hands on only the events nothing inside the instance caught)."""

    def catch(self, event: Any) -> None:
        caught = self.event_manager.catch(event)  # keeps the event in bpmn_events if uncaught
        if caught and isinstance(event.event_definition, SignalEventDefinition):
            self.bpmn_events.append(event)


REGISTRY = BpmnWorkflowSerializer.configure(CAMUNDA_CONFIG)
WORKFLOW_CONVERTER = LeanWorkflowConverter(BpmnWorkflow, REGISTRY)  # replaces the default one
STATE_FORMAT = 1  # bump with a migration of stored states when the layout changes


@dataclass
class CompiledProcess:
    """One executable process of a deployed definition version, ready to instantiate."""

    process_id: str
    _pickled: bytes = field(repr=False)
    # One read-only copy of the specs that every workflow of this version uses, when running
    # the process cannot change them (see `fresh_specs`).
    _shared: tuple[Any, dict[str, Any]] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_model(cls, model: ParsedModel, process_id: str) -> CompiledProcess:
        spec = model.specs[process_id]
        subprocess_specs = model.subprocess_specs.get(process_id, {})
        pickled = pickle.dumps((spec, subprocess_specs))
        shared: tuple[Any, dict[str, Any]] = pickle.loads(pickled)  # noqa: S301  (our bytes)
        if _mutated_by_running(shared):
            return cls(process_id=process_id, _pickled=pickled)
        _connect_multi_instances(shared)
        return cls(process_id=process_id, _pickled=pickled, _shared=shared)

    def fresh_specs(self) -> tuple[Any, dict[str, Any]]:
        """The specs for one workflow.

        SpiffWorkflow changes a spec at run time in one case: starting a message or signal
        event sub-process links it into its process's spec. Processes with such a sub-process
        get a private copy per workflow; all others share one copy, which nothing changes once
        its multi-instance activities are connected (unpickling a copy costs more than the
        rest of firing a timer).
        """
        if self._shared is not None:
            return self._shared
        specs: tuple[Any, dict[str, Any]] = pickle.loads(self._pickled)  # noqa: S301  (our bytes)
        return specs


def _mutated_by_running(specs: tuple[Any, dict[str, Any]]) -> bool:
    spec, subprocess_specs = specs
    return any(
        getattr(getattr(process_spec, "start", None), "trigger_specs", None)
        for process_spec in [spec, *subprocess_specs.values()]
    )


def _connect_multi_instances(specs: tuple[Any, dict[str, Any]]) -> None:
    """SpiffWorkflow connects a multi-instance's merge to its instances' spec when it creates
    the first instance; a restored workflow needs it too. Done once, here, for shared specs
    (and in `_workflow` for private copies)."""
    spec, subprocess_specs = specs
    for process_spec in [spec, *subprocess_specs.values()]:
        for task_spec in process_spec.task_specs.values():
            if isinstance(task_spec, MultiInstanceTask):
                instance_spec = process_spec.task_specs[task_spec.task_spec]
                if not instance_spec.completed_event.is_connected(task_spec.merge_child):
                    instance_spec.completed_event.connect(task_spec.merge_child)


def _workflow(
    compiled: CompiledProcess, connectors: ConnectorCaller, state: Mapping[str, Any] | None
) -> Any:
    spec, subprocess_specs = compiled.fresh_specs()
    engine = SafeScriptEngine(connectors)
    if state is None:
        return KonvergoWorkflow(spec, subprocess_specs, script_engine=engine)
    dct = dict(state)
    workflow = KonvergoWorkflow(spec, subprocess_specs, script_engine=engine, deserializing=True)
    workflow.tasks = WORKFLOW_CONVERTER.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
    workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
    WORKFLOW_CONVERTER.set_default_attributes(workflow, dct)
    WORKFLOW_CONVERTER.subprocesses_from_dict(dict(dct["subprocesses"]), workflow)
    workflow.bpmn_events = REGISTRY.restore(dct.get("bpmn_events", []))
    _connect_multi_instances((workflow.spec, workflow.subprocess_specs))
    # SpiffWorkflow links a message/signal event sub-process into its process's spec only when
    # the event first starts it (BpmnStartTask.trigger_wf); our fresh spec copy lacks that
    # link, and a started event sub-process could then never finish ("No input task
    # connected"). Link those that have started, as the live spec would be.
    start = workflow.spec.start
    for name in start.trigger_specs:
        task_spec = workflow.spec.task_specs.get(name)
        started = task_spec is not None and workflow.get_tasks(spec_name=name)
        if started and start not in task_spec.inputs:
            start.connect(task_spec)
            task_spec.connect(workflow.spec.end)
    return workflow


def dump_state(workflow: Any) -> dict[str, Any]:
    state: dict[str, Any] = WORKFLOW_CONVERTER.to_dict(workflow)
    state["format"] = STATE_FORMAT
    return state


def _now() -> datetime:
    return datetime.now(UTC)


def _element(task: Any) -> str:
    return str(getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name)


def _kind(task: Any) -> str:
    """The element type: the SpiffWorkflow class our parser's class specialises (ServiceTask
    for our ConnectorTask, BoundaryEvent for RepeatingBoundaryEvent, ...)."""
    for cls in type(task.task_spec).__mro__:
        if cls.__module__.startswith("SpiffWorkflow."):
            return cls.__name__
    return type(task.task_spec).__name__


def _error_message(exc: BaseException) -> str:
    inner = getattr(exc, "error", None) or getattr(exc, "exception", None) or exc.__cause__
    text = str(inner or exc).strip() or exc.__class__.__name__
    return text.splitlines()[0][:1000]


class Runner:
    """Advances one instance; each action returns a Snapshot to persist in one transaction."""

    def __init__(
        self,
        compiled: CompiledProcess,
        *,
        state: Mapping[str, Any] | None = None,
        workflow: Any = None,
        connectors: ConnectorCaller = no_connectors,
    ) -> None:
        self.compiled = compiled
        if workflow is not None:
            workflow.script_engine = SafeScriptEngine(connectors)
            self.workflow = workflow
        else:
            self.workflow = _workflow(compiled, connectors, state)
        self.steps: list[Step] = []
        self.failures: list[FailedStep] = []
        # Repeating boundary events (cycles, non-interrupting messages...) fire without
        # completing; the parser's specs report each firing here to record it as a step.
        self.workflow.report_firing = self._record_firing

    # --- actions ------------------------------------------------------------------------------

    def start(self, variables: Mapping[str, Any]) -> Snapshot:
        start_task = self.workflow.get_next_task(spec_name="Start")
        if start_task is not None:
            start_task.data.update(variables)
        return self._advance()

    def complete_task(self, task_id: str, data: Mapping[str, Any]) -> Snapshot:
        task = self._task(task_id)
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotOpen(task_id)
        task.data.update(data)
        task.internal_data[COMPLETED_WITH] = sorted(data)  # a multi-instance merges these
        task.run()
        self._record(task)
        return self._advance()

    def fire_timers(self, task_ids: Iterable[str] = ()) -> Snapshot:
        """Fire the timers the database says are due, then any others SpiffWorkflow finds due.

        The timer table is the authority: SpiffWorkflow alone compares its own stored due time
        with the process clock, and a due row it did not fire would be tried forever.
        """
        past = (_now() - timedelta(microseconds=1)).isoformat()
        for task_id in task_ids:
            task = self._task(task_id)
            if task is None or task.state != TaskState.WAITING:
                continue
            value = task._get_internal_data("event_value")
            if isinstance(value, dict):  # a cycle: move its next occurrence, if not yet past
                # (only then: the following occurrence is `next` + the interval, so moving an
                # overdue `next` to now would shift the whole schedule by the sweep's delay)
                if datetime.fromisoformat(value["next"]) > datetime.fromisoformat(past):
                    value["next"] = past
            elif value is not None:
                task._set_internal_data(event_value=past)
        self.workflow.refresh_timers()
        return self._advance()

    def correlate(
        self, name: str, payload: Mapping[str, Any], *, signal: bool = False
    ) -> tuple[int, Snapshot]:
        """Deliver a message (or signal) to this instance; returns how many catch events took it."""
        definition: Any = (
            SignalEventDefinition(name) if signal else CamundaMessageEventDefinition(name)
        )
        # Camunda's message events keep the payload under "payload" and store it in the
        # catching task's data as `message`; its values also become process variables.
        event = BpmnEvent(
            definition,
            {"payload": dict(payload), "result_var": "message"} if not signal else dict(payload),
        )
        ready = {task.id for task in self.workflow.get_tasks(state=TaskState.READY)}
        matched = self.workflow.event_manager.catch(event, internal=False)
        if matched:
            # The payload becomes process data of the catching branch: the tasks the event made
            # ready (not user tasks of other branches that were ready before).
            for task in self.workflow.get_tasks(state=TaskState.READY):
                if task.id not in ready:
                    task.data.update(payload)
        return matched, self._advance()

    def retry(self, task_id: str) -> Snapshot:
        task = self._task(task_id)
        if task is None or task.state != TaskState.ERROR:
            raise TaskNotOpen(task_id)
        task._set_state(TaskState.READY)
        return self._advance()

    def move_token(self, from_element: str, to_element: str) -> Snapshot:
        """Take the tokens waiting at `from_element` and put them at `to_element` (an element
        of the same process level), as an administrator fixing a stuck or mis-routed case.

        The old tasks (and what was predicted after them) are removed; a fresh task for the
        target starts with the same data, so a user task opens anew and a timer starts anew.
        """
        workflow = self.workflow
        target = next(
            (
                s
                for s in workflow.spec.task_specs.values()
                if str(getattr(s, "bpmn_id", None) or "") == to_element
            ),
            None,
        )
        if target is None:
            raise TokenMoveRefused(f"the process has no element {to_element!r} at its top level")
        # An activity with boundary events is entered through SpiffWorkflow's split task, which
        # also arms the boundary events; enter (and leave) through it.
        splits = workflow.spec.task_specs
        target = splits.get(f"{target.name}.BoundaryEventSplit", target)
        active = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
        moved = [
            t
            for t in workflow.get_tasks(state=active)
            if _element(t) == from_element and t.workflow is workflow
        ]
        if not moved:
            raise TokenMoveRefused(f"no token waits at {from_element!r}")
        for task in moved:
            data = dict(task.data)
            if task.parent.task_spec.name == f"{task.task_spec.name}.BoundaryEventSplit":
                task = task.parent  # leave with its boundary events
            parent = task.parent
            for waiting in [task, *task.children]:
                workflow.event_manager.remove_task(waiting)
            workflow._remove_task(task.id)  # with the tasks predicted after it
            fresh = Task(workflow, target, parent, state=TaskState.FUTURE)
            # Lay out what follows it (a FUTURE task is only predicted when asked explicitly).
            target._predict(fresh, mask=TaskState.FUTURE | TaskState.PREDICTED_MASK)
            target._update(fresh)  # READY for activities, WAITING for catch events
            fresh.data.update(data)
            self._record_move(from_element, to_element)
        return self._advance()

    def _record_move(self, from_element: str, to_element: str) -> None:
        self.steps.append(
            Step(
                element_id=to_element,
                name=f"moved from {from_element}",
                kind="TokenMoved",
                finished_at=_now(),
            )
        )

    def set_variables(self, changes: Mapping[str, Any]) -> Snapshot:
        """Change the data every open path carries (nothing runs)."""
        active = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR
        for task in self.workflow.get_tasks(state=active):
            task.data.update(changes)
        return self._snapshot()

    def snapshot(self) -> Snapshot:
        return self._snapshot()

    # --- internals ----------------------------------------------------------------------------

    def _task(self, task_id: str) -> Any:
        try:
            return self.workflow.get_task_from_id(UUID(task_id))
        except (ValueError, KeyError, SpiffWorkflowException):
            return None

    def _record_firing(self, task: Any) -> None:
        self.steps.append(
            Step(
                element_id=_element(task),
                name=task.task_spec.bpmn_name or "",
                kind=_kind(task),
                finished_at=_now(),
            )
        )

    def _record(self, task: Any) -> None:
        if getattr(task.task_spec, "bpmn_id", None) is None:
            return  # SpiffWorkflow's own bookkeeping tasks (Start, EndJoin, ...), not elements
        if task.state != TaskState.COMPLETED:
            return  # ran without finishing: a connector threw a BPMN error, a boundary took over
        self.steps.append(
            Step(
                element_id=_element(task),
                name=task.task_spec.bpmn_name or "",
                kind=_kind(task),
                finished_at=_now(),
            )
        )

    def _advance(self) -> Snapshot:
        # Step until only waits remain. A failing element stops its own path (its task stays in
        # ERROR and becomes an incident); the other paths go on.
        for _ in range(1000):
            try:
                self.workflow.do_engine_steps(did_complete_task=self._record)
                break
            except (SpiffWorkflowException, expressions.ExpressionError, Exception) as exc:
                task = getattr(exc, "task", None)
                failed = [t for t in self.workflow.get_tasks(state=TaskState.ERROR)]
                if task is None and failed:
                    task = failed[-1]
                if task is None:
                    raise StepError(_error_message(exc), element_id="") from exc
                if task.state != TaskState.ERROR:
                    task.error()
                self.failures.append(
                    FailedStep(
                        task_id=str(task.id),
                        element_id=_element(task),
                        message=_error_message(exc),
                        data=_json_safe(task.data),
                    )
                )
        return self._snapshot()

    def _snapshot(self) -> Snapshot:
        workflow = self.workflow
        # One walk of the task tree for the open tasks and the variables (each walk costs as
        # much as a small step).
        active = workflow.get_tasks(state=_ACTIVE)
        open_tasks = [
            OpenTask(
                task_id=str(t.id),
                element_id=_element(t),
                name=t.task_spec.bpmn_name or _element(t),
                lane=t.task_spec.lane,
                extensions=dict(getattr(t.task_spec, "extensions", {}) or {}),
                data=_json_safe(t.data),
            )
            for t in active
            if t.state == TaskState.READY and t.task_spec.manual
        ]
        timers: list[PendingTimer] = []
        subscriptions: list[PendingMessage] = []
        for task in workflow.event_manager.tasks.values():
            definition = task.task_spec.event_definition
            # An event-based gateway waits for all the events after it (one task, a
            # MultipleEventDefinition): each one is a timer or subscription of the gateway.
            definitions = (
                definition.event_definitions
                if isinstance(definition, MultipleEventDefinition)
                else [definition]
            )
            for waited in definitions:
                if isinstance(waited, TimerEventDefinition):
                    due = _timer_due(task, waited)
                    if due is not None:
                        timers.append(PendingTimer(str(task.id), _element(task), due))
                elif isinstance(waited, MessageEventDefinition):
                    subscriptions.append(
                        PendingMessage(str(task.id), _element(task), waited.name, "message")
                    )
                elif isinstance(waited, SignalEventDefinition):
                    subscriptions.append(
                        PendingMessage(str(task.id), _element(task), waited.name, "signal")
                    )
        subscriptions += _event_subprocess_subscriptions(workflow)
        open_errors = [
            f
            for f in self.failures
            if (t := self._task(f.task_id)) is not None and t.state == TaskState.ERROR
        ]
        thrown = _thrown(workflow.get_events())  # taken out of the state: published once
        return Snapshot(
            state=dump_state(workflow),
            completed=bool(workflow.completed),
            variables=_variables(workflow, active),
            open_tasks=open_tasks,
            timers=timers,
            subscriptions=subscriptions,
            failures=open_errors,
            steps=list(self.steps),
            thrown=thrown,
            workflow=workflow,
        )


def _event_subprocess_subscriptions(workflow: Any) -> list[PendingMessage]:
    """A message or signal event sub-process listens while its process runs, but SpiffWorkflow
    creates no waiting task for it (it starts one when the event arrives): its subscription
    comes from the spec, under the id of the workflow's root task. (Event sub-processes nested
    in sub-processes are refused at deploy: SpiffWorkflow never starts them.)"""
    if workflow.completed:
        return []
    subscriptions = []
    for name in workflow.spec.start.trigger_specs:
        for start in getattr(workflow.subprocess_specs.get(name), "bpmn_start_events", []):
            waited = start.event_definition
            if isinstance(waited, MessageEventDefinition):
                kind = "message"
            elif isinstance(waited, SignalEventDefinition):
                kind = "signal"
            else:
                continue
            subscriptions.append(
                PendingMessage(str(workflow.task_tree.id), start.bpmn_id, waited.name, kind)
            )
    return subscriptions


def _thrown(events: list[Any]) -> list[ThrownEvent]:
    """Messages and signals for other instances. A message carries the value of its
    `camunda:expression` (a dictionary of variables; another value arrives as the variable
    `message`; without an expression, nothing); a signal carries no variables (Camunda
    passes none without `camunda:in`). Uncaught errors and escalations end here: as in
    Camunda, an error end event nothing catches acts as a none end event."""
    thrown = []
    for event in events:
        definition = event.event_definition
        if isinstance(definition, MessageEventDefinition):
            payload = event.payload.get("payload") if isinstance(event.payload, dict) else None
            if payload is None:
                payload = {}
            elif not isinstance(payload, dict):
                payload = {"message": payload}
            thrown.append(ThrownEvent("message", definition.name, _json_safe(payload)))
        elif isinstance(definition, SignalEventDefinition):
            thrown.append(ThrownEvent("signal", definition.name, {}))
    return thrown


def _timer_due(task: Any, definition: Any) -> datetime | None:
    value = task._get_internal_data("event_value")
    if value is None:
        return None
    if isinstance(definition, CycleTimerEventDefinition) or isinstance(value, dict):
        value = value.get("next") if isinstance(value, dict) else None
        if value is None:
            return None
    moment = TimerEventDefinition.get_datetime(value) if isinstance(value, str) else None
    return moment


_ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.ERROR


def _variables(workflow: Any, active: list[Any]) -> dict[str, Any]:
    """The process variables: the data of the open paths, or of the end when completed.
    `active`: the workflow's tasks in one of the `_ACTIVE` states, in tree order."""
    if workflow.completed:
        last = workflow.last_task
        return _json_safe({**(last.data if last is not None else {}), **workflow.data})
    merged: dict[str, Any] = {}
    # First the running (sub-)process and call activity tasks: while a called process runs, the
    # caller's variables are only there. Then the open paths, whose data is newer.
    for task in active:
        if task.state == TaskState.STARTED:
            merged.update(task.data)
    for task in active:
        if task.state != TaskState.STARTED:
            merged.update(task.data)
    return _json_safe(merged)


def _json_safe(data: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = REGISTRY.convert(REGISTRY.clean(dict(data)))
    return converted
