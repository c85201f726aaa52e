"""Administration of running instances: migration to a new version, variable edits."""

from __future__ import annotations

from pathlib import Path

import pytest

from konvergo.core.audit import acting_as, audit_trail
from konvergo.core.errors import BusinessError
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import Incident, InstanceStatus, StepRecord, TaskStatus
from konvergo.processes.registry import _connectors, register_connector
from konvergo.processes.selectors import instances_in_black_hole
from konvergo.processes.services import (
    LIVE,
    definition_deploy,
    incident_retry,
    instance_migrate,
    instance_move_token,
    instance_set_suspended,
    instance_set_variables,
    process_start,
    task_complete,
)

MODELS = Path(__file__).parent / "models"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_black_holes():
    LIVE.clear()
    yield
    assert list(instances_in_black_hole()) == []


def standard(**replacements: str) -> bytes:
    xml = (MODELS / "standard.bpmn").read_text()
    for old, new in replacements.items():
        xml = xml.replace(old, new)
    return xml.encode()


def test_running_instance_moves_to_the_next_version_with_a_mapping() -> None:
    definition_deploy(xml=standard())
    instance = process_start("standard", variables={"owner": "", "amount": 4})
    # Version 2 renames the review step
    definition_deploy(xml=standard(**{'"review"': '"assess"', '"Review request"': '"Assess"'}))

    migrated = instance_migrate(instance=instance, version=2, mapping={"review": "assess"})

    assert migrated.definition.version == 2
    task = migrated.tasks.get(status=TaskStatus.OPEN)
    assert task.element_id == "review"  # the task row stays; its element lives on as "assess"
    done = task_complete(task=task, variables={"approved": True})
    assert sorted(
        done.tasks.filter(status=TaskStatus.OPEN).values_list("element_id", flat=True)
    ) == ["check_credit", "prepare_contract"]
    assert "assess" in StepRecord.objects.filter(instance=instance).values_list(
        "element_id", flat=True
    )


def test_migration_is_refused_when_a_token_would_land_on_nothing() -> None:
    definition_deploy(xml=standard())
    instance = process_start("standard", variables={"owner": "", "amount": 4})
    definition_deploy(xml=standard(**{'"review"': '"assess"'}))

    with pytest.raises(BusinessError) as refused:
        instance_migrate(instance=instance, version=2)

    assert refused.value.details == {"element_ids": ["review"]}
    instance.refresh_from_db()
    assert instance.definition.version == 1
    assert instance.tasks.get().status == TaskStatus.OPEN


def test_fixing_variables_then_retrying_an_incident() -> None:
    @register_connector("test.needs_phone")
    def needs_phone(inputs: dict[str, object]) -> dict[str, object]:
        if not str(inputs.get("phone", "")).startswith("+"):
            raise ValueError("phone must be in E.164 form")
        return {"sent": True}

    xml = (
        (MODELS / "flaky_service.bpmn").read_bytes().replace(b"test.flaky_sms", b"test.needs_phone")
    )
    definition_deploy(xml=xml)
    operator = UserFactory.create(username="ops")
    instance = process_start("flaky", variables={"phone": "030 1234"})
    incident = Incident.objects.get()
    assert "E.164" in incident.message

    instance_set_variables(instance=instance, changes={"phone": "+49301234"}, actor=operator)
    incident_retry(incident=incident, actor=operator)

    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.variables["sent"] is True
    change = next(e for e in audit_trail(instance) if e.changes)
    assert change.actor_id == operator.pk
    before_after = {c.field: (c.before, c.after) for c in change.changes}
    assert before_after["variables"][0]["phone"] == "030 1234"
    assert before_after["variables"][1]["phone"] == "+49301234"
    _connectors.pop("test.needs_phone", None)


def test_moving_a_token_skips_the_wait_and_opens_the_call_task() -> None:
    register_connector("konvergo.echo")(lambda inputs: inputs)
    definition_deploy(xml=(MODELS / "lead_followup.bpmn").read_bytes())
    instance = process_start("lead_followup", variables={"owner": "", "lead": "ACME"})
    assert list(instance.timers.values_list("element_id", flat=True)) == ["wait_three_days"]

    moved = instance_move_token(
        instance=instance, from_element="wait_three_days", to_element="call"
    )

    assert not moved.timers.filter(element_id="wait_three_days").exists()
    call = moved.tasks.get(status=TaskStatus.OPEN)
    assert call.element_id == "call"
    assert list(moved.timers.values_list("element_id", flat=True)) == ["call_overdue"]
    done = task_complete(task=call, variables={})
    assert done.status == InstanceStatus.COMPLETED
    assert done.variables["lead"] == "ACME"


def test_moving_a_token_back_reopens_an_earlier_task_and_cancels_the_current_one() -> None:
    definition_deploy(xml=standard())
    instance = process_start("standard", variables={"owner": "", "amount": 4})
    review = instance.tasks.get()
    # While it waits at review, an operator moves it on to the contract step
    moved = instance_move_token(
        instance=instance, from_element="review", to_element="prepare_contract"
    )

    review.refresh_from_db()
    assert review.status == TaskStatus.CANCELLED
    assert list(
        moved.tasks.filter(status=TaskStatus.OPEN).values_list("element_id", flat=True)
    ) == ["prepare_contract"]


def test_moving_from_an_element_without_a_token_is_refused() -> None:
    definition_deploy(xml=standard())
    instance = process_start("standard", variables={"owner": "", "amount": 4})
    with pytest.raises(BusinessError, match="no token waits at 'total'"):
        instance_move_token(instance=instance, from_element="total", to_element="review")
    with pytest.raises(BusinessError, match="no element 'nowhere'"):
        instance_move_token(instance=instance, from_element="review", to_element="nowhere")
    assert instance.tasks.get().status == TaskStatus.OPEN


def test_a_started_instance_is_in_its_audit_trail_as_created_by_the_starter() -> None:
    starter = UserFactory.create(username="ola")
    definition_deploy(xml=standard())
    with acting_as(starter):
        instance = process_start("standard", business_key="B-7", variables={"owner": ""})
        instance_set_suspended(instance=instance, suspended=True)

    changed, created = audit_trail(instance)
    assert (created.action, created.actor_id) == ("created", starter.pk)
    assert (changed.action, changed.actor_id) == ("changed", starter.pk)
    # The suspension's ORM-written row diffs against the row the start wrote by hand.
    assert {c.field: (c.before, c.after) for c in changed.changes}["status"] == (
        "running",
        "suspended",
    )
    row = instance.history.earliest("history_date")
    assert (row.id, row.business_key, row.definition_id) == (
        instance.pk,
        "B-7",
        instance.definition_id,
    )
    assert row.public_id == instance.public_id and row.created_at == instance.created_at
