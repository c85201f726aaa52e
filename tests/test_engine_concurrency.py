"""Several workers advancing the same instances at once never lose an update."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from django.db import connection, connections

from konvergo.processes.models import InstanceStatus, ProcessInstance, TaskStatus
from konvergo.processes.services import (
    LIVE,
    definition_deploy,
    message_correlate,
    process_start,
    task_complete,
)

MODELS = Path(__file__).parent / "models"


def run_together(actions: Sequence[Callable[[], object]]) -> list[BaseException]:
    """Start all actions at the same moment in their own threads (own connections)."""
    barrier = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action) -> None:
        try:
            barrier.wait()
            action()
        except BaseException as exc:  # collected for the assertion
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_parallel_tasks_completed_at_once_both_count() -> None:
    LIVE.clear()
    definition_deploy(xml=(MODELS / "standard.bpmn").read_bytes())
    instances = []
    for n in range(5):
        instance = process_start("standard", variables={"owner": "", "amount": n + 1})
        review = instance.tasks.get(element_id="review")
        instances.append(task_complete(task=review, variables={"approved": True}))

    # Each instance's two parallel tasks are completed by two workers at the same moment
    actions = []
    for instance in instances:
        for element in ("prepare_contract", "check_credit"):
            task = instance.tasks.get(element_id=element, status=TaskStatus.OPEN)
            actions.append(lambda task=task: task_complete(task=task, variables={}))
    LIVE.clear()  # the threads must not share live objects with this one
    errors = run_together(actions)

    assert errors == []
    for n, instance in enumerate(instances):
        done = ProcessInstance.objects.get(pk=instance.pk)
        assert done.status == InstanceStatus.COMPLETED, connection.vendor
        assert done.variables["total"] == (n + 1) * 2
        assert not done.tasks.filter(status=TaskStatus.OPEN).exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_message_sent_twice_at_once_is_taken_once() -> None:
    LIVE.clear()
    definition_deploy(xml=(MODELS / "payment.bpmn").read_bytes())
    instance = process_start("invoice_payment", business_key="INV-9")
    matched: list[int] = []

    def send() -> None:
        matched.append(
            message_correlate("payment_received", correlation_key="INV-9", variables={"amount": 3})
        )

    errors = run_together([send, send, send])

    assert errors == []
    assert sorted(matched) == [0, 0, 1]
    done = ProcessInstance.objects.get(pk=instance.pk)
    assert done.status == InstanceStatus.COMPLETED
    assert done.variables["booked"] == 3
