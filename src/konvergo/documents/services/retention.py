"""Retention: documents of a type with `archive_after_days` are archived once they have not
changed for that long. The sweep is idempotent: archived documents no longer match."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Q

from konvergo.core.errors import Conflict
from konvergo.core.jobs import register_sweep
from konvergo.documents.models import Document, DocumentStatus, DocumentType
from konvergo.documents.services.documents import document_archive

BATCH = 200


@register_sweep("documents.retention")
def retention_sweep(now: datetime) -> int:
    done = 0
    for document_type in DocumentType.objects.filter(archive_after_days__isnull=False):
        cutoff = now - timedelta(days=document_type.archive_after_days or 0)
        due = Document.objects.filter(
            Q(document_type=document_type, updated_at__lt=cutoff)
            & ~Q(status__in=[DocumentStatus.ARCHIVED, DocumentStatus.IN_APPROVAL])
        ).order_by("pk")[:BATCH]
        for document in due:
            try:
                document_archive(document=document)
            except Conflict:  # sent for approval meanwhile
                continue
            done += 1
    return done
