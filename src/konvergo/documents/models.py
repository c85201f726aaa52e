"""Documents: folders, types with their lifecycle, documents with immutable versions, templates,
and approvals run by the process engine (one `Approval` per run, one `ApprovalStep` per
decision: the approval sheet)."""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel

USER = settings.AUTH_USER_MODEL


class DocumentStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    IN_APPROVAL = "in_approval", _("In approval")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    SIGNED = "signed", _("Signed")
    ARCHIVED = "archived", _("Archived")


class NewVersionRule(models.TextChoices):
    RESTART = "restart", _("Restart the approval")
    CONTINUE = "continue", _("Continue the approval")


class Decision(models.TextChoices):
    APPROVE = "approve", _("Approved")
    REJECT = "reject", _("Rejected")
    CHANGES = "changes", _("Changes requested")


class Folder(BaseModel):
    name = models.CharField(_("name"), max_length=200)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("folder")
        verbose_name_plural = _("folders")

    def __str__(self) -> str:
        return self.name


class DocumentType(BaseModel):
    """What kind of document (proposal, contract, order...): its own fields, its approval
    process and its retention rule."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    code = models.SlugField(_("code"), max_length=60, unique=True)
    fields = models.JSONField(
        _("fields"),
        default=list,
        blank=True,
        help_text=_('Custom fields: [{"key": "amount", "label": "Amount", "type": "number"}]'),
    )
    approval_process_key = models.CharField(_("approval process"), max_length=200, blank=True)
    on_new_version = models.CharField(
        _("new version during approval"),
        max_length=10,
        choices=NewVersionRule.choices,
        default=NewVersionRule.RESTART,
    )
    approval_variables = models.JSONField(
        _("approval defaults"),
        default=dict,
        blank=True,
        help_text=_('Process variables when sending, e.g. {"approver_group": "Management"}'),
    )
    archive_after_days = models.PositiveIntegerField(
        _("archive after (days)"), null=True, blank=True
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("document type")
        verbose_name_plural = _("document types")

    def __str__(self) -> str:
        return self.name


class Document(BaseModel):
    title = models.CharField(_("title"), max_length=255)
    document_type = models.ForeignKey(
        DocumentType, on_delete=models.PROTECT, related_name="documents", verbose_name=_("type")
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=DocumentStatus.choices,
        default=DocumentStatus.DRAFT,
        db_index=True,
    )
    folder = models.ForeignKey(
        Folder, on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    owner = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="owned_documents")
    description = models.TextField(_("description"), blank=True)
    custom_data = models.JSONField(_("custom fields"), default=dict, blank=True)
    organization = models.ForeignKey(
        "crm.Organization",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="documents",
        verbose_name=_("organisation"),
    )
    person = models.ForeignKey(
        "crm.Person",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="documents",
        verbose_name=_("person"),
    )
    deal = models.ForeignKey(
        "crm.Deal", on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    quote = models.ForeignKey(
        "crm.Quote", on_delete=models.SET_NULL, null=True, blank=True, related_name="documents"
    )
    ticket = models.ForeignKey(
        "tickets.Ticket",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="documents",
    )
    process_instance = models.ForeignKey(
        "processes.ProcessInstance",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # The optimistic lock: every new version increments it; a check-in must name the number
    # it was based on.
    version_number = models.PositiveIntegerField(_("current version"), default=0)
    checked_out_by = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    checked_out_at = models.DateTimeField(_("checked out at"), null=True, blank=True)
    # Text of the current version, for full-text search (PostgreSQL GIN / SQLite FTS5).
    content_text = models.TextField(_("content text"), blank=True, editable=False, default="")
    archived_at = models.DateTimeField(_("archived at"), null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["content_text"])

    VISIBILITY_OWNER: ClassVar[str] = "owner"

    class Meta:
        ordering = ["-updated_at"]
        verbose_name = _("document")
        verbose_name_plural = _("documents")

    def __str__(self) -> str:
        return self.title

    @property
    def is_read_only(self) -> bool:
        return self.status == DocumentStatus.ARCHIVED

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("documents:detail", args=[self.public_id])


class DocumentVersion(BaseModel):
    """One immutable file of a document; never changed after it is written."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField(_("number"))
    storage_name = models.CharField(_("stored as"), max_length=500, editable=False)
    file_name = models.CharField(_("file name"), max_length=255)
    content_type = models.CharField(_("content type"), max_length=120)
    size = models.PositiveBigIntegerField(_("size"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    author = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    comment = models.TextField(_("comment"), blank=True)
    text = models.TextField(_("extracted text"), blank=True, editable=False)
    history = HistoricalRecords(excluded_fields=["text"])

    class Meta:
        ordering = ["document", "number"]
        verbose_name = _("document version")
        verbose_name_plural = _("document versions")
        constraints = [
            models.UniqueConstraint(fields=["document", "number"], name="documents_version_once")
        ]

    def __str__(self) -> str:
        return f"{self.document} v{self.number}"


class TemplateKind(models.TextChoices):
    DOCX = "docx", _("Word document (DOCX)")
    HTML = "html", _("HTML to PDF")


class DocumentTemplate(BaseModel):
    name = models.CharField(_("name"), max_length=200, unique=True)
    kind = models.CharField(_("kind"), max_length=4, choices=TemplateKind.choices)
    document_type = models.ForeignKey(
        DocumentType, on_delete=models.PROTECT, related_name="templates", verbose_name=_("type")
    )
    description = models.TextField(_("description"), blank=True)
    body = models.TextField(_("HTML body"), blank=True)  # HTML templates
    storage_name = models.CharField(max_length=500, blank=True, editable=False)  # DOCX files
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("document template")
        verbose_name_plural = _("document templates")

    def __str__(self) -> str:
        return self.name


class ApprovalStatus(models.TextChoices):
    RUNNING = "running", _("Running")
    APPROVED = "approved", _("Approved")
    REJECTED = "rejected", _("Rejected")
    CHANGES = "changes", _("Changes requested")
    CANCELLED = "cancelled", _("Cancelled")


class Approval(BaseModel):
    """One run of a document's approval process."""

    document = models.ForeignKey(Document, on_delete=models.CASCADE, related_name="approvals")
    version = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="+")
    process_instance = models.ForeignKey(
        "processes.ProcessInstance",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ApprovalStatus.choices,
        default=ApprovalStatus.RUNNING,
    )
    started_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("approval")
        verbose_name_plural = _("approvals")

    def __str__(self) -> str:
        return f"{self.document} ({self.get_status_display()})"


class ApprovalStep(BaseModel):
    """A line of the approval sheet: who decided on which version, when, with what comment."""

    approval = models.ForeignKey(Approval, on_delete=models.CASCADE, related_name="steps")
    version = models.ForeignKey(DocumentVersion, on_delete=models.PROTECT, related_name="+")
    step = models.CharField(_("step"), max_length=200, blank=True)
    approver = models.ForeignKey(
        USER, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    approver_name = models.CharField(_("approver"), max_length=200, blank=True)
    decision = models.CharField(_("decision"), max_length=8, choices=Decision.choices)
    comment = models.TextField(_("comment"), blank=True)
    decided_at = models.DateTimeField(_("decided at"))
    history = HistoricalRecords()

    class Meta:
        ordering = ["decided_at", "pk"]
        verbose_name = _("approval step")
        verbose_name_plural = _("approval steps")

    def __str__(self) -> str:
        return f"{self.approver_name}: {self.decision}"
