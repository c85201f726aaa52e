"""Small Camunda 7 models for the inbox tests: a start event, user tasks in a row, an end event,
optionally in lanes and with boundary timers; with diagram shapes, so bpmn-js can draw them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:di="http://www.omg.org/spec/DD/20100524/DI" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" '
    'targetNamespace="http://bpmn.io/schema/bpmn">\n'
)


def user_tasks_xml(
    process_id: str,
    tasks: Sequence[Mapping[str, Any]],
    *,
    lanes: Mapping[str, Sequence[str]] | None = None,
    name: str = "",
) -> str:
    """`tasks`: dicts with `id`, optional `name`, `attrs` (camunda attributes without the
    prefix), `properties` (camunda:properties) and `timer` (a boundary timer duration)."""
    ids = ["start", *(t["id"] for t in tasks), "end"]
    body = [
        f'<bpmn:process id="{process_id}" name={quoteattr(name or process_id)} isExecutable="true">'
    ]
    if lanes:
        body.append('<bpmn:laneSet id="lanes">')
        for index, (lane, members) in enumerate(lanes.items()):
            refs = "".join(f"<bpmn:flowNodeRef>{m}</bpmn:flowNodeRef>" for m in members)
            body.append(f'<bpmn:lane id="lane_{index}" name={quoteattr(lane)}>{refs}</bpmn:lane>')
        body.append("</bpmn:laneSet>")
    body.append('<bpmn:startEvent id="start"/>')
    for task in tasks:
        attrs = "".join(
            f" camunda:{key}={quoteattr(str(value))}"
            for key, value in task.get("attrs", {}).items()
        )
        props = task.get("properties") or {}
        extension = ""
        if props:
            items = "".join(
                f"<camunda:property name={quoteattr(k)} value={quoteattr(str(v))}/>"
                for k, v in props.items()
            )
            extension = (
                f"<bpmn:extensionElements><camunda:properties>{items}</camunda:properties>"
                "</bpmn:extensionElements>"
            )
        label = quoteattr(task.get("name", task["id"]))
        body.append(
            f'<bpmn:userTask id="{task["id"]}" name={label}{attrs}>{extension}</bpmn:userTask>'
        )
        if task.get("timer"):
            body.append(
                f'<bpmn:boundaryEvent id="{task["id"]}_timer" attachedToRef="{task["id"]}" '
                f'cancelActivity="false"><bpmn:outgoing>{task["id"]}_timer_flow</bpmn:outgoing>'
                f"<bpmn:timerEventDefinition><bpmn:timeDuration>{task['timer']}</bpmn:timeDuration>"
                "</bpmn:timerEventDefinition></bpmn:boundaryEvent>"
                f'<bpmn:endEvent id="{task["id"]}_timer_end"/>'
                f'<bpmn:sequenceFlow id="{task["id"]}_timer_flow" sourceRef="{task["id"]}_timer" '
                f'targetRef="{task["id"]}_timer_end"/>'
            )
    body.append('<bpmn:endEvent id="end"/>')
    for index in range(len(ids) - 1):
        body.append(
            f'<bpmn:sequenceFlow id="flow_{index}" sourceRef="{ids[index]}" '
            f'targetRef="{ids[index + 1]}"/>'
        )
    body.append("</bpmn:process>")
    # Diagram: a row of shapes.
    body.append(
        f'<bpmndi:BPMNDiagram id="diagram"><bpmndi:BPMNPlane id="plane" bpmnElement="{process_id}">'
    )
    x = 100
    centres = []
    for element in ids:
        is_event = element in ("start", "end")
        width, height = (36, 36) if is_event else (100, 80)
        y = 102 if is_event else 80
        body.append(
            f'<bpmndi:BPMNShape id="{element}_di" bpmnElement="{element}">'
            f'<dc:Bounds x="{x}" y="{y}" width="{width}" height="{height}"/></bpmndi:BPMNShape>'
        )
        centres.append((x, x + width))
        x += width + 60
    for index in range(len(ids) - 1):
        body.append(
            f'<bpmndi:BPMNEdge id="flow_{index}_di" bpmnElement="flow_{index}">'
            f'<di:waypoint x="{centres[index][1]}" y="120"/>'
            f'<di:waypoint x="{centres[index + 1][0]}" y="120"/></bpmndi:BPMNEdge>'
        )
    body.append("</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>")
    return HEAD + "\n".join(body) + "\n</bpmn:definitions>\n"
