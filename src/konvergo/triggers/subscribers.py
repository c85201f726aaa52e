"""The one subscriber of the triggers app: every event is offered to the active rules."""

from __future__ import annotations

from konvergo.core.events import EventMessage, subscribe
from konvergo.triggers.services import event_fire


@subscribe("triggers.fire_rules", events=["*"])
def fire_rules(message: EventMessage) -> None:
    event_fire(message)
