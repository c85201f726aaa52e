"""Periodic CRM work run by the job worker (imported from CrmConfig.ready()).

Sweeps are thin: they hand `now` to a service, which is safe to run twice.
"""

from __future__ import annotations

from datetime import datetime

from konvergo.core.jobs import register_sweep
from konvergo.crm.services.activities import activities_send_reminders


@register_sweep("crm.reminders")
def send_due_reminders(now: datetime) -> int:
    """Activity reminders due by `now`: one notification and one e-mail each, once."""
    return activities_send_reminders(now)
