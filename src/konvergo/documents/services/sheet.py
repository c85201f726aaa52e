"""The approval sheet as a PDF: the document, its approvals and every decision."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone

from konvergo.documents.models import Document
from konvergo.documents.selectors import approval_sheet, approvals_of
from konvergo.documents.services.templates import url_fetcher


def approval_sheet_pdf(document: Document) -> bytes:
    import weasyprint

    # Our own Django template (autoescaped), not a user template; still no remote fetches.
    html = render_to_string(
        "documents/approval_sheet_pdf.html",
        {
            "document": document,
            "approvals": list(approvals_of(document)),
            "steps": approval_sheet(document),
            "printed_at": timezone.now(),
        },
    )
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=url_fetcher()).write_pdf()
    return pdf
