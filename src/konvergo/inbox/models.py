"""What the inbox keeps of its own: comments on process work and each person's inbox settings.

The work items themselves live where they belong (process tasks in `processes`, follow-ups in
`crm`, tickets in `tickets`); the inbox only reads them.
"""

from __future__ import annotations

from typing import ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel

USER = settings.AUTH_USER_MODEL


class Comment(BaseModel):
    """A remark on a process instance, shown on the pages of all its tasks."""

    # Not "instance": django-simple-history reserves that name on history rows.
    process = models.ForeignKey(
        "processes.ProcessInstance",
        on_delete=models.CASCADE,
        related_name="comments",
        verbose_name=_("process"),
    )
    task = models.ForeignKey(
        "processes.HumanTask",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="comments",
        verbose_name=_("task"),
    )
    author = models.ForeignKey(
        USER, on_delete=models.PROTECT, related_name="inbox_comments", verbose_name=_("author")
    )
    text = models.TextField(_("text"), max_length=5000)
    history = HistoricalRecords()

    class Meta:
        ordering = ["created_at", "pk"]
        verbose_name = _("comment")
        verbose_name_plural = _("comments")

    def __str__(self) -> str:
        return self.text[:60]


class Preference(models.Model):
    """A person's inbox settings: the daily digest by e-mail, and when it was last sent."""

    user = models.OneToOneField(USER, on_delete=models.CASCADE, related_name="inbox_preference")
    daily_digest = models.BooleanField(
        _("daily digest"),
        default=False,
        help_text=_("Every working morning, an e-mail with your open and overdue work."),
    )
    last_digest_on = models.DateField(null=True, blank=True, editable=False)
    HISTORY_EXEMPT: ClassVar[bool] = True  # a personal preference, not a business record

    class Meta:
        verbose_name = _("inbox preference")
        verbose_name_plural = _("inbox preferences")

    def __str__(self) -> str:
        return f"{self.user}"
