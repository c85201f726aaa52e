"""SMS through a provider: the generic HTTP gateway (URL, method, body template, auth header)
or the log provider for development. Inbound SMS and delivery reports come in through an
inbound channel (see views); an inbound SMS emits `integrations.sms.received`."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from typing import Any, Protocol

from django.db import transaction
from django.template import Context, Engine
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.events import emit
from konvergo.crm.models import Organization, Person
from konvergo.integrations.models import Direction, SmsGateway, SmsMessage, SmsProvider
from konvergo.integrations.services.common import (
    Malformed,
    contact_for_phone,
    e164,
    max_attempts,
)

logger = logging.getLogger(__name__)
MAX_LENGTH = 1600
_ENGINE = Engine(autoescape=False)


class Provider(Protocol):
    def send(self, gateway: SmsGateway, sms: SmsMessage) -> str:
        """Send it; return the provider's id of the message (raise on failure)."""
        ...


class LogProvider:
    def send(self, gateway: SmsGateway, sms: SmsMessage) -> str:
        logger.info("SMS to %s: %s", sms.recipient, sms.text)
        return f"log-{sms.public_id}"


class HttpProvider:
    def body(self, gateway: SmsGateway, sms: SmsMessage) -> bytes:
        values = {"to": sms.recipient, "text": sms.text, "from": sms.sender, "id": sms.public_id}
        if "json" in gateway.content_type:
            # JSON-escape each value (without its quotes) so any text keeps the body valid.
            values = {k: json.dumps(str(v))[1:-1] for k, v in values.items()}
        return (
            _ENGINE.from_string(gateway.body_template)
            .render(Context(values, autoescape=False))
            .encode()
        )

    def send(self, gateway: SmsGateway, sms: SmsMessage) -> str:
        headers = {"Content-Type": gateway.content_type}
        if gateway.auth_header:
            headers[gateway.auth_header] = gateway.auth_value
        method = gateway.method.upper()
        data = self.body(gateway, sms) if method != "GET" else None
        request = urllib.request.Request(gateway.url, data=data, headers=headers, method=method)  # noqa: S310
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            text = response.read(10_000).decode("utf-8", "replace")
        try:
            answer = json.loads(text)
        except ValueError:
            return ""
        return (
            str(answer.get("id") or answer.get("message_id") or "")
            if isinstance(answer, dict)
            else ""
        )


PROVIDERS: dict[str, Provider] = {SmsProvider.LOG: LogProvider(), SmsProvider.HTTP: HttpProvider()}


def default_gateway() -> SmsGateway | None:
    return SmsGateway.objects.order_by("-is_default", "pk").first()


def sms_send(
    *,
    to: str,
    text: str,
    gateway: SmsGateway | None = None,
    organization: Organization | None = None,
    person: Person | None = None,
) -> SmsMessage:
    from konvergo.integrations.tasks import send_sms

    errors: dict[str, list[str]] = {}
    number = e164(to)
    if len(number) < 5:
        errors["to"] = [_("%(value)s is not a phone number.") % {"value": to}]
    if not text.strip():
        errors["text"] = [_("Write something first.")]
    elif len(text) > MAX_LENGTH:
        errors["text"] = [_("An SMS has at most %(n)s characters.") % {"n": MAX_LENGTH}]
    if errors:
        raise FieldErrors(errors)
    gateway = gateway or default_gateway()
    if gateway is None:
        raise BusinessError(_("No SMS gateway is set up."))
    if organization is None and person is None:
        contact = contact_for_phone(number)
        organization, person = contact.organization, contact.person
    with transaction.atomic():
        sms = SmsMessage.objects.create(
            direction=Direction.OUT,
            gateway=gateway,
            sender=gateway.sender,
            recipient=number,
            text=text,
            organization=organization,
            person=person,
        )
        send_sms.enqueue(sms.pk)
    return sms


def sms_deliver(*, sms_id: int) -> None:
    """Send one queued SMS (the job); a failure is retried by the worker with backoff, and the
    SMS is marked failed after the last attempt. The row stays locked while it is sent."""
    failure: Exception | None = None
    with transaction.atomic():
        sms = (
            SmsMessage.objects.select_for_update(of=("self",))
            .select_related("gateway")
            .filter(pk=sms_id)
            .first()
        )
        if sms is None or sms.status != "queued" or sms.gateway is None:
            return
        sms.attempts += 1
        try:
            sms.provider_id = PROVIDERS[sms.gateway.provider].send(sms.gateway, sms)[:120]
            sms.status = "sent"
            sms.error = ""
        except (OSError, ValueError) as exc:
            failure = exc
            sms.error = f"{exc.__class__.__name__}: {exc}"[:5000]
            if sms.attempts >= max_attempts():
                sms.status = "failed"
        sms.save()
    if failure is not None and sms.status == "queued":
        raise failure


def sms_receive(data: dict[str, Any]) -> SmsMessage:
    sender = str(data.get("from") or data.get("sender") or "").strip()
    text = str(data.get("text") or data.get("body") or "")
    if not sender or not text:
        raise Malformed("an SMS needs 'from' and 'text'")
    contact = contact_for_phone(sender)
    with transaction.atomic():
        sms = SmsMessage.objects.create(
            direction=Direction.IN,
            sender=e164(sender)[:30],
            recipient=str(data.get("to") or "")[:30],
            text=text[:MAX_LENGTH],
            status="received",
            provider_id=str(data.get("id") or "")[:120],
            organization=contact.organization,
            person=contact.person,
        )
        emit(
            "integrations.sms.received",
            subject=sms,
            payload={
                "sender": sms.sender,
                "text": sms.text,
                "owner": contact.owner.username if contact.owner else "",
                "organization": str(contact.organization.public_id) if contact.organization else "",
                "person": str(contact.person.public_id) if contact.person else "",
            },
        )
    return sms


def sms_status(data: dict[str, Any]) -> int:
    """A delivery report: the provider's id and its status (delivered, failed, ...)."""
    provider_id = str(data.get("id") or data.get("message_id") or "").strip()
    status = str(data.get("status") or "").strip().lower()[:20]
    if not provider_id or not status:
        raise Malformed("a delivery report needs 'id' and 'status'")
    return SmsMessage.objects.filter(provider_id=provider_id, direction=Direction.OUT).update(
        status=status
    )
