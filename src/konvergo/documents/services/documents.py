"""Documents and their versions: create, add a version, check out / check in, edit metadata,
the lifecycle rules (signed, archived)."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, Conflict, FieldErrors, NotAllowed
from konvergo.core.events import emit
from konvergo.documents.models import (
    Document,
    DocumentStatus,
    DocumentType,
    DocumentVersion,
    Folder,
)
from konvergo.documents.services.content import check_file
from konvergo.documents.storage import read_file, stored_file

LINKS = ("organization", "person", "deal", "quote", "ticket", "process_instance")


def _locked(document: Document) -> Document:
    return Document.objects.select_for_update().get(pk=document.pk)


def _writable(document: Document) -> None:
    if document.is_read_only:
        raise NotAllowed(_("The document is archived and read-only."))


def custom_data_clean(document_type: DocumentType, data: dict[str, Any] | None) -> dict[str, Any]:
    """Values of the type's own fields, checked by their kind; unknown keys are refused."""
    data = dict(data or {})
    fields = {str(f.get("key")): f for f in document_type.fields or [] if isinstance(f, dict)}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key, value in data.items():
        field = fields.get(key)
        if field is None:
            errors[key] = [_("This document type has no field %(key)s.") % {"key": key}]
            continue
        if value in ("", None):
            continue
        kind = field.get("type", "text")
        try:
            if kind == "number":
                cleaned[key] = str(Decimal(str(value)))
            elif kind == "date":
                cleaned[key] = date.fromisoformat(str(value)).isoformat()
            else:
                cleaned[key] = str(value)[:1000]
        except (InvalidOperation, ValueError):
            errors[key] = [_("Enter a valid %(kind)s.") % {"kind": kind}]
    for key, field in fields.items():
        if field.get("required") and key not in cleaned:
            errors.setdefault(key, []).append(_("This field is required."))
    if errors:
        raise FieldErrors({f"custom_data.{k}": v for k, v in errors.items()})
    return cleaned


def _write_version(
    *,
    document: Document,
    file_name: str,
    data: bytes,
    comment: str,
    actor: Any,
    storage_name: str,
    content_type: str,
    text: str,
) -> DocumentVersion:
    document.version_number += 1
    version = DocumentVersion.objects.create(
        document=document,
        number=document.version_number,
        storage_name=storage_name,
        file_name=file_name[:255],
        content_type=content_type,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        author=actor,
        comment=comment,
        text=text,
    )
    document.content_text = text
    return version


def document_create(
    *,
    title: str,
    document_type: DocumentType,
    file_name: str,
    data: bytes,
    actor: Any,
    comment: str = "",
    description: str = "",
    folder: Folder | None = None,
    custom_data: dict[str, Any] | None = None,
    **links: Any,
) -> Document:
    """A new document with its first version; the file is checked by its content first."""
    if not title.strip():
        raise FieldErrors({"title": [_("This field is required.")]})
    unknown = set(links) - set(LINKS)
    if unknown:
        raise BusinessError(f"unknown links: {sorted(unknown)}")
    cleaned = custom_data_clean(document_type, custom_data)
    checked = check_file(file_name, data)
    with stored_file("new", file_name, data) as storage_name:
        document = Document.objects.create(
            title=title.strip()[:255],
            document_type=document_type,
            owner=actor,
            description=description,
            folder=folder,
            custom_data=cleaned,
            **{k: v for k, v in links.items() if v is not None},
        )
        _write_version(
            document=document,
            file_name=file_name,
            data=data,
            comment=comment,
            actor=actor,
            storage_name=storage_name,
            content_type=checked.content_type,
            text=checked.text,
        )
        document.save()
        emit(
            "documents.document.created",
            subject=document,
            payload={"document": str(document.public_id), "type": document_type.code},
            actor=actor,
        )
    return document


def version_add(
    *,
    document: Document,
    file_name: str,
    data: bytes,
    actor: Any,
    comment: str = "",
    based_on: int | None = None,
    release: bool = False,
) -> DocumentVersion:
    """A new immutable version. `based_on` is the version number the author started from:
    if someone else added a version since, this is a Conflict (409) and nothing is stored."""
    checked = check_file(file_name, data)
    with stored_file(str(document.public_id), file_name, data) as storage_name:
        locked = _locked(document)
        _writable(locked)
        if locked.checked_out_by_id is not None and locked.checked_out_by_id != actor.pk:
            raise Conflict(
                _("The document is checked out by %(user)s.") % {"user": locked.checked_out_by}
            )
        if based_on is not None and based_on != locked.version_number:
            raise Conflict(
                _(
                    "Version %(current)d was added since you took version %(based)d; "
                    "download it and apply your changes again."
                )
                % {"current": locked.version_number, "based": based_on}
            )
        version = _write_version(
            document=locked,
            file_name=file_name,
            data=data,
            comment=comment,
            actor=actor,
            storage_name=storage_name,
            content_type=checked.content_type,
            text=checked.text,
        )
        if release:
            locked.checked_out_by = None
            locked.checked_out_at = None
        locked.save()
        if locked.status == DocumentStatus.IN_APPROVAL:
            from konvergo.documents.services.approvals import approval_new_version

            approval_new_version(document=locked, version=version, actor=actor)
        elif locked.status in (DocumentStatus.REJECTED, DocumentStatus.APPROVED):
            # A changed file is a new draft: an approval covers only the version it saw.
            locked.status = DocumentStatus.DRAFT
            locked.save(update_fields=["status", "updated_at"])
    document.refresh_from_db()
    return version


@transaction.atomic
def document_checkout(*, document: Document, actor: Any) -> Document:
    locked = _locked(document)
    _writable(locked)
    if locked.checked_out_by_id not in (None, actor.pk):
        raise Conflict(
            _("The document is checked out by %(user)s.") % {"user": locked.checked_out_by}
        )
    locked.checked_out_by = actor
    locked.checked_out_at = timezone.now()
    locked.save(update_fields=["checked_out_by", "checked_out_at", "updated_at"])
    return locked


def document_checkin(
    *,
    document: Document,
    actor: Any,
    file_name: str,
    data: bytes,
    based_on: int,
    comment: str = "",
) -> DocumentVersion:
    """Store the edited file as a new version and release the lock (409 when stale)."""
    return version_add(
        document=document,
        file_name=file_name,
        data=data,
        actor=actor,
        comment=comment,
        based_on=based_on,
        release=True,
    )


@transaction.atomic
def document_release(*, document: Document, actor: Any, force: bool = False) -> Document:
    """Give up a check-out without a new version (`force`: someone else's, for managers)."""
    locked = _locked(document)
    if locked.checked_out_by_id not in (None, actor.pk) and not force:
        raise Conflict(
            _("The document is checked out by %(user)s.") % {"user": locked.checked_out_by}
        )
    locked.checked_out_by = None
    locked.checked_out_at = None
    locked.save(update_fields=["checked_out_by", "checked_out_at", "updated_at"])
    return locked


@transaction.atomic
def document_update(
    *,
    document: Document,
    actor: Any,
    title: str | None = None,
    description: str | None = None,
    folder: Folder | None = None,
    custom_data: dict[str, Any] | None = None,
    **links: Any,
) -> Document:
    locked = _locked(document)
    _writable(locked)
    if title is not None:
        if not title.strip():
            raise FieldErrors({"title": [_("This field is required.")]})
        locked.title = title.strip()[:255]
    if description is not None:
        locked.description = description
    if folder is not None:
        locked.folder = folder
    if custom_data is not None:
        locked.custom_data = custom_data_clean(locked.document_type, custom_data)
    for key, value in links.items():
        if key not in LINKS:
            raise BusinessError(f"unknown link {key!r}")
        setattr(locked, key, value)
    locked.save()
    return locked


@transaction.atomic
def document_mark_signed(*, document: Document, actor: Any) -> Document:
    """Lifecycle rule: only an approved document becomes signed."""
    locked = _locked(document)
    _writable(locked)
    if locked.status != DocumentStatus.APPROVED:
        raise Conflict(_("Only an approved document can be marked as signed."))
    locked.status = DocumentStatus.SIGNED
    locked.save(update_fields=["status", "updated_at"])
    emit("documents.document.signed", subject=locked, actor=actor)
    return locked


@transaction.atomic
def document_archive(*, document: Document, actor: Any = None) -> Document:
    """Lifecycle rule: archive (read-only from now on); a running approval blocks it."""
    locked = _locked(document)
    if locked.status == DocumentStatus.ARCHIVED:
        return locked
    if locked.status == DocumentStatus.IN_APPROVAL:
        raise Conflict(_("A document in approval cannot be archived."))
    locked.status = DocumentStatus.ARCHIVED
    locked.archived_at = timezone.now()
    locked.checked_out_by = None
    locked.checked_out_at = None
    locked.save()
    emit("documents.document.archived", subject=locked, actor=actor)
    return locked


def document_current_file(document: Document) -> tuple[str, bytes, str]:
    """The file name, content and type of a document's latest version (to attach it to an
    e-mail, for instance)."""
    version = document.versions.order_by("-number").first()
    if version is None:
        raise BusinessError(_("The document has no file yet."))
    return version.file_name, read_file(version.storage_name), version.content_type


EMAIL_ATTACHMENT_TYPE = "email-attachment"


def document_from_email(
    *, file_name: str, data: bytes, owner: Any, subject: str, **links: Any
) -> Document | None:
    """A file that came by e-mail, kept as a document linked to the ticket or client it came
    with; None (and the file stays only on the e-mail) if its content is refused by the same
    checks as an upload."""
    document_type, _created = DocumentType.objects.get_or_create(
        code=EMAIL_ATTACHMENT_TYPE, defaults={"name": "E-mail attachment"}
    )
    try:
        with transaction.atomic():
            return document_create(
                title=file_name,
                document_type=document_type,
                file_name=file_name,
                data=data,
                actor=owner,
                comment=_("Received by e-mail: %(subject)s") % {"subject": subject[:200]},
                **links,
            )
    except BusinessError:
        return None
