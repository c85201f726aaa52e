"""Quotes and pro-forma invoices: totals with per-line rounding, gapless numbering, events."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, transaction

from konvergo.core.errors import FieldErrors
from konvergo.core.models import Event
from konvergo.crm.models import Deal, Quote, QuoteLine
from konvergo.crm.services.quotes import QuoteTotals, line_totals, quote_create, quote_totals
from konvergo.crm.tests.factories_deals import DealFactory, make_organization

pytestmark = pytest.mark.django_db

D = Decimal


def line(
    description: str = "Item", quantity: Any = "1", unit_price: Any = "10", tax_rate: Any = "0"
):
    return {
        "description": description,
        "quantity": quantity,
        "unit_price": unit_price,
        "tax_rate": tax_rate,
    }


def make_quote(deal: Deal, *lines: dict[str, Any], **fields: Any) -> Quote:
    return quote_create(actor=deal.owner, deal=deal, lines=list(lines) or [line()], **fields)


# --- totals ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("quantity", "unit_price", "tax_rate", "expected"),
    [
        ("3", "19.99", "23", ("59.97", "13.79", "73.76")),  # 13.7931 rounds down
        ("1", "0.05", "10", ("0.05", "0.01", "0.06")),  # tax 0.005: half up, not to even
        ("1", "0.15", "10", ("0.15", "0.02", "0.17")),  # 0.015 -> 0.02
        ("2.5", "0.01", "0", ("0.03", "0.00", "0.03")),  # net 0.025 -> 0.03
        ("0.333", "10.00", "19", ("3.33", "0.63", "3.96")),  # 3.33 x 19% = 0.6327
        ("1", "99.99", "7.5", ("99.99", "7.50", "107.49")),  # 7.49925 -> 7.50
        ("0", "50.00", "23", ("0.00", "0.00", "0.00")),
        ("1000000", "999999.99", "100", ("999999990000.00", "999999990000.00", "1999999980000.00")),
    ],
)
def test_line_totals_round_to_cents_half_up(quantity, unit_price, tax_rate, expected) -> None:
    totals = line_totals(D(quantity), D(unit_price), D(tax_rate))

    assert (str(totals.net), str(totals.tax), str(totals.gross)) == expected


def test_the_totals_are_the_sums_of_the_rounded_lines() -> None:
    deal = DealFactory.create(currency="PLN")
    # Three lines of 0.333 x 1.00 are 0.33 each as printed: 0.99, not 1.00 (0.999 rounded).
    quote = make_quote(
        deal,
        line("a", "0.333", "1.00", "23"),
        line("b", "0.333", "1.00", "23"),
        line("c", "0.333", "1.00", "23"),
    )

    assert quote_totals(quote) == QuoteTotals(net=D("0.99"), tax=D("0.24"), gross=D("1.23"))


def test_mixed_tax_rates() -> None:
    deal = DealFactory.create()
    quote = make_quote(
        deal,
        line("Consulting", "12.5", "120.00", "23"),
        line("Books", "3", "33.33", "5"),
        line("Training", "1", "1000", "0"),
    )

    totals = quote_totals(quote)

    assert totals == QuoteTotals(net=D("2599.99"), tax=D("350.00"), gross=D("2949.99"))
    assert [row.position for row in quote.lines.all()] == [1, 2, 3]


# --- creating -------------------------------------------------------------------------------


def test_a_quote_takes_the_deals_currency_and_emits_its_totals() -> None:
    deal = DealFactory.create(currency="PLN", organization=None)
    deal.organization = make_organization(deal.owner)
    deal.save()

    quote = make_quote(deal, line("Licence", "2", "100.00", "23"), issued_on=date(2026, 3, 2))

    assert (quote.number, quote.kind, quote.status) == ("Q-2026-0001", "quote", "draft")
    assert (quote.currency, quote.owner) == ("PLN", deal.owner)
    [event] = Event.objects.filter(name="crm.quote.created")
    assert event.subject_id == str(quote.pk)
    assert event.payload["number"] == "Q-2026-0001"
    assert event.payload["deal"] == str(deal.public_id)
    assert event.payload["organization"] == str(deal.organization.public_id)
    assert (event.payload["net"], event.payload["tax"], event.payload["gross"]) == (
        "200.00",
        "46.00",
        "246.00",
    )
    assert event.payload["currency"] == "PLN"


def test_a_proforma_has_its_own_numbers_and_event() -> None:
    deal = DealFactory.create()
    make_quote(deal, issued_on=date(2026, 3, 2))

    proforma = make_quote(deal, kind="proforma", currency="usd", issued_on=date(2026, 3, 2))

    assert proforma.number == "PF-2026-0001"
    assert proforma.currency == "USD"
    assert Event.objects.filter(name="crm.proforma.created").count() == 1
    assert Event.objects.filter(name="crm.quote.created").count() == 1


@pytest.mark.parametrize(
    ("lines", "fields", "errors"),
    [
        ([], {}, {"lines"}),
        ([line(quantity="-1")], {}, {"lines.0.quantity"}),
        ([line(quantity="1.0001")], {}, {"lines.0.quantity"}),
        ([line(unit_price="9.999")], {}, {"lines.0.unit_price"}),
        ([line(unit_price=None)], {}, {"lines.0.unit_price"}),
        ([line(tax_rate="101")], {}, {"lines.0.tax_rate"}),
        ([line(description="")], {}, {"lines.0.description"}),
        ([line(), line(unit_price="x")], {}, {"lines.1.unit_price"}),
        ([line()], {"currency": "EURO"}, {"currency"}),
        ([line()], {"kind": "invoice"}, {"kind"}),
        (
            [line()],
            {"issued_on": date(2026, 3, 2), "valid_until": date(2026, 3, 1)},
            {"valid_until"},
        ),
    ],
)
def test_bad_quotes_are_field_errors_and_nothing_is_saved(lines, fields, errors) -> None:
    deal = DealFactory.create()
    before = Event.objects.count()

    with pytest.raises(FieldErrors) as caught:
        quote_create(actor=deal.owner, deal=deal, lines=lines, **fields)

    assert set(caught.value.errors) == errors
    assert Quote.objects.count() == 0
    assert QuoteLine.objects.count() == 0
    assert Event.objects.count() == before


# --- numbering ------------------------------------------------------------------------------


def test_numbers_run_per_kind_and_year() -> None:
    deal = DealFactory.create()

    numbers = [
        make_quote(deal, issued_on=date(2026, 1, 5)).number,
        make_quote(deal, issued_on=date(2026, 12, 31)).number,
        make_quote(deal, kind="proforma", issued_on=date(2026, 6, 1)).number,
        make_quote(deal, issued_on=date(2027, 1, 1)).number,
        make_quote(deal, issued_on=date(2026, 7, 1)).number,
    ]

    assert numbers == ["Q-2026-0001", "Q-2026-0002", "PF-2026-0001", "Q-2027-0001", "Q-2026-0003"]


def test_numbers_go_past_four_digits_in_order() -> None:
    deal = DealFactory.create()
    first = make_quote(deal, issued_on=date(2026, 1, 5))
    Quote.objects.filter(pk=first.pk).update(number="Q-2026-9999")

    assert make_quote(deal, issued_on=date(2026, 1, 5)).number == "Q-2026-10000"
    assert make_quote(deal, issued_on=date(2026, 1, 5)).number == "Q-2026-10001"


def test_a_rolled_back_quote_leaves_no_gap() -> None:
    deal = DealFactory.create()

    with pytest.raises(RuntimeError), transaction.atomic():
        make_quote(deal, issued_on=date(2026, 3, 2))
        raise RuntimeError("the request failed")

    assert make_quote(deal, issued_on=date(2026, 3, 2)).number == "Q-2026-0001"
    assert Event.objects.filter(name="crm.quote.created").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_quotes_get_consecutive_numbers() -> None:
    deal = DealFactory.create()
    workers = 6
    start = threading.Barrier(workers)
    numbers: list[str] = []
    failures: list[BaseException] = []

    def create() -> None:
        try:
            start.wait()
            numbers.append(make_quote(deal, issued_on=date(2026, 3, 2)).number)
        except BaseException as exc:  # reported below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=create) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert sorted(numbers) == [f"Q-2026-{n:04d}" for n in range(1, workers + 1)]
