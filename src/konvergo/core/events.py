"""The events outbox.

`emit()` writes an Event row and its delivery job inside the caller's transaction: a rolled-back
change emits nothing, a committed one is delivered at least once. Each subscriber runs in its own
transaction together with the EventDelivery row that proves it ran, so a subscriber's database
work happens once per event even when delivery is retried after a crash.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from konvergo.core.models import Event, EventDelivery
from konvergo.core.rows import insert_rows

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventMessage:
    """What a subscriber receives: plain data, never the ORM row."""

    id: UUID
    name: str
    subject_type: str | None  # "app_label.model"
    subject_id: str
    payload: dict[str, Any]
    actor_id: int | None
    occurred_at: datetime


Handler = Callable[[EventMessage], None]


@dataclass(frozen=True)
class Subscriber:
    key: str
    patterns: tuple[str, ...]
    handler: Handler = field(compare=False)

    def wants(self, event_name: str) -> bool:
        return any(fnmatch.fnmatchcase(event_name, pattern) for pattern in self.patterns)


_subscribers: dict[str, Subscriber] = {}


def subscribe(key: str, *, events: Iterable[str]) -> Callable[[Handler], Handler]:
    """Register `handler` under a stable `key` for event names matching the glob patterns.

    The key is stored with each delivery, so renaming it makes old events look undelivered.
    Apps subscribe from their AppConfig.ready().
    """
    patterns = tuple(events)

    def register(handler: Handler) -> Handler:
        _subscribers[key] = Subscriber(key=key, patterns=patterns, handler=handler)
        return handler

    return register


def subscribers_for(event_name: str) -> list[Subscriber]:
    return [s for key, s in sorted(_subscribers.items()) if s.wants(event_name)]


def emit(
    name: str,
    *,
    subject: models.Model | None = None,
    payload: dict[str, Any] | None = None,
    actor: Any = None,
) -> Event:
    """Record a business fact and queue its delivery, both in the current transaction."""
    event = Event(
        name=name,
        subject_type=ContentType.objects.get_for_model(subject) if subject is not None else None,
        subject_id=str(subject.pk) if subject is not None else "",
        payload=payload or {},
        actor=actor if getattr(actor, "pk", None) else None,
    )
    # No savepoint inside the caller's transaction: the two rows stand or fall with it. The
    # event is written without the ORM's query building: every advance of a process emits.
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        insert_rows(cursor, [event])
        event._state.adding = False
        _queue_delivery(cursor, str(event.id))
    return event


def _queue_delivery(cursor: Any, event_id: str) -> None:
    """`deliver_event.enqueue(event_id)`: on the database backend, the row its `enqueue`
    would create (with its pre-save default and its signal) is written by `insert_rows`, a
    third of the time of the ORM's create, on a path every process advance takes."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.compat import normalize_json, task_enqueued
    from django_tasks_db.models import DBTaskResult, get_date_max

    from konvergo.core.tasks import deliver_event

    backend = deliver_event.get_backend()
    if not isinstance(backend, DatabaseBackend):
        deliver_event.enqueue(event_id)
        return
    row: DBTaskResult[Any, Any] = DBTaskResult(
        args_kwargs=normalize_json({"args": [event_id], "kwargs": {}}),
        priority=deliver_event.priority,
        task_path=deliver_event.module_path,
        queue_name=deliver_event.queue_name,
        run_after=deliver_event.run_after or get_date_max(),  # its pre_save handler's default
        backend_name=backend.alias,
    )
    insert_rows(cursor, [row])
    row._state.adding = False
    task_enqueued.send(DatabaseBackend, task_result=row.task_result)


class DeliveryFailed(Exception):
    """Some subscribers failed; the job retries and skips those that already succeeded."""


def to_message(event: Event) -> EventMessage:
    subject_type = None
    if event.subject_type_id is not None:
        ct = ContentType.objects.get_for_id(event.subject_type_id)
        subject_type = f"{ct.app_label}.{ct.model}"
    return EventMessage(
        id=event.id,
        name=event.name,
        subject_type=subject_type,
        subject_id=event.subject_id,
        payload=event.payload,
        actor_id=event.actor_id,
        occurred_at=event.occurred_at,
    )


def event_deliver(*, event_id: UUID | str) -> None:
    """Hand one event to every subscriber that has not yet handled it."""
    event = Event.objects.filter(pk=event_id).first()
    if event is None or event.delivered_at is not None:
        return
    message = to_message(event)
    done = set(EventDelivery.objects.filter(event=event).values_list("subscriber", flat=True))
    failures: list[str] = []
    for subscriber in subscribers_for(event.name):
        if subscriber.key in done:
            continue
        try:
            with transaction.atomic():
                subscriber.handler(message)
                EventDelivery.objects.create(event=event, subscriber=subscriber.key)
        except IntegrityError:
            # Another worker delivered it concurrently and won; our copy was rolled back.
            continue
        except Exception as exc:
            logger.exception("Subscriber %s failed on event %s", subscriber.key, event.id)
            failures.append(f"{subscriber.key}: {exc.__class__.__name__}: {exc}")
    if failures:
        raise DeliveryFailed("; ".join(failures))
    Event.objects.filter(pk=event.pk).update(delivered_at=timezone.now())
