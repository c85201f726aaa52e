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

import re
from dataclasses import dataclass, field
from typing import Any

from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import full_tag
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition
from SpiffWorkflow.camunda.parser.CamundaParser import CamundaParser
from SpiffWorkflow.camunda.parser.task_spec import (
    CAMUNDA_MODEL_NS,
    CamundaTaskParser,
    UserTaskParser,
)
from SpiffWorkflow.camunda.specs.user_task import UserTask
from SpiffWorkflow.exceptions import SpiffWorkflowException

from konvergo.processes.engine.errors import DeployError
from konvergo.processes.engine.expressions import ExpressionError, validate_expression

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
        return extensions


class KonvergoUserTaskParser(KonvergoTaskParserMixin, UserTaskParser):  # type: ignore[misc]
    pass


class ConnectorTask(ServiceTask):  # type: ignore[misc]
    """A service task that calls a registered connector through the script engine."""

    def _execute(self, task: Any) -> bool:
        connector = self.extensions.get("connector", "")
        return bool(task.workflow.script_engine.call_service(task, connector=connector, spec=self))


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


class KonvergoParser(CamundaParser):  # type: ignore[misc]
    OVERRIDE_PARSER_CLASSES = {
        **CamundaParser.OVERRIDE_PARSER_CLASSES,
        full_tag("userTask"): (KonvergoUserTaskParser, UserTask),
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
            element_id = getattr(task_spec, "bpmn_id", None) or task_spec.name
            definition = getattr(task_spec, "event_definition", None)
            if isinstance(definition, TimerEventDefinition):
                definition.expression = timer_expression(definition.expression or "")
                _check(definition.expression, element_id)
            for condition, _target in getattr(task_spec, "cond_task_specs", []) or []:
                text = getattr(condition, "args", [None])[0] if condition is not None else None
                if isinstance(text, str):
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


def _check(expression: str, element_id: str) -> None:
    try:
        validate_expression(expression)
    except ExpressionError as exc:
        raise DeployError(
            f"expression {expression!r} does not parse: {exc}", element_id=element_id
        ) from None


def parse_bpmn(xml: bytes, *, dmn: list[bytes] | None = None) -> ParsedModel:
    """Parse, validate and prepare a BPMN document (and the DMN files it uses)."""
    try:
        root = etree.fromstring(
            xml, parser=etree.XMLParser(resolve_entities=False, no_network=True)
        )
    except etree.XMLSyntaxError as exc:
        raise DeployError(f"the file is not well-formed XML: {exc}", line=exc.lineno) from None
    if root.tag != f"{{{BPMN_NS}}}definitions":
        raise DeployError("the file is not a BPMN 2.0 document (no bpmn:definitions root)")
    _refuse_unsupported(root)
    parser = KonvergoParser()
    try:
        for dmn_xml in dmn or []:
            parser.add_dmn_str(dmn_xml)
        parser.add_bpmn_xml(root, filename="model.bpmn")
        process_ids = parser.get_process_ids()
        if not process_ids:
            raise DeployError('the file has no executable process (isExecutable="true")')
        specs = {pid: parser.get_spec(pid) for pid in process_ids}
        subprocess_specs = {pid: parser.get_subprocess_specs(pid) for pid in process_ids}
    except ValidationException as exc:
        raise DeployError(
            str(exc).split("\n")[0], element_id=exc.id, line=exc.line_number or None
        ) from None
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
