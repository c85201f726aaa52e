"""Jobs: transactional enqueue, retries with backoff, failures kept, crashed workers recovered."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from konvergo.core.jobs import Worker, backoff_for, recover_abandoned_jobs, retry_failed_job
from konvergo.core.models import WorkerHeartbeat
from tests.probe.tasks import RUNS, always_fails, record_run


class Boom(Exception):
    pass


@pytest.fixture(autouse=True)
def _clear_runs():
    RUNS.clear()


@pytest.mark.django_db(transaction=True)
def test_job_enqueued_in_rolled_back_transaction_never_runs(worker: Worker) -> None:
    with pytest.raises(Boom), transaction.atomic():
        record_run.enqueue("never")
        raise Boom

    assert worker.run_once() == 0
    assert RUNS == []
    assert DBTaskResult.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_job_enqueued_in_committed_transaction_runs_once(worker: Worker) -> None:
    with transaction.atomic():
        record_run.enqueue("hello")

    worker.run_once()
    worker.run_once()

    assert RUNS == ["hello"]
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


@pytest.mark.django_db(transaction=True)
def test_failing_job_is_retried_with_backoff_then_kept_as_failed(worker: Worker, settings) -> None:
    settings.KONVERGO_JOB_MAX_ATTEMPTS = 3
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 30
    always_fails.enqueue()

    # First attempt fails: the job waits 30 s, with the error visible
    worker.run_once()
    job = DBTaskResult.objects.get()
    assert job.status == "READY"
    assert "Boom" in job.exception_class_path
    assert "the printer is on fire" in job.traceback
    wait = job.run_after - timezone.now()
    assert timedelta(seconds=25) < wait <= timedelta(seconds=30)

    # Not due yet: nothing runs
    assert worker.run_once() == 0

    # Second attempt after the backoff: 60 s next
    DBTaskResult.objects.update(run_after=timezone.now())
    worker.run_once()
    job.refresh_from_db()
    assert job.status == "READY"
    assert timedelta(seconds=55) < job.run_after - timezone.now() <= timedelta(seconds=60)

    # Third and last attempt: kept as FAILED, never dropped
    DBTaskResult.objects.update(run_after=timezone.now())
    worker.run_once()
    job.refresh_from_db()
    assert job.status == "FAILED"
    assert len(job.worker_ids) == 3
    assert "the printer is on fire" in job.traceback

    # An operator can give it another round
    assert retry_failed_job(str(job.id))
    job.refresh_from_db()
    assert job.status == "READY"


def test_backoff_doubles_and_is_capped(settings) -> None:
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 10
    assert [backoff_for(n).total_seconds() for n in (1, 2, 3, 4)] == [10, 20, 40, 80]
    assert backoff_for(30) == timedelta(hours=1)


@pytest.mark.django_db
def test_job_of_a_dead_worker_is_requeued_but_not_of_a_live_one(settings) -> None:
    settings.KONVERGO_WORKER_STALE_SECONDS = 60
    now = timezone.now()
    long_ago = now - timedelta(minutes=5)
    WorkerHeartbeat.objects.create(
        worker_id="alive", hostname="h", pid=1, started_at=long_ago, last_seen_at=now
    )
    WorkerHeartbeat.objects.create(
        worker_id="dead", hostname="h", pid=2, started_at=long_ago, last_seen_at=long_ago
    )
    record_run.enqueue("a")
    record_run.enqueue("b")
    live_job, dead_job = DBTaskResult.objects.order_by("enqueued_at")
    for job, owner in ((live_job, "alive"), (dead_job, "dead")):
        DBTaskResult.objects.filter(pk=job.pk).update(
            status="RUNNING", started_at=long_ago, worker_ids=[owner]
        )

    assert recover_abandoned_jobs(now) == 1

    live_job.refresh_from_db()
    dead_job.refresh_from_db()
    assert live_job.status == "RUNNING"
    assert dead_job.status == "READY"
    assert "stopped while running" in dead_job.traceback


@pytest.mark.django_db
def test_worker_records_heartbeat_and_signs_off(worker: Worker) -> None:
    worker.run_once()
    beat = WorkerHeartbeat.objects.get(worker_id=worker.worker_id)
    assert timezone.now() - beat.last_seen_at < timedelta(seconds=5)
    worker.sign_off()
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_watcher_wakes_the_worker_before_its_next_poll_and_stops_with_it(
    settings, monkeypatch
) -> None:
    import threading
    import time

    from konvergo.core import jobs

    settings.KONVERGO_WORKER_POLL_SECONDS = 60  # a woken loop must not wait for this
    sweeps: list[float] = []
    ask = threading.Event()

    def watcher(stop: threading.Event, wake: Callable[[], None]) -> None:
        while not stop.is_set():
            if ask.wait(0.05):
                ask.clear()
                wake()

    monkeypatch.setattr(jobs, "_watchers", {"test": watcher})

    def count(now: object) -> int:
        sweeps.append(time.monotonic())
        return 0

    monkeypatch.setattr(jobs, "_sweeps", {"count": count})
    worker = Worker()
    loop = threading.Thread(target=worker.run_forever, daemon=True)
    loop.start()
    deadline = time.monotonic() + 10
    while not sweeps and time.monotonic() < deadline:
        time.sleep(0.01)
    first = len(sweeps)
    assert first >= 1  # the loop ran once and now waits up to a minute

    asked = time.monotonic()
    ask.set()
    while len(sweeps) == first and time.monotonic() < asked + 10:
        time.sleep(0.01)
    assert len(sweeps) > first and sweeps[-1] - asked < 5  # woken, not after 60 s

    stopping = time.monotonic()
    worker.shutdown()
    loop.join(timeout=10)
    assert not loop.is_alive() and time.monotonic() - stopping < 5
    watchers = [t for t in threading.enumerate() if t.name == "watcher-test"]
    for thread in watchers:
        thread.join(timeout=5)
    assert not any(t.is_alive() for t in watchers)
