"""Document templates: DOCX (docxtpl) and HTML rendered to PDF (WeasyPrint), filled from a
client, a deal or a quote. The output becomes a new document (or a new version of one).

Templates are user-supplied text, so they run in Jinja's SandboxedEnvironment over plain
dictionaries (never ORM objects), and WeasyPrint gets a URL fetcher that refuses everything but
inline `data:` URLs: a template cannot read files or reach the network.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from jinja2 import TemplateError
from jinja2.sandbox import SandboxedEnvironment

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.crm.models import Deal, Organization, Person, Quote
from konvergo.crm.services.quotes import line_totals, quote_totals
from konvergo.documents.models import Document, DocumentTemplate, DocumentVersion, TemplateKind
from konvergo.documents.services.content import DOCX, check_file
from konvergo.documents.services.documents import document_create, version_add
from konvergo.documents.storage import documents_storage, new_name, read_file


class TemplateFailed(BusinessError):
    status = 422
    code = "template_failed"


def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(autoescape=True)


def _money(value: Any) -> str:
    return f"{value:,.2f}" if value is not None else ""


def _organization(org: Organization | None) -> dict[str, Any]:
    if org is None:
        return {}
    address = org.addresses.first()
    return {
        "name": org.legal_name,
        "short_name": org.short_name or org.legal_name,
        "tax_ids": [f"{t.kind} {t.value}" for t in org.tax_ids.all()],
        "address": ", ".join(
            part
            for part in (
                getattr(address, "street", ""),
                f"{getattr(address, 'postal_code', '')} {getattr(address, 'city', '')}".strip(),
                getattr(address, "country", ""),
            )
            if part
        ),
        "owner": org.owner.get_full_name() if org.owner_id else "",
    }


def _person(person: Person | None) -> dict[str, Any]:
    if person is None:
        return {}
    return {
        "name": f"{person.first_name} {person.last_name}".strip(),
        "first_name": person.first_name,
        "last_name": person.last_name,
        "position": person.position,
    }


def _quote(quote: Quote) -> dict[str, Any]:
    lines = []
    for line in quote.lines.all():
        totals = line_totals(line.quantity, line.unit_price, line.tax_rate)
        lines.append(
            {
                "position": line.position,
                "description": line.description,
                "quantity": f"{line.quantity.normalize():f}",
                "unit_price": _money(line.unit_price),
                "tax_rate": f"{line.tax_rate.normalize():f}",
                "net": _money(totals.net),
                "gross": _money(totals.gross),
            }
        )
    totals = quote_totals(quote)
    return {
        "number": quote.number,
        "kind": str(quote.get_kind_display()),
        "currency": quote.currency,
        "issued_on": quote.issued_on.isoformat(),
        "valid_until": quote.valid_until.isoformat() if quote.valid_until else "",
        "lines": lines,
        "net": _money(totals.net),
        "tax": _money(totals.tax),
        "gross": _money(totals.gross),
    }


def context_for(
    *,
    organization: Organization | None = None,
    person: Person | None = None,
    deal: Deal | None = None,
    quote: Quote | None = None,
) -> dict[str, Any]:
    """Plain values for the template: client, person, deal, quote, today."""
    if quote is not None:
        deal = deal or quote.deal
    if deal is not None:
        organization = organization or deal.organization
        person = person or deal.person
    return {
        "client": _organization(organization) or _person(person),
        "organization": _organization(organization),
        "person": _person(person),
        "deal": {
            "title": deal.title,
            "amount": _money(deal.amount),
            "currency": deal.currency,
            "stage": deal.stage.name,
            "owner": deal.owner.get_full_name() or deal.owner.username,
        }
        if deal is not None
        else {},
        "quote": _quote(quote) if quote is not None else {},
        "today": date.today().isoformat(),  # noqa: DTZ011  (the date printed on the document)
    }


def refuse_url(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """WeasyPrint's URL fetcher (before 66): nothing but inline `data:` URLs."""
    if url.startswith("data:"):
        from weasyprint.urls import default_url_fetcher

        result: dict[str, Any] = default_url_fetcher(url)
        return result
    raise ValueError(f"templates may not load {url[:80]}")


def url_fetcher() -> Any:
    """A fetcher that loads no file and no network address: only inline `data:` URLs."""
    from weasyprint import urls

    fetcher_class = getattr(urls, "URLFetcher", None)
    if fetcher_class is not None:  # WeasyPrint 66+: a class with a protocol allow-list
        return fetcher_class(allowed_protocols={"data"}, allow_redirects=False)
    return refuse_url


def render_html_pdf(body: str, context: dict[str, Any]) -> bytes:
    import weasyprint

    try:
        html = _environment().from_string(body).render(**context)
    except TemplateError as exc:
        raise TemplateFailed(_("The template has an error: %(error)s") % {"error": exc}) from None
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=url_fetcher()).write_pdf()
    return pdf


def render_docx(template_data: bytes, context: dict[str, Any]) -> bytes:
    from docxtpl import DocxTemplate

    try:
        template = DocxTemplate(io.BytesIO(template_data))
        template.render(context, jinja_env=_environment(), autoescape=True)
    except TemplateError as exc:
        raise TemplateFailed(_("The template has an error: %(error)s") % {"error": exc}) from None
    out = io.BytesIO()
    template.save(out)
    return out.getvalue()


def template_create(
    *,
    name: str,
    kind: str,
    document_type: Any,
    actor: Any,
    body: str = "",
    docx: bytes | None = None,
    description: str = "",
) -> DocumentTemplate:
    if not name.strip():
        raise FieldErrors({"name": [_("This field is required.")]})
    if DocumentTemplate.objects.filter(name=name).exists():
        raise FieldErrors({"name": [_("A template with this name exists already.")]})
    if kind not in TemplateKind.values:
        raise FieldErrors({"kind": [_("Choose DOCX or HTML.")]})
    if kind == TemplateKind.DOCX:
        if not docx:
            raise FieldErrors({"file": [_("Upload the DOCX template.")]})
        if check_file("template.docx", docx).content_type != DOCX:
            raise FieldErrors({"file": [_("The template must be a Word document (DOCX).")]})
        storage_name = documents_storage().save(new_name("templates", "t.docx"), io.BytesIO(docx))
    else:
        try:
            _environment().parse(body)
        except TemplateError as exc:
            raise FieldErrors({"body": [str(exc)]}) from None
        storage_name = ""
    try:
        return DocumentTemplate.objects.create(
            name=name,
            kind=kind,
            document_type=document_type,
            body=body,
            storage_name=storage_name,
            description=description,
        )
    except Exception:
        if storage_name:
            documents_storage().delete(storage_name)
        raise


def template_render(template: DocumentTemplate, context: dict[str, Any]) -> tuple[str, bytes]:
    """The file name and content the template produces for `context`."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M")
    base = "".join(c if c.isalnum() else "-" for c in template.name).strip("-")[:60]
    if template.kind == TemplateKind.DOCX:
        return f"{base}-{stamp}.docx", render_docx(read_file(template.storage_name), context)
    return f"{base}-{stamp}.pdf", render_html_pdf(template.body, context)


def document_from_template(
    *,
    template: DocumentTemplate,
    actor: Any,
    title: str = "",
    document: Document | None = None,
    organization: Organization | None = None,
    person: Person | None = None,
    deal: Deal | None = None,
    quote: Quote | None = None,
) -> DocumentVersion:
    """Fill the template; the result is a new version of `document`, or a new document linked
    to the client, deal and quote it was filled from."""
    if quote is not None and deal is None:
        deal = quote.deal
    if deal is not None:
        organization = organization or deal.organization
        person = person or deal.person
    context = context_for(organization=organization, person=person, deal=deal, quote=quote)
    file_name, data = template_render(template, context)
    comment = _("Generated from the template %(name)s") % {"name": template.name}
    if document is not None:
        return version_add(
            document=document, file_name=file_name, data=data, actor=actor, comment=comment
        )
    created = document_create(
        title=title or f"{template.name}: {context['client'].get('name', '')}".strip(": "),
        document_type=template.document_type,
        file_name=file_name,
        data=data,
        actor=actor,
        comment=comment,
        custom_data={"amount": str(deal.amount)}
        if deal is not None
        and deal.amount is not None
        and any(f.get("key") == "amount" for f in template.document_type.fields or [])
        else None,
        organization=organization,
        person=person,
        deal=deal,
        quote=quote,
    )
    version = created.versions.get()
    return version
