"""Connectors Konvergo ships with (business apps add theirs from their AppConfig.ready())."""

from __future__ import annotations

from typing import Any

from konvergo.org.models import User
from konvergo.org.services import notify
from konvergo.processes.registry import register_connector


@register_connector(
    "konvergo.notify",
    description="In-app notification to a user (inputs: username, title, body, url); "
    "goes to the deputy while the user is away.",
)
def notify_user(inputs: dict[str, Any]) -> dict[str, Any]:
    username = str(inputs.get("username") or "")
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise LookupError(f"no active user named {username!r} to notify")
    notification = notify(
        recipient=user,
        title=str(inputs.get("title") or "")[:200],
        body=str(inputs.get("body") or ""),
        url=str(inputs.get("url") or ""),
    )
    return {"notified": notification.recipient.username}
