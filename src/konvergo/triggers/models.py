"""Trigger rules: "when EVENT [and CONDITION] then start PROCESS / correlate MESSAGE / call a
webhook", and the log of each time one fired."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel


class Action(models.TextChoices):
    START_PROCESS = "start_process", _("Start a process")
    CORRELATE = "correlate", _("Correlate a message to a waiting process")
    WEBHOOK = "webhook", _("Call a webhook")


class FiringStatus(models.TextChoices):
    DONE = "done", _("Done")
    SKIPPED = "skipped", _("Condition not met")
    FAILED = "failed", _("Failed")


class TriggerRule(BaseModel):
    name = models.CharField(_("name"), max_length=200)
    event = models.CharField(
        _("event"),
        max_length=120,
        db_index=True,
        help_text=_("Event name, e.g. crm.deal.won; * matches any part (crm.*.created)."),
    )
    condition = models.TextField(
        _("condition"),
        blank=True,
        help_text=_("Optional expression on the event, e.g. payload.amount > 1000."),
    )
    action = models.CharField(
        _("action"), max_length=16, choices=Action.choices, default=Action.START_PROCESS
    )
    process_key = models.CharField(_("process"), max_length=200, blank=True)
    message_name = models.CharField(_("message"), max_length=200, blank=True)
    correlation_key = models.TextField(
        _("correlation key"), blank=True, help_text=_("Expression giving the business key.")
    )
    webhook_url = models.URLField(_("webhook URL"), max_length=500, blank=True)
    webhook_secret = models.CharField(_("webhook secret"), max_length=200, blank=True)
    variables = models.JSONField(
        _("variables"),
        default=dict,
        blank=True,
        help_text=_("Process variable name -> expression on the event."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    history = HistoricalRecords(excluded_fields=["webhook_secret"])

    class Meta:
        ordering = ["name"]
        verbose_name = _("trigger rule")
        verbose_name_plural = _("trigger rules")

    def __str__(self) -> str:
        return self.name


class TriggerFiring(BaseModel):
    """One rule meeting one event: what it did, the instance it started, or why it failed."""

    rule = models.ForeignKey(
        TriggerRule, on_delete=models.CASCADE, related_name="firings", verbose_name=_("rule")
    )
    event_id = models.UUIDField(_("event"))
    event_name = models.CharField(_("event name"), max_length=120)
    status = models.CharField(_("status"), max_length=8, choices=FiringStatus.choices)
    instance = models.ForeignKey(
        "processes.ProcessInstance",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("process instance"),
    )
    matched = models.PositiveIntegerField(_("messages delivered"), default=0)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    HISTORY_EXEMPT: ClassVar[bool] = True  # itself an append-only log

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("trigger firing")
        verbose_name_plural = _("trigger firings")
        constraints = [
            models.UniqueConstraint(fields=["rule", "event_id"], name="trigger_fires_once")
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.event_name} {self.status}"
