"""The service desk: queues, categories, priorities, SLA policies with their escalation ladder,
tickets with their comments, attachments, links and escalations, and assignment rules.

Everything other apps list from here (the inbox lists ticket assignments) is a plain indexed
column on the ticket: `assignee`, `status`, `priority`, and the SLA due times.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel
from konvergo.tickets import choices

USER = settings.AUTH_USER_MODEL


class Priority(BaseModel):
    """A priority level; `rank` 1 is the most urgent (P1)."""

    key = models.CharField(_("key"), max_length=10, unique=True)
    name = models.CharField(_("name"), max_length=60)
    rank = models.PositiveSmallIntegerField(_("rank"), unique=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["rank"]
        verbose_name = _("priority")
        verbose_name_plural = _("priorities")

    def __str__(self) -> str:
        return f"{self.key} {self.name}"


class Category(BaseModel):
    """What a ticket is about, per department (IT, HR, accounting, customer service…).

    `fields` declares the category's custom fields: [{"key", "label", "required"}]; a required
    one must be filled before the ticket is resolved or closed. A category may start a process
    (`process_key`) automatically on creation or by hand.
    """

    name = models.CharField(_("name"), max_length=120)
    department = models.ForeignKey(
        "org.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_categories",
        verbose_name=_("department"),
    )
    fields = models.JSONField(_("custom fields"), default=list, blank=True)
    process_key = models.CharField(_("process"), max_length=120, blank=True)
    process_auto = models.BooleanField(_("start the process automatically"), default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("ticket category")
        verbose_name_plural = _("ticket categories")
        constraints = [
            models.UniqueConstraint(
                fields=["department", "name"], name="tickets_category_unique_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class Queue(BaseModel):
    """Where tickets wait for a team; its calendar measures their SLA clocks."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    team = models.ForeignKey(
        "org.Team",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_queues",
        verbose_name=_("team"),
    )
    department = models.ForeignKey(
        "org.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_queues",
        verbose_name=_("department"),
    )
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="ticket_queues",
        verbose_name=_("business calendar"),
        help_text=_("Empty: the default calendar."),
    )
    reopen_window_days = models.PositiveSmallIntegerField(
        _("reopen window (days)"),
        default=14,
        help_text=_("How long after it was resolved or closed a ticket may be reopened."),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("queue")
        verbose_name_plural = _("queues")

    def __str__(self) -> str:
        return self.name


class SlaPolicy(BaseModel):
    """Targets in business minutes for one priority, optionally one category and customer tier.

    The most specific policy wins: a category match beats none, a tier match beats none.
    """

    name = models.CharField(_("name"), max_length=120)
    priority = models.ForeignKey(
        Priority, on_delete=models.CASCADE, related_name="sla_policies", verbose_name=_("priority")
    )
    category = models.ForeignKey(
        Category,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="sla_policies",
        verbose_name=_("category"),
    )
    customer_tier = models.CharField(
        _("customer tier"), max_length=40, blank=True, help_text=_("Empty: any tier.")
    )
    first_response_minutes = models.PositiveIntegerField(_("first response (business minutes)"))
    next_response_minutes = models.PositiveIntegerField(_("next response (business minutes)"))
    resolution_minutes = models.PositiveIntegerField(_("resolution (business minutes)"))
    history = HistoricalRecords()

    class Meta:
        ordering = ["priority__rank", "name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(first_response_minutes__gt=0)
                & models.Q(next_response_minutes__gt=0)
                & models.Q(resolution_minutes__gt=0),
                name="tickets_sla_targets_positive",
            ),
            models.UniqueConstraint(
                fields=["priority", "category", "customer_tier"],
                name="tickets_sla_one_per_combination",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EscalationLevel(BaseModel):
    """One rung of the escalation ladder, applied to the first-response and resolution targets.

    It fires when `percent` of the target has run plus `after_minutes` business minutes (e.g.
    75 % + 0 = the warning, 100 % + 0 = level 1 at breach, 100 % + 240 = level 2).
    """

    level = models.PositiveSmallIntegerField(_("level"), unique=True)
    name = models.CharField(_("name"), max_length=60)
    # Translators: a label, never formatted ("% o" is not a placeholder).
    # xgettext:no-python-format
    percent = models.PositiveSmallIntegerField(_("% of the target"), default=100)
    after_minutes = models.PositiveIntegerField(_("then business minutes"), default=0)
    notify = models.CharField(
        _("notify"), max_length=20, choices=choices.Notify.choices, default=choices.Notify.ASSIGNEE
    )
    raise_priority = models.BooleanField(_("raise the priority"), default=False)
    reassign_to = models.ForeignKey(
        USER,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("reassign to"),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["level"]
        verbose_name = _("escalation level")
        verbose_name_plural = _("escalation levels")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(percent__gt=0), name="tickets_escalation_percent_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.name}"


class AssignmentRule(BaseModel):
    """Who gets new tickets: the first rule (by `position`) whose set criteria all match picks a
    member of its team, round-robin or least-loaded, skipping the absent."""

    position = models.PositiveSmallIntegerField(_("position"), default=0)
    queue = models.ForeignKey(
        Queue, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("queue")
    )
    category = models.ForeignKey(
        Category, on_delete=models.CASCADE, null=True, blank=True, verbose_name=_("category")
    )
    organization = models.ForeignKey(
        "crm.Organization",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("customer"),
    )
    team = models.ForeignKey(
        "org.Team", on_delete=models.CASCADE, related_name="+", verbose_name=_("team")
    )
    strategy = models.CharField(
        _("strategy"),
        max_length=20,
        choices=choices.Strategy.choices,
        default=choices.Strategy.ROUND_ROBIN,
    )
    last_assigned = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", editable=False
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]
        verbose_name = _("assignment rule")
        verbose_name_plural = _("assignment rules")

    def __str__(self) -> str:
        return f"{self.position}: {self.team} ({self.get_strategy_display()})"


def new_secret() -> str:
    return secrets.token_urlsafe(24)


class Ticket(BaseModel):
    """A request of a customer or colleague, worked by agents under an SLA."""

    number = models.PositiveIntegerField(_("number"), unique=True, null=True, editable=False)
    subject = models.CharField(_("subject"), max_length=255)
    description = models.TextField(_("description"), blank=True)  # sanitised HTML
    requester = models.ForeignKey(
        "crm.Person",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("requester"),
    )
    organization = models.ForeignKey(
        "crm.Organization",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("organisation"),
    )
    queue = models.ForeignKey(
        Queue, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("queue")
    )
    category = models.ForeignKey(
        Category,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("category"),
    )
    priority = models.ForeignKey(
        Priority, on_delete=models.PROTECT, related_name="tickets", verbose_name=_("priority")
    )
    status = models.CharField(
        _("status"),
        max_length=24,
        choices=choices.Status.choices,
        default=choices.Status.NEW,
        db_index=True,
    )
    assignee = models.ForeignKey(
        USER,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_tickets",
        verbose_name=_("assignee"),
        db_index=True,
    )
    tags = models.ManyToManyField(
        "crm.Tag", blank=True, related_name="tickets", verbose_name=_("tags")
    )
    custom_data = models.JSONField(_("custom fields"), default=dict, blank=True)
    customer_tier = models.CharField(_("customer tier"), max_length=40, blank=True)
    parent = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent ticket"),
    )
    merged_into = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="merged_tickets",
        verbose_name=_("merged into"),
    )
    secret = models.CharField(max_length=64, unique=True, default=new_secret, editable=False)
    # Optimistic concurrency: an edit names the version it was made on; a stale one is refused.
    version = models.PositiveIntegerField(_("version"), default=1)
    process_instance = models.CharField(_("process instance"), max_length=64, blank=True)

    # --- the SLA clock --------------------------------------------------------------------
    sla_policy = models.ForeignKey(
        SlaPolicy,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="tickets",
        verbose_name=_("SLA policy"),
    )
    sla_started_at = models.DateTimeField(_("SLA clock started"), null=True, blank=True)
    sla_paused_since = models.DateTimeField(_("SLA paused since"), null=True, blank=True)
    # Business time spent paused so far; a due time = start + target + this, on the calendar.
    sla_paused_total = models.DurationField(_("SLA time paused"), default=timedelta(0))
    first_response_at = models.DateTimeField(_("first response"), null=True, blank=True)
    first_response_due_at = models.DateTimeField(
        _("first response due"), null=True, blank=True, db_index=True
    )
    next_response_due_at = models.DateTimeField(
        _("next response due"), null=True, blank=True, db_index=True
    )
    resolution_due_at = models.DateTimeField(
        _("resolution due"), null=True, blank=True, db_index=True
    )
    # The earliest moment an escalation level fires; the sweep reads only this (indexed).
    next_escalation_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    history = HistoricalRecords(m2m_fields=[tags], excluded_fields=["secret"])

    # Row visibility: through the assignee (the selectors add the queues of the agent's teams).
    VISIBILITY_OWNER: ClassVar[str] = "assignee"

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("ticket")
        verbose_name_plural = _("tickets")
        indexes = [
            models.Index(
                fields=["next_escalation_at"],
                name="tickets_due_escalation_idx",
                condition=models.Q(next_escalation_at__isnull=False),
            ),
            models.Index(fields=["assignee", "status"], name="tickets_assignee_status_idx"),
            models.Index(fields=["queue", "status"], name="tickets_queue_status_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.subject}"

    @property
    def reference(self) -> str:
        return f"#{self.number}"

    @property
    def is_open(self) -> bool:
        return self.status in choices.OPEN_STATUSES

    @property
    def is_paused(self) -> bool:
        return self.sla_paused_since is not None


class Comment(BaseModel):
    """A public reply (the customer sees it) or an internal note (agents only)."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    author_name = models.CharField(_("author"), max_length=200, blank=True)
    body = models.TextField(_("text"))  # sanitised HTML
    is_public = models.BooleanField(_("public reply"), default=False)
    from_customer = models.BooleanField(_("from the customer"), default=False)
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("comment")
        verbose_name_plural = _("comments")

    def __str__(self) -> str:
        return f"{self.ticket_id}: {self.body[:40]}"


class Attachment(BaseModel):
    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(_("file"), upload_to="tickets/%Y/%m/")
    name = models.CharField(_("name"), max_length=255)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    is_public = models.BooleanField(_("visible to the customer"), default=False)
    uploaded_by = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")

    def __str__(self) -> str:
        return self.name


class TicketLink(BaseModel):
    source = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_out")
    target = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="links_in")
    kind = models.CharField(
        _("kind"), max_length=20, choices=choices.LinkKind.choices, default="relates"
    )
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("ticket link")
        verbose_name_plural = _("ticket links")
        constraints = [
            models.UniqueConstraint(fields=["source", "target", "kind"], name="tickets_link_once"),
            models.CheckConstraint(
                condition=~models.Q(source=models.F("target")), name="tickets_link_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.source_id} {self.kind} {self.target_id}"


class Escalation(BaseModel):
    """An escalation level that fired on a ticket: recorded once (the unique constraint is what
    makes a second sweep, or a second worker, a no-op), notified, counted for reports."""

    ticket = models.ForeignKey(Ticket, on_delete=models.CASCADE, related_name="escalations")
    metric = models.CharField(_("target"), max_length=20, choices=choices.Metric.choices)
    level = models.PositiveSmallIntegerField(_("level"))
    name = models.CharField(_("name"), max_length=60)
    due_at = models.DateTimeField(_("due at"))
    fired_at = models.DateTimeField(_("fired at"), db_index=True)
    notified = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["fired_at", "level"]
        verbose_name = _("escalation")
        verbose_name_plural = _("escalations")
        constraints = [
            models.UniqueConstraint(
                fields=["ticket", "metric", "level"], name="tickets_escalation_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.ticket_id} {self.metric} L{self.level}"
