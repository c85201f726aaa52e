"""Suggestions from header names and the cell transforms."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from konvergo.crm.services.custom_fields import custom_field_create
from konvergo.imports import mapping as m


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (
            ["Firma", "NIP", "E-Mail", "Telefon"],
            [
                "organization.legal_name",
                "organization.tax_id",
                "organization.email",
                "organization.phone",
            ],
        ),
        (
            ["Firma", "Vorname", "Nachname", "E-Mail", "Telefon", "PLZ", "Ort"],
            [
                "organization.legal_name",
                "person.first_name",
                "person.last_name",
                "person.email",
                "person.phone",
                "organization.postal_code",
                "organization.city",
            ],
        ),
        (
            ["Компания", "ИНН", "ФИО", "Телефон", "Город"],
            [
                "organization.legal_name",
                "organization.tax_id",
                "person.last_first_name",
                "person.phone",
                "organization.city",
            ],
        ),
        (
            ["نام شرکت", "نام و نام خانوادگی", "تلفن", "ایمیل"],
            ["organization.legal_name", "person.full_name", "person.phone", "person.email"],
        ),
        (
            ["Nazwa firmy", "Imię i nazwisko", "Adres e-mail", "Kwota", "Etap"],
            [
                "organization.legal_name",
                "person.full_name",
                "person.email",
                "deal.amount",
                "deal.stage",
            ],
        ),
        (
            ["Name", "E-mail", "E-Mail", "Whatever"],
            ["organization.legal_name", "organization.email", "", ""],
        ),
    ],
)
def test_suggestions_from_headers_in_five_languages(headers, expected):
    assert list(m.suggest(headers).values()) == expected


@pytest.mark.django_db
def test_custom_fields_are_targets_and_suggested_by_label():
    custom_field_create(
        target="organization", key="budget", label="Jahresbudget", field_type="number"
    )

    assert m.suggest(["Firma", "Jahresbudget"])["Jahresbudget"] == "organization.cf.budget"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Jan Kowalski", ("Jan", "Kowalski")),
        ("  Kowalski,  Jan ", ("Jan", "Kowalski")),
        ("Dr. Hans Peter Müller", ("Hans Peter", "Müller")),
        ("Madonna", ("", "Madonna")),
    ],
)
def test_split_name(text, expected):
    assert m.split_name(text) == expected


def test_split_name_last_name_first():
    assert m.split_name("Иванов Иван Петрович", last_first=True) == ("Иван Петрович", "Иванов")


@pytest.mark.parametrize(
    ("value", "order", "expected"),
    [
        (dt.date(2024, 3, 1), "DMY", dt.date(2024, 3, 1)),
        (dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC), "DMY", dt.date(2024, 3, 1)),
        (45352, "DMY", dt.date(2024, 3, 1)),
        (45352.0, "DMY", dt.date(2024, 3, 1)),
        ("45352", "DMY", dt.date(2024, 3, 1)),
        ("2024-03-01", "DMY", dt.date(2024, 3, 1)),
        ("01.03.2024", "DMY", dt.date(2024, 3, 1)),
        ("01/03/2024", "DMY", dt.date(2024, 3, 1)),
        ("03/01/2024", "MDY", dt.date(2024, 3, 1)),
        ("2024/03/01", "MDY", dt.date(2024, 3, 1)),
    ],
)
def test_dates_in_common_formats_and_excel_serials(value, order, expected):
    assert m.as_date(value, order=order) == expected


def test_not_a_date():
    with pytest.raises(m.CellError, match="soon is not a date"):
        m.as_date("soon")


@pytest.mark.parametrize(
    ("value", "separator", "expected"),
    [
        ("1 234,56", "auto", Decimal("1234.56")),
        ("1.234,56", "auto", Decimal("1234.56")),
        ("1,234.56", "auto", Decimal("1234.56")),
        ("12,5", "auto", Decimal("12.5")),
        ("1,234", "auto", Decimal("1234")),
        ("1,234", ",", Decimal("1.234")),
        ("€ 12,50", "auto", Decimal("12.50")),
        ("12 500 zł", "auto", Decimal("12500")),
        ("۱۲۵۰۰", "auto", Decimal("12500")),
        (990.5, "auto", Decimal("990.5")),
        (7, "auto", Decimal("7")),
    ],
)
def test_amounts_with_either_decimal_separator(value, separator, expected):
    assert m.as_decimal(value, separator=separator) == expected


def test_not_an_amount():
    with pytest.raises(m.CellError, match="a lot is not an amount"):
        m.as_decimal("a lot")


def test_choices_by_value_label_and_common_words():
    target = m.all_targets_static()["organization.status"]
    assert target.choices is not None
    lookup = m.choice_lookup(target.choices)
    extra = m.EXTRA_CHOICES["organization.status"]

    assert m.choice_value(target, "Customer", lookup, extra) == "customer"
    assert m.choice_value(target, "Kunde", lookup, extra) == "customer"
    assert m.choice_value(target, "  lead ", lookup, extra) == "lead"
    with pytest.raises(m.CellError, match="Unknown is not one of"):
        m.choice_value(target, "Unknown", lookup, extra)


def test_text_cells_are_trimmed_and_numbers_lose_their_point_zero():
    assert m.as_text("  Acme   GmbH ") == "Acme GmbH"
    assert m.as_text(48601234567.0) == "48601234567"


def test_country_names_and_codes():
    assert m.country_code("pl") == "PL"
    assert m.country_code("Deutschland") == "DE"
    assert m.country_code("Россия") == "RU"
    with pytest.raises(m.CellError):
        m.country_code("Atlantis")


def test_tax_id_with_country_prefix():
    assert m.tax_id_parts("PL 526-025-02-74", "") == {
        "country": "PL",
        "kind": "NIP",
        "value": "526-025-02-74",
    }
    assert m.tax_id_parts("7707083893", "RU") == {
        "country": "RU",
        "kind": "INN",
        "value": "7707083893",
    }
