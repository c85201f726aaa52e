"""Reads of the integrations app, and its items on the client's dossier timeline: every
e-mail and SMS sent or received (calls appear as the call activities they create)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.urls import reverse
from django.utils.translation import gettext as _

from konvergo.crm.models import Organization
from konvergo.crm.selectors import Client, TimelineItem, register_timeline_source
from konvergo.integrations.models import Direction, EmailMessage, SmsMessage
from konvergo.org.permissions import can


def _side(record: Client) -> str:
    return "organization" if isinstance(record, Organization) else "person"


@register_timeline_source
def email_items(user: Any, record: Client) -> Iterable[TimelineItem]:
    if not can(user, "view", EmailMessage):
        return
    for message in EmailMessage.objects.filter(**{_side(record): record}).order_by("-created_at")[
        :200
    ]:
        arrow = (
            _("E-mail to %(to)s") if message.direction == Direction.OUT else _("E-mail from %(to)s")
        )
        who = message.to if message.direction == Direction.OUT else message.from_address
        yield TimelineItem(
            kind="email",
            when=message.sent_at or message.created_at,
            title=f"{arrow % {'to': who}}: {message.subject} ({message.get_status_display()})",
            url=reverse("integrations:email_detail", args=[message.public_id]),
            planned=False,
            record=message,
        )


@register_timeline_source
def sms_items(user: Any, record: Client) -> Iterable[TimelineItem]:
    if not can(user, "view", SmsMessage):
        return
    for sms in SmsMessage.objects.filter(**{_side(record): record}).order_by("-created_at")[:200]:
        label = _("SMS to %(n)s") if sms.direction == Direction.OUT else _("SMS from %(n)s")
        number = sms.recipient if sms.direction == Direction.OUT else sms.sender
        yield TimelineItem(
            kind="sms",
            when=sms.created_at,
            title=f"{label % {'n': number}}: {sms.text[:80]}",
            url="",
            planned=False,
            record=sms,
        )
