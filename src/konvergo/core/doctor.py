"""Health checks for `konvergo doctor`; apps add their own with `register_check`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from konvergo.core import selectors
from konvergo.core.checks import database_target, pending_migrations


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str


Check = Callable[[], list[Finding]]
_checks: dict[str, Check] = {}


def register_check(name: str) -> Callable[[Check], Check]:
    def register(fn: Check) -> Check:
        _checks[name] = fn
        return fn

    return register


@register_check("database")
def check_database() -> list[Finding]:
    if selectors.database_ok():
        return [Finding("database", True, f"{database_target()} answers")]
    return [Finding("database", False, f"{database_target()} does not answer")]


@register_check("migrations")
def check_migrations() -> list[Finding]:
    pending = pending_migrations()
    if pending:
        return [
            Finding(
                "migrations",
                False,
                f"{len(pending)} migration(s) not applied ({', '.join(pending[:5])}): "
                "run `konvergo migrate`",
            )
        ]
    return [Finding("migrations", True, "all migrations applied")]


@register_check("worker")
def check_worker() -> list[Finding]:
    last = selectors.last_worker_heartbeat()
    if selectors.worker_state() == "ok":
        return [Finding("worker", True, f"a worker beat at {last:%Y-%m-%d %H:%M:%S} UTC")]
    seen = f"last heartbeat {last:%Y-%m-%d %H:%M:%S} UTC" if last else "no heartbeat ever"
    return [
        Finding(
            "worker",
            False,
            f"no job worker is running ({seen}): start `konvergo worker` or `konvergo serve`",
        )
    ]


@register_check("jobs")
def check_jobs() -> list[Finding]:
    counts = selectors.job_counts()
    findings = []
    if counts.failed:
        latest = DBTaskResult.objects.filter(status="FAILED").order_by("-finished_at").first()
        example = f"; latest: {latest.task_path} ({latest.exception_class_path})" if latest else ""
        findings.append(Finding("jobs", False, f"{counts.failed} job(s) failed for good{example}"))
    if counts.overdue:
        findings.append(
            Finding(
                "jobs",
                False,
                f"{counts.overdue} job(s) due for over "
                f"{int(selectors.STUCK_AFTER.total_seconds() // 60)} minutes "
                "and not taken by any worker",
            )
        )
    running = DBTaskResult.objects.filter(
        status="RUNNING", started_at__lt=timezone.now() - selectors.STUCK_AFTER
    )
    if running.exists():
        findings.append(
            Finding("jobs", False, f"{running.count()} job(s) running for over 10 minutes")
        )
    if not findings:
        findings.append(
            Finding(
                "jobs",
                True,
                f"{counts.ready} queued, {counts.running} running, "
                f"{counts.retrying} waiting to retry, none failed",
            )
        )
    return findings


@register_check("events")
def check_events() -> list[Finding]:
    stuck = selectors.undelivered_event_count()
    if stuck:
        return [Finding("events", False, f"{stuck} event(s) undelivered for over 10 minutes")]
    return [Finding("events", True, "every event older than 10 minutes was delivered")]


def run_checks() -> list[Finding]:
    findings: list[Finding] = []
    for name, check in _checks.items():
        try:
            findings.extend(check())
        except Exception as exc:  # a broken check is itself a finding, not a crash
            findings.append(Finding(name, False, f"check failed: {exc.__class__.__name__}: {exc}"))
        if name == "database" and not findings[-1].ok:
            break  # everything else needs the database
    return findings
