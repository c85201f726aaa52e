"""Process drafts: what a designer draws, tests and deploys (BPMN, its decision tables, forms).

A draft is edited freely and saved often; deploying it makes a new, immutable version of the
process (`processes.ProcessDefinition`). Its history (django-simple-history) keeps every saved
revision, so nothing a designer saved is lost.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel


class ProcessDraft(BaseModel):
    key = models.CharField(
        _("process id"), max_length=200, db_index=True, help_text=_("The BPMN process id.")
    )
    name = models.CharField(_("name"), max_length=200)
    bpmn_xml = models.TextField(_("BPMN XML"))
    # Decision tables: {"file name.dmn": "<xml>"}; forms: {"file name.form": "<json>"}.
    dmn = models.JSONField(_("decision tables"), default=dict, blank=True)
    forms = models.JSONField(_("forms"), default=dict, blank=True)
    # Raised by every save: a save based on an older revision is refused (409), not merged.
    revision = models.PositiveIntegerField(_("revision"), default=1)
    # The problems found at the last save, [{"element_id", "message"}], shown on the diagram.
    problems = models.JSONField(_("problems"), default=list, blank=True)
    deployed_version = models.PositiveIntegerField(
        _("last deployed version"), null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name", "key"]
        verbose_name = _("process draft")
        verbose_name_plural = _("process drafts")

    def __str__(self) -> str:
        return self.name or self.key
