"""The audit trail: who changed which business record, when, and from what to what.

History rows are written by django-simple-history on every save of a model that declares
`history = HistoricalRecords()` (every business model must; a test enforces it). In a web
request the actor comes from the request; jobs, commands and services acting for someone wrap
their work in `acting_as(user)`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from django.db import models
from simple_history.models import HistoricalRecords

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
    rows = list(history.select_related("history_user").order_by("-history_date", "-history_id")[
        : limit + 1
    ])
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
