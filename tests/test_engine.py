"""The durable engine: models under tests/models run through deploy, start, tasks, timers,
messages and incidents; after every scenario no running instance waits for nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine

from konvergo.core.errors import Conflict
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import (
    HumanTask,
    Incident,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    StepRecord,
    TaskStatus,
    Timer,
)
from konvergo.processes.persistence import lock_instances
from konvergo.processes.registry import _connectors, register_connector
from konvergo.processes.selectors import instances_in_black_hole
from konvergo.processes.services import (
    LIVE,
    DeployRefused,
    definition_deploy,
    incident_retry,
    instance_set_suspended,
    message_correlate,
    process_start,
    task_complete,
    timers_fire_due,
)

MODELS = Path(__file__).parent / "models"
pytestmark = pytest.mark.django_db


def model(name: str) -> bytes:
    return (MODELS / name).read_bytes()


@pytest.fixture(autouse=True)
def no_black_holes():
    LIVE.clear()
    yield
    assert list(instances_in_black_hole()) == []


def open_tasks(instance: ProcessInstance) -> list[str]:
    return sorted(
        instance.tasks.filter(status=TaskStatus.OPEN).values_list("element_id", flat=True)
    )


def complete(
    instance: ProcessInstance, element_id: str, actor=None, **variables
) -> ProcessInstance:
    task = instance.tasks.get(element_id=element_id, status=TaskStatus.OPEN)
    return task_complete(task=task, variables=variables, actor=actor)


def path(instance: ProcessInstance) -> list[str]:
    return list(StepRecord.objects.filter(instance=instance).values_list("element_id", flat=True))


def test_deploy_is_versioned_by_content() -> None:
    first = definition_deploy(xml=model("standard.bpmn"))
    again = definition_deploy(xml=model("standard.bpmn"))
    changed = definition_deploy(xml=model("standard.bpmn").replace(b"Review request", b"Review"))

    assert first.created and not again.created
    assert again.definitions[0].pk == first.definitions[0].pk
    assert [d.version for d in changed.definitions] == [2]
    assert ProcessDefinition.objects.count() == 2


@pytest.mark.parametrize(
    ("xml", "message", "element"),
    [
        (b"<not xml", "not well-formed XML", ""),
        (b"<x/>", "not a BPMN 2.0 document", ""),
        (
            model("standard.bpmn").replace(b'isExecutable="true"', b'isExecutable="false"'),
            "no executable process",
            "",
        ),
        (
            model("flaky_service.bpmn").replace(b"test.flaky_sms", b"no.such.connector"),
            "unknown connector 'no.such.connector'",
            "send_sms",
        ),
        (model("standard.bpmn").replace(b"amount * 2", b"amount * * 2"), "does not parse", "total"),
    ],
)
def test_deploy_refuses_bad_models_naming_the_element(
    xml: bytes, message: str, element: str
) -> None:
    register_connector("test.flaky_sms")(lambda inputs: {})
    with pytest.raises(DeployRefused) as refused:
        definition_deploy(xml=xml)
    assert message in refused.value.message
    assert refused.value.details["element_id"] == element
    assert ProcessDefinition.objects.count() == 0


def test_standard_model_runs_through_gateways_in_parallel_and_script() -> None:
    owner = UserFactory.create(username="anna")
    definition_deploy(xml=model("standard.bpmn"))

    instance = process_start(
        "standard", business_key="Q-1", variables={"owner": "anna", "amount": 21}
    )

    assert open_tasks(instance) == ["review"]
    review = instance.tasks.get()
    assert review.assignee == owner
    assert review.candidate_groups == ["sales", "support"]
    assert review.priority == 70
    assert review.form_key == "review-form"
    assert review.due_at is not None

    instance = complete(instance, "review", actor=owner, approved=True)
    assert open_tasks(instance) == ["check_credit", "prepare_contract"]
    instance = complete(instance, "check_credit")
    instance = complete(instance, "prepare_contract")

    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["total"] == 42
    assert instance.variables["status"] == "approved"
    steps = path(instance)
    assert steps.index("review") < steps.index("split") < steps.index("join") < steps.index("total")
    assert "end_rejected" not in steps


def test_rejected_request_takes_the_default_flow() -> None:
    definition_deploy(xml=model("standard.bpmn"))
    instance = process_start("standard", variables={"owner": "", "amount": 5})
    instance = complete(instance, "review", approved=False)
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert "end_rejected" in path(instance)


def test_completing_a_task_twice_is_a_conflict() -> None:
    definition_deploy(xml=model("standard.bpmn"))
    instance = process_start("standard", variables={"owner": "", "amount": 5})
    task = instance.tasks.get()
    task_complete(task=task, variables={"approved": False})
    with pytest.raises(Conflict):
        task_complete(task=HumanTask.objects.get(pk=task.pk), variables={})
    with pytest.raises(Conflict):
        task_complete(task=task, variables={})  # a stale copy too


def lead_followup_started(at: datetime) -> ProcessInstance:
    """The lead follow-up for ACME, owned by jan, started at `at`: it waits three days."""
    register_connector("konvergo.echo")(lambda inputs: inputs)
    UserFactory.create(username="jan")
    definition_deploy(xml=model("lead_followup.bpmn"))
    with time_machine.travel(at, tick=False):
        return process_start("lead_followup", variables={"owner": "jan", "lead": "ACME"})


def test_a_suspended_instance_keeps_its_due_timer_until_resumed() -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    instance = lead_followup_started(start)
    instance_set_suspended(instance=instance, suspended=True)
    with time_machine.travel(start + timedelta(days=4), tick=False):
        assert timers_fire_due() == 0
        # A sweep that found the timer just before the suspension locks nothing to fire.
        assert lock_instances([instance.pk], running_only=True) == []
        assert [i.pk for i in lock_instances([instance.pk])] == [instance.pk]
        instance_set_suspended(instance=instance, suspended=False)
        assert timers_fire_due() == 1
    instance.refresh_from_db()
    assert open_tasks(instance) == ["call"]


def test_timer_waits_for_days_then_fires_late_exactly_once_and_boundary_escalates() -> None:
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    instance = lead_followup_started(start)
    timer = Timer.objects.get()
    assert timer.element_id == "wait_three_days"
    assert timer.due_at == start + timedelta(days=3)

    # Nothing due yet
    with time_machine.travel(start + timedelta(days=2), tick=False):
        assert timers_fire_due() == 0
    # The system was down; it comes back a week later: the timer fires, late, once.
    with time_machine.travel(start + timedelta(days=10), tick=False):
        assert timers_fire_due() == 1
        assert timers_fire_due() == 0
    instance.refresh_from_db()
    assert open_tasks(instance) == ["call"]
    assert instance.variables["reminder"] == "Call ACME"
    boundary = Timer.objects.get()
    assert boundary.element_id == "call_overdue"
    assert boundary.due_at == start + timedelta(days=12)

    # Nobody calls for two days: the interrupting boundary timer escalates
    with time_machine.travel(start + timedelta(days=12, minutes=1), tick=False):
        assert timers_fire_due() == 1
    instance.refresh_from_db()
    assert open_tasks(instance) == ["escalate"]
    assert instance.tasks.get(element_id="call").status == TaskStatus.CANCELLED
    assert not Timer.objects.exists()


def test_message_correlates_by_business_key() -> None:
    definition_deploy(xml=model("payment.bpmn"))
    waiting = process_start("invoice_payment", business_key="INV-7")
    other = process_start("invoice_payment", business_key="INV-8")
    assert MessageSubscription.objects.filter(instance=waiting).get().name == "payment_received"

    assert message_correlate("payment_received", correlation_key="INV-404") == 0
    assert (
        message_correlate(
            "payment_received", correlation_key="INV-7", variables={"amount": "99.00"}
        )
        == 1
    )

    waiting.refresh_from_db()
    other.refresh_from_db()
    assert waiting.status == InstanceStatus.COMPLETED
    assert waiting.variables["booked"] == "99.00"
    assert other.status == InstanceStatus.RUNNING


def test_failing_connector_becomes_an_incident_and_retry_resumes() -> None:
    calls: list[dict[str, object]] = []

    @register_connector("test.flaky_sms")
    def flaky(inputs):
        calls.append(inputs)
        if len(calls) == 1:
            raise ConnectionError("SMS gateway timed out")
        return {"sms_id": "abc"}

    definition_deploy(xml=model("flaky_service.bpmn"))
    instance = process_start("flaky", variables={"phone": "+4930123456"})

    incident = Incident.objects.get()
    assert incident.element_id == "send_sms"
    assert "SMS gateway timed out" in incident.message
    assert incident.variables["phone"] == "+4930123456"
    instance.refresh_from_db()
    assert instance.status == InstanceStatus.RUNNING

    incident_retry(incident=incident)

    instance.refresh_from_db()
    incident.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["sms_id"] == "abc"
    assert incident.status == "resolved"
    _connectors.pop("test.flaky_sms", None)


def test_state_survives_without_the_live_cache() -> None:
    definition_deploy(xml=model("standard.bpmn"))
    instance = process_start("standard", variables={"owner": "", "amount": 1})
    LIVE.clear()  # as after a restart
    instance = complete(instance, "review", approved=True)
    LIVE.clear()
    assert open_tasks(instance) == ["check_credit", "prepare_contract"]


def test_due_timers_fire_in_batches_in_due_order_each_once() -> None:
    register_connector("konvergo.echo")(lambda inputs: inputs)
    UserFactory.create(username="jan")
    definition_deploy(xml=model("lead_followup.bpmn"))
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    instances = []
    for n in range(7):  # each a minute later than the one before
        with time_machine.travel(start + timedelta(minutes=n), tick=False):
            instances.append(
                process_start("lead_followup", variables={"owner": "jan", "lead": f"L{n}"})
            )
    LIVE.clear()  # a restarted worker: every state comes from the database
    with time_machine.travel(start + timedelta(days=3, minutes=4), tick=False):
        # the five due ones, in batches of two; the last two are not due yet
        assert timers_fire_due(batch=2) == 5
        assert timers_fire_due(batch=2) == 0
    called = HumanTask.objects.filter(element_id="call", status=TaskStatus.OPEN)
    assert sorted(called.values_list("instance__variables__lead", flat=True)) == [
        "L0",
        "L1",
        "L2",
        "L3",
        "L4",
    ]
    assert Timer.objects.filter(element_id="wait_three_days").count() == 2
    assert Timer.objects.filter(element_id="call_overdue").count() == 5
    for instance in instances[:5]:
        instance.refresh_from_db()
        assert instance.version == 2
        assert list(
            StepRecord.objects.filter(instance=instance).values_list("element_id", flat=True)
        ) == ["start", "wait_three_days", "remind"]


def test_a_batch_that_cannot_be_written_is_fired_one_instance_at_a_time(monkeypatch) -> None:
    from konvergo.processes.persistence import Writes

    register_connector("konvergo.echo")(lambda inputs: inputs)
    UserFactory.create(username="jan")
    definition_deploy(xml=model("lead_followup.bpmn"))
    start = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        for n in range(3):
            process_start("lead_followup", variables={"owner": "jan", "lead": f"L{n}"})
    flush = Writes.flush

    def refuse_batches(writes: Writes) -> None:
        if len(writes.instances) > 1:
            raise RuntimeError("the database refused the batch")
        flush(writes)

    monkeypatch.setattr(Writes, "flush", refuse_batches)
    with time_machine.travel(start + timedelta(days=3, minutes=1), tick=False):
        assert timers_fire_due() == 3
    assert HumanTask.objects.filter(element_id="call", status=TaskStatus.OPEN).count() == 3
    assert not Timer.objects.filter(element_id="wait_three_days").exists()
