"""Process definitions, instances and the projections that make waits visible and queryable.

An instance's SpiffWorkflow state is one JSON document; everything the system must find without
loading it (open human tasks, pending timers, message subscriptions, incidents, step history) is
a projection row written in the same transaction as the state.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel


class ProcessDefinition(BaseModel):
    """One version of one executable process (a BPMN file may hold several, e.g. pools)."""

    key = models.CharField(_("key"), max_length=200, db_index=True)
    name = models.CharField(_("name"), max_length=200)
    version = models.PositiveIntegerField(_("version"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    bpmn_xml = models.TextField(_("BPMN XML"))
    dmn_xml = models.JSONField(_("DMN documents"), default=list, blank=True)
    connectors = models.JSONField(_("connectors used"), default=list, blank=True)
    deployed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords(excluded_fields=["bpmn_xml", "dmn_xml"])

    class Meta:
        ordering = ["key", "-version"]
        verbose_name = _("process definition")
        verbose_name_plural = _("process definitions")
        constraints = [
            models.UniqueConstraint(fields=["key", "version"], name="proc_def_version"),
            models.UniqueConstraint(fields=["key", "content_hash"], name="proc_def_hash"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class InstanceStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    SUSPENDED = "suspended", _("Suspended")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class ProcessInstance(BaseModel):
    definition = models.ForeignKey(
        ProcessDefinition, on_delete=models.PROTECT, related_name="instances"
    )
    status = models.CharField(
        _("status"), max_length=16, choices=InstanceStatus.choices, default=InstanceStatus.RUNNING
    )
    business_key = models.CharField(_("business key"), max_length=200, blank=True, db_index=True)
    subject_type = models.ForeignKey(
        ContentType,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_index=False,  # the (subject_type, subject_id) index serves it
    )
    subject_id = models.CharField(_("subject id"), max_length=64, blank=True)
    # JSON text, not a JSON column: SpiffWorkflow restores tasks in the order they were written
    # (parents before children) and PostgreSQL's jsonb would reorder the keys.
    state = models.TextField(_("engine state"), default="{}")
    version = models.PositiveIntegerField(_("version"), default=0)
    variables = models.JSONField(_("variables"), default=dict, blank=True)
    # The keys of the projection rows (tasks, timers, subscriptions, incidents) as written at
    # `version`, so an advance knows what to change without reading those tables first.
    waits = models.JSONField(_("waits"), default=dict, blank=True, editable=False)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    cancel_reason = models.TextField(_("cancellation reason"), blank=True)
    history = HistoricalRecords(excluded_fields=["state"])

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("process instance")
        verbose_name_plural = _("process instances")
        indexes = [
            models.Index(fields=["status", "definition"]),
            models.Index(fields=["subject_type", "subject_id"]),
        ]

    def __str__(self) -> str:
        return f"{self.definition.key} {self.business_key or self.public_id}"


class TaskStatus(models.TextChoices):
    OPEN = "open", _("Open")
    COMPLETED = "completed", _("Completed")
    CANCELLED = "cancelled", _("Cancelled")


class HumanTask(BaseModel):
    """A user task waiting for a person (projection of the engine state)."""

    # No index of its own: the unique (instance, task_id) index serves it; one less per task.
    instance = models.ForeignKey(
        ProcessInstance, on_delete=models.CASCADE, related_name="tasks", db_index=False
    )
    task_id = models.CharField(_("engine task id"), max_length=36)
    element_id = models.CharField(_("element id"), max_length=200)
    name = models.CharField(_("name"), max_length=255)
    status = models.CharField(
        _("status"), max_length=16, choices=TaskStatus.choices, default=TaskStatus.OPEN
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="process_tasks",
    )
    candidate_users = models.JSONField(_("candidate users"), default=list, blank=True)
    candidate_groups = models.JSONField(_("candidate groups"), default=list, blank=True)
    due_at = models.DateTimeField(_("due"), null=True, blank=True)
    follow_up_at = models.DateTimeField(_("follow up"), null=True, blank=True)
    priority = models.IntegerField(_("priority"), default=50)
    form_key = models.CharField(_("form"), max_length=200, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # --- the inbox (processes/assignment.py, processes/task_actions.py, inbox sweeps) ---
    # Who may claim it, as "|u:<pk>|r:<pk>|d:<pk>|t:<pk>|" (users, roles, departments, teams):
    # a plain text column, so "my groups" is one LIKE query on SQLite and PostgreSQL alike.
    candidates = models.TextField(_("candidates"), blank=True, default="", editable=False)
    on_behalf_of = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("on behalf of"),
        help_text=_("The absent person whose deputy got this task."),
    )
    delegated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="delegated_process_tasks",
        verbose_name=_("delegated by"),
    )
    delegation_note = models.TextField(_("delegation note"), blank=True)
    remind_at = models.DateTimeField(_("remind at"), null=True, blank=True)
    escalation = models.CharField(_("when overdue"), max_length=16, blank=True)
    notified_at = models.DateTimeField(null=True, blank=True, editable=False)
    reminded_at = models.DateTimeField(null=True, blank=True, editable=False)
    escalated_at = models.DateTimeField(null=True, blank=True, editable=False)
    # A projection of the engine state: who completed what is in StepRecord and the events;
    # claims and delegations are in HumanTaskLog.
    HISTORY_EXEMPT = True

    class Meta:
        ordering = ["due_at", "-priority", "created_at"]
        verbose_name = _("human task")
        verbose_name_plural = _("human tasks")
        constraints = [
            models.UniqueConstraint(fields=["instance", "task_id"], name="proc_task_once")
        ]
        indexes = [
            models.Index(fields=["status", "assignee"]),
            models.Index(fields=["status", "due_at"], name="proc_task_open_due"),
        ]

    def __str__(self) -> str:
        return self.name


class HumanTaskLog(models.Model):
    """Append-only trail of what people did with a task: claim, unclaim, delegate, return."""

    task = models.ForeignKey(HumanTask, on_delete=models.CASCADE, related_name="log")
    action = models.CharField(_("action"), max_length=16)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    note = models.TextField(_("note"), blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["at", "pk"]
        verbose_name = _("task action")
        verbose_name_plural = _("task actions")

    def __str__(self) -> str:
        return f"{self.action} {self.at:%Y-%m-%d %H:%M}"


class FormSchema(models.Model):
    """A form-js schema deployed with a process version; user tasks name it by `formKey`.

    Stored once per version and never changed (a new form is a new version), like the BPMN.
    """

    definition = models.ForeignKey(
        ProcessDefinition, on_delete=models.CASCADE, related_name="forms"
    )
    form_id = models.CharField(_("form id"), max_length=200)
    file_name = models.CharField(_("file name"), max_length=255)
    schema = models.JSONField(_("schema"))
    HISTORY_EXEMPT = True  # immutable, part of its process version

    class Meta:
        ordering = ["file_name"]
        verbose_name = _("form")
        verbose_name_plural = _("forms")
        constraints = [
            models.UniqueConstraint(fields=["definition", "form_id"], name="proc_form_id_once"),
            models.UniqueConstraint(fields=["definition", "file_name"], name="proc_form_file_once"),
        ]

    def __str__(self) -> str:
        return self.file_name


class Timer(models.Model):
    """A pending timer: one indexed row, however far away; the worker fires it when due."""

    # No index of its own: the unique (instance, task_id) index serves it.
    instance = models.ForeignKey(
        ProcessInstance, on_delete=models.CASCADE, related_name="timers", db_index=False
    )
    task_id = models.CharField(_("engine task id"), max_length=36)
    element_id = models.CharField(_("element id"), max_length=200)
    due_at = models.DateTimeField(_("due"), db_index=True)

    class Meta:
        ordering = ["due_at"]
        verbose_name = _("timer")
        verbose_name_plural = _("timers")
        constraints = [
            models.UniqueConstraint(fields=["instance", "task_id"], name="proc_timer_once")
        ]

    def __str__(self) -> str:
        return f"{self.element_id} at {self.due_at:%Y-%m-%d %H:%M}"


class MessageSubscription(models.Model):
    instance = models.ForeignKey(
        ProcessInstance, on_delete=models.CASCADE, related_name="subscriptions"
    )
    task_id = models.CharField(_("engine task id"), max_length=36)
    element_id = models.CharField(_("element id"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, default="message")
    name = models.CharField(_("message name"), max_length=200)
    correlation_key = models.CharField(_("correlation key"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("message subscription")
        verbose_name_plural = _("message subscriptions")
        indexes = [models.Index(fields=["kind", "name", "correlation_key"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.correlation_key})"


class IncidentStatus(models.TextChoices):
    OPEN = "open", _("Open")
    RESOLVED = "resolved", _("Resolved")


class Incident(BaseModel):
    """A path of an instance stopped by an error: visible, retried, never silently dead."""

    instance = models.ForeignKey(
        ProcessInstance, on_delete=models.CASCADE, related_name="incidents"
    )
    task_id = models.CharField(_("engine task id"), max_length=36)
    element_id = models.CharField(_("element id"), max_length=200)
    message = models.TextField(_("error"))
    variables = models.JSONField(_("variables seen"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=IncidentStatus.choices, default=IncidentStatus.OPEN
    )
    attempts = models.PositiveIntegerField(_("attempts"), default=1)
    next_retry_at = models.DateTimeField(_("next automatic retry"), null=True, blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    HISTORY_EXEMPT = True  # a projection; opening and resolving emit events

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")
        indexes = [models.Index(fields=["status", "next_retry_at"])]

    def __str__(self) -> str:
        return f"{self.element_id}: {self.message[:60]}"


class StepRecord(models.Model):
    """Append-only history of finished elements, for KPIs and the diagram heat map."""

    instance = models.ForeignKey(ProcessInstance, on_delete=models.CASCADE, related_name="steps")
    element_id = models.CharField(_("element id"), max_length=200)
    name = models.CharField(_("name"), max_length=255, blank=True)
    kind = models.CharField(_("element type"), max_length=80)
    finished_at = models.DateTimeField(_("finished at"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["finished_at", "pk"]
        verbose_name = _("step")
        verbose_name_plural = _("steps")

    def __str__(self) -> str:
        return f"{self.element_id} {self.finished_at:%Y-%m-%d %H:%M:%S}"


class StartTrigger(models.Model):
    """A start event that starts instances by itself (message, signal or timer).

    Only the latest version of a process has active triggers; a timer trigger's `due_at` is its
    next start (indexed, fired by the worker like any timer).
    """

    definition = models.ForeignKey(
        ProcessDefinition, on_delete=models.CASCADE, related_name="start_triggers"
    )
    element_id = models.CharField(_("element id"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10)
    name = models.CharField(_("message or signal"), max_length=200, blank=True, db_index=True)
    expression = models.CharField(_("timer"), max_length=500, blank=True)
    due_at = models.DateTimeField(_("next start"), null=True, blank=True, db_index=True)
    remaining = models.IntegerField(_("starts left"), default=0)  # -1: unbounded cycle
    interval_seconds = models.FloatField(null=True, blank=True)
    active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("start trigger")
        verbose_name_plural = _("start triggers")
        indexes = [models.Index(fields=["active", "kind", "name"])]

    def __str__(self) -> str:
        return f"{self.definition} {self.kind} {self.name or self.due_at}"
