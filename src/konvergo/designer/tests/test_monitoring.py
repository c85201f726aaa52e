"""Monitoring: tokens per step and durations computed by the database; the instance page and
its actions (cancel, migrate, retry) go through the engine's services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from konvergo.designer.selectors import definition_stats, durations, running_counts
from konvergo.designer.tests.conftest import VALID, bpmn
from konvergo.processes.models import (
    Incident,
    IncidentStatus,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
)
from konvergo.processes.registry import register_connector
from konvergo.processes.services import definition_deploy, process_start, task_complete

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def deploy(xml: str = VALID) -> ProcessDefinition:
    return definition_deploy(xml=xml).definitions[0]


def test_durations_are_mean_and_90th_percentile_per_step() -> None:
    definition = deploy()
    for minutes in range(1, 11):
        start = T0 + timedelta(hours=minutes)
        with time_machine.travel(start, tick=False):
            instance = process_start("small", variables={"reviewer": ""})
        with time_machine.travel(start + timedelta(minutes=minutes), tick=False):
            task_complete(task=instance.tasks.get())

    with CaptureQueriesContext(connection) as queries:
        found = durations(definition)

    assert len(queries) == 1
    review = found["review"]
    assert (review.count, round(review.mean), round(review.p90)) == (10, 330, 540)
    assert round(found["done"].mean) == 0


def test_running_counts_show_where_tokens_wait() -> None:
    definition = deploy()
    instances = [process_start("small", variables={"reviewer": ""}) for _ in range(3)]
    task_complete(task=instances[0].tasks.get())

    assert running_counts(definition) == {
        "review": {"tasks": 2, "timers": 0, "messages": 0, "incidents": 0}
    }
    stats = definition_stats(definition)
    assert stats["instances"] == {"running": 2, "suspended": 0, "completed": 1, "cancelled": 0}


def test_the_version_page_shows_counts_and_instances(designer_client: Client) -> None:
    definition = deploy()
    process_start("small", business_key="CASE-7", variables={"reviewer": ""})

    page = designer_client.get(f"/processes/versions/{definition.public_id}/").content.decode()

    assert "CASE-7" in page
    assert '"review": {"tasks": 1' in page  # the counts the diagram draws


def test_the_instance_page_shows_path_tokens_and_variables(designer_client: Client) -> None:
    deploy()
    instance = process_start("small", business_key="CASE-8", variables={"reviewer": "nobody"})

    page = designer_client.get(f"/processes/instances/{instance.public_id}/").content.decode()

    assert 'id="kv-path" type="application/json">["start"]' in page
    assert '"tasks": ["review"]' in page
    assert "nobody" in page


def test_cancel_from_the_instance_page_needs_a_reason(designer_client: Client) -> None:
    deploy()
    instance = process_start("small", variables={"reviewer": ""})
    url = f"/processes/instances/{instance.public_id}/cancel/"

    refused = designer_client.post(url, {"reason": ""}, follow=True)
    instance.refresh_from_db()
    status_after_refusal = instance.status
    designer_client.post(url, {"reason": "Duplicate"})
    instance.refresh_from_db()

    assert "Say why the instance is cancelled." in refused.content.decode()
    assert status_after_refusal == InstanceStatus.RUNNING
    assert (instance.status, instance.cancel_reason) == (InstanceStatus.CANCELLED, "Duplicate")


def test_migrate_from_the_instance_page(designer_client: Client) -> None:
    deploy()
    deploy(VALID.replace('name="Review"', 'name="Review it"'))
    instance = process_start("small", version=1, variables={"reviewer": ""})

    designer_client.post(
        f"/processes/instances/{instance.public_id}/migrate/", {"version": "2", "mapping": ""}
    )

    instance.refresh_from_db()
    assert instance.definition.version == 2
    assert instance.tasks.filter(status=TaskStatus.OPEN).count() == 1


def test_monitoring_needs_the_permission(outsider_client: Client) -> None:
    definition = deploy()
    instance = process_start("small", variables={"reviewer": ""})

    version_page = outsider_client.get(f"/processes/versions/{definition.public_id}/")
    instance_page = outsider_client.get(f"/processes/instances/{instance.public_id}/")
    cancel = outsider_client.post(
        f"/processes/instances/{instance.public_id}/cancel/", {"reason": "x"}
    )

    assert (version_page.status_code, instance_page.status_code, cancel.status_code) == (
        403,
        403,
        403,
    )
    assert ProcessInstance.objects.get().status == InstanceStatus.RUNNING


FLAKY = {"fail": True}


def _flaky(inputs: dict[str, object]) -> dict[str, object]:
    if FLAKY["fail"]:
        raise RuntimeError("the ledger is offline")
    return {"booked": True}


def test_an_incident_is_shown_and_retried_from_the_instance_page(designer_client: Client) -> None:
    register_connector("designer_tests.flaky")(_flaky)
    definition = deploy(
        bpmn(
            '<bpmn:startEvent id="start"/>'
            '<bpmn:serviceTask id="book" name="Book it" camunda:type="external" '
            'camunda:topic="designer_tests.flaky"/>'
            '<bpmn:endEvent id="done"/>'
            '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="book"/>'
            '<bpmn:sequenceFlow id="f2" sourceRef="book" targetRef="done"/>',
            pid="booking",
        )
    )
    FLAKY["fail"] = True
    instance = process_start("booking")
    incident = Incident.objects.get(instance=instance)

    version_page = designer_client.get(f"/processes/versions/{definition.public_id}/")
    instance_page = designer_client.get(f"/processes/instances/{instance.public_id}/")
    FLAKY["fail"] = False
    designer_client.post(f"/processes/incidents/{incident.public_id}/retry/")

    assert "the ledger is offline" in version_page.content.decode()
    assert '"incidents": ["book"]' in instance_page.content.decode()
    incident.refresh_from_db()
    instance.refresh_from_db()
    assert incident.status == IncidentStatus.RESOLVED
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["booked"] is True
