"""The job worker: runs django-tasks database jobs with retries, heartbeats and crash recovery.

django-tasks-db stores jobs and claims them safely (SKIP LOCKED on PostgreSQL, an exclusive
transaction on SQLite). What it leaves to us, and this module adds:
- a failed attempt is retried with exponential backoff, then kept as FAILED (never dropped);
- each worker records a heartbeat; a job left RUNNING by a worker that stopped beating (killed,
  machine lost) is put back in the queue, so a crash never loses a job;
- periodic sweeps registered by apps (e.g. due process timers) run in the same loop;
- watchers registered by apps run beside the loop in threads of their own, waiting on something
  outside (an IMAP server's IDLE) and waking the loop when there is work, so it need not wait
  for its next poll.
"""

from __future__ import annotations

import gc
import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.utils import OperationalError
from django.utils import timezone
from django.utils.crypto import get_random_string
from django_tasks_db.models import DBTaskResult, get_date_max
from django_tasks_db.utils import exclusive_transaction, is_locked_database_exception

from konvergo.core.models import WorkerHeartbeat

logger = logging.getLogger(__name__)

BACKEND = "default"
MAX_BACKOFF = timedelta(hours=1)

Sweep = Callable[[datetime], int]
_sweeps: dict[str, Sweep] = {}


def register_sweep(name: str) -> Callable[[Sweep], Sweep]:
    """Register a function run on every worker loop; it gets `now` and returns work done."""

    def register(fn: Sweep) -> Sweep:
        _sweeps[name] = fn
        return fn

    return register


# A watcher gets the worker's stop event and a `wake` function; it returns when stop is set.
Watcher = Callable[[threading.Event, Callable[[], None]], None]
_watchers: dict[str, Watcher] = {}


def register_watcher(name: str) -> Callable[[Watcher], Watcher]:
    """Register a function run in its own thread beside the worker loop (`konvergo worker`
    and the in-process worker of `konvergo run`)."""

    def register(fn: Watcher) -> Watcher:
        _watchers[name] = fn
        return fn

    return register


def backoff_for(attempt: int) -> timedelta:
    """Delay before the retry that follows failed attempt number `attempt` (1-based)."""
    base = settings.KONVERGO_JOB_BACKOFF_SECONDS
    return min(timedelta(seconds=base * 2 ** (attempt - 1)), MAX_BACKOFF)


def new_worker_id() -> str:
    return f"{socket.gethostname()[:30]}-{os.getpid()}-{get_random_string(8)}"


@dataclass
class Worker:
    worker_id: str = field(default_factory=new_worker_id)
    stop: threading.Event = field(default_factory=threading.Event)
    # Set by watchers (or anyone) to end the loop's wait between polls early.
    wakeup: threading.Event = field(default_factory=threading.Event)
    jobs_done: int = 0
    _last_beat: float = 0.0
    _started_at: datetime = field(default_factory=timezone.now)

    # --- heartbeat -------------------------------------------------------------------------

    def beat(self, *, force: bool = False) -> None:
        if (
            not force
            and time.monotonic() - self._last_beat < settings.KONVERGO_WORKER_HEARTBEAT_SECONDS
        ):
            return
        WorkerHeartbeat.objects.update_or_create(
            worker_id=self.worker_id,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": self._started_at,
                "last_seen_at": timezone.now(),
                "jobs_done": self.jobs_done,
            },
        )
        self._last_beat = time.monotonic()

    def sign_off(self) -> None:
        WorkerHeartbeat.objects.filter(worker_id=self.worker_id).delete()

    # --- one job ---------------------------------------------------------------------------

    def claim_next(self) -> DBTaskResult[..., object] | None:
        jobs = DBTaskResult.objects.ready().filter(backend_name=BACKEND)
        try:
            with exclusive_transaction(jobs.db):
                job = jobs.get_locked()
                if job is not None:
                    job.claim(self.worker_id)
                return job
        except OperationalError as exc:
            if is_locked_database_exception(exc):
                return None
            raise

    def run_job(self, job: DBTaskResult[..., object]) -> None:
        try:
            task = job.task
            return_value = task.call(*job.args_kwargs["args"], **job.args_kwargs["kwargs"])
        except Exception as exc:
            self.record_failure(job, exc)
        else:
            job.set_successful(return_value)
        finally:
            self.jobs_done += 1

    def record_failure(self, job: DBTaskResult[..., object], exc: Exception) -> None:
        attempts = len(job.worker_ids)
        if attempts < settings.KONVERGO_JOB_MAX_ATTEMPTS:
            delay = backoff_for(attempts)
            logger.warning(
                "Job %s (%s) failed on attempt %d, retrying in %s: %s",
                job.id,
                job.task_path,
                attempts,
                delay,
                exc,
            )
            # Back in the queue, with the last error kept visible until it succeeds.
            DBTaskResult.objects.filter(pk=job.pk).update(
                status="READY",
                run_after=timezone.now() + delay,
                exception_class_path=f"{type(exc).__module__}.{type(exc).__qualname__}",
                traceback="".join(traceback.format_exception(exc)),
            )
        else:
            logger.error(
                "Job %s (%s) failed for good after %d attempts", job.id, job.task_path, attempts
            )
            job.set_failed(exc)

    # --- the loop --------------------------------------------------------------------------

    def run_sweeps(self, now: datetime) -> int:
        done = 0
        for name, sweep in list(_sweeps.items()):
            try:
                done += sweep(now)
            except Exception:
                logger.exception("Sweep %s failed; it runs again on the next loop", name)
        return done

    def run_due(self, *, limit: int | None = None) -> int:
        """Run jobs until none is due (or `limit` ran). Returns how many ran."""
        ran = 0
        while not self.stop.is_set() and (limit is None or ran < limit):
            self.beat()
            job = self.claim_next()
            if job is None:
                break
            self.run_job(job)
            ran += 1
        return ran

    def run_once(self) -> int:
        """Free jobs of dead workers, run sweeps and every due job, until nothing is left."""
        self.beat(force=True)
        total = 0
        while True:
            now = timezone.now()
            work = recover_abandoned_jobs(now) + self.run_sweeps(now) + self.run_due()
            total += work
            if work == 0 or self.stop.is_set():
                return total

    def shutdown(self) -> None:
        """Leave after the job at hand (the loop and the watchers see it at once)."""
        self.stop.set()
        self.wakeup.set()

    def start_watchers(self) -> list[threading.Thread]:
        threads = []
        for name, watcher in list(_watchers.items()):
            thread = threading.Thread(
                target=self._watch, args=(name, watcher), name=f"watcher-{name}", daemon=True
            )
            thread.start()
            threads.append(thread)
        return threads

    def _watch(self, name: str, watcher: Watcher) -> None:
        try:
            watcher(self.stop, self.wakeup.set)
        except Exception:
            # The loop's own polling still does the work, only later.
            logger.exception("Watcher %s stopped with an error", name)
        finally:
            close_old_connections()

    def run_forever(self) -> None:
        logger.info("Worker %s started", self.worker_id)
        # What is loaded by now (Django, the apps, their modules) lives as long as the worker:
        # frozen, the garbage collector's full passes stop walking it again and again.
        gc.collect()
        gc.freeze()
        poll = settings.KONVERGO_WORKER_POLL_SECONDS
        self.start_watchers()
        try:
            while not self.stop.is_set():
                close_old_connections()
                try:
                    work = self.run_once()
                except OperationalError:
                    # Database restarting or unreachable: wait and try again, never die.
                    logger.exception("Worker %s lost the database; retrying", self.worker_id)
                    work = 0
                if work == 0:
                    self.wakeup.wait(poll)
                    self.wakeup.clear()
        finally:
            try:
                self.sign_off()
            except Exception:
                logger.warning("Worker %s could not sign off", self.worker_id)
            close_old_connections()
            gc.unfreeze()  # the process may go on (tests, an embedded worker)
            logger.info("Worker %s stopped", self.worker_id)


def recover_abandoned_jobs(now: datetime) -> int:
    """Put back in the queue the RUNNING jobs whose worker stopped beating."""
    stale_before = now - timedelta(seconds=settings.KONVERGO_WORKER_STALE_SECONDS)
    alive = set(
        WorkerHeartbeat.objects.filter(last_seen_at__gte=stale_before).values_list(
            "worker_id", flat=True
        )
    )
    recovered = 0
    for job in DBTaskResult.objects.filter(status="RUNNING", started_at__lt=stale_before).only(
        "id", "worker_ids"
    ):
        owner = job.worker_ids[-1] if job.worker_ids else None
        if owner in alive:
            continue
        with transaction.atomic():
            # Conditional update: if the owner finished it meanwhile, this changes nothing.
            recovered += DBTaskResult.objects.filter(pk=job.pk, status="RUNNING").update(
                status="READY",
                run_after=now,
                exception_class_path="konvergo.core.jobs.WorkerLost",
                traceback=f"Worker {owner} stopped while running this job; re-queued at {now}.",
            )
    if recovered:
        logger.warning("Re-queued %d job(s) abandoned by dead workers", recovered)
    return recovered


def retry_failed_job(job_id: str) -> bool:
    """Give a FAILED job a fresh set of attempts (from doctor, admin or the API)."""
    return bool(
        DBTaskResult.objects.filter(pk=job_id, status="FAILED").update(
            status="READY", run_after=get_date_max(), worker_ids=[], finished_at=None
        )
    )
