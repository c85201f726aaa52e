"""Periodic inbox work run by the job worker (imported from InboxConfig.ready())."""

from __future__ import annotations

from datetime import datetime

from konvergo.core.jobs import register_sweep
from konvergo.inbox.services import inbox_notices


@register_sweep("inbox.notices")
def send_inbox_notices(now: datetime) -> int:
    """Assignment notices, reminders, overdue escalations and daily digests due by `now`,
    each sent once however often this runs."""
    return inbox_notices(now)
