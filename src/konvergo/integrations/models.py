"""Integrations: e-mail in and out, SMS, telephony, calendar feeds, outbound webhooks, the public
lead form, and the dead letters of inbound payloads that could not be read.

Logs (messages, deliveries, dead letters) are append-only records and keep no history; the
configuration (templates, mailboxes, gateways, subscriptions, forms) does.
"""

from __future__ import annotations

import secrets
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel

USER = settings.AUTH_USER_MODEL


def new_secret() -> str:
    return secrets.token_urlsafe(32)


class Direction(models.TextChoices):
    OUT = "out", _("Outgoing")
    IN = "in", _("Incoming")


# --- e-mail ------------------------------------------------------------------------------------


class EmailTemplate(BaseModel):
    """One text of a template in one language; `{{ name }}` placeholders take variables."""

    key = models.SlugField(_("key"), max_length=80)
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    subject = models.CharField(_("subject"), max_length=255)
    body = models.TextField(_("text"))
    history = HistoricalRecords()

    class Meta:
        ordering = ["key", "language"]
        verbose_name = _("e-mail template")
        verbose_name_plural = _("e-mail templates")
        constraints = [
            models.UniqueConstraint(fields=["key", "language"], name="integ_template_once")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.language})"


class MailboxCreates(models.TextChoices):
    TICKET = "ticket", _("A ticket")
    LEAD = "lead", _("A lead")
    NOTHING = "nothing", _("Nothing (log on the contact only)")


class Mailbox(BaseModel):
    """An IMAP mailbox the worker polls."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    address = models.EmailField(_("address"), blank=True)
    host = models.CharField(_("IMAP server"), max_length=200)
    port = models.PositiveIntegerField(_("port"), default=993)
    use_ssl = models.BooleanField(_("TLS"), default=True)
    username = models.CharField(_("user name"), max_length=200)
    password = models.CharField(_("password"), max_length=200, blank=True)
    folder = models.CharField(_("folder"), max_length=200, default="INBOX")
    creates = models.CharField(
        _("unknown senders create"),
        max_length=8,
        choices=MailboxCreates.choices,
        default=MailboxCreates.TICKET,
    )
    queue = models.ForeignKey(
        "tickets.Queue",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ticket queue"),
    )
    owner = models.ForeignKey(
        USER,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("owner of new leads"),
    )
    is_active = models.BooleanField(_("active"), default=True)
    uid_validity = models.BigIntegerField(default=0, editable=False)
    last_uid = models.BigIntegerField(default=0, editable=False)
    last_polled_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["password", "last_uid", "last_polled_at"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")

    def __str__(self) -> str:
        return self.name


class EmailStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENT = "sent", _("Sent")
    FAILED = "failed", _("Failed")
    RECEIVED = "received", _("Received")


class EmailMessage(BaseModel):
    """Every e-mail sent or received, shown on the client's timeline."""

    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    status = models.CharField(_("status"), max_length=8, choices=EmailStatus.choices)
    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.SET_NULL, null=True, blank=True, related_name="messages"
    )
    imap_uid = models.BigIntegerField(null=True, blank=True)
    message_id = models.CharField(_("Message-ID"), max_length=255, db_index=True)
    in_reply_to = models.CharField(max_length=255, blank=True)
    references = models.TextField(blank=True)
    from_address = models.CharField(_("from"), max_length=255)
    to = models.TextField(_("to"))
    cc = models.TextField(_("cc"), blank=True)
    subject = models.CharField(_("subject"), max_length=255, blank=True)
    body = models.TextField(_("text"), blank=True)
    organization = models.ForeignKey(
        "crm.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("organisation"),
    )
    person = models.ForeignKey(
        "crm.Person",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("person"),
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("ticket"),
    )
    sent_by = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(_("error"), blank=True)
    ics = models.TextField(blank=True)  # a meeting invitation sent with it

    HISTORY_EXEMPT: ClassVar[bool] = True  # a log of what went in and out

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("e-mail")
        verbose_name_plural = _("e-mails")
        constraints = [
            # A message seen in a mailbox is never taken in twice.
            models.UniqueConstraint(
                fields=["mailbox", "message_id"],
                condition=models.Q(mailbox__isnull=False),
                name="integ_mail_once_per_mailbox",
            ),
        ]

    def __str__(self) -> str:
        return self.subject


class EmailAttachment(BaseModel):
    message = models.ForeignKey(EmailMessage, on_delete=models.CASCADE, related_name="attachments")
    file = models.FileField(_("file"), upload_to="mail/%Y/%m/")
    name = models.CharField(_("name"), max_length=255)
    content_type = models.CharField(max_length=120, blank=True)
    size = models.PositiveBigIntegerField(default=0)

    HISTORY_EXEMPT: ClassVar[bool] = True

    class Meta:
        ordering = ["id"]
        verbose_name = _("e-mail attachment")
        verbose_name_plural = _("e-mail attachments")

    def __str__(self) -> str:
        return self.name


# --- SMS ---------------------------------------------------------------------------------------


class SmsProvider(models.TextChoices):
    HTTP = "http", _("HTTP gateway")
    LOG = "log", _("Log only (development)")


class SmsGateway(BaseModel):
    """How SMS go out. The HTTP gateway fills `body_template` ({{ to }}, {{ text }}, {{ from }},
    {{ id }}) and sends it to `url`; most national gateways fit this."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    provider = models.CharField(
        _("provider"), max_length=8, choices=SmsProvider.choices, default=SmsProvider.LOG
    )
    url = models.URLField(_("URL"), max_length=500, blank=True)
    method = models.CharField(_("method"), max_length=6, default="POST")
    body_template = models.TextField(
        _("body template"), blank=True, default='{"to": "{{ to }}", "text": "{{ text }}"}'
    )
    content_type = models.CharField(max_length=80, default="application/json")
    auth_header = models.CharField(_("auth header"), max_length=80, blank=True)
    auth_value = models.CharField(_("auth value"), max_length=300, blank=True)
    sender = models.CharField(_("sender"), max_length=30, blank=True)
    is_default = models.BooleanField(_("default"), default=False)
    history = HistoricalRecords(excluded_fields=["auth_value"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("SMS gateway")
        verbose_name_plural = _("SMS gateways")

    def __str__(self) -> str:
        return self.name


class SmsMessage(BaseModel):
    direction = models.CharField(_("direction"), max_length=3, choices=Direction.choices)
    gateway = models.ForeignKey(
        SmsGateway, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    sender = models.CharField(_("from"), max_length=30, blank=True)
    recipient = models.CharField(_("to"), max_length=30, blank=True)
    text = models.TextField(_("text"))
    status = models.CharField(_("status"), max_length=20, default="queued")
    provider_id = models.CharField(max_length=120, blank=True, db_index=True)
    error = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    organization = models.ForeignKey(
        "crm.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        "crm.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    HISTORY_EXEMPT: ClassVar[bool] = True

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("SMS")
        verbose_name_plural = _("SMS")

    def __str__(self) -> str:
        return self.text[:40]


# --- inbound endpoints, telephony --------------------------------------------------------------


class ChannelKind(models.TextChoices):
    TELEPHONY = "telephony", _("Telephony (call events)")
    SMS = "sms", _("SMS (incoming and delivery reports)")


class InboundChannel(BaseModel):
    """An inbound webhook endpoint and its shared secret (sent as `X-Konvergo-Secret`, or an
    HMAC-SHA256 of the body in `X-Konvergo-Signature: sha256=<hex>`)."""

    kind = models.CharField(_("kind"), max_length=10, choices=ChannelKind.choices)
    name = models.CharField(_("name"), max_length=120)
    secret = models.CharField(_("secret"), max_length=200, default=new_secret)
    is_active = models.BooleanField(_("active"), default=True)
    history = HistoricalRecords(excluded_fields=["secret"])

    class Meta:
        ordering = ["kind", "name"]
        verbose_name = _("inbound channel")
        verbose_name_plural = _("inbound channels")

    def __str__(self) -> str:
        return self.name


class CallStatus(models.TextChoices):
    RINGING = "ringing", _("Ringing")
    ANSWERED = "answered", _("Answered")
    ENDED = "ended", _("Ended")
    MISSED = "missed", _("Missed")


class Call(BaseModel):
    call_id = models.CharField(_("call id"), max_length=120, unique=True)
    direction = models.CharField(
        _("direction"), max_length=3, choices=Direction.choices, default=Direction.IN
    )
    caller = models.CharField(_("caller"), max_length=30)
    callee = models.CharField(_("callee"), max_length=30, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=CallStatus.choices)
    user = models.ForeignKey(
        USER,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("called user"),
    )
    organization = models.ForeignKey(
        "crm.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        "crm.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    activity = models.ForeignKey(
        "crm.Activity", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    recording_url = models.URLField(_("recording"), max_length=500, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    popup_dismissed = models.BooleanField(default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("call")
        verbose_name_plural = _("calls")

    def __str__(self) -> str:
        return f"{self.caller} → {self.callee}"


class DeadLetter(BaseModel):
    """An inbound payload that could not be read, kept for inspection."""

    source = models.CharField(_("source"), max_length=60)
    headers = models.JSONField(default=dict, blank=True)
    body = models.TextField(_("body"), blank=True)
    error = models.TextField(_("error"))

    HISTORY_EXEMPT: ClassVar[bool] = True

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("dead letter")
        verbose_name_plural = _("dead letters")

    def __str__(self) -> str:
        return f"{self.source}: {self.error[:40]}"


# --- outbound webhooks -------------------------------------------------------------------------


class WebhookSubscription(BaseModel):
    name = models.CharField(_("name"), max_length=120)
    url = models.URLField(_("URL"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=200, default=new_secret)
    events = models.JSONField(
        _("events"), default=list, help_text=_("Event names; * matches any part.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    owner = models.ForeignKey(
        USER,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("notified on failure"),
    )
    history = HistoricalRecords(excluded_fields=["secret", "consecutive_failures"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(BaseModel):
    subscription = models.ForeignKey(
        WebhookSubscription,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="deliveries",
    )
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=200, blank=True)
    event_id = models.UUIDField(null=True, blank=True)
    event_name = models.CharField(_("event"), max_length=120)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        _("status"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    response_code = models.PositiveIntegerField(null=True, blank=True)
    error = models.TextField(_("last error"), blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    HISTORY_EXEMPT: ClassVar[bool] = True

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event_id"],
                condition=models.Q(subscription__isnull=False, event_id__isnull=False),
                name="integ_delivery_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_name} → {self.url}"


# --- calendars, web forms ----------------------------------------------------------------------


class CalendarFeed(BaseModel):
    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="calendar_feed")
    token = models.CharField(max_length=64, unique=True, default=new_secret)
    history = HistoricalRecords(excluded_fields=["token"])

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self) -> str:
        return str(self.user)


class WebForm(BaseModel):
    """A public lead form, embeddable in the company's website."""

    name = models.CharField(_("name"), max_length=120)
    owner = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="+", verbose_name=_("owner of new leads")
    )
    is_active = models.BooleanField(_("active"), default=True)
    max_per_hour = models.PositiveIntegerField(
        _("submissions per hour from one address"), default=5
    )
    thanks = models.CharField(
        _("thank-you text"), max_length=255, default=_("Thank you, we will contact you soon.")
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("web form")
        verbose_name_plural = _("web forms")

    def __str__(self) -> str:
        return self.name


class WebFormSubmission(BaseModel):
    form = models.ForeignKey(WebForm, on_delete=models.CASCADE, related_name="submissions")
    ip = models.GenericIPAddressField(null=True, blank=True)
    data = models.JSONField(default=dict)
    spam = models.BooleanField(default=False)
    organization = models.ForeignKey(
        "crm.Organization", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    person = models.ForeignKey(
        "crm.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    HISTORY_EXEMPT: ClassVar[bool] = True

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("web form submission")
        verbose_name_plural = _("web form submissions")
        indexes = [models.Index(fields=["form", "ip", "created_at"])]

    def __str__(self) -> str:
        return f"{self.form_id} {self.created_at}"
