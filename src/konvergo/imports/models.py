"""Spreadsheet imports: the saved column mappings, each uploaded file as a batch, and the CRM
records every batch created or changed (so that a batch can be undone as a whole)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel

USER = settings.AUTH_USER_MODEL


class DuplicatePolicy(models.TextChoices):
    SKIP = "skip", _("Keep it as it is (link the row to it)")
    UPDATE = "update", _("Update the existing record")
    CREATE = "create", _("Create a new record anyway")


class BatchStatus(models.TextChoices):
    UPLOADED = "uploaded", _("Uploaded")
    CHECKED = "checked", _("Dry run done")
    QUEUED = "queued", _("Waiting to run")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Imported")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")
    UNDONE = "undone", _("Undone")


class ImportMapping(BaseModel):
    """A reusable template: which column (by header) goes to which field, with the options.

    `headers_key` identifies a sheet layout, so a file with the same headers gets it applied.
    """

    name = models.CharField(_("name"), max_length=120, unique=True)
    headers = models.JSONField(_("headers"), default=list)
    headers_key = models.CharField(max_length=64, db_index=True, editable=False)
    columns = models.JSONField(_("columns"), default=dict)  # {header: "person.email", ...}
    options = models.JSONField(_("options"), default=dict, blank=True)
    created_by = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("import mapping")
        verbose_name_plural = _("import mappings")

    def __str__(self) -> str:
        return self.name


class ImportBatch(BaseModel):
    """One uploaded file, from its upload through dry run and import to a possible undo."""

    file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    filename = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4)  # xlsx, xls, ods, csv
    encoding = models.CharField(_("encoding"), max_length=40, blank=True)
    delimiter = models.CharField(_("delimiter"), max_length=1, blank=True)
    sheet = models.CharField(_("sheet"), max_length=255, blank=True)
    header_row = models.PositiveIntegerField(_("header row"), default=1)  # 1-based
    mapping = models.ForeignKey(
        ImportMapping,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="batches",
        verbose_name=_("mapping"),
    )
    columns = models.JSONField(_("columns"), default=dict, blank=True)  # {header: target}
    options = models.JSONField(_("options"), default=dict, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=BatchStatus.choices,
        default=BatchStatus.UPLOADED,
        db_index=True,
    )
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    processed_rows = models.PositiveIntegerField(_("rows done"), default=0)
    created_count = models.PositiveIntegerField(_("new"), default=0)
    updated_count = models.PositiveIntegerField(_("updated"), default=0)
    skipped_count = models.PositiveIntegerField(_("skipped"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    # [[row number in the sheet, "message"], ...] of the last dry run or run.
    row_errors = models.JSONField(_("row errors"), default=list, blank=True)
    log = models.JSONField(_("log"), default=list, blank=True)  # [{"at": iso, "text": ...}]
    cancel_requested = models.BooleanField(_("cancel requested"), default=False)
    checked_at = models.DateTimeField(_("dry run at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    created_by = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="import_batches", verbose_name=_("by")
    )

    VISIBILITY_OWNER: ClassVar[str] = "created_by"
    # The batch is itself the log of an import (its progress changes many times a second).
    HISTORY_EXEMPT: ClassVar[bool] = True

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("import batch")
        verbose_name_plural = _("import batches")

    def __str__(self) -> str:
        return self.filename

    @property
    def progress_percent(self) -> int:
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))

    @property
    def is_active(self) -> bool:
        return self.status in (BatchStatus.QUEUED, BatchStatus.RUNNING)


class ImportedRecord(models.Model):
    """A CRM record a batch created, or changed (with the values it had before)."""

    class Action(models.TextChoices):
        CREATED = "created", _("created")
        UPDATED = "updated", _("updated")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="records")
    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    action = models.CharField(max_length=7, choices=Action.choices)
    row = models.PositiveIntegerField(default=0)
    previous = models.JSONField(default=dict, blank=True)  # field values before an update

    HISTORY_EXEMPT: ClassVar[bool] = True  # an append-only trail of what a batch wrote

    class Meta:
        verbose_name = _("imported record")
        verbose_name_plural = _("imported records")
        indexes = [models.Index(fields=["batch", "content_type", "action"])]

    def __str__(self) -> str:
        return f"{self.action} {self.content_type_id}:{self.object_id}"
