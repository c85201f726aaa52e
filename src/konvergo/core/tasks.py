"""Background jobs of the core. Jobs are thin: they take ids and call a service."""

from __future__ import annotations

from django_tasks import task

from konvergo.core.events import event_deliver


@task()
def deliver_event(event_id: str) -> None:
    event_deliver(event_id=event_id)
