"""Templates: DOCX (docxtpl) and HTML to PDF (WeasyPrint) filled from a client, deal or quote;
the output is read back with python-docx and pypdf. Templates run sandboxed."""

from __future__ import annotations

import io
from decimal import Decimal

import docx
import pytest
from pypdf import PdfReader

from konvergo.core.errors import FieldErrors
from konvergo.crm.tests.factories import (
    DealFactory,
    OrganizationFactory,
    QuoteFactory,
    QuoteLineFactory,
)
from konvergo.documents import samples
from konvergo.documents.models import TemplateKind
from konvergo.documents.services.documents import document_create
from konvergo.documents.services.templates import (
    TemplateFailed,
    document_from_template,
    render_html_pdf,
    template_create,
)
from konvergo.documents.storage import read_file
from konvergo.documents.tests.factories import DocumentTypeFactory
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def scene():
    author = UserFactory.create(first_name="Olga", last_name="Nowak")
    client = OrganizationFactory.create(legal_name="ACME Sp. z o.o.")
    deal = DealFactory.create(
        title="Warehouse racks", organization=client, amount=Decimal("12500"), owner=author
    )
    quote = QuoteFactory.create(deal=deal, number="Q-2026-0042")
    QuoteLineFactory.create(
        quote=quote,
        description="Racks",
        quantity=Decimal("5"),
        unit_price=Decimal("2000.00"),
        tax_rate=Decimal("23"),
    )
    QuoteLineFactory.create(
        quote=quote,
        description="Assembly",
        quantity=Decimal("1"),
        unit_price=Decimal("2500.00"),
        tax_rate=Decimal("23"),
    )
    return author, client, deal, quote


def test_docx_template_filled_from_a_quote_reads_back_with_python_docx():
    author, client, deal, quote = scene()
    template = template_create(
        name="Commercial proposal",
        kind=TemplateKind.DOCX,
        document_type=DocumentTypeFactory.create(),
        docx=samples.proposal_docx(),
        actor=author,
    )
    version = document_from_template(template=template, actor=author, quote=quote)
    document = version.document
    assert (document.organization, document.deal, document.quote) == (client, deal, quote)
    assert version.comment == "Generated from the template Commercial proposal"
    text = [p.text for p in docx.Document(io.BytesIO(read_file(version.storage_name))).paragraphs]
    assert "Commercial proposal Q-2026-0042" in text
    assert text[1].startswith("For ACME Sp. z o.o.")
    assert "1. Racks: 5 x 2,000.00 = 10,000.00" in text
    assert "2. Assembly: 1 x 2,500.00 = 2,500.00" in text
    assert "Total net 12,500.00, tax 2,875.00, gross 15,375.00 EUR" in text
    assert "Your contact: Olga Nowak." in text[-1]
    assert "Racks" in document.content_text  # searchable


def test_html_template_renders_to_pdf_as_a_new_version_of_an_existing_document():
    author, client, deal, _quote = scene()
    doc_type = DocumentTypeFactory.create()
    template = template_create(
        name="Contract",
        kind=TemplateKind.HTML,
        document_type=doc_type,
        body=samples.CONTRACT_HTML,
        actor=author,
    )
    existing = document_create(
        title="Contract ACME",
        document_type=doc_type,
        file_name="old.txt",
        data=b"old",
        actor=author,
        organization=client,
    )
    version = document_from_template(template=template, actor=author, document=existing, deal=deal)
    assert version.number == 2 and version.content_type == "application/pdf"
    text = PdfReader(io.BytesIO(read_file(version.storage_name))).pages[0].extract_text()
    assert "Between ACME Sp. z o.o." in text
    assert "Subject: Warehouse racks. Price: 12,500.00 EUR." in text


def test_templates_run_sandboxed_and_fetch_nothing():
    # Python internals are out of reach of a template...
    with pytest.raises(TemplateFailed, match="unsafe"):
        render_html_pdf("{{ ''.__class__.__mro__[1].__subclasses__() }}", {})
    # ...and so are files and the network: the image is simply left out.
    pdf = render_html_pdf(
        '<p>x</p><img src="file:///etc/passwd"><img src="http://example.com/a.png">', {}
    )
    assert pdf.startswith(b"%PDF")
    from konvergo.documents.services.templates import url_fetcher

    fetcher = url_fetcher()
    for url in ("file:///etc/passwd", "http://example.com/a.png"):
        with pytest.raises(Exception):  # noqa: B017  (the library's own error type)
            fetch = getattr(fetcher, "fetch", fetcher)
            fetch(url)
    with pytest.raises(FieldErrors):
        template_create(
            name="Broken",
            kind=TemplateKind.HTML,
            document_type=DocumentTypeFactory.create(),
            body="{% for %}",
            actor=UserFactory.create(),
        )
