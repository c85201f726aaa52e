"""The global search box: a small registry of providers, each searching one kind of record.

A provider gets the signed-in user, the query and a limit, and returns hits the user may see
(it filters through `org.permissions.visible`). Web sits above every business app, so the
providers are registered here (below for people and structure); a later app adds its own
function and one `register(...)` line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_
from typing import Any
from urllib.parse import urlencode

from django.db.models import Q
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from konvergo.crm.search import global_search
from konvergo.org.models import Department, Team, User
from konvergo.org.permissions import can, visible


@dataclass(frozen=True)
class SearchHit:
    title: str
    url: str
    detail: str = ""


@dataclass(frozen=True)
class SearchProvider:
    key: str
    label: str | Promise  # the heading of its results, e.g. "People"
    search: Callable[[Any, str, int], Sequence[SearchHit]]


@dataclass(frozen=True)
class SearchResults:
    provider: SearchProvider
    hits: Sequence[SearchHit]


_providers: dict[str, SearchProvider] = {}


def register(provider: SearchProvider) -> SearchProvider:
    """Add (or replace, by key) a provider; results appear in registration order."""
    _providers[provider.key] = provider
    return provider


def providers() -> list[SearchProvider]:
    return list(_providers.values())


def search(user: Any, query: str, *, limit: int = 10) -> list[SearchResults]:
    """Every provider's hits for `query`; providers with no hits are left out."""
    query = query.strip()
    if not query or not user.is_authenticated:
        return []
    results = []
    for provider in providers():
        hits = provider.search(user, query, limit)
        if hits:
            results.append(SearchResults(provider=provider, hits=hits))
    return results


def _matching(fields: Sequence[str], query: str) -> Q:
    return reduce(or_, (Q(**{f"{field}__icontains": query}) for field in fields))


def _admin_url(user: Any, model: type[Any], key: str, public_id: Any, query: str) -> str:
    """The record's edit page when the user may change it, else its list filtered to it."""
    if can(user, "change", model):
        return reverse(f"org:{key}_edit", args=[public_id])
    return f"{reverse(f'org:{key}_list')}?{urlencode({'q': query})}"


def search_people(user: Any, query: str, limit: int) -> list[SearchHit]:
    found = visible(
        user,
        User.objects.filter(
            _matching(["username", "first_name", "last_name", "email"], query), is_active=True
        ).select_related("department", "position"),
    ).order_by("last_name", "first_name", "username")[:limit]
    return [
        SearchHit(
            title=str(person),
            url=_admin_url(user, User, "user", person.public_id, person.username),
            detail=" · ".join(
                str(part) for part in (person.position, person.department) if part is not None
            ),
        )
        for person in found
    ]


def search_departments(user: Any, query: str, limit: int) -> list[SearchHit]:
    found = visible(
        user, Department.objects.filter(name__icontains=query).select_related("parent")
    )[:limit]
    chart = reverse("org:chart")
    return [
        SearchHit(
            title=department.name,
            url=f"{chart}#department-{department.public_id}",
            detail=department.parent.name if department.parent else "",
        )
        for department in found
    ]


def search_teams(user: Any, query: str, limit: int) -> list[SearchHit]:
    found = visible(user, Team.objects.filter(name__icontains=query))[:limit]
    return [
        SearchHit(
            title=team.name,
            url=_admin_url(user, Team, "team", team.public_id, team.name),
            detail=team.description[:120],
        )
        for team in found
    ]


register(SearchProvider(key="org.people", label=_("People"), search=search_people))
register(SearchProvider(key="org.departments", label=_("Departments"), search=search_departments))
register(SearchProvider(key="org.teams", label=_("Teams"), search=search_teams))


def search_clients(user: Any, query: str, limit: int) -> list[SearchHit]:
    """Organisations and persons of the CRM directory (names, e-mails, phones, tax ids)."""
    return [
        SearchHit(
            title=hit.title,
            url=reverse(f"crm:{hit.kind}_detail", args=[hit.record.public_id]),
            detail=hit.detail,
        )
        for hit in global_search(user, query, limit=limit)
    ]


register(SearchProvider(key="crm.clients", label=_("Clients"), search=search_clients))


def search_documents(user: Any, query: str, limit: int) -> list[SearchHit]:
    """Documents by title and by the words inside their files (full-text search)."""
    from konvergo.documents.models import Document
    from konvergo.documents.selectors import document_list

    if not can(user, "view", Document):
        return []
    return [
        SearchHit(
            title=document.title,
            url=document.get_absolute_url(),
            detail=f"{document.document_type} · {document.get_status_display()}",
        )
        for document in document_list(user, query=query)[:limit]
    ]


register(SearchProvider(key="documents", label=_("Documents"), search=search_documents))
