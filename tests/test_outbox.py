"""The events outbox: rolled-back events vanish, committed ones reach every subscriber once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import transaction
from django_tasks_db.models import DBTaskResult

from konvergo.core.events import EventMessage, _subscribers, emit, subscribe
from konvergo.core.jobs import Worker
from konvergo.core.models import Event, EventDelivery
from tests.conftest import database_url
from tests.probe.models import ProbeRecord


class Boom(Exception):
    pass


@pytest.fixture
def extra_subscriber():
    """Register a subscriber for the test only."""
    added: list[str] = []

    def add(key: str, handler, events=("probe.*",)):
        subscribe(key, events=events)(handler)
        added.append(key)

    yield add
    for key in added:
        _subscribers.pop(key, None)


@pytest.mark.django_db(transaction=True)
def test_event_emitted_in_rolled_back_transaction_is_never_delivered(worker: Worker) -> None:
    # Given a change that emits an event and then fails
    with pytest.raises(Boom), transaction.atomic():
        emit("probe.rolled_back", payload={"n": 1})
        raise Boom

    # When the worker runs everything that is due
    worker.run_once()

    # Then no event, no delivery job and no subscriber effect exist
    assert Event.objects.count() == 0
    assert DBTaskResult.objects.count() == 0
    assert ProbeRecord.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_committed_event_reaches_every_subscriber_once(worker: Worker, extra_subscriber) -> None:
    seen: list[str] = []
    extra_subscriber("test.second", lambda m: seen.append(m.name))
    event = emit("probe.committed", payload={"amount": "12.50"})

    worker.run_once()
    worker.run_once()  # running again delivers nothing twice

    assert list(ProbeRecord.objects.values_list("event_id", flat=True)) == [event.id]
    assert seen == ["probe.committed"]
    assert set(EventDelivery.objects.values_list("subscriber", flat=True)) == {
        "probe.recorder",
        "test.second",
    }
    event.refresh_from_db()
    assert event.delivered_at is not None


@pytest.mark.django_db(transaction=True)
def test_failing_subscriber_is_retried_without_repeating_the_others(
    worker: Worker, extra_subscriber, settings
) -> None:
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 0
    attempts: list[int] = []

    def flaky(message: EventMessage) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise Boom("mail server down")

    extra_subscriber("test.flaky", flaky)
    event = emit("probe.flaky")

    worker.run_once()

    assert len(attempts) == 3
    assert ProbeRecord.objects.filter(event_id=event.id).count() == 1  # not re-run on retries
    job = DBTaskResult.objects.get()
    assert job.status == "SUCCESSFUL"
    assert len(job.worker_ids) == 3


@pytest.mark.django_db(transaction=True)
def test_delivery_survives_sigkill_of_the_worker(konvergo_env, tmp_path: Path) -> None:
    # Given a committed event whose delivery will stall inside the subscriber's transaction
    event = emit("probe.sigkill", payload={"client": "ACME"})
    stall_file = tmp_path / "stalled"
    env = {
        **konvergo_env,
        "KONVERGO_DATABASE_URL": database_url(),
        "KONVERGO_PROBE_STALL_FILE": str(stall_file),
        "KONVERGO_WORKER_HEARTBEAT_SECONDS": "1",
        "KONVERGO_WORKER_STALE_SECONDS": "2",
    }
    command = [sys.executable, "-m", "konvergo", "worker"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(
            stall_file.exists, timeout=120, what="the worker to start delivering", process=first
        )
        # When the worker is killed mid-delivery
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()

    # Then nothing of the interrupted delivery was committed
    assert ProbeRecord.objects.count() == 0
    assert DBTaskResult.objects.get().status == "RUNNING"

    # When a new worker starts, it re-queues the abandoned job and delivers the event
    second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: Event.objects.get(pk=event.pk).delivered_at is not None,
            timeout=120,
            what="the second worker to deliver the event",
            process=second,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    # Then the idempotent subscriber recorded the event exactly once
    assert list(ProbeRecord.objects.values_list("event_id", flat=True)) == [event.id]
    assert EventDelivery.objects.filter(event=event).count() == 1
    job = DBTaskResult.objects.get()
    assert job.status == "SUCCESSFUL"
    assert len(job.worker_ids) == 2


def wait_for(condition, *, timeout: float, what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            stderr = process.stderr.read().decode() if process.stderr else ""
            raise AssertionError(f"worker exited ({process.returncode}) before {what}: {stderr}")
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
