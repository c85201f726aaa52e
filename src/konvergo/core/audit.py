"""The audit trail: who changed which business record, when, and from what to what.

History rows are written by django-simple-history on every save of a model that declares
`history = HistoricalRecords()` (every business model must; a test enforces it). In a web
request the actor comes from the request; jobs, commands and services acting for someone wrap
their work in `acting_as(user)`. A hot path that inserts without `save()` writes the created
row with `record_created`, as simple-history would.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from konvergo.core.rows import insert_rows, new_object

ACTIONS = {"+": "created", "~": "changed", "-": "deleted"}


@contextmanager
def acting_as(user: Any) -> Iterator[None]:
    """Attribute history written inside the block to `user` (e.g. in jobs and commands)."""
    context = HistoricalRecords.context
    previous = getattr(context, "request", None)
    # simple-history only reads `request.user` from the request it keeps per thread.
    context.request = SimpleNamespace(user=user)
    try:
        yield
    finally:
        if previous is None:
            del context.request
        else:
            context.request = previous


def history_user_id() -> int | None:
    """The id of the user simple-history would record for a save now (the request's, or the
    one of `acting_as`)."""
    user = getattr(getattr(HistoricalRecords.context, "request", None), "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return int(user.pk)


def record_created(cursor: Any, record: models.Model) -> None:
    """Write the "created" history row of `record`, inserted without `save()` (a hot path):
    the row simple-history's post_save would write, with the same date, user and fields."""
    historical = record.history.model  # type: ignore[attr-defined]
    values = {
        f.attname: getattr(record, f.attname)
        for f in historical._meta.concrete_fields
        if not f.attname.startswith("history_") and hasattr(record, f.attname)
    }
    values.update(
        history_date=timezone.now(),
        history_type="+",
        history_user_id=history_user_id(),
        history_change_reason=None,
    )
    insert_rows(cursor, [new_object(historical, values)])


@dataclass(frozen=True)
class AuditChange:
    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    action: str  # created / changed / deleted
    actor_id: int | None
    actor: str  # display name, "" when the system did it
    changes: tuple[AuditChange, ...]


def audit_trail(record: models.Model, *, limit: int = 200) -> list[AuditEntry]:
    """Newest first. Each 'changed' entry lists the fields with their before and after values."""
    history = getattr(record, "history", None)
    if history is None:
        raise TypeError(f"{type(record).__name__} keeps no history")
    rows = list(
        history.select_related("history_user").order_by("-history_date", "-history_id")[: limit + 1]
    )
    entries = []
    for index, row in enumerate(rows[:limit]):
        older = rows[index + 1] if index + 1 < len(rows) else None
        changes: tuple[AuditChange, ...] = ()
        if older is not None and row.history_type == "~":
            delta = row.diff_against(older)
            changes = tuple(AuditChange(c.field, c.old, c.new) for c in delta.changes)
        user = row.history_user
        entries.append(
            AuditEntry(
                at=row.history_date,
                action=ACTIONS.get(row.history_type, row.history_type),
                actor_id=user.pk if user else None,
                actor=str(user) if user else "",
                changes=changes,
            )
        )
    return entries
