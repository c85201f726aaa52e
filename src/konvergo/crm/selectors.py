"""Reads of the shared directory for pages and the API: the lists and the client dossier.

Everything goes through `visible()`, so a page and an API endpoint show the same records.

The dossier timeline is assembled from sources: functions `(user, record) -> items` registered
with `register_timeline_source`. The CRM registers its own here (activities, deals, quotes,
ownership transfers); later apps (processes, tickets, documents) register theirs from their
`AppConfig.ready()` with one call, and the dossier shows them without changes here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from django.db.models import Prefetch, Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _

from konvergo.core.errors import FieldErrors
from konvergo.crm.filters import OrganizationFilter, PersonFilter
from konvergo.crm.models import (
    Activity,
    Address,
    Deal,
    Email,
    Employment,
    Organization,
    OwnershipTransfer,
    Person,
    Phone,
    Quote,
    TaxId,
)
from konvergo.org.permissions import visible

Client = Organization | Person

# --- lists ----------------------------------------------------------------------------------


def contact_prefetches() -> list[Prefetch[Any]]:
    """What a list row and an API item show of a record's contact data, primary first."""
    return [
        Prefetch("tags"),
        Prefetch("emails", queryset=Email.objects.order_by("-is_primary", "pk")),
        Prefetch("phones", queryset=Phone.objects.order_by("-is_primary", "pk")),
        Prefetch("addresses", queryset=Address.objects.order_by("pk")),
    ]


def organization_rows() -> QuerySet[Organization]:
    return Organization.objects.select_related("owner").prefetch_related(
        *contact_prefetches(),
        Prefetch("tax_ids", queryset=TaxId.objects.order_by("country", "kind")),
    )


def person_rows() -> QuerySet[Person]:
    employments = Employment.objects.select_related("organization").order_by("-is_primary", "pk")
    return Person.objects.select_related("owner").prefetch_related(
        *contact_prefetches(), Prefetch("employments", queryset=employments)
    )


def filter_data(filters: Mapping[str, Any] | None) -> MultiValueDict[str, Any]:
    """Filter values as django-filter reads them: a QueryDict as it is, a plain dict with each
    value (or list of values, for multi-valued filters such as status) under its name."""
    if isinstance(filters, MultiValueDict):
        return filters
    data: MultiValueDict[str, Any] = MultiValueDict()
    for name, value in (filters or {}).items():
        if value is None:
            continue
        data.setlist(name, list(value) if isinstance(value, list | tuple | set) else [value])
    return data


def _filtered(
    filterset: type[Any],
    user: Any,
    rows: QuerySet[Any],
    filters: Mapping[str, Any] | None,
    strict: bool,
) -> QuerySet[Any]:
    found = filterset(data=filter_data(filters), queryset=visible(user, rows))
    if strict and not found.is_valid():
        raise FieldErrors({k: [str(m) for m in v] for k, v in found.errors.items()})
    qs: QuerySet[Any] = found.qs
    return qs


def organization_list(
    user: Any, filters: Mapping[str, Any] | None = None, *, strict: bool = False
) -> QuerySet[Organization]:
    """The organisations `user` may see, filtered by `OrganizationFilter` (query parameters:
    q, status, owner, tag, created_after, created_before, ordering), with the owner, tags,
    e-mails, phones, addresses and tax ids loaded. `strict` raises FieldErrors for bad
    filter values instead of ignoring them."""
    return _filtered(OrganizationFilter, user, organization_rows(), filters, strict)


def person_list(
    user: Any, filters: Mapping[str, Any] | None = None, *, strict: bool = False
) -> QuerySet[Person]:
    """The persons `user` may see, filtered by `PersonFilter`, with their contact data and
    employers loaded."""
    return _filtered(PersonFilter, user, person_rows(), filters, strict)


def primary(items: Iterable[Any]) -> Any:
    """The primary e-mail or phone of a prefetched list (they come primary first)."""
    return next(iter(items), None)


# --- the dossier timeline -------------------------------------------------------------------


@dataclass(frozen=True)
class TimelineItem:
    kind: str  # "call", "meeting", ..., "deal", "quote", "transfer", or another app's kind
    when: datetime
    title: str
    url: str
    planned: bool  # a planned action (shown on top) rather than something that happened
    record: Any = None


TimelineSource = Callable[[Any, Client], Iterable[TimelineItem]]
_sources: list[TimelineSource] = []


def register_timeline_source(fn: TimelineSource) -> TimelineSource:
    """Add a source of dossier items (usable as a decorator); registering twice is harmless.

    `fn(user, record)` gets the signed-in user and the organisation or person and returns the
    items the user may see (filter through `visible()`)."""
    if fn not in _sources:
        _sources.append(fn)
    return fn


def timeline_sources() -> list[TimelineSource]:
    return list(_sources)


def record_url(name: str, public_id: Any) -> str:
    """The page of a record ("" while no page of that name is installed)."""
    try:
        return reverse(f"crm:{name}_detail", args=[public_id])
    except NoReverseMatch:
        return ""


def _aware(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def dossier_timeline(user: Any, record: Client) -> list[TimelineItem]:
    """Everything about the client from every source: planned actions first (soonest due
    first), then what happened (newest first)."""
    items = [item for source in _sources for item in source(user, record)]
    planned = sorted((i for i in items if i.planned), key=lambda i: i.when)
    past = sorted((i for i in items if not i.planned), key=lambda i: i.when, reverse=True)
    return planned + past


def _side(record: Client) -> str:
    return "organization" if isinstance(record, Organization) else "person"


@register_timeline_source
def activity_items(user: Any, record: Client) -> Iterable[TimelineItem]:
    side = _side(record)
    rows = visible(user, Activity.objects.all()).filter(
        Q(**{side: record}) | Q(**{f"deal__{side}": record}), archived=False
    )
    for activity in rows.select_related("owner"):
        # Notes record something; every other kind without a done time is still to do.
        planned = activity.done_at is None and activity.kind != "note"
        if planned:
            when = activity.due_at or activity.created_at
        else:
            when = activity.done_at or activity.due_at or activity.created_at
        yield TimelineItem(
            kind=activity.kind,
            when=when,
            title=f"{activity.get_kind_display()}: {activity.subject}",
            url=record_url("activity", activity.public_id),
            planned=planned,
            record=activity,
        )


def _client_deals(user: Any, record: Client) -> QuerySet[Deal]:
    return visible(user, Deal.objects.all()).filter(**{_side(record): record})


@register_timeline_source
def deal_items(user: Any, record: Client) -> Iterable[TimelineItem]:
    for deal in _client_deals(user, record).select_related("stage"):
        title = _("Deal %(title)s: %(stage)s, %(amount)s %(currency)s") % {
            "title": deal.title,
            "stage": deal.stage.name,
            "amount": deal.amount,
            "currency": deal.currency,
        }
        yield TimelineItem(
            kind="deal",
            when=deal.closed_at or deal.created_at,
            title=title,
            url=record_url("deal", deal.public_id),
            planned=False,
            record=deal,
        )


@register_timeline_source
def quote_items(user: Any, record: Client) -> Iterable[TimelineItem]:
    rows = visible(user, Quote.objects.all()).filter(**{f"deal__{_side(record)}": record})
    for quote in rows.select_related("deal"):
        yield TimelineItem(
            kind=quote.kind,
            when=_aware(quote.issued_on),
            title=f"{quote.get_kind_display()} {quote.number} ({quote.deal.title})",
            url=record_url("quote", quote.public_id),
            planned=False,
            record=quote,
        )


@register_timeline_source
def transfer_items(user: Any, record: Client) -> Iterable[TimelineItem]:
    # Part of the client's own history: whoever may see the client sees who owned it.
    rows = OwnershipTransfer.objects.filter(**{_side(record): record}).select_related(
        "from_user", "to_user"
    )
    for transfer in rows:
        yield TimelineItem(
            kind="transfer",
            when=transfer.created_at,
            title=_("Handed from %(from)s to %(to)s: %(reason)s")
            % {"from": transfer.from_user, "to": transfer.to_user, "reason": transfer.reason},
            url="",
            planned=False,
            record=transfer,
        )
