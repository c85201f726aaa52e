"""The one subscriber of the triggers app: every event is offered to the active rules."""

from __future__ import annotations

from konvergo.core.events import EventMessage, subscribe
from konvergo.triggers.services import event_fire

# The business apps' events (not every name on the outbox: test probes and internal names of
# other subsystems stay out of the rules' way).
BUSINESS_EVENTS = [
    f"{app}.*"
    for app in (
        "crm",
        "tickets",
        "documents",
        "integrations",
        "processes",
        "org",
        "imports",
        "inbox",
    )
]


@subscribe("triggers.fire_rules", events=BUSINESS_EVENTS)
def fire_rules(message: EventMessage) -> None:
    event_fire(message)
