"""The engine's part of the worker loop: fire due timers and retry incidents on time."""

from __future__ import annotations

from datetime import datetime

from konvergo.core.jobs import register_sweep
from konvergo.processes.services import (
    incidents_retry_due,
    start_timers_fire_due,
    timers_fire_due,
)


@register_sweep("processes.timers")
def fire_due_timers(now: datetime) -> int:
    return timers_fire_due(now)


@register_sweep("processes.incidents")
def retry_due_incidents(now: datetime) -> int:
    return incidents_retry_due(now)


@register_sweep("processes.start_timers")
def start_timer_started_processes(now: datetime) -> int:
    return start_timers_fire_due(now)
