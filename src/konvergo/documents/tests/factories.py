"""Factories and sample files for the documents tests."""

from __future__ import annotations

import io
import zipfile
from itertools import count

import factory
from django.core.files.base import ContentFile

from konvergo.documents.models import DocumentType
from konvergo.org.models import Scope, User
from konvergo.org.services import role_create

_roles = count()


class DocumentTypeFactory(factory.django.DjangoModelFactory[DocumentType]):
    class Meta:
        model = DocumentType
        django_get_or_create = ("code",)

    name = factory.Sequence(lambda n: f"Type {n}")
    code = factory.Sequence(lambda n: f"type-{n}")
    fields = factory.LazyFunction(lambda: [{"key": "amount", "label": "Amount", "type": "number"}])


def grant(user: User, *permissions: str, scope: str = Scope.ALL) -> User:
    role = role_create(name=f"documents role {next(_roles)}", scope=scope, permissions=permissions)
    user.roles.add(role)
    return User.objects.get(pk=user.pk)


ALL_DOCUMENT_PERMISSIONS = (
    "documents.view_document",
    "documents.add_document",
    "documents.change_document",
    "documents.view_documenttemplate",
    "documents.add_documenttemplate",
)


def pdf_bytes(text: str) -> bytes:
    """A real PDF with `text` on its page (WeasyPrint)."""
    import weasyprint

    pdf: bytes = weasyprint.HTML(string=f"<p>{text}</p>").write_pdf()
    return pdf


def docx_bytes(*paragraphs: str) -> bytes:
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def zip_bomb(size: int = 50 * 1024 * 1024) -> bytes:
    """A DOCX-looking archive whose one member expands to `size` bytes of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", b"\0" * size)
    return out.getvalue()


def upload(name: str, data: bytes) -> ContentFile[bytes]:
    return ContentFile(data, name=name)
