"""What the channels share: matching a number or address to a contact, alerting the
administrators, authenticating inbound payloads and keeping the unreadable ones."""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import phonenumbers
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from konvergo.crm.models import Email, Organization, Person, Phone
from konvergo.integrations.models import ChannelKind, DeadLetter, InboundChannel
from konvergo.org.models import Notification, User
from konvergo.org.services import notify

SIGNATURE_HEADER = "X-Konvergo-Signature"
SECRET_HEADER = "X-Konvergo-Secret"  # noqa: S105 - a header name


class Unauthorized(Exception):
    """The inbound request carries no valid secret or signature (401)."""


class Malformed(Exception):
    """The inbound payload cannot be read (400; kept as a dead letter)."""


@dataclass(frozen=True)
class Contact:
    organization: Organization | None = None
    person: Person | None = None

    @property
    def record(self) -> Organization | Person | None:
        return self.person or self.organization

    @property
    def owner(self) -> User | None:
        record = self.record
        return record.owner if record is not None else None

    def __bool__(self) -> bool:
        return self.record is not None


def _employer(person: Person) -> Organization | None:
    employment = person.employments.filter(is_primary=True).select_related("organization").first()
    if employment is None:
        employment = person.employments.select_related("organization").first()
    return employment.organization if employment else None


def e164(number: str) -> str:
    """The number in E.164 when it parses, else its digits with a leading + kept."""
    text = (number or "").strip()
    try:
        parsed = phonenumbers.parse(text, None)
        if phonenumbers.is_possible_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    except phonenumbers.NumberParseException:
        pass
    digits = "".join(c for c in text if c.isdigit())
    return ("+" + digits) if text.startswith("+") else digits


def contact_for_phone(number: str) -> Contact:
    normalized = e164(number)
    if not normalized:
        return Contact()
    phone = (
        Phone.objects.filter(number=normalized)
        .select_related("person__owner", "organization__owner")
        .order_by("-is_primary", "pk")
        .first()
    )
    if phone is None:
        return Contact()
    if phone.person is not None:
        return Contact(organization=_employer(phone.person), person=phone.person)
    return Contact(organization=phone.organization)


def contact_for_email(address: str) -> Contact:
    row = (
        Email.objects.filter(address=(address or "").strip().lower())
        .select_related("person__owner", "organization__owner")
        .order_by("-is_primary", "pk")
        .first()
    )
    if row is None:
        return Contact()
    if row.person is not None:
        return Contact(organization=_employer(row.person), person=row.person)
    return Contact(organization=row.organization)


def alert_admins(*, title: str, body: str = "", url: str = "", once_per_hours: int = 6) -> int:
    """Notify every active administrator, at most once per title every few hours (an IMAP
    server that stays down must not flood the bell)."""
    since = timezone.now() - timedelta(hours=once_per_hours)
    sent = 0
    for admin in User.objects.filter(is_superuser=True, is_active=True):
        if Notification.objects.filter(
            recipient=admin, title=title, created_at__gte=since
        ).exists():
            continue
        notify(recipient=admin, title=title[:200], body=body, url=url)
        sent += 1
    return sent


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def channel_authenticate(
    request: HttpRequest, *, kind: ChannelKind, public_id: Any
) -> InboundChannel:
    """The active channel named in the URL, once the request proves it knows its secret."""
    channel = InboundChannel.objects.filter(public_id=public_id, kind=kind, is_active=True).first()
    if channel is None:
        raise Unauthorized("unknown channel")
    given = request.headers.get(SECRET_HEADER, "")
    if given and hmac.compare_digest(given.encode(), channel.secret.encode()):
        return channel
    signed = request.headers.get(SIGNATURE_HEADER, "")
    if signed and hmac.compare_digest(signed, signature(channel.secret, request.body)):
        return channel
    raise Unauthorized("missing or wrong secret")


def dead_letter(*, source: str, request: HttpRequest, error: str) -> DeadLetter:
    """Keep an unreadable payload (outside any failing transaction) for inspection."""
    headers = {
        k: v
        for k, v in request.headers.items()
        if k.lower() not in {"cookie", "authorization", SECRET_HEADER.lower()}
    }
    with transaction.atomic():
        return DeadLetter.objects.create(
            source=source,
            headers=headers,
            body=request.body.decode("utf-8", "replace")[:100_000],
            error=error[:5000],
        )


def read_payload(request: HttpRequest) -> dict[str, Any]:
    """A JSON object, or form fields; anything else is Malformed."""
    content_type = request.content_type or ""
    if content_type == "application/json":
        try:
            data = json.loads(request.body or b"")
        except (ValueError, UnicodeDecodeError) as exc:
            raise Malformed(f"not JSON: {exc}") from None
        if not isinstance(data, dict):
            raise Malformed("the JSON body is not an object")
        return data
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {k: request.POST.get(k) for k in request.POST}
    raise Malformed(f"unsupported content type {content_type or '(none)'}")


def max_attempts() -> int:
    return int(settings.KONVERGO_JOB_MAX_ATTEMPTS)
