"""Reads of the platform's own state: health of the database, the job worker and the outbox."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Max
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from konvergo.core.models import Event, WorkerHeartbeat

# A job still waiting this long after it became due means no worker is taking jobs.
STUCK_AFTER = timedelta(minutes=10)


def database_ok() -> bool:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except DatabaseError:
        return False
    return True


def last_worker_heartbeat() -> datetime | None:
    latest: datetime | None = WorkerHeartbeat.objects.aggregate(latest=Max("last_seen_at"))[
        "latest"
    ]
    return latest


def worker_state(now: datetime | None = None) -> str:
    """'ok' when some worker beat within KONVERGO_WORKER_STALE_SECONDS, else 'stale'."""
    now = now or timezone.now()
    latest = last_worker_heartbeat()
    stale_after = timedelta(seconds=settings.KONVERGO_WORKER_STALE_SECONDS)
    return "ok" if latest is not None and now - latest <= stale_after else "stale"


@dataclass(frozen=True)
class JobCounts:
    ready: int
    running: int
    failed: int
    retrying: int  # waiting for a retry after a failed attempt
    overdue: int  # due for longer than STUCK_AFTER and still not taken


def job_counts(now: datetime | None = None) -> JobCounts:
    now = now or timezone.now()
    jobs = DBTaskResult.objects.all()
    ready = jobs.filter(status="READY")
    return JobCounts(
        ready=ready.count(),
        running=jobs.filter(status="RUNNING").count(),
        failed=jobs.filter(status="FAILED").count(),
        retrying=ready.exclude(exception_class_path="").count(),
        overdue=ready.filter(run_after__lte=now - STUCK_AFTER).count()
        + ready.filter(run_after__year=9999, enqueued_at__lte=now - STUCK_AFTER).count(),
    )


def undelivered_event_count(*, older_than: timedelta = STUCK_AFTER) -> int:
    return Event.objects.filter(
        delivered_at__isnull=True, occurred_at__lte=timezone.now() - older_than
    ).count()


@dataclass(frozen=True)
class SystemStatus:
    database: str
    worker: str
    last_heartbeat: datetime | None
    jobs: JobCounts
    undelivered_events: int


def system_status() -> SystemStatus:
    return SystemStatus(
        database="ok" if database_ok() else "error",
        worker=worker_state(),
        last_heartbeat=last_worker_heartbeat(),
        jobs=job_counts(),
        undelivered_events=undelivered_event_count(),
    )


_sqlite_tables: dict[tuple[str, str], bool] = {}


def sqlite_table_exists(table: str, db: BaseDatabaseWrapper = connection) -> bool:
    """Whether this SQLite database has `table` (e.g. an FTS5 index a migration made);
    remembered once it has, asked again while it has not."""
    key = (str(db.settings_dict["NAME"]), table)
    if not _sqlite_tables.get(key):
        with db.cursor() as cursor:
            cursor.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
            )
            _sqlite_tables[key] = cursor.fetchone() is not None
    return _sqlite_tables[key]
