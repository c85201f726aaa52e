"""The /api/v1/integrations part of the API: send e-mail and SMS, webhook subscriptions and
their delivery log, dead letters, the caller's calendar feed and meeting invitations."""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations.

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import models
from django.http import Http404, HttpRequest
from django.urls import reverse
from ninja import Field, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from konvergo.crm.models import Activity
from konvergo.integrations.models import (
    DeadLetter,
    EmailMessage,
    SmsMessage,
    WebhookDelivery,
    WebhookSubscription,
)
from konvergo.integrations.services import calendars
from konvergo.integrations.services.mail import email_retry, email_send
from konvergo.integrations.services.sms import sms_send
from konvergo.integrations.services.webhooks import subscription_create, subscription_update
from konvergo.org.api import allowed, caller, get_visible, writing
from konvergo.org.schemas import PatchSchema

router = Router(tags=["integrations"])


class EmailIn(Schema):
    to: list[str] = Field(min_length=1)
    cc: list[str] = Field(default_factory=list)
    subject: str = ""
    body: str = ""
    template: str = Field("", description="Template key; its text in `language` is used.")
    language: str = ""
    variables: dict[str, Any] = Field(default_factory=dict)


class EmailOut(Schema):
    id: UUID
    direction: str
    status: str
    message_id: str
    from_address: str
    to: str
    subject: str
    body: str
    error: str
    ticket: int | None
    created_at: datetime
    sent_at: datetime | None

    @staticmethod
    def resolve_id(obj: EmailMessage) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_ticket(obj: EmailMessage) -> int | None:
        return obj.ticket.number if obj.ticket else None


@router.post("/emails", response={201: EmailOut}, summary="Send an e-mail")
def emails_send(request: HttpRequest, payload: EmailIn) -> Status[EmailMessage]:
    user = allowed(request, "add", EmailMessage)
    with writing(user):
        message = email_send(actor=user, **payload.model_dump())
    return Status(201, message)


@router.get("/emails", response=list[EmailOut], summary="E-mails sent and received")
@paginate(LimitOffsetPagination, max_limit=200)
def emails_list(request: HttpRequest) -> models.QuerySet[EmailMessage]:
    allowed(request, "view", EmailMessage)
    return EmailMessage.objects.select_related("ticket").order_by("-created_at", "-pk")


@router.post("/emails/{email_id}/retry", response=EmailOut, summary="Send a failed e-mail again")
def emails_retry(request: HttpRequest, email_id: UUID) -> EmailMessage:
    user = allowed(request, "change", EmailMessage)
    message = EmailMessage.objects.filter(public_id=email_id).first()
    if message is None:
        raise Http404
    with writing(user):
        return email_retry(message=message)


class SmsIn(Schema):
    to: str
    text: str


class SmsOut(Schema):
    id: UUID
    direction: str
    sender: str
    recipient: str
    text: str
    status: str
    created_at: datetime

    @staticmethod
    def resolve_id(obj: SmsMessage) -> UUID:
        return obj.public_id


@router.post("/sms", response={201: SmsOut}, summary="Send an SMS through the default gateway")
def sms_create(request: HttpRequest, payload: SmsIn) -> Status[SmsMessage]:
    user = allowed(request, "add", SmsMessage)
    with writing(user):
        sms = sms_send(to=payload.to, text=payload.text)
    return Status(201, sms)


class SubscriptionIn(Schema):
    name: str = Field(max_length=120)
    url: str = Field(max_length=500)
    events: list[str] = Field(min_length=1)
    is_active: bool = True


class SubscriptionPatch(PatchSchema):
    name: str | None = None
    url: str | None = None
    events: list[str] | None = None
    is_active: bool | None = None


class SubscriptionOut(Schema):
    id: UUID
    name: str
    url: str
    events: list[str]
    is_active: bool
    consecutive_failures: int
    disabled_at: datetime | None

    @staticmethod
    def resolve_id(obj: WebhookSubscription) -> UUID:
        return obj.public_id


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(description="Shown once: the key of the X-Konvergo-Signature HMAC.")


class DeliveryOut(Schema):
    id: UUID
    event_name: str
    url: str
    status: str
    attempts: int
    response_code: int | None
    error: str
    created_at: datetime
    delivered_at: datetime | None

    @staticmethod
    def resolve_id(obj: WebhookDelivery) -> UUID:
        return obj.public_id


def _subscription(public_id: UUID) -> WebhookSubscription:
    row = WebhookSubscription.objects.filter(public_id=public_id).first()
    if row is None:
        raise Http404
    return row


@router.get("/webhooks", response=list[SubscriptionOut], summary="Webhook subscriptions")
@paginate(LimitOffsetPagination, max_limit=200)
def webhooks_list(request: HttpRequest) -> models.QuerySet[WebhookSubscription]:
    allowed(request, "view", WebhookSubscription)
    return WebhookSubscription.objects.order_by("name", "pk")


@router.post("/webhooks", response={201: SubscriptionCreated}, summary="Subscribe a URL")
def webhooks_create(request: HttpRequest, payload: SubscriptionIn) -> Status[WebhookSubscription]:
    user = allowed(request, "add", WebhookSubscription)
    with writing(user):
        row = subscription_create(actor=user, **payload.model_dump())
    return Status(201, row)


@router.patch("/webhooks/{subscription_id}", response=SubscriptionOut, summary="Change one")
def webhooks_update(
    request: HttpRequest, subscription_id: UUID, payload: SubscriptionPatch
) -> WebhookSubscription:
    user = allowed(request, "change", WebhookSubscription)
    row = _subscription(subscription_id)
    with writing(user):
        return subscription_update(actor=user, subscription=row, **payload.changes())


@router.delete("/webhooks/{subscription_id}", response={204: None}, summary="Delete one")
def webhooks_delete(request: HttpRequest, subscription_id: UUID) -> Status[None]:
    user = allowed(request, "delete", WebhookSubscription)
    row = _subscription(subscription_id)
    with writing(user):
        row.delete()
    return Status(204, None)


@router.get("/webhooks/deliveries", response=list[DeliveryOut], summary="The delivery log")
@paginate(LimitOffsetPagination, max_limit=200)
def deliveries_list(request: HttpRequest) -> models.QuerySet[WebhookDelivery]:
    allowed(request, "view", WebhookDelivery)
    return WebhookDelivery.objects.order_by("-created_at", "-pk")


class DeadLetterOut(Schema):
    id: UUID
    source: str
    headers: dict[str, Any]
    body: str
    error: str
    created_at: datetime

    @staticmethod
    def resolve_id(obj: DeadLetter) -> UUID:
        return obj.public_id


@router.get("/dead-letters", response=list[DeadLetterOut], summary="Unreadable inbound payloads")
@paginate(LimitOffsetPagination, max_limit=200)
def dead_letters_list(request: HttpRequest) -> models.QuerySet[DeadLetter]:
    allowed(request, "view", DeadLetter)
    return DeadLetter.objects.order_by("-created_at", "-pk")


class FeedOut(Schema):
    url: str


@router.get("/calendar-feed", response=FeedOut, summary="The caller's secret iCalendar URL")
def calendar_feed(request: HttpRequest) -> dict[str, str]:
    user = caller(request)
    feed = calendars.feed_for(user)
    return {
        "url": request.build_absolute_uri(reverse("integrations:calendar_feed", args=[feed.token]))
    }


class InviteIn(Schema):
    attendees: list[str] = Field(min_length=1)


@router.post(
    "/meetings/{activity_id}/invite",
    response={201: EmailOut},
    summary="Send a meeting as an .ics invitation",
)
def meeting_invite(
    request: HttpRequest, activity_id: UUID, payload: InviteIn
) -> Status[EmailMessage]:
    user = allowed(request, "add", EmailMessage)
    activity = get_visible(user, Activity.objects.select_related("owner"), activity_id)
    with writing(user):
        message = calendars.meeting_invite(
            actor=user, activity=activity, attendees=payload.attendees
        )
    return Status(201, message)
