"""Crash tests: a worker SIGKILLed while firing timers loses no token and duplicates nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from konvergo.processes.models import HumanTask, InstanceStatus, ProcessInstance, Timer
from konvergo.processes.selectors import instances_in_black_hole
from konvergo.processes.services import (
    LIVE,
    definition_deploy,
    process_start,
    timer_reschedule,
)
from tests.conftest import database_url
from tests.probe.models import ProbeRecord
from tests.test_outbox import wait_for

MODELS = Path(__file__).parent / "models"


@pytest.mark.django_db(transaction=True)
def test_worker_killed_while_firing_timers_then_restarted(konvergo_env, tmp_path: Path) -> None:
    # Given three instances whose timers are all due
    LIVE.clear()
    definition_deploy(xml=(MODELS / "stall_after_timer.bpmn").read_bytes())
    instances = [
        process_start("stall_after_timer", business_key=f"L-{n}", variables={"lead": f"L-{n}"})
        for n in range(3)
    ]
    for instance in instances:
        timer_reschedule(
            instance=instance, element_id="wait", due_at=timezone.now() - timedelta(minutes=5)
        )
    stall_file = tmp_path / "stalled"
    env = {
        **konvergo_env,
        "KONVERGO_DATABASE_URL": database_url(),
        "KONVERGO_PROBE_STALL_FILE": str(stall_file),
        "KONVERGO_WORKER_HEARTBEAT_SECONDS": "1",
        "KONVERGO_WORKER_STALE_SECONDS": "2",
    }
    command = [sys.executable, "-m", "konvergo", "worker"]

    # When the worker is killed in the middle of the first advance (inside its transaction)
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(stall_file.exists, timeout=120, what="the worker to fire a timer", process=first)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()

    # Then nothing of the interrupted advance was kept: the instance still waits on its timer
    assert ProbeRecord.objects.filter(name__startswith="connector:").count() < 3
    assert Timer.objects.count() + HumanTask.objects.count() == 3

    # When a worker runs again, every instance ends exactly as without the crash
    second = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for(
            lambda: (
                HumanTask.objects.filter(element_id="after").count() == 3
                and not Timer.objects.exists()
            ),
            timeout=120,
            what="the second worker to fire the remaining timers",
            process=second,
        )
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)

    for instance in instances:
        refreshed = ProcessInstance.objects.get(pk=instance.pk)
        assert refreshed.status == InstanceStatus.RUNNING
        assert list(refreshed.tasks.values_list("element_id", "status")) == [("after", "open")]
    # the connector's own database work happened once per instance
    assert sorted(
        ProbeRecord.objects.filter(name__startswith="connector:").values_list("name", flat=True)
    ) == ["connector:L-0", "connector:L-1", "connector:L-2"]
    assert list(instances_in_black_hole()) == []
