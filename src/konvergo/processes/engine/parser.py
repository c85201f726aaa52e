"""Parse and validate BPMN/DMN as Camunda Modeler (Camunda 7), bpmn.io and our designer write it.

On top of SpiffWorkflow's Camunda parser this:
- keeps the Camunda 7 attributes of user and service tasks (assignee, candidateUsers,
  candidateGroups, dueDate, followUpDate, priority, formKey, topic, input/output mappings) in
  the task spec's `extensions`, for the service layer to read;
- turns service tasks into connector calls (`camunda:topic`, or `camunda:type="konvergo"`
  with a `connector` property, names the registered connector);
- rewrites timer texts the way Camunda reads them: plain ISO 8601 (`PT5M`, `2027-01-31T09:00:00Z`,
  `R3/PT1H`) becomes a string literal, `${expr}` becomes the expression;
- refuses, naming the element, what SpiffWorkflow cannot run.
"""

from __future__ import annotations

import ast
import re
from copy import deepcopy
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.event_parsers import EventBasedGatewayParser
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.control import BoundaryEventJoin
from SpiffWorkflow.bpmn.specs.data_spec import TaskDataReference
from SpiffWorkflow.bpmn.specs.defaults import (
    BoundaryEvent,
    CallActivity,
    EventBasedGateway,
    IntermediateCatchEvent,
    ServiceTask,
)
from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import (
    ErrorEventDefinition,
    EscalationEventDefinition,
    SignalEventDefinition,
)
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)
from SpiffWorkflow.bpmn.util.event import BpmnEvent
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.event_parsers import CamundaBoundaryEventParser
from SpiffWorkflow.camunda.parser.task_spec import (
    CAMUNDA_MODEL_NS,
    BusinessRuleTaskParser,
    CallActivityParser,
    CamundaTaskParser,
    UserTaskParser,
)
from SpiffWorkflow.camunda.specs.business_rule_task import BusinessRuleTask
from SpiffWorkflow.camunda.specs.event_definitions import (
    MessageEventDefinition as CamundaMessageEventDefinition,
)
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    ParallelMultiInstanceTask as CamundaParallelMultiInstanceTask,
)
from SpiffWorkflow.camunda.specs.multiinstance_task import (
    SequentialMultiInstanceTask as CamundaSequentialMultiInstanceTask,
)
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.util.task import TaskState

from konvergo.processes.engine.errors import BpmnError, DeployError
from konvergo.processes.engine.expressions import (
    ExpressionError,
    ExpressionSyntaxError,
    validate_expression,
)

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_ATTRIBUTES = (
    "assignee",
    "candidateUsers",
    "candidateGroups",
    "dueDate",
    "followUpDate",
    "priority",
    "formKey",
    "topic",
    "type",
    "class",
    "delegateExpression",
    "expression",
    "resultVariable",
    "calledElementBinding",
    "calledElementVersion",
    "decisionRef",
    "mapDecisionResult",
)
ISO_TIMER = re.compile(
    r"^(R\d*/)?([+-]?P[0-9YMWDTHS.,]+|\d{4}-\d{2}-\d{2}(T[0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?)"
    r"(/P[0-9YMWDTHS.,]+)?$"
)
# Elements SpiffWorkflow does not run correctly; deploy refuses them by name.
UNSUPPORTED = {
    "complexGateway": "complex gateways are not supported",
    "compensateEventDefinition": "compensation is not supported",
    "linkEventDefinition": "link events are not supported (SpiffWorkflow drops them silently)",
    "adHocSubProcess": "ad-hoc sub-processes are not supported",
}


class KonvergoTaskParserMixin(CamundaTaskParser):  # type: ignore[misc]
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions: dict[str, Any] = dict(super().parse_extensions(node))
        camunda = "{" + CAMUNDA_MODEL_NS + "}"
        for name in CAMUNDA_ATTRIBUTES:
            value = self.node.get(camunda + name)
            if value is not None:
                extensions[f"camunda:{name}"] = value
        inputs = {
            n.get("name"): (n.text or "").strip()
            for n in self.xpath(
                ".//bpmn:extensionElements/camunda:inputOutput/camunda:inputParameter"
            )
        }
        outputs = {
            n.get("name"): (n.text or "").strip()
            for n in self.xpath(
                ".//bpmn:extensionElements/camunda:inputOutput/camunda:outputParameter"
            )
        }
        if inputs:
            extensions["inputs"] = inputs
        if outputs:
            extensions["outputs"] = outputs
        for direction in ("in", "out"):  # a call activity's variable mappings
            mappings = self.xpath(f"./bpmn:extensionElements/camunda:{direction}")
            if mappings:
                extensions[f"camunda:{direction}"] = [dict(n.attrib) for n in mappings]
        return extensions


class KonvergoUserTaskParser(KonvergoTaskParserMixin, UserTaskParser):  # type: ignore[misc]
    pass


class ConnectorTask(ServiceTask):  # type: ignore[misc]
    """A service task that calls a registered connector through the script engine."""

    def _execute(self, task: Any) -> bool | None:
        connector = self.extensions.get("connector", "")
        try:
            return bool(
                task.workflow.script_engine.call_service(task, connector=connector, spec=self)
            )
        except BpmnError as error:
            _throw_error(task, error)
            return None  # the task waits (STARTED) until the boundary event cancels it


def _throw_error(task: Any, error: BpmnError) -> None:
    """Throw a connector's BPMN error from its task, as an error end event would: the catching
    error boundary event interrupts the task (left STARTED until then). Nothing catching it
    raises, so the task becomes an incident."""
    top = task.workflow.top_workflow
    event = BpmnEvent(
        ErrorEventDefinition(error.code, error.code), payload=error.variables, target=task.workflow
    )
    top.catch(event)
    if event in top.bpmn_events:  # SpiffWorkflow keeps uncaught events for the caller
        top.bpmn_events.remove(event)
        raise RuntimeError(f"{error} was not caught by an error boundary event") from None


class ConnectorTaskParser(KonvergoTaskParserMixin):
    def parse_extensions(self, node: Any = None) -> dict[str, Any]:
        extensions = super().parse_extensions(node)
        extensions["connector"] = (
            extensions.get("camunda:topic") or extensions.get("connector") or ""
        )
        return extensions

    def create_task(self) -> Any:
        if not self.parse_extensions()["connector"]:
            self.raise_validation_exception(
                "A service task must name its connector (camunda:topic, or a 'connector' property)"
            )
        return self.spec_class(self.spec, self.bpmn_id, **self.bpmn_attributes)


class DecisionTask(BusinessRuleTask):  # type: ignore[misc]
    """A business rule task as Camunda 7 runs it: the decision result goes to
    `camunda:resultVariable`, shaped by `camunda:mapDecisionResult` (singleEntry, singleResult,
    collectEntries, or resultList, the default). SpiffWorkflow ignores both attributes and merges
    every output into the data under its own name; that stays the behaviour without a result
    variable."""

    def _run_hook(self, my_task: Any) -> bool:
        result_variable = self.extensions.get("camunda:resultVariable")
        if not result_variable:
            return bool(super()._run_hook(my_task))
        table = self.dmnEngine.decision_table
        rules = self.dmnEngine.decide(my_task)  # UNIQUE stops at the first match
        if table.hit_policy != "COLLECT":
            rules = rules[:1]  # FIRST and ANY: the first match
        results = [dict(rule.output_as_dict(my_task)) for rule in rules]
        mapping = self.extensions.get("camunda:mapDecisionResult") or "resultList"
        my_task.data[result_variable] = _map_decision_result(results, mapping)
        return True


def _map_decision_result(results: list[dict[str, Any]], mapping: str) -> Any:
    """Camunda's `mapDecisionResult`; the same refusals as Camunda, as StepErrors' text."""
    if mapping == "resultList":
        return results
    if mapping == "collectEntries":
        if any(len(result) > 1 for result in results):
            raise ValueError("collectEntries needs a decision with exactly one output")
        return [next(iter(result.values())) for result in results]
    if len(results) > 1:
        raise ValueError(f"{mapping} needs at most one matching rule, {len(results)} matched")
    if not results:
        return None
    if mapping == "singleResult":
        return results[0]
    if len(results[0]) > 1:  # singleEntry
        raise ValueError("singleEntry needs a decision with exactly one output")
    return next(iter(results[0].values()))


class DecisionTaskParser(KonvergoTaskParserMixin, BusinessRuleTaskParser):  # type: ignore[misc]
    def create_task(self) -> Any:
        # SpiffWorkflow's parser hard-codes its own BusinessRuleTask class.
        engine = self.process_parser.parser.get_engine(self.get_decision_ref(self.node), self.node)
        return self.spec_class(self.spec, self.bpmn_id, dmnEngine=engine, **self.bpmn_attributes)


class FirstEventGateway(EventBasedGateway):  # type: ignore[misc]
    """An event-based gateway that follows only the first of its events.

    SpiffWorkflow's gateway follows every event it has seen when it runs: a message arriving
    after a timer of the gateway was due, but before the timer sweep fired it, took both paths.
    """

    def _run_hook(self, my_task: Any) -> bool:
        seen = my_task.internal_data.get("seen_events", [])
        my_task.internal_data["seen_events"] = seen[:1]
        return bool(super()._run_hook(my_task))


# Internal data of a call activity whose camunda:out failed: its retry maps again.
MAP_OUT_AGAIN = "konvergo_map_out_again"
SPAWNED = "konvergo_spawned"  # internal data of a repeating boundary event: its paths' task ids


class KeepPathsBoundaryEventJoin(BoundaryEventJoin):  # type: ignore[misc]
    """Ends the boundary events of an activity when it finishes, but keeps the paths that
    non-interrupting boundary events (cycle timers, RepeatingBoundaryEvent) have started.

    SpiffWorkflow starts each such path as a child of the still waiting boundary event and, when
    the activity completes, cancels that event together with its unfinished children: an open
    "reminder" user task simply vanished. In BPMN those paths live on (the process ends after
    them). Every BoundaryEventJoin of a parsed model is made one of these (_prepare_specs).
    """

    def _check_threshold_structured(self, my_task: Any) -> tuple[bool, list[Any]]:
        finished, cancel = super()._check_threshold_structured(my_task)
        keep = []
        for task in cancel:
            spec = task.task_spec
            if not isinstance(spec, BoundaryEvent) or spec.cancel_activity:
                keep.append(task)
                continue
            every_child = isinstance(spec.event_definition, CycleTimerEventDefinition)
            spawned = set(task.internal_data.get(SPAWNED, []))
            started = [
                child
                for child in task.children
                if not isinstance(child.task_spec, BoundaryEventJoin)
                and (every_child or str(child.id) in spawned)
            ]
            if not started:
                keep.append(task)
                continue
            # Cancel only the event: it stops waiting, the paths it started go on (wherever
            # their tokens are), its other children go (its joins would be cancelled when this
            # join fires anyway).
            for child in task.children:
                if child not in started and child.has_state(TaskState.NOT_FINISHED_MASK):
                    task.workflow._remove_task(child.id)
            task.workflow.top_workflow.event_manager.remove_task(task)
            task._set_state(TaskState.CANCELLED)
        return finished, keep


class RepeatingBoundaryEvent(BoundaryEvent):  # type: ignore[misc]
    """A boundary event; when non-interrupting and waiting for a message, signal or escalation,
    it starts its path each time the event arrives while the activity runs (Camunda 7 does;
    SpiffWorkflow's fires once and stops listening). Cycle timers already repeat."""

    def catch(self, my_task: Any, event: Any) -> None:
        if _caught_by_code(my_task, event):
            return  # the event stays unfired: this boundary event keeps waiting
        if self.cancel_activity or not isinstance(
            self.event_definition,
            (MessageEventDefinition, SignalEventDefinition, EscalationEventDefinition),
        ):
            super().catch(my_task, event)
            return
        # As SpiffWorkflow's cycle timer does: a new child path per event, this task waits on.
        self.event_definition.catch(my_task, event)
        self.event_definition.update_task_data(my_task)
        self.event_definition.reset(my_task)
        _report_firing(my_task)
        for output in self.outputs:
            child = my_task._add_child(output, TaskState.FUTURE)
            my_task.internal_data.setdefault(SPAWNED, []).append(str(child.id))
            child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
            child.task_spec._update(child)

    def _update_hook(self, my_task: Any) -> Any:
        children = len(my_task.children)
        result = super()._update_hook(my_task)
        if len(my_task.children) > children and isinstance(
            self.event_definition, CycleTimerEventDefinition
        ):
            _report_firing(my_task)  # a cycle fired: it started a path and waits on
        return result


def _report_firing(my_task: Any) -> None:
    """Tell the runner a waiting event fired (it does not complete, so no step records it)."""
    report = getattr(my_task.workflow.top_workflow, "report_firing", None)
    if report is not None:
        report(my_task)


def _caught_by_code(my_task: Any, event: Any) -> bool:
    """Whether `my_task`, an error or escalation boundary event without a code, must leave
    `event` to another boundary event of the same activity that catches it by its code.
    (SpiffWorkflow let both catch it: two paths for one error.)"""
    if getattr(my_task.task_spec.event_definition, "code", False) is not None:
        return False
    for sibling in my_task.parent.children:
        if sibling is my_task or not isinstance(sibling.task_spec, BoundaryEvent):
            continue
        definition = sibling.task_spec.event_definition
        if getattr(definition, "code", None) is not None and definition.catches(sibling, event):
            return True
    return False


class MappedCallActivity(CallActivity):  # type: ignore[misc]
    """A call activity passing variables as Camunda's `camunda:in` / `camunda:out` say
    (`source`, `sourceExpression`, `target`, `variables="all"`); SpiffWorkflow ignores them and
    copies every variable both ways. A direction without mappings keeps that behaviour
    (Camunda would pass nothing). `businessKey` mappings are ignored: the called process runs
    inside the calling instance, under its business key."""

    def copy_data(self, my_task: Any, subworkflow: Any) -> None:
        mappings = self.extensions.get("camunda:in")
        if mappings is None:
            super().copy_data(my_task, subworkflow)
            return
        start = subworkflow.get_next_task(
            subworkflow.task_tree, skip_subprocesses=True, spec_name="Start"
        )
        start.set_data(**_mapped(mappings, my_task.data, my_task))

    def update_data(self, my_task: Any, subworkflow: Any) -> None:
        mappings = self.extensions.get("camunda:out")
        if mappings is None:
            super().update_data(my_task, subworkflow)
            return
        try:
            my_task.data.update(_mapped(mappings, subworkflow.last_task.data, my_task))
        except Exception as exc:
            # An incident on the call activity; its retry maps again (_run_hook).
            my_task.internal_data[MAP_OUT_AGAIN] = True
            my_task._set_state(TaskState.ERROR)
            raise WorkflowTaskException(str(exc), task=my_task, exception=exc) from exc

    def _run_hook(self, my_task: Any) -> Any:
        if my_task.internal_data.pop(MAP_OUT_AGAIN, False):
            self.update_data(my_task, my_task.workflow.top_workflow.get_subprocess(my_task))
        return super()._run_hook(my_task)


def _mapped(mappings: list[dict[str, str]], source: dict[str, Any], my_task: Any) -> dict[str, Any]:
    environment = my_task.workflow.script_engine.environment
    mapped: dict[str, Any] = {}
    for mapping in mappings:
        if mapping.get("variables") == "all":
            mapped.update(deepcopy(source))
        elif "sourceExpression" in mapping:
            mapped[mapping["target"]] = environment.evaluate(mapping["sourceExpression"], source)
        elif "source" in mapping and mapping["source"] in source:
            target = mapping.get("target") or mapping["source"]
            mapped[target] = deepcopy(source[mapping["source"]])
    return mapped


class MappedCallActivityParser(KonvergoTaskParserMixin, CallActivityParser):  # type: ignore[misc]
    pass


COMPLETED_WITH = "konvergo_completed_with"  # a user task's internal data: the keys it was
# completed with (the runtime sets it), which a multi-instance merges into the process


def _merge_completion(mi_spec: Any, child: Any) -> None:
    """Camunda sets the variables a multi-instance user task is completed with on the process
    (the last completion wins); SpiffWorkflow merges back only the element variable into the
    collection and drops the rest. The element variable stays local, as in Camunda."""
    element = mi_spec.output_item.bpmn_id if mi_spec.output_item is not None else None
    for key in child.internal_data.get(COMPLETED_WITH, []):
        if key != element and key in child.data:
            child.parent.data[key] = deepcopy(child.data[key])


class ParallelMultiInstance(CamundaParallelMultiInstanceTask):  # type: ignore[misc]
    def merge_child(self, workflow: Any, child: Any) -> None:
        super().merge_child(workflow, child)
        _merge_completion(self, child)


class SequentialMultiInstance(CamundaSequentialMultiInstanceTask):  # type: ignore[misc]
    def merge_child(self, workflow: Any, child: Any) -> None:
        _merge_completion(self, child)  # before the next instance copies the data
        super().merge_child(workflow, child)


MULTI_INSTANCE_CLASSES = {
    CamundaParallelMultiInstanceTask: ParallelMultiInstance,
    CamundaSequentialMultiInstanceTask: SequentialMultiInstance,
}
VARIABLE_TEMPLATE = re.compile(r"^[$#]\{\s*([A-Za-z][A-Za-z0-9_]*)\s*\}$")


def _prepare_multi_instance(task_spec: Any, element_id: str) -> None:
    """Our multi-instance classes (created by SpiffWorkflow's Camunda parser, whichever element
    carries the loop), `camunda:collection="${items}"` read as the variable `items`, and the
    input references set now.

    SpiffWorkflow's Camunda multi-instance sets its input collection and element variable on
    the spec when it starts (update_task_spec); a fresh spec copy after a reload lacked them: a
    sequential one then ended after its first instance, and later instances lost the element
    variable. Set here, they are part of every copy (update_task_spec sets the same again).
    `loopCardinality` must be a number, as in Camunda (not a collection, as SpiffWorkflow
    would also accept).
    """
    task_spec.__class__ = MULTI_INSTANCE_CLASSES[type(task_spec)]
    element = task_spec.output_item
    task_spec.input_item = TaskDataReference(element.bpmn_id) if element is not None else None
    collection = task_spec.data_output
    if task_spec.cardinality is not None or collection is None:
        return
    name = collection.bpmn_id
    if match := VARIABLE_TEMPLATE.match(name):
        collection.bpmn_id = collection.name = match.group(1)
    elif not name.isidentifier():
        raise DeployError(
            f"camunda:collection {name!r} must name a variable (`items` or `${{items}}`)",
            element_id=element_id,
        )
    task_spec.data_input = TaskDataReference(collection.bpmn_id)


class KonvergoParser(CamundaParser):  # type: ignore[misc]
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (KonvergoUserTaskParser, UserTask),
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
        full_tag("eventBasedGateway"): (EventBasedGatewayParser, FirstEventGateway),
        full_tag("boundaryEvent"): (CamundaBoundaryEventParser, RepeatingBoundaryEvent),
        full_tag("callActivity"): (MappedCallActivityParser, MappedCallActivity),
        full_tag("serviceTask"): (ConnectorTaskParser, ConnectorTask),
        full_tag("sendTask"): (ConnectorTaskParser, ConnectorTask),
    }


@dataclass
class ParsedModel:
    """What deploy needs from a BPMN file: its executable processes and their specs."""

    process_ids: list[str]
    names: dict[str, str]
    specs: dict[str, Any] = field(repr=False)  # process id -> spec (SpiffWorkflow objects)
    subprocess_specs: dict[str, dict[str, Any]] = field(repr=False)
    messages: list[str] = field(default_factory=list)
    connectors: dict[str, str] = field(default_factory=dict)  # connector name -> element id


def _refuse_unsupported(root: Any) -> None:
    for local_name, reason in UNSUPPORTED.items():
        for node in root.iter(f"{{{BPMN_NS}}}{local_name}"):
            owner = node if node.get("id") else node.getparent()
            raise DeployError(reason, element_id=owner.get("id", ""))
    listening: set[str] = set()  # processes with a message or signal event sub-process
    for sub in root.iter(f"{{{BPMN_NS}}}subProcess"):
        if sub.get("triggeredByEvent") != "true":
            continue
        for start in sub.iter(f"{{{BPMN_NS}}}startEvent"):
            for kind in ("errorEventDefinition", "escalationEventDefinition"):
                if start.find(f"{{{BPMN_NS}}}{kind}") is not None:
                    raise DeployError(
                        "event sub-processes started by error or escalation are not supported",
                        element_id=sub.get("id", ""),
                    )
            if not any(
                start.find(f"{{{BPMN_NS}}}{kind}") is not None
                for kind in ("messageEventDefinition", "signalEventDefinition")
            ):
                continue
            # SpiffWorkflow starts these only from the top level of the instance's process.
            if sub.getparent().tag != f"{{{BPMN_NS}}}process":
                raise DeployError(
                    "an event sub-process started by a message or signal must be at the top "
                    "level of its process, not inside a sub-process (it would never start)",
                    element_id=sub.get("id", ""),
                )
            listening.add(sub.getparent().get("id", ""))
    for call in root.iter(f"{{{BPMN_NS}}}callActivity"):
        if call.get("calledElement") in listening:
            raise DeployError(
                f"the called process {call.get('calledElement')!r} has an event sub-process "
                "started by a message or signal, which would never start in a call activity",
                element_id=call.get("id", ""),
            )


# DMN hit policies SpiffWorkflow runs as Camunda does. UNIQUE returns the first matching rule
# (it does not fail on overlaps); FIRST and ANY (for a valid ANY table) give the first match;
# COLLECT gives every match, without aggregation.
DMN_HIT_POLICIES = {"UNIQUE", "FIRST", "ANY", "COLLECT"}
# A `?` outside quotes stands for the input value (the same pattern as SpiffWorkflow's DMNEngine).
DMN_INPUT_MARK = re.compile(r"(\?)(?=(?:[^\'\"]|[\'\"][^\'\"]*[\'\"])*$)")


def _parse_xml(xml: bytes, what: str) -> Any:
    try:
        return etree.fromstring(
            xml, parser=etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError as exc:
        raise DeployError(f"the {what} is not well-formed XML: {exc}", line=exc.lineno) from None


def _local(node: Any) -> str:
    return str(etree.QName(node).localname) if isinstance(node.tag, str) else ""


def _children(node: Any, name: str) -> list[Any]:
    return [child for child in node if _local(child) == name]


def _text(node: Any) -> str:
    texts = _children(node, "text")
    return (texts[0].text or "").strip() if texts else ""


def _check_dmn(root: Any) -> None:
    """Refuse what SpiffWorkflow's DMN engine would run differently from Camunda, and cells
    that do not parse in our language (cells are expressions, not FEEL: docs/expressions.md)."""
    if _local(root) != "definitions":
        raise DeployError("the DMN file is not a DMN document (no definitions root)")
    decisions = _children(root, "decision")
    if len(decisions) != 1:
        raise DeployError(
            "a DMN file must hold exactly one decision (SpiffWorkflow reads only the first); "
            "put each decision in its own file",
            element_id=decisions[1].get("id", "") if decisions else root.get("id", ""),
        )
    decision = decisions[0]
    tables = _children(decision, "decisionTable")
    if not tables:
        raise DeployError(
            "only decision tables are supported (no literal expressions or DRD chains)",
            element_id=decision.get("id", ""),
        )
    table = tables[0]
    table_id = table.get("id", "") or decision.get("id", "")
    policy = (table.get("hitPolicy") or "UNIQUE").upper()
    if policy not in DMN_HIT_POLICIES:
        raise DeployError(
            f"hit policy {policy} is not supported (only UNIQUE, FIRST, ANY and COLLECT)",
            element_id=table_id,
        )
    if table.get("aggregation"):
        raise DeployError(
            f"COLLECT with aggregation {table.get('aggregation')} is not supported",
            element_id=table_id,
        )
    for entry in _children(table, "input"):
        expression = next(iter(_children(entry, "inputExpression")), None)
        text = _text(expression) if expression is not None else ""
        if not text:
            raise DeployError(
                "a DMN input needs an input expression", element_id=entry.get("id", "")
            )
        _check(text, entry.get("id", ""))
    for rule in _children(table, "rule"):
        for cell in _children(rule, "inputEntry"):
            _check_input_cell(_text(cell), rule.get("id", ""))
        for cell in _children(rule, "outputEntry"):
            if text := _text(cell):
                _check(text, rule.get("id", ""))


def _check_input_cell(text: str, rule_id: str) -> None:
    """An input cell as DMNEngine reads it: `-`/empty (any), a value, a test such as `> 1000`,
    or an expression with `?` standing for the input."""
    if text in ("", "-"):
        return
    if re.match(r"^not\s*\(", text):
        raise DeployError(
            f"the input cell {text!r} is FEEL; write `!= value` or `? not in [...]`",
            element_id=rule_id,
        )
    if DMN_INPUT_MARK.search(text):
        _check(DMN_INPUT_MARK.sub("dmninputexpr", text), rule_id)
        return
    try:
        validate_expression(text)
    except ExpressionSyntaxError:
        _check(f"dmninputexpr {text}", rule_id)  # a test: `> 1000`, `in [...]`
        return
    except ExpressionError as exc:
        raise DeployError(
            f"the input cell {text!r} does not parse: {exc}", element_id=rule_id
        ) from None
    if "," in text and _is_bare_tuple(text):
        raise DeployError(
            f"the input cell {text!r} is a FEEL list; write `? in [...]`", element_id=rule_id
        )


def _is_bare_tuple(text: str) -> bool:
    """Whether `text` is a bare tuple (`"a", "b"`): FEEL's list of values in a DMN cell, which
    our language would compare as one tuple (never equal to the input)."""
    try:
        body = ast.parse(text, mode="eval").body
    except SyntaxError:
        return False
    return isinstance(body, ast.Tuple) and not text.lstrip().startswith("(")


class FirstOccurrenceTimer(TimeDateEventDefinition):  # type: ignore[misc]
    """A cycle (`R3/PT1H`) on an intermediate catch event: it fires once, at the first
    occurrence, as in Camunda 7. SpiffWorkflow's cycle timer sends a token down the flow at
    every occurrence and completes the event only after the last one (never for `R/...`)."""

    def __init__(self, cycle: Any) -> None:
        super().__init__(cycle.name, cycle.expression, description=cycle.description)

    def has_fired(self, my_task: Any) -> bool:
        if my_task._get_internal_data("event_value") is None:
            text = my_task.workflow.script_engine.evaluate(my_task, self.expression)
            _cycles, start, _duration = TimerEventDefinition.parse_iso_recurring_interval(text)
            my_task._set_internal_data(event_value=start.isoformat())
        return bool(super().has_fired(my_task))


def timer_expression(text: str) -> str:
    """Camunda's timer text as an expression of our language."""
    stripped = text.strip()
    if stripped.startswith(("${", "#{")) and stripped.endswith("}"):
        return stripped[2:-1].strip()
    if ISO_TIMER.match(stripped):
        return repr(stripped)
    return stripped


def _prepare_specs(specs: list[Any]) -> dict[str, str]:
    """Rewrite timer texts, check expressions parse, collect connector names."""
    connectors: dict[str, str] = {}
    for spec in specs:
        for task_spec in spec.task_specs.values():
            if type(task_spec) is BoundaryEventJoin:  # created by SpiffWorkflow's TaskParser
                task_spec.__class__ = KeepPathsBoundaryEventJoin
            element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
            if type(task_spec) in MULTI_INSTANCE_CLASSES:
                _prepare_multi_instance(task_spec, element_id)
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(task_spec, IntermediateCatchEvent) and isinstance(
                definition, CycleTimerEventDefinition
            ):
                definition = task_spec.event_definition = FirstOccurrenceTimer(definition)
            # An event-based gateway holds the definitions of the events after it.
            waited = getattr(definition, "event_definitions", None)
            if waited is not None:
                waited[:] = [
                    FirstOccurrenceTimer(d) if isinstance(d, CycleTimerEventDefinition) else d
                    for d in waited
                ]
            for timer in [definition, *(waited or [])]:
                if isinstance(timer, TimerEventDefinition):
                    timer.expression = timer_expression(timer.expression or "")
                    _check(timer.expression, element_id)
            if isinstance(definition, CamundaMessageEventDefinition):
                # A thrown message carries the value of `camunda:expression`; without one,
                # SpiffWorkflow would evaluate None and fail: it carries no variables.
                if definition.expression:
                    _check(definition.expression, element_id)
                else:
                    definition.expression = "{}"
            for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
                text = getattr(condition, "args", [None])[0] if condition is not None else None
                if isinstance(text, str):
                    _check(text, element_id)
            for text in _extension_expressions(task_spec):
                _check(text, element_id)
            if isinstance(task_spec, ConnectorTask):
                connectors.setdefault(task_spec.extensions["connector"], element_id)
            script = getattr(task_spec, "script", None)
            if isinstance(script, str):
                from konvergo.processes.engine.expressions import validate_script

                try:
                    validate_script(script)
                except ExpressionError as exc:
                    raise DeployError(
                        f"script does not parse: {exc}", element_id=element_id
                    ) from None
    return connectors


# Camunda attributes that may be `${...}`: evaluated on the task data when a user task opens.
TEMPLATE_ATTRIBUTES = (
    "assignee",
    "candidateUsers",
    "candidateGroups",
    "dueDate",
    "followUpDate",
    "priority",
)


def _extension_expressions(task_spec: Any) -> list[str]:
    """The expressions of a task outside conditions and scripts, to check at deploy: `${...}`
    attributes, input/output parameters, call activity mappings, multi-instance loop texts."""
    extensions = getattr(task_spec, "extensions", None) or {}
    texts = [extensions.get(f"camunda:{name}", "") for name in TEMPLATE_ATTRIBUTES]
    texts += [*extensions.get("inputs", {}).values(), *extensions.get("outputs", {}).values()]
    texts = [text for text in texts if text.startswith(("${", "#{"))]
    for mapping in [*extensions.get("camunda:in", []), *extensions.get("camunda:out", [])]:
        if "sourceExpression" in mapping:
            texts.append(mapping["sourceExpression"])
    for loop_text in ("cardinality", "condition"):  # multi-instance
        value = getattr(task_spec, loop_text, None)
        if isinstance(value, str) and value.strip():
            texts.append(value)
    return texts


def _check(expression: str, element_id: str) -> None:
    try:
        validate_expression(expression)
    except ExpressionError as exc:
        raise DeployError(
            f"expression {expression!r} does not parse: {exc}", element_id=element_id
        ) from None


def parse_bpmn(xml: bytes, *, dmn: list[bytes] | None = None) -> ParsedModel:
    """Parse, validate and prepare a BPMN document (and the DMN files it uses)."""
    root = _parse_xml(xml, "file")
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise DeployError("the file is not a BPMN 2.0 document (no bpmn:definitions root)")
    _refuse_unsupported(root)
    dmn_roots = [_parse_xml(dmn_xml, "DMN file") for dmn_xml in dmn or []]
    for dmn_root in dmn_roots:
        _check_dmn(dmn_root)
    parser = KonvergoParser()
    try:
        for dmn_root in dmn_roots:
            # Our parse of the XML (no entities, no network), not SpiffWorkflow's add_dmn_str.
            parser.add_dmn_xml(dmn_root, filename="decision.dmn")
        parser.add_bpmn_xml(root, filename="model.bpmn")
        process_ids = parser.get_process_ids()
        if not process_ids:
            raise DeployError('the file has no executable process (isExecutable="true")')
        specs = {pid: parser.get_spec(pid) for pid in process_ids}
        subprocess_specs = {pid: parser.get_subprocess_specs(pid) for pid in process_ids}
    except ValidationException as exc:
        message = str(exc).split("\n")[0].strip()
        if message.startswith("Multiple outgoing flows are not supported"):
            message = (
                "an activity or event with several outgoing flows (an implicit split) is not "
                "supported; add a parallel or inclusive gateway"
            )
        raise DeployError(message, element_id=exc.id, line=exc.line_number or None) from None
    except SpiffWorkflowException as exc:
        raise DeployError(str(exc)) from None
    all_specs = list(specs.values()) + [
        s for subs in subprocess_specs.values() for s in subs.values() if s is not None
    ]
    connectors = _prepare_specs(all_specs)
    names = {pid: (specs[pid].description or pid) for pid in process_ids}
    messages = sorted({m.get("name", "") for m in root.iter(f"{{{BPMN_NS}}}message")})
    return ParsedModel(
        process_ids=process_ids,
        names=names,
        specs=specs,
        subprocess_specs=subprocess_specs,
        messages=messages,
        connectors=connectors,
    )
