"""Event subscribers of the engine."""

from __future__ import annotations

from konvergo.core.events import EventMessage, subscribe
from konvergo.processes.services import message_correlate


@subscribe("processes.deliver_thrown_message", events=["processes.message.thrown"])
def deliver_thrown_message(message: EventMessage) -> None:
    """A message or signal thrown by one instance reaches the others (see services._save)."""
    payload = message.payload
    message_correlate(
        payload["name"],
        correlation_key=payload.get("correlation_key", ""),
        variables=payload.get("variables") or {},
        signal=bool(payload.get("signal")),
        exclude_instance=payload.get("sender"),
    )
