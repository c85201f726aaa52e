"""CRM API: quotes and pro-forma invoices with their lines and totals.

Amounts are decimal strings ("1234.50") so no cent is lost to floating point. The deal a quote
is for must be visible to the caller; quotes are listed per deal with `?deal=<id>`.
"""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations
# outside this module, so they must be real objects, not strings.

from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

from django.db import models
from django.http import HttpRequest
from ninja import Field, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from konvergo.crm.api.deals import MAX_PAGE, RecordRef, field_ref
from konvergo.crm.models import Deal, Quote, QuoteLine
from konvergo.crm.services.quotes import QuoteTotals, line_totals, quote_create, quote_totals
from konvergo.org.api import allowed, get_visible, writing
from konvergo.org.permissions import visible
from konvergo.org.schemas import UserRef

router = Router(tags=["crm"])


class QuoteLineIn(Schema):
    description: str
    quantity: Decimal = Decimal("1")
    unit_price: Decimal
    tax_rate: Decimal = Field(Decimal("0"), description="Percent, e.g. 23 or 7.5.")


class QuoteIn(Schema):
    deal: UUID
    kind: str = Field("quote", description="quote or proforma.")
    currency: str | None = Field(None, description="ISO 4217; default: the deal's currency.")
    issued_on: date | None = Field(None, description="Default: today.")
    valid_until: date | None = None
    lines: list[QuoteLineIn]


class QuoteLineOut(Schema):
    position: int
    description: str
    quantity: Decimal
    unit_price: Decimal
    tax_rate: Decimal
    net: Decimal
    tax: Decimal
    gross: Decimal

    @staticmethod
    def resolve_net(obj: QuoteLine) -> Decimal:
        return line_totals(obj.quantity, obj.unit_price, obj.tax_rate).net

    @staticmethod
    def resolve_tax(obj: QuoteLine) -> Decimal:
        return line_totals(obj.quantity, obj.unit_price, obj.tax_rate).tax

    @staticmethod
    def resolve_gross(obj: QuoteLine) -> Decimal:
        return line_totals(obj.quantity, obj.unit_price, obj.tax_rate).gross


def _totals(quote: Quote) -> QuoteTotals:
    cached: QuoteTotals | None = quote.__dict__.get("_totals")
    if cached is None:
        cached = quote.__dict__["_totals"] = quote_totals(quote)
    return cached


class QuoteOut(Schema):
    id: UUID
    number: str
    kind: str
    status: str
    deal: RecordRef
    currency: str
    issued_on: date
    valid_until: date | None
    owner: UserRef
    lines: list[QuoteLineOut]
    net: Decimal
    tax: Decimal
    gross: Decimal
    created_at: datetime

    @staticmethod
    def resolve_id(obj: Quote) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_lines(obj: Quote) -> list[QuoteLine]:
        return list(obj.lines.all())

    @staticmethod
    def resolve_net(obj: Quote) -> Decimal:
        return _totals(obj).net

    @staticmethod
    def resolve_tax(obj: Quote) -> Decimal:
        return _totals(obj).tax

    @staticmethod
    def resolve_gross(obj: Quote) -> Decimal:
        return _totals(obj).gross


def quote_rows() -> models.QuerySet[Quote]:
    return Quote.objects.select_related("deal", "owner").prefetch_related("lines")


@router.get("/quotes", response=list[QuoteOut], summary="List quotes (of one deal with ?deal=)")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def quotes_list(
    request: HttpRequest, deal: UUID | None = None, kind: str | None = None
) -> models.QuerySet[Quote]:
    user = allowed(request, "view", Quote)
    rows = visible(user, quote_rows())
    if deal is not None:
        rows = rows.filter(deal__public_id=deal)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return rows.order_by("-issued_on", "-number")


@router.post("/quotes", response={201: QuoteOut}, summary="Create a quote or pro-forma invoice")
def quotes_create(request: HttpRequest, payload: QuoteIn) -> Status[Quote]:
    user = allowed(request, "add", Quote)
    deal = field_ref(user, Deal.objects.select_related("organization"), payload.deal, "deal")
    assert deal is not None  # noqa: S101  (a required field)
    with writing(user):
        quote = quote_create(
            actor=user,
            deal=deal,
            kind=payload.kind,
            lines=[line.model_dump() for line in payload.lines],
            currency=payload.currency,
            valid_until=payload.valid_until,
            issued_on=payload.issued_on,
        )
    return Status(201, quote_rows().get(pk=quote.pk))


@router.get("/quotes/{quote_id}", response=QuoteOut, summary="One quote with lines and totals")
def quotes_get(request: HttpRequest, quote_id: UUID) -> Quote:
    return get_visible(allowed(request, "view", Quote), quote_rows(), quote_id)
