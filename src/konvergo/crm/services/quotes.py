"""Quotes and pro-forma invoices for a deal: lines, totals and gapless numbers.

Totals are computed per line and rounded to cents half-up there (net = quantity x unit price,
tax = net x rate / 100, each rounded), then summed, the way an invoice prints them: the
document's totals always equal the sum of its printed lines.

Numbers run per kind and year without gaps (Q-2026-0001, PF-2026-0001): the next number is
taken under a lock held until the quote commits (a PostgreSQL transaction-level advisory lock
per kind and year; on SQLite the IMMEDIATE transaction already holds the database's write
lock), so concurrent creations queue for it, and a rolled-back creation frees its number. The
unique constraint on the number backs this up: a collision is retried with the next number.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Length
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.audit import acting_as
from konvergo.core.errors import FieldErrors
from konvergo.core.events import emit
from konvergo.crm.choices import QuoteKind
from konvergo.crm.models import Deal, Quote, QuoteLine
from konvergo.crm.services.deals import currency_clean, decimal_clean, text_clean
from konvergo.org.models import User

CENT = Decimal("0.01")
HUNDRED = Decimal(100)
PREFIXES = {QuoteKind.QUOTE: "Q", QuoteKind.PROFORMA: "PF"}
EVENTS = {QuoteKind.QUOTE: "crm.quote.created", QuoteKind.PROFORMA: "crm.proforma.created"}
MAX_LINES = 500
NUMBER_ATTEMPTS = 5


@dataclass(frozen=True)
class QuoteTotals:
    net: Decimal
    tax: Decimal
    gross: Decimal


def line_totals(quantity: Decimal, unit_price: Decimal, tax_rate: Decimal) -> QuoteTotals:
    """One line's net, tax and gross, each rounded to cents half-up."""
    net = (quantity * unit_price).quantize(CENT, rounding=ROUND_HALF_UP)
    tax = (net * tax_rate / HUNDRED).quantize(CENT, rounding=ROUND_HALF_UP)
    return QuoteTotals(net=net, tax=tax, gross=net + tax)


def quote_totals(quote: Quote) -> QuoteTotals:
    """The sums of the lines' rounded amounts (uses prefetched lines when present)."""
    net = tax = Decimal("0.00")
    for line in quote.lines.all():
        totals = line_totals(line.quantity, line.unit_price, line.tax_rate)
        net += totals.net
        tax += totals.tax
    return QuoteTotals(net=net, tax=tax, gross=net + tax)


def _clean_lines(lines: Iterable[Any], errors: dict[str, list[str]]) -> list[dict[str, Any]]:
    rows = list(lines) if not isinstance(lines, str | bytes | Mapping) else []
    if not rows:
        errors["lines"] = [_("Add at least one line.")]
    elif len(rows) > MAX_LINES:
        errors["lines"] = [_("At most %(max)d lines.") % {"max": MAX_LINES}]
    cleaned = []
    for index, row in enumerate(rows):
        key = f"lines.{index}"
        if not isinstance(row, Mapping):
            errors[key] = [_("A line is an object with description, quantity, unit_price.")]
            continue
        cleaned.append(
            {
                "description": text_clean(
                    row.get("description"),
                    errors,
                    f"{key}.description",
                    max_length=255,
                    required=True,
                ),
                "quantity": decimal_clean(
                    row.get("quantity", 1), errors, f"{key}.quantity", digits=12, places=3
                ),
                "unit_price": decimal_clean(
                    row.get("unit_price"), errors, f"{key}.unit_price", digits=14, places=2
                ),
                "tax_rate": decimal_clean(
                    row.get("tax_rate", 0),
                    errors,
                    f"{key}.tax_rate",
                    digits=5,
                    places=2,
                    maximum=HUNDRED,
                ),
            }
        )
    return cleaned


def _lock_numbers(prefix: str) -> None:
    """Hold the numbering lock of `prefix` (kind and year) until the transaction ends."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(f"konvergo.crm.quote_number:{prefix}".encode())
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def _next_number(prefix: str) -> str:
    last = (
        Quote.objects.filter(number__regex=rf"^{re.escape(prefix)}-[0-9]+$")
        .order_by(Length("number").desc(), "-number")
        .values_list("number", flat=True)
        .first()
    )
    sequence = int(last.rsplit("-", 1)[1]) + 1 if last else 1
    return f"{prefix}-{sequence:04d}"


def quote_create(
    *,
    actor: User | None,
    deal: Deal,
    kind: str = QuoteKind.QUOTE,
    lines: Iterable[Mapping[str, Any]],
    currency: str | None = None,
    valid_until: date | None = None,
    issued_on: date | None = None,
) -> Quote:
    """A draft quote or pro-forma invoice for the deal, in the deal's currency unless another
    is given. Emits crm.quote.created / crm.proforma.created with the totals."""
    errors: dict[str, list[str]] = {}
    if kind not in PREFIXES:
        errors["kind"] = [_("Choose quote or proforma.")]
    code = currency_clean(deal.currency if currency is None else currency, errors)
    cleaned_lines = _clean_lines(lines, errors)
    issued = issued_on or timezone.localdate()
    if not isinstance(issued, date):
        errors.setdefault("issued_on", []).append(_("Enter a date."))
    if valid_until is not None and (
        not isinstance(valid_until, date) or (isinstance(issued, date) and valid_until < issued)
    ):
        errors.setdefault("valid_until", []).append(_("Enter a date on or after the issue date."))
    owner = actor or deal.owner
    if errors:
        raise FieldErrors(errors)

    prefix = f"{PREFIXES[QuoteKind(kind)]}-{issued.year}"
    with transaction.atomic(), acting_as(actor):
        _lock_numbers(prefix)
        for attempt in range(NUMBER_ATTEMPTS):
            try:
                with transaction.atomic():  # a savepoint: a taken number is retried
                    quote = Quote.objects.create(
                        deal=deal,
                        kind=kind,
                        number=_next_number(prefix),
                        currency=code,
                        issued_on=issued,
                        valid_until=valid_until,
                        owner=owner,
                    )
                break
            except IntegrityError:
                if attempt == NUMBER_ATTEMPTS - 1:
                    raise
        saved = [
            QuoteLine.objects.create(quote=quote, position=position, **row)
            for position, row in enumerate(cleaned_lines, start=1)
        ]
        totals = QuoteTotals(Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
        for line in saved:
            each = line_totals(line.quantity, line.unit_price, line.tax_rate)
            totals = QuoteTotals(
                totals.net + each.net, totals.tax + each.tax, totals.gross + each.gross
            )
        emit(
            EVENTS[QuoteKind(kind)],
            subject=quote,
            payload={
                "quote": str(quote.public_id),
                "number": quote.number,
                "kind": quote.kind,
                "deal": str(deal.public_id),
                "deal_title": deal.title,
                "organization": str(deal.organization.public_id) if deal.organization else None,
                "currency": quote.currency,
                "issued_on": quote.issued_on.isoformat(),
                "valid_until": valid_until.isoformat() if valid_until else None,
                "lines": len(saved),
                "net": str(totals.net),
                "tax": str(totals.tax),
                "gross": str(totals.gross),
            },
            actor=actor,
        )
    return quote
