"""The sandbox runs a draft in memory with dry-run connectors: the path is shown, connector
calls are recorded instead of made, and nothing reaches the processes tables."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from konvergo.designer.services import draft_create
from konvergo.designer.tests.conftest import bpmn
from konvergo.org.models import User
from konvergo.processes.models import ProcessInstance, StepRecord

pytestmark = pytest.mark.django_db
API = "/api/v1/designer"

# start -> notify (connector) -> approve (user task) -> gateway: ok -> end / else -> timer -> end
XML = bpmn(
    '<bpmn:startEvent id="start"/>'
    '<bpmn:serviceTask id="tell" name="Tell the boss" camunda:type="external" '
    'camunda:topic="konvergo.notify"><bpmn:extensionElements><camunda:inputOutput>'
    '<camunda:inputParameter name="username">${boss}</camunda:inputParameter>'
    "</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>"
    '<bpmn:userTask id="approve" name="Approve"/>'
    '<bpmn:exclusiveGateway id="ok_gw" default="f_wait"/>'
    '<bpmn:intermediateCatchEvent id="wait" name="A day later"><bpmn:timerEventDefinition>'
    '<bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P1D</bpmn:timeDuration>'
    "</bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>"
    '<bpmn:endEvent id="done"/>'
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="tell"/>'
    '<bpmn:sequenceFlow id="f2" sourceRef="tell" targetRef="approve"/>'
    '<bpmn:sequenceFlow id="f3" sourceRef="approve" targetRef="ok_gw"/>'
    '<bpmn:sequenceFlow id="f_ok" sourceRef="ok_gw" targetRef="done">'
    '<bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">${ok}</bpmn:conditionExpression>'
    "</bpmn:sequenceFlow>"
    '<bpmn:sequenceFlow id="f_wait" sourceRef="ok_gw" targetRef="wait"/>'
    '<bpmn:sequenceFlow id="f4" sourceRef="wait" targetRef="done"/>'
).replace(
    "<bpmn:definitions ",
    '<bpmn:definitions xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ',
)


def post(client: Client, url: str, body: dict[str, Any]) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json")


def test_a_test_run_goes_step_by_step_and_sends_nothing(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Sandbox", actor=designer)

    started = post(
        designer_client,
        f"{API}/drafts/{draft.public_id}/sandbox",
        {"bpmn_xml": XML, "variables": {"boss": "nobody-such"}},
    ).json()
    run = started["run_id"]
    task = started["open_tasks"][0]
    completed = post(
        designer_client,
        f"{API}/sandbox/{run}",
        {"action": "complete", "task_id": task["task_id"], "variables": {"ok": False}},
    ).json()
    fired = post(designer_client, f"{API}/sandbox/{run}", {"action": "fire_timers"}).json()

    assert [s["element_id"] for s in started["path"]] == ["start", "tell"]
    # the real connector would fail (no such user); the dry run records the call instead
    assert started["calls"] == [
        {
            "connector": "konvergo.notify",
            "element_id": "tell",
            "inputs": {"username": "nobody-such"},
        }
    ]
    assert started["failures"] == []
    assert task["element_id"] == "approve"
    assert [t["element_id"] for t in completed["timers"]] == ["wait"]
    assert fired["completed"] is True
    assert [s["element_id"] for s in fired["path"]][-3:] == ["ok_gw", "wait", "done"]
    assert not ProcessInstance.objects.exists()
    assert not StepRecord.objects.exists()


def test_a_broken_diagram_cannot_be_test_run(designer_client: Client, designer: User) -> None:
    draft = draft_create(name="Sandbox", actor=designer)

    response = post(
        designer_client,
        f"{API}/drafts/{draft.public_id}/sandbox",
        {"bpmn_xml": "<nope", "variables": {}},
    )

    assert response.status_code == 422
    assert "not well-formed XML" in response.json()["error"]["message"]


def test_an_unknown_run_is_a_conflict(designer_client: Client) -> None:
    response = post(designer_client, f"{API}/sandbox/feedbeef", {"action": "fire_timers"})

    assert response.status_code == 409


def test_test_runs_need_the_permission(outsider_client: Client, designer: User) -> None:
    draft = draft_create(name="Sandbox", actor=designer)

    response = post(outsider_client, f"{API}/drafts/{draft.public_id}/sandbox", {"bpmn_xml": XML})

    assert response.status_code == 403


def test_a_test_run_waits_for_a_message_and_takes_it(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Sandbox", actor=designer)
    xml = bpmn(
        '<bpmn:startEvent id="start"/>'
        '<bpmn:intermediateCatchEvent id="paid" name="Paid">'
        '<bpmn:messageEventDefinition messageRef="msg_paid"/></bpmn:intermediateCatchEvent>'
        '<bpmn:endEvent id="done"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="paid"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="paid" targetRef="done"/>'
    ).replace(
        "</bpmn:definitions>",
        '<bpmn:message id="msg_paid" name="payment.received"/></bpmn:definitions>',
    )

    started = post(
        designer_client, f"{API}/drafts/{draft.public_id}/sandbox", {"bpmn_xml": xml}
    ).json()
    sent = post(
        designer_client,
        f"{API}/sandbox/{started['run_id']}",
        {"action": "message", "message": "payment.received", "variables": {"amount": 5}},
    ).json()

    assert started["messages"] == [
        {"element_id": "paid", "name": "payment.received", "kind": "message"}
    ]
    assert sent["completed"] is True
    assert sent["variables"]["amount"] == 5
