"""Checks a draft before it is saved or deployed, naming the element each problem is on.

Nothing is executed: the XML is read with lxml (no entities, no network), the engine's parser
is asked whether it would deploy it, and the sequence flows are walked to find elements no
token can reach.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from django.utils.translation import gettext as _
from lxml import etree

from konvergo.core.errors import BusinessError
from konvergo.processes.engine.errors import DeployError
from konvergo.processes.engine.parser import parse_bpmn
from konvergo.processes.forms import DEPLOYMENT_PREFIX, parse_forms
from konvergo.processes.registry import connector_names

logger = logging.getLogger(__name__)
BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
MAX_BYTES = 5 * 1024 * 1024
# Flow nodes a token passes through (everything in a process but flows, data and artefacts).
FLOW_NODES = {
    "task",
    "userTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "scriptTask",
    "manualTask",
    "businessRuleTask",
    "callActivity",
    "subProcess",
    "transaction",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
}


@dataclass(frozen=True)
class Problem:
    element_id: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


class InvalidXml(BusinessError):
    status = 422
    code = "invalid_model"


def _q(name: str, ns: str = BPMN_NS) -> str:
    return f"{{{ns}}}{name}"


def _local(node: Any) -> str:
    return str(etree.QName(node).localname) if isinstance(node.tag, str) else ""


def read_xml(xml: str | bytes, what: str = "BPMN") -> Any:
    """The parsed XML root, or InvalidXml (422) saying where it is broken."""
    raw = xml.encode() if isinstance(xml, str) else xml
    if len(raw) > MAX_BYTES:
        raise InvalidXml(_("The file is larger than 5 MB."))
    if not raw.strip():
        raise InvalidXml(_("The %(what)s file is empty.") % {"what": what})
    try:
        return etree.fromstring(
            raw, parser=etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        )
    except etree.XMLSyntaxError as exc:
        raise InvalidXml(
            _("The %(what)s file is not well-formed XML (line %(line)s): %(error)s")
            % {"what": what, "line": exc.lineno, "error": exc.msg},
            details={"line": exc.lineno},
        ) from None


def process_info(root: Any) -> tuple[str, str]:
    """(process id, name) of the first executable process (else the first process)."""
    processes = list(root.iter(_q("process")))
    if not processes:
        return "", ""
    chosen = next((p for p in processes if p.get("isExecutable") == "true"), processes[0])
    return chosen.get("id", ""), chosen.get("name", "") or chosen.get("id", "")


def unreachable_elements(root: Any) -> list[str]:
    """Ids of flow nodes no token can reach from a start event, per process and sub-process.

    Reached: start events (an event sub-process's own start too), whatever a sequence flow
    leads to from a reached node, boundary events on reached activities, and the contents of
    reached sub-processes (walked in turn).
    """
    found: list[str] = []
    for scope in [
        *root.iter(_q("process")),
        *root.iter(_q("subProcess")),
        *root.iter(_q("transaction")),
    ]:
        nodes = {n.get("id"): n for n in scope if _local(n) in FLOW_NODES and n.get("id")}
        if not nodes:
            continue
        outgoing: dict[str, list[str]] = {}
        for flow in scope.iter(_q("sequenceFlow")):
            if flow.getparent() is scope:
                outgoing.setdefault(flow.get("sourceRef", ""), []).append(flow.get("targetRef", ""))
        boundaries: dict[str, list[str]] = {}
        for node_id, node in nodes.items():
            if _local(node) == "boundaryEvent":
                boundaries.setdefault(node.get("attachedToRef", ""), []).append(node_id)
        starts = [i for i, n in nodes.items() if _local(n) == "startEvent"]
        # An event sub-process starts by its own event, not by a flow.
        starts += [
            i
            for i, n in nodes.items()
            if _local(n) == "subProcess" and n.get("triggeredByEvent") == "true"
        ]
        if not starts:
            # A (non-event) sub-process without a start event: its flow-less nodes start.
            targets = {t for ts in outgoing.values() for t in ts}
            starts = [
                i for i, n in nodes.items() if i not in targets and _local(n) != "boundaryEvent"
            ]
        seen: set[str] = set()
        todo = list(starts)
        while todo:
            current = todo.pop()
            if current in seen or current not in nodes:
                continue
            seen.add(current)
            todo.extend(outgoing.get(current, []))
            todo.extend(boundaries.get(current, []))
        found.extend(i for i in nodes if i not in seen)
    return found


def _form_keys(root: Any) -> Iterable[tuple[str, str]]:
    for task in root.iter(_q("userTask")):
        key = (task.get(_q("formKey", CAMUNDA_NS)) or "").strip()
        if key:
            yield task.get("id", ""), key


def _form_names(forms: Mapping[str, str]) -> set[str]:
    names = set()
    for file_name, content in forms.items():
        names.add(file_name)
        try:
            schema = json.loads(content)
        except ValueError:
            continue
        if isinstance(schema, dict) and schema.get("id"):
            names.add(str(schema["id"]))
    return names


def validate(
    *, bpmn_xml: str, dmn: Mapping[str, str] | None = None, forms: Mapping[str, str] | None = None
) -> list[Problem]:
    """Every problem of a draft, each on its element ("" for the whole diagram); empty: valid.

    Raises InvalidXml when the BPMN is not XML at all (nothing else can be checked then).
    """
    root = read_xml(bpmn_xml)
    problems: list[Problem] = []
    dmn = dmn or {}
    forms = forms or {}
    for name, content in dmn.items():
        try:
            read_xml(content, "DMN")
        except InvalidXml as exc:
            problems.append(Problem("", f"{name}: {exc.message}"))
    try:
        parse_forms({name: content for name, content in forms.items()})
    except BusinessError as exc:
        problems.append(Problem("", exc.message))
    known_forms = _form_names(forms)
    for element_id, key in _form_keys(root):
        name = key.removeprefix(DEPLOYMENT_PREFIX)
        if name not in known_forms:
            problems.append(
                Problem(
                    element_id,
                    _("The form %(form)s does not exist in this draft.") % {"form": name},
                )
            )
    for element_id in unreachable_elements(root):
        problems.append(Problem(element_id, _("No path leads to this element.")))
    if problems and any(p.element_id == "" for p in problems):
        return problems  # broken DMN or forms: the parser would only repeat it
    try:
        model = parse_bpmn(bpmn_xml.encode(), dmn=[content.encode() for content in dmn.values()])
    except DeployError as exc:
        problems.append(Problem(exc.element_id, exc.message))
        return problems
    except Exception as exc:  # the parser on anything a user drew: show it, never a 500
        logger.warning("parsing a draft failed unexpectedly", exc_info=True)
        problems.append(
            Problem("", _("The engine cannot read this diagram: %(error)s") % {"error": exc})
        )
        return problems
    known = connector_names()
    for name, element_id in sorted(model.connectors.items()):
        if name not in known:
            problems.append(
                Problem(element_id, _("There is no connector named %(name)s.") % {"name": name})
            )
    return problems
