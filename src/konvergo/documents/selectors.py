"""Reads: the documents a user may see, filtered lists, the client dossier, the approval sheet.

A user sees a document when the role scope for documents covers its owner, or when they may
see the client (organisation or person) it belongs to: the dossier follows the client's
visibility (`org.permissions.visible` on the CRM records).
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import date
from typing import Any
from uuid import UUID

from django.db.models import Q, QuerySet
from django.http import Http404

from konvergo.crm.models import Organization, Person
from konvergo.documents.models import (
    Approval,
    ApprovalStep,
    Document,
    DocumentTemplate,
    DocumentType,
    DocumentVersion,
)
from konvergo.documents.search import matching
from konvergo.org.models import Scope
from konvergo.org.permissions import can, require, scope_for, visible


def documents_visible(user: Any) -> QuerySet[Document]:
    require(user, "view", Document)
    queryset = Document.objects.all()
    if scope_for(user, Document) == Scope.ALL:
        return queryset
    own = visible(user, Document.objects.all()).values("pk")
    condition = Q(pk__in=own)
    if can(user, "view", Organization):
        condition |= Q(organization__in=visible(user, Organization.objects.all()).values("pk"))
    if can(user, "view", Person):
        condition |= Q(person__in=visible(user, Person.objects.all()).values("pk"))
    return queryset.filter(condition)


def document_get(user: Any, public_id: UUID | str) -> Document:
    """A visible document, or 404 (a document the user may not see does not exist for them)."""
    try:
        return (
            documents_visible(user)
            .select_related(
                "document_type", "owner", "organization", "person", "deal", "quote", "folder"
            )
            .get(public_id=public_id)
        )
    except (Document.DoesNotExist, ValueError):
        raise Http404 from None


def version_get(document: Document, number: int) -> DocumentVersion:
    try:
        return document.versions.select_related("author").get(number=number)
    except DocumentVersion.DoesNotExist:
        raise Http404 from None


def document_list(
    user: Any,
    *,
    query: str = "",
    document_type: str = "",
    status: str = "",
    organization: str = "",
    person: str = "",
    deal: str = "",
    date_from: date | None = None,
    date_to: date | None = None,
) -> QuerySet[Document]:
    """Visible documents filtered by type (code), status, client, deal, date and full text."""
    queryset = documents_visible(user).select_related(
        "document_type", "owner", "organization", "person"
    )
    if document_type:
        queryset = queryset.filter(document_type__code=document_type)
    if status:
        queryset = queryset.filter(status=status)
    for field, value in (("organization", organization), ("person", person), ("deal", deal)):
        if value:
            try:
                queryset = queryset.filter(**{f"{field}__public_id": UUID(str(value))})
            except ValueError:
                queryset = queryset.none()
    if date_from:
        queryset = queryset.filter(created_at__date__gte=date_from)
    if date_to:
        queryset = queryset.filter(created_at__date__lte=date_to)
    if query.strip():
        queryset = matching(queryset, query)
    return queryset


def dossier(user: Any, *, organization: Organization | None = None, person: Person | None = None):  # type: ignore[no-untyped-def]
    """The client's documents grouped by type: {type: [documents]} in type order."""
    queryset = documents_visible(user).select_related("document_type", "owner")
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    if person is not None:
        queryset = queryset.filter(person=person)
    groups: OrderedDict[DocumentType, list[Document]] = OrderedDict()
    for document in queryset.order_by("document_type__name", "-updated_at"):
        groups.setdefault(document.document_type, []).append(document)
    return groups


def approval_sheet(document: Document) -> list[ApprovalStep]:
    return list(
        ApprovalStep.objects.filter(approval__document=document)
        .select_related("version", "approval", "approver")
        .order_by("decided_at", "pk")
    )


def approvals_of(document: Document) -> QuerySet[Approval]:
    return document.approvals.select_related("version", "started_by").order_by("created_at")


def templates_visible(user: Any) -> QuerySet[DocumentTemplate]:
    require(user, "view", DocumentTemplate)
    return DocumentTemplate.objects.select_related("document_type")
