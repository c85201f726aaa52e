"""The /api/v1/documents part of the API: documents, versions (upload, download, check-out /
check-in with 409 on a stale version), approvals and their sheet, templates.

The same services and selectors as the pages: a document the caller may not see is a 404; the
file itself is only ever streamed from here or from the page view, after that check.
"""

# No `from __future__ import annotations`: ninja reads the annotations at import time.

from datetime import date, datetime
from typing import Any
from uuid import UUID

from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from ninja import Field, File, Form, Router, Schema, Status
from ninja.files import UploadedFile

from konvergo.core.errors import FieldErrors
from konvergo.crm.models import Deal, Organization, Person, Quote
from konvergo.documents import selectors
from konvergo.documents.models import (
    Approval,
    ApprovalStep,
    Document,
    DocumentTemplate,
    DocumentType,
    DocumentVersion,
    Folder,
)
from konvergo.documents.services import approvals as approval_services
from konvergo.documents.services import documents as services
from konvergo.documents.services.content import ContentRefused, max_bytes
from konvergo.documents.services.sheet import approval_sheet_pdf
from konvergo.documents.services.templates import document_from_template, template_create
from konvergo.documents.storage import open_file
from konvergo.org.api import allowed, caller, get_visible, writing
from konvergo.org.models import User
from konvergo.org.permissions import require
from konvergo.tickets.models import Ticket

router = Router(tags=["documents"])


class Ref(Schema):
    id: UUID
    name: str


class TypeOut(Schema):
    id: UUID
    code: str
    name: str
    fields: list[dict[str, Any]]
    approval_process_key: str
    on_new_version: str
    archive_after_days: int | None


class VersionOut(Schema):
    number: int
    file_name: str
    content_type: str
    size: int
    sha256: str
    author: str
    comment: str
    created_at: datetime


class DocumentOut(Schema):
    id: UUID
    title: str
    type: str
    status: str
    version: int
    owner: str
    description: str
    custom_data: dict[str, Any]
    organization: UUID | None
    person: UUID | None
    deal: UUID | None
    quote: UUID | None
    checked_out_by: str | None
    created_at: datetime
    updated_at: datetime


class DocumentIn(Schema):
    title: str
    type: str = Field(description="The document type's code.")
    comment: str = ""
    description: str = ""
    organization: UUID | None = None
    person: UUID | None = None
    deal: UUID | None = None
    quote: UUID | None = None
    ticket: UUID | None = None
    folder: UUID | None = None


class DocumentPatch(Schema):
    title: str | None = None
    description: str | None = None
    custom_data: dict[str, Any] | None = None


class VersionIn(Schema):
    comment: str = ""
    based_on: int | None = Field(
        None, description="The version you edited; another version added since is a 409."
    )


class CheckinIn(Schema):
    comment: str = ""
    based_on: int


class StepOut(Schema):
    approver: str
    version: int
    decision: str
    comment: str
    decided_at: datetime


class ApprovalOut(Schema):
    id: UUID
    version: int
    status: str
    started_by: str
    started_at: datetime
    ended_at: datetime | None
    process_instance: UUID | None
    steps: list[StepOut]


class ApprovalIn(Schema):
    approvers: list[str] = Field(
        default_factory=list, description="Usernames, for sequential and parallel routes."
    )
    approver_group: str = Field("", description="A role, department or team (any one of).")


class TemplateOut(Schema):
    id: UUID
    name: str
    kind: str
    type: str
    description: str


class FolderIn(Schema):
    name: str
    parent: UUID | None = None


class FolderOut(Schema):
    id: UUID
    name: str
    parent: UUID | None


class TemplateIn(Schema):
    name: str
    kind: str = Field(description="docx or html.")
    type: str = Field(description="The document type's code.")
    description: str = ""
    body: str = Field("", description="For HTML templates: the Jinja/HTML text.")


class RenderIn(Schema):
    title: str = ""
    document: UUID | None = Field(None, description="Add a version to this document instead.")
    organization: UUID | None = None
    person: UUID | None = None
    deal: UUID | None = None
    quote: UUID | None = None


def _version_out(version: DocumentVersion) -> dict[str, Any]:
    return {
        "number": version.number,
        "file_name": version.file_name,
        "content_type": version.content_type,
        "size": version.size,
        "sha256": version.sha256,
        "author": version.author.username,
        "comment": version.comment,
        "created_at": version.created_at,
    }


def _out(document: Document) -> dict[str, Any]:
    def pid(record: Any) -> UUID | None:
        return record.public_id if record is not None else None

    return {
        "id": document.public_id,
        "title": document.title,
        "type": document.document_type.code,
        "status": document.status,
        "version": document.version_number,
        "owner": document.owner.username,
        "description": document.description,
        "custom_data": document.custom_data,
        "organization": pid(document.organization),
        "person": pid(document.person),
        "deal": pid(document.deal),
        "quote": pid(document.quote),
        "checked_out_by": document.checked_out_by.username if document.checked_out_by else None,
        "created_at": document.created_at,
        "updated_at": document.updated_at,
    }


def _step_out(step: ApprovalStep) -> dict[str, Any]:
    return {
        "approver": step.approver_name,
        "version": step.version.number,
        "decision": step.decision,
        "comment": step.comment,
        "decided_at": step.decided_at,
    }


def _approval_out(approval: Approval) -> dict[str, Any]:
    return {
        "id": approval.public_id,
        "version": approval.version.number,
        "status": approval.status,
        "started_by": approval.started_by.username,
        "started_at": approval.created_at,
        "ended_at": approval.ended_at,
        "process_instance": approval.process_instance.public_id
        if approval.process_instance
        else None,
        "steps": [_step_out(step) for step in approval.steps.select_related("version")],
    }


def _document(request: HttpRequest, document_id: UUID, action: str = "view") -> Document:
    user = caller(request)
    require(user, action, Document)
    return selectors.document_get(user, document_id)


def _file_data(file: UploadedFile) -> bytes:
    if (file.size or 0) > max_bytes():  # before reading it into memory
        raise ContentRefused(
            f"The file is {file.size:,} bytes; the limit is {max_bytes():,} bytes."
        )
    return bytes(file.read())


def links(user: User, **ids: UUID | None) -> dict[str, Any]:
    """The linked CRM and ticket records, each one the caller may see (else 404)."""
    models: dict[str, Any] = {
        "organization": Organization,
        "person": Person,
        "deal": Deal,
        "quote": Quote,
        "ticket": Ticket,
    }
    found: dict[str, Any] = {}
    for key, value in ids.items():
        if value is not None:
            found[key] = get_visible(user, models[key].objects.all(), value)
    return found


def _folder(folder_id: UUID | None) -> Folder | None:
    if folder_id is None:
        return None
    folder = Folder.objects.filter(public_id=folder_id).first()
    if folder is None:
        raise FieldErrors({"folder": ["There is no such folder."]})
    return folder


def _folder_out(folder: Folder) -> dict[str, Any]:
    return {
        "id": folder.public_id,
        "name": folder.name,
        "parent": folder.parent.public_id if folder.parent else None,
    }


# --- folders --------------------------------------------------------------------------------


@router.get("/folders", response=list[FolderOut], summary="Folders")
def folders_list(request: HttpRequest) -> list[dict[str, Any]]:
    allowed(request, "view", Document)
    return [_folder_out(f) for f in Folder.objects.select_related("parent")]


@router.post("/folders", response={201: FolderOut}, summary="Create a folder")
def folders_create(request: HttpRequest, payload: FolderIn) -> Status[dict[str, Any]]:
    user = allowed(request, "add", Folder)
    if not payload.name.strip():
        raise FieldErrors({"name": ["This field is required."]})
    with writing(user):
        folder = Folder.objects.create(
            name=payload.name.strip()[:200], parent=_folder(payload.parent)
        )
    return Status(201, _folder_out(folder))


# --- documents ------------------------------------------------------------------------------


@router.get("/types", response=list[TypeOut], summary="Document types")
def types_list(request: HttpRequest) -> list[dict[str, Any]]:
    allowed(request, "view", Document)
    return [
        {
            "id": t.public_id,
            "code": t.code,
            "name": t.name,
            "fields": t.fields,
            "approval_process_key": t.approval_process_key,
            "on_new_version": t.on_new_version,
            "archive_after_days": t.archive_after_days,
        }
        for t in DocumentType.objects.all()
    ]


@router.get("/", response=list[DocumentOut], summary="Documents (full text and filters)")
def documents_list(
    request: HttpRequest,
    q: str = "",
    type: str = "",
    status: str = "",
    organization: str = "",
    person: str = "",
    deal: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[dict[str, Any]]:
    user = allowed(request, "view", Document)
    rows = selectors.document_list(
        user,
        query=q,
        document_type=type,
        status=status,
        organization=organization,
        person=person,
        deal=deal,
        date_from=date_from,
        date_to=date_to,
    ).select_related("deal", "quote", "checked_out_by")
    limit = max(1, min(limit, 200))
    return [_out(d) for d in rows[offset : offset + limit]]


@router.post("/", response={201: DocumentOut}, summary="Upload a new document")
def documents_create(
    request: HttpRequest, payload: Form[DocumentIn], file: File[UploadedFile]
) -> Status[dict[str, Any]]:
    user = allowed(request, "add", Document)
    document_type = DocumentType.objects.filter(code=payload.type).first()
    if document_type is None:
        raise FieldErrors({"type": [f"There is no document type {payload.type!r}."]})
    linked = links(
        user,
        organization=payload.organization,
        person=payload.person,
        deal=payload.deal,
        quote=payload.quote,
        ticket=payload.ticket,
    )
    with writing(user):
        document = services.document_create(
            title=payload.title,
            document_type=document_type,
            file_name=file.name or "upload",
            data=_file_data(file),
            actor=user,
            comment=payload.comment,
            description=payload.description,
            folder=_folder(payload.folder),
            **linked,
        )
    return Status(201, _out(document))


@router.get("/{document_id}", response=DocumentOut, summary="A document")
def documents_get(request: HttpRequest, document_id: UUID) -> dict[str, Any]:
    return _out(_document(request, document_id))


@router.patch("/{document_id}", response=DocumentOut, summary="Title, description, fields")
def documents_update(
    request: HttpRequest, document_id: UUID, payload: DocumentPatch
) -> dict[str, Any]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        document = services.document_update(
            document=document, actor=user, **payload.dict(exclude_unset=True)
        )
    return _out(document)


@router.get("/{document_id}/versions", response=list[VersionOut], summary="Versions")
def versions_list(request: HttpRequest, document_id: UUID) -> list[dict[str, Any]]:
    document = _document(request, document_id)
    return [_version_out(v) for v in document.versions.select_related("author")]


@router.post("/{document_id}/versions", response={201: VersionOut}, summary="Upload a new version")
def versions_create(
    request: HttpRequest, document_id: UUID, payload: Form[VersionIn], file: File[UploadedFile]
) -> Status[dict[str, Any]]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        version = services.version_add(
            document=document,
            file_name=file.name or "upload",
            data=_file_data(file),
            actor=user,
            comment=payload.comment,
            based_on=payload.based_on,
        )
    return Status(201, _version_out(version))


@router.get("/{document_id}/versions/{number}/file", summary="Download a version's file")
def versions_file(request: HttpRequest, document_id: UUID, number: int) -> FileResponse:
    document = _document(request, document_id)
    return file_response(selectors.version_get(document, number))


def file_response(version: DocumentVersion, *, inline: bool = False) -> FileResponse:
    response = FileResponse(
        open_file(version.storage_name),
        as_attachment=not inline,
        filename=version.file_name,
        content_type=version.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    return response


@router.post("/{document_id}/checkout", response=DocumentOut, summary="Check out (lock)")
def documents_checkout(request: HttpRequest, document_id: UUID) -> dict[str, Any]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        return _out(services.document_checkout(document=document, actor=user))


@router.post(
    "/{document_id}/checkin",
    response={201: VersionOut},
    summary="Check in a new version (409 when another version was added since `based_on`)",
)
def documents_checkin(
    request: HttpRequest, document_id: UUID, payload: Form[CheckinIn], file: File[UploadedFile]
) -> Status[dict[str, Any]]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        version = services.document_checkin(
            document=document,
            actor=user,
            file_name=file.name or "upload",
            data=_file_data(file),
            based_on=payload.based_on,
            comment=payload.comment,
        )
    return Status(201, _version_out(version))


@router.post("/{document_id}/release", response=DocumentOut, summary="Undo the check-out")
def documents_release(request: HttpRequest, document_id: UUID) -> dict[str, Any]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        return _out(services.document_release(document=document, actor=user))


@router.post("/{document_id}/sign", response=DocumentOut, summary="Mark as signed")
def documents_sign(request: HttpRequest, document_id: UUID) -> dict[str, Any]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        return _out(services.document_mark_signed(document=document, actor=user))


@router.post("/{document_id}/archive", response=DocumentOut, summary="Archive (read-only)")
def documents_archive(request: HttpRequest, document_id: UUID) -> dict[str, Any]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        return _out(services.document_archive(document=document, actor=user))


# --- approvals ------------------------------------------------------------------------------


@router.get("/{document_id}/approvals", response=list[ApprovalOut], summary="Approvals")
def approvals_list(request: HttpRequest, document_id: UUID) -> list[dict[str, Any]]:
    document = _document(request, document_id)
    return [_approval_out(a) for a in selectors.approvals_of(document)]


@router.post("/{document_id}/approvals", response={201: ApprovalOut}, summary="Send for approval")
def approvals_create(
    request: HttpRequest, document_id: UUID, payload: ApprovalIn
) -> Status[dict[str, Any]]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        approval = approval_services.approval_send(
            document=document, actor=user, variables=payload.dict()
        )
    return Status(201, _approval_out(approval))


@router.post("/{document_id}/approvals/withdraw", response=DocumentOut, summary="Withdraw")
def approvals_withdraw(request: HttpRequest, document_id: UUID) -> dict[str, Any]:
    document = _document(request, document_id, "change")
    user = caller(request)
    with writing(user):
        return _out(approval_services.approval_withdraw(document=document, actor=user))


@router.get("/{document_id}/approval-sheet.pdf", summary="The approval sheet as PDF")
def approvals_sheet(request: HttpRequest, document_id: UUID) -> HttpResponse:
    document = _document(request, document_id)
    response = HttpResponse(approval_sheet_pdf(document), content_type="application/pdf")
    response["Content-Disposition"] = 'attachment; filename="approval-sheet.pdf"'
    return response


# --- templates ------------------------------------------------------------------------------


@router.get("/templates/", response=list[TemplateOut], summary="Document templates")
def templates_list(request: HttpRequest) -> list[dict[str, Any]]:
    user = caller(request)
    return [
        {
            "id": t.public_id,
            "name": t.name,
            "kind": t.kind,
            "type": t.document_type.code,
            "description": t.description,
        }
        for t in selectors.templates_visible(user)
    ]


@router.post("/templates/", response={201: TemplateOut}, summary="Add a template")
def templates_create(
    request: HttpRequest, payload: Form[TemplateIn], file: File[UploadedFile] | None = None
) -> Status[dict[str, Any]]:
    user = allowed(request, "add", DocumentTemplate)
    document_type = DocumentType.objects.filter(code=payload.type).first()
    if document_type is None:
        raise FieldErrors({"type": [f"There is no document type {payload.type!r}."]})
    with writing(user):
        template = template_create(
            name=payload.name,
            kind=payload.kind,
            document_type=document_type,
            actor=user,
            body=payload.body,
            docx=_file_data(file) if file is not None else None,
            description=payload.description,
        )
    return Status(
        201,
        {
            "id": template.public_id,
            "name": template.name,
            "kind": template.kind,
            "type": document_type.code,
            "description": template.description,
        },
    )


@router.post(
    "/templates/{template_id}/render",
    response={201: VersionOut},
    summary="Fill a template from a client, deal or quote",
)
def templates_render(
    request: HttpRequest, template_id: UUID, payload: RenderIn
) -> Status[dict[str, Any]]:
    user = caller(request)
    template = selectors.templates_visible(user).filter(public_id=template_id).first()
    if template is None:
        raise Http404
    target = None
    if payload.document is not None:
        require(user, "change", Document)
        target = selectors.document_get(user, payload.document)
    else:
        require(user, "add", Document)
    linked = links(
        user,
        organization=payload.organization,
        person=payload.person,
        deal=payload.deal,
        quote=payload.quote,
    )
    with writing(user):
        version = document_from_template(
            template=template, actor=user, title=payload.title, document=target, **linked
        )
    return Status(201, _version_out(version))
