"""Outbound webhooks: each event matching an active subscription becomes a delivery (written
with its job in the event's delivery transaction), POSTed as JSON signed with HMAC-SHA256 of the
body (`X-Konvergo-Signature: sha256=<hex>`). A failure is retried by the worker with backoff;
after `DISABLE_AFTER` failures in a row the subscription is switched off and its owner told.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import FieldErrors
from konvergo.core.events import EventMessage
from konvergo.integrations.models import DeliveryStatus, WebhookDelivery, WebhookSubscription
from konvergo.integrations.services.common import alert_admins, max_attempts, signature
from konvergo.org.models import User
from konvergo.org.services import notify

DISABLE_AFTER = 10
TIMEOUT_SECONDS = 10
USER_AGENT = "Konvergo-Webhooks/1"


class DeliveryError(Exception):
    pass


def _clean(values: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    if not str(values.get("name") or "").strip():
        errors["name"] = [_("Give the subscription a name.")]
    url = str(values.get("url") or "").strip()
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
        errors["url"] = [_("Give an http or https URL.")]
    events = values.get("events") or []
    if isinstance(events, str):
        events = [e.strip() for e in events.replace(",", " ").split()]
    events = [str(e).strip() for e in events if str(e).strip()]
    if not events:
        errors["events"] = [_("Choose at least one event.")]
    if errors:
        raise FieldErrors(errors)
    return {**values, "url": url, "events": events, "name": str(values["name"]).strip()}


def subscription_create(*, actor: User | None, **values: Any) -> WebhookSubscription:
    clean = _clean(values)
    clean.setdefault("owner", actor if getattr(actor, "pk", None) else None)
    with transaction.atomic():
        return WebhookSubscription.objects.create(**clean)


def subscription_update(
    *, actor: User | None, subscription: WebhookSubscription, **values: Any
) -> WebhookSubscription:
    current = {
        "name": subscription.name,
        "url": subscription.url,
        "events": subscription.events,
        "is_active": subscription.is_active,
    }
    clean = _clean({**current, **values})
    with transaction.atomic():
        for key, value in clean.items():
            setattr(subscription, key, value)
        if clean.get("is_active"):
            # Switching it back on starts the failure count afresh.
            subscription.disabled_at = None
            subscription.consecutive_failures = 0
        subscription.save()
    return subscription


def _wants(subscription: WebhookSubscription, name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in subscription.events)


def event_body(message: EventMessage) -> dict[str, Any]:
    return {
        "id": str(message.id),
        "event": message.name,
        "occurred_at": message.occurred_at.isoformat(),
        "subject_type": message.subject_type,
        "subject_id": message.subject_id,
        "payload": message.payload,
    }


def deliveries_for_event(message: EventMessage) -> list[WebhookDelivery]:
    """Queue one delivery per matching active subscription (once per event)."""
    from konvergo.integrations.tasks import deliver_webhook

    created = []
    for subscription in WebhookSubscription.objects.filter(is_active=True):
        if not _wants(subscription, message.name):
            continue
        delivery, new = WebhookDelivery.objects.get_or_create(
            subscription=subscription,
            event_id=message.id,
            defaults={
                "url": subscription.url,
                "event_name": message.name,
                "payload": event_body(message),
            },
        )
        if new:
            deliver_webhook.enqueue(delivery.pk)
            created.append(delivery)
    return created


def webhook_call(
    *, url: str, secret: str, event_name: str, payload: dict[str, Any]
) -> WebhookDelivery:
    """A one-off delivery (a trigger rule's "call a webhook"), retried like the others."""
    from konvergo.integrations.tasks import deliver_webhook

    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            url=url, secret=secret, event_name=event_name, payload=payload
        )
        deliver_webhook.enqueue(delivery.pk)
    return delivery


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def webhook_deliver(*, delivery_id: int) -> None:
    """POST one delivery (the job). Raises while it should be retried."""
    delivery = WebhookDelivery.objects.select_related("subscription").filter(pk=delivery_id).first()
    if delivery is None or delivery.status != DeliveryStatus.PENDING:
        return
    subscription = delivery.subscription
    if subscription is not None and not subscription.is_active:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.FAILED, error=_("The subscription is switched off.")
        )
        return
    secret = subscription.secret if subscription is not None else delivery.secret
    body = json.dumps(delivery.payload, cls=DjangoJSONEncoder, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Konvergo-Event": delivery.event_name,
        "X-Konvergo-Delivery": str(delivery.public_id),
    }
    if secret:
        headers["X-Konvergo-Signature"] = signature(secret, body)
    attempts = delivery.attempts + 1
    code: int | None = None
    try:
        code = _post(delivery.url, body, headers)
        error = "" if 200 <= code < 300 else f"HTTP {code}"
    except (OSError, ValueError) as exc:
        error = f"{exc.__class__.__name__}: {exc}"
    if not error:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.DELIVERED,
            attempts=attempts,
            response_code=code,
            error="",
            delivered_at=timezone.now(),
        )
        if subscription is not None:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(consecutive_failures=0)
        return
    last = attempts >= max_attempts()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED if last else DeliveryStatus.PENDING,
        attempts=attempts,
        response_code=code,
        error=error[:5000],
    )
    if subscription is not None:
        _count_failure(subscription)
    if not last:
        raise DeliveryError(error)


def _count_failure(subscription: WebhookSubscription) -> None:
    with transaction.atomic():
        WebhookSubscription.objects.filter(pk=subscription.pk).update(
            consecutive_failures=F("consecutive_failures") + 1
        )
        locked = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
        if not locked.is_active or locked.consecutive_failures < DISABLE_AFTER:
            return
        locked.is_active = False
        locked.disabled_at = timezone.now()
        locked.save(update_fields=["is_active", "disabled_at", "updated_at"])
        title = _("Webhook %(name)s switched off after %(count)s failed deliveries") % {
            "name": locked.name,
            "count": locked.consecutive_failures,
        }
        if locked.owner is not None:
            notify(recipient=locked.owner, title=title[:200], url="/integrations/webhooks/")
        else:
            alert_admins(title=title, url="/integrations/webhooks/")
