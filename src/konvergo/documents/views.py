"""Document pages: list with full-text search and filters, upload, the document (versions,
check-out / check-in, approvals and the sheet), the permission-checked download, the template
gallery, the client dossier and the deal's panel (sent for approval from the deal page).

Every view checks the permission first (403), finds the document among those the user may see
(404), and writes through a service; a refusal becomes a message on the page, never a 500.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError, FieldErrors, NotAllowed
from konvergo.crm.models import Deal, Organization, Person, Quote
from konvergo.documents import selectors
from konvergo.documents.api import file_response
from konvergo.documents.forms import FilterForm, RenderForm, SendForm, UploadForm, VersionForm
from konvergo.documents.models import (
    Document,
    DocumentStatus,
    DocumentTemplate,
)
from konvergo.documents.services import approvals as approval_services
from konvergo.documents.services import documents as services
from konvergo.documents.services.content import ContentRefused, max_bytes
from konvergo.documents.services.sheet import approval_sheet_pdf
from konvergo.documents.services.templates import document_from_template
from konvergo.org.models import User
from konvergo.org.permissions import can, require, visible
from konvergo.processes.models import HumanTask, TaskStatus
from konvergo.tickets.models import Ticket

PAGE = 50


def _user(request: HttpRequest, action: str, model: Any = Document) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    try:
        require(user, action, model)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    return user


def _visible(user: User, model: Any, public_id: Any) -> Any:
    if not public_id:
        return None
    record = visible(user, model.objects.all()).filter(public_id=public_id).first()
    if record is None:
        raise Http404
    return record


def _file_bytes(upload: Any) -> bytes:
    if upload.size > max_bytes():
        raise ContentRefused(
            _("The file is %(size)s bytes; the limit is %(limit)s bytes.")
            % {"size": f"{upload.size:,}", "limit": f"{max_bytes():,}"}
        )
    return bytes(upload.read())


@login_required
def document_list(request: HttpRequest) -> HttpResponse:
    user = _user(request, "view")
    form = FilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        data = form.cleaned_data
        filters = {
            "query": data.get("q") or "",
            "document_type": data["type"].code if data.get("type") else "",
            "status": data.get("status") or "",
            "date_from": data.get("date_from"),
            "date_to": data.get("date_to"),
        }
    filters["organization"] = request.GET.get("organization", "")
    filters["deal"] = request.GET.get("deal", "")
    documents = list(selectors.document_list(user, **filters)[:PAGE])
    return render(
        request,
        "documents/list.html",
        {
            "title": _("Documents"),
            "breadcrumbs": [(_("Documents"), "")],
            "form": form,
            "documents": documents,
            "may_add": can(user, "add", Document),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def document_new(request: HttpRequest) -> HttpResponse:
    user = _user(request, "add")
    initial = {k: request.GET.get(k) for k in ("organization", "person", "deal", "quote", "ticket")}
    form = UploadForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            links = {
                "organization": _visible(user, Organization, data.get("organization")),
                "person": _visible(user, Person, data.get("person")),
                "deal": _visible(user, Deal, data.get("deal")),
                "quote": _visible(user, Quote, data.get("quote")),
                "ticket": _visible(user, Ticket, data.get("ticket")),
            }
            with acting_as(user):
                document = services.document_create(
                    title=data["title"],
                    document_type=data["document_type"],
                    file_name=data["file"].name,
                    data=_file_bytes(data["file"]),
                    actor=user,
                    comment=data.get("comment") or "",
                    **links,
                )
        except FieldErrors as exc:
            for field, errors in exc.errors.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        except BusinessError as exc:
            form.add_error("file", exc.message)
        else:
            messages.success(request, _("The document was stored."))
            return redirect(document.get_absolute_url())
    status = 422 if request.method == "POST" else 200
    return render(
        request,
        "documents/form.html",
        {
            "title": _("Upload a document"),
            "form": form,
            "breadcrumbs": [(_("Documents"), reverse("documents:list")), (_("Upload"), "")],
        },
        status=status,
    )


def _detail_context(user: User, document: Document) -> dict[str, Any]:
    versions = list(document.versions.select_related("author").order_by("-number"))
    approvals = list(selectors.approvals_of(document))
    running = approval_services.running_approval(document)
    open_tasks = []
    if running is not None and running.process_instance_id is not None:
        open_tasks = list(
            HumanTask.objects.filter(
                instance_id=running.process_instance_id, status=TaskStatus.OPEN
            ).select_related("assignee")
        )
    may_change = can(user, "change", Document) and not document.is_read_only
    labels = {
        str(f.get("key")): str(f.get("label") or f.get("key"))
        for f in document.document_type.fields or []
        if isinstance(f, dict)
    }
    return {
        "title": document.title,
        "breadcrumbs": [(_("Documents"), reverse("documents:list")), (document.title, "")],
        "fields": [(labels.get(k, k), v) for k, v in document.custom_data.items()],
        "document": document,
        "versions": versions,
        "approvals": approvals,
        "steps": selectors.approval_sheet(document),
        "open_tasks": open_tasks,
        "may_change": may_change,
        "version_form": VersionForm(initial={"based_on": document.version_number}),
        "send_form": SendForm(),
        "can_send": may_change
        and bool(document.document_type.approval_process_key)
        and document.status in (DocumentStatus.DRAFT, DocumentStatus.REJECTED),
    }


@login_required
def document_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request, "view")
    document = selectors.document_get(user, public_id)
    return render(request, "documents/detail.html", _detail_context(user, document))


@login_required
def version_download(request: HttpRequest, public_id: UUID, number: int) -> FileResponse:
    user = _user(request, "view")
    document = selectors.document_get(user, public_id)
    return file_response(selectors.version_get(document, number))


def _act(request: HttpRequest, public_id: UUID, action: Any, success: str) -> HttpResponse:
    """Run a POST action on a document; a refusal is a message (with its 4xx status)."""
    user = _user(request, "change")
    document = selectors.document_get(user, public_id)
    try:
        with acting_as(user):
            action(user, document)
    except BusinessError as exc:
        messages.error(request, exc.message)
        context = _detail_context(user, selectors.document_get(user, public_id))
        return render(request, "documents/detail.html", context, status=exc.status)
    messages.success(request, success)
    return redirect(document.get_absolute_url())


@login_required
@require_POST
def document_checkout(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(
        request,
        public_id,
        lambda user, d: services.document_checkout(document=d, actor=user),
        _("Checked out: nobody else can add a version until you check in."),
    )


@login_required
@require_POST
def document_release(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(
        request,
        public_id,
        lambda user, d: services.document_release(document=d, actor=user),
        _("The check-out was cancelled."),
    )


@login_required
@require_POST
def version_upload(request: HttpRequest, public_id: UUID) -> HttpResponse:
    form = VersionForm(request.POST, request.FILES)

    def add(user: User, document: Document) -> None:
        if not form.is_valid():
            raise BusinessError(_("Choose a file."))
        services.version_add(
            document=document,
            file_name=form.cleaned_data["file"].name,
            data=_file_bytes(form.cleaned_data["file"]),
            actor=user,
            comment=form.cleaned_data.get("comment") or "",
            based_on=form.cleaned_data["based_on"],
            release=document.checked_out_by_id == user.pk,
        )

    return _act(request, public_id, add, _("The new version was stored."))


@login_required
@require_POST
def approval_send(request: HttpRequest, public_id: UUID) -> HttpResponse:
    form = SendForm(request.POST)

    def send(user: User, document: Document) -> None:
        form.is_valid()
        approval_services.approval_send(document=document, actor=user, variables=form.variables())

    return _act(request, public_id, send, _("The document was sent for approval."))


@login_required
@require_POST
def approval_withdraw(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(
        request,
        public_id,
        lambda user, d: approval_services.approval_withdraw(document=d, actor=user),
        _("The document was taken back out of approval."),
    )


@login_required
@require_POST
def document_sign(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(
        request,
        public_id,
        lambda user, d: services.document_mark_signed(document=d, actor=user),
        _("The document is marked as signed."),
    )


@login_required
@require_POST
def document_archive(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(
        request,
        public_id,
        lambda user, d: services.document_archive(document=d, actor=user),
        _("The document was archived; it is read-only now."),
    )


@login_required
def sheet_pdf(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request, "view")
    document = selectors.document_get(user, public_id)
    response = HttpResponse(approval_sheet_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="approval-sheet.pdf"'
    return response


# --- templates ------------------------------------------------------------------------------


@login_required
def template_gallery(request: HttpRequest) -> HttpResponse:
    user = _user(request, "view", DocumentTemplate)
    deal = _visible(user, Deal, request.GET.get("deal"))
    return render(
        request,
        "documents/templates.html",
        {
            "title": _("Template gallery"),
            "breadcrumbs": [
                (_("Documents"), reverse("documents:list")),
                (_("Template gallery"), ""),
            ],
            "templates": list(selectors.templates_visible(user)),
            "deal": deal,
            "deals": list(visible(user, Deal.objects.select_related("organization"))[:50])
            if can(user, "view", Deal)
            else [],
            "may_add": can(user, "add", Document),
        },
    )


@login_required
@require_POST
def template_use(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request, "add")
    template = selectors.templates_visible(user).filter(public_id=public_id).first()
    if template is None:
        raise Http404
    form = RenderForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose a deal or a client."))
        return redirect("documents:templates")
    data = form.cleaned_data
    try:
        with acting_as(user):
            version = document_from_template(
                template=template,
                actor=user,
                title=data.get("title") or "",
                organization=_visible(user, Organization, data.get("organization")),
                deal=_visible(user, Deal, data.get("deal")),
                quote=_visible(user, Quote, data.get("quote")),
            )
    except BusinessError as exc:
        messages.error(request, exc.message)
        return redirect("documents:templates")
    messages.success(request, _("The document was made from the template."))
    return redirect(version.document.get_absolute_url())


# --- the client dossier and the deal panel --------------------------------------------------


@login_required
def organization_dossier(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request, "view")
    organization = _visible(user, Organization, public_id)
    return render(
        request,
        "documents/dossier.html",
        {
            "title": _("Documents of %(client)s") % {"client": organization},
            "client": organization,
            "groups": selectors.dossier(user, organization=organization),
            "upload_url": reverse("documents:new") + f"?organization={organization.public_id}",
        },
    )


@login_required
def person_dossier(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request, "view")
    person = _visible(user, Person, public_id)
    return render(
        request,
        "documents/dossier.html",
        {
            "title": _("Documents of %(client)s") % {"client": person},
            "client": person,
            "groups": selectors.dossier(user, person=person),
            "upload_url": reverse("documents:new") + f"?person={person.public_id}",
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def deal_panel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The deal's documents as a fragment of the deal page; sending one for approval swaps
    the fragment in place (htmx), so the user never leaves the deal."""
    user = _user(request, "view")
    deal = _visible(user, Deal, public_id)
    error = ""
    if request.method == "POST":
        _user(request, "change")
        document = selectors.document_get(user, request.POST.get("document", ""))
        if document.deal_id != deal.pk:
            raise Http404
        form = SendForm(request.POST)
        form.is_valid()
        try:
            with acting_as(user):
                approval_services.approval_send(
                    document=document, actor=user, variables=form.variables()
                )
        except BusinessError as exc:
            error = exc.message
    if request.method == "POST" and request.headers.get("HX-Request") != "true":
        if error:
            messages.error(request, error)
        return redirect("crm:deal_detail", deal.public_id)
    documents = list(
        selectors.documents_visible(user)
        .filter(deal=deal)
        .select_related("document_type")
        .order_by("-updated_at")
    )
    return render(
        request,
        "documents/_deal_panel.html",
        {
            "deal": deal,
            "documents": documents,
            "error": error,
            "may_change": can(user, "change", Document),
            "may_add": can(user, "add", Document),
        },
        status=422 if error else 200,
    )
