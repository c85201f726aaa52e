# ruff: noqa: RUF001  (Cyrillic and Persian header words on purpose)
"""Reading files: formats, encodings, delimiters, header rows, messy sheets and bad input."""

from __future__ import annotations

import datetime as dt
import io
import zipfile

import pytest
from openpyxl import Workbook

from konvergo.imports.reading import (
    ReadError,
    detect_header_row,
    headers_of,
    open_workbook,
)
from konvergo.imports.tests.conftest import FIXTURES, xlsx

POLISH = (
    "Firma;Miasto;Osoba\nŻabka Polska sp. z o.o.;Łódź;Łukasz Żółw\n"
    "Zakład Usług Śląskich;Gdańsk;Małgorzata Wiśniewska\n"
)
RUSSIAN = (
    "Компания;Город;Контактное лицо\nООО Ромашка;Москва;Иванов Иван\n"
    "ЗАО Вектор;Санкт-Петербург;Петрова Мария\nАО Северный ветер;Новосибирск;Сидоров Пётр\n"
)
GERMAN = (
    "Firma,Stadt,Ansprechpartner\nMüller GmbH,München,Jürgen Größe\nBäckerei Schön,Köln,Gerd Weiß\n"
)
PERSIAN = (
    (  # written with the Arabic yeh and kaf that cp1256 has
        "نام شرکت\tشهر\tنام و نام خانوادگی\nشرکت آلفا\tتهران\tعلی رضایی\n"
        "صنایع بهمن\tاصفهان\tمریم احمدی\nبازرگانی ستاره\tشیراز\tحسین کریمی\n"
    )
    .replace("ی", "ي")
    .replace("ک", "ك")
)


@pytest.mark.parametrize(
    ("text", "encoding", "delimiter"),
    [
        (GERMAN, "utf-8", ","),
        (GERMAN, "utf-8-sig", ","),
        (GERMAN, "cp1252", ","),
        (POLISH, "cp1250", ";"),
        (RUSSIAN, "cp1251", ";"),
        (RUSSIAN, "koi8-r", ";"),
        (PERSIAN, "cp1256", "\t"),
    ],
)
def test_csv_encoding_and_delimiter_are_detected(text, encoding, delimiter):
    book = open_workbook(text.encode(encoding), "clients.csv")

    sheet = book.sheet()

    assert book.file_format == "csv"
    assert book.delimiter == delimiter
    expected = [line.split(delimiter) for line in text.splitlines()]
    assert sheet.rows == expected


def test_xlsx_sheets_and_values():
    data = xlsx(
        [["Company", "Since", "Amount"], ["Acme", dt.date(2024, 1, 2), 12.5]],
        title="Clients",
        more_sheets={"Other": [["x"]]},
    )
    book = open_workbook(data, "c.xlsx")

    assert book.sheet_names == ["Clients", "Other"]
    assert book.sheet("Clients").rows == [
        ["Company", "Since", "Amount"],
        ["Acme", dt.date(2024, 1, 2), 12.5],
    ]
    with pytest.raises(ReadError, match="no sheet named Nope"):
        book.sheet("Nope")


def test_xls_fixture_with_title_rows_above_the_header():
    book = open_workbook((FIXTURES / "klienci.xls").read_bytes(), "klienci.xls")
    sheet = book.sheet()

    assert book.file_format == "xls"
    assert book.sheet_names == ["Klienci", "Pusty"]
    assert detect_header_row(sheet.rows) == 3
    assert headers_of(sheet, 3)[:3] == ["Nazwa firmy", "NIP", "Imię i nazwisko"]


def test_ods_fixture_in_russian_and_persian():
    book = open_workbook((FIXTURES / "clients.ods").read_bytes(), "clients.ods")

    assert book.file_format == "ods"
    assert book.sheet_names == ["Клиенты", "مشتریان"]
    assert book.sheet("مشتریان").rows[1][0] == "شرکت آلفا"


def test_merged_header_cells_blank_and_repeated_headers():
    def merge(sheet):
        sheet.merge_cells("B1:C1")

    data = xlsx(
        [["Company", "Phone", None, None, "Company"], ["Acme", "1", "2", "x", "y"]], extra=merge
    )
    sheet = open_workbook(data, "m.xlsx").sheet()

    assert headers_of(sheet, 1) == ["Company", "Phone", "Phone 2", "Column D", "Company (2)"]


def test_header_row_detection_skips_titles_and_blank_rows():
    rows = [["Client list"], [], ["", ""], ["Name", "E-mail", "City"], ["A", "a@x.de", "Köln"]]
    assert detect_header_row(rows) == 4


def test_formula_errors_are_kept_per_cell():
    book = Workbook()
    sheet = book.active
    sheet.append(["Company", "Amount"])
    sheet.append(["Acme", "#DIV/0!"])  # openpyxl stores error codes as error cells (t="e")
    out = io.BytesIO()
    book.save(out)

    read = open_workbook(out.getvalue(), "e.xlsx").sheet()

    assert read.errors == {(1, 1): "#DIV/0!"}


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"", "a.csv", "The file is empty."),
        (b"\n\n  \n", "a.csv", "The file is empty."),
        (b"%PDF-1.7\n\x00\x01binary", "offer.pdf", "offer.pdf is not a spreadsheet."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "logo.xlsx", "logo.xlsx is not a spreadsheet."),
    ],
)
def test_bad_files_get_a_clear_message(data, name, message):
    with pytest.raises(ReadError) as caught:
        open_workbook(data, name)
    assert message in caught.value.message


def test_zip_that_is_not_a_workbook():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    with pytest.raises(ReadError, match="not a spreadsheet"):
        open_workbook(out.getvalue(), "data.xlsx")


def test_password_protected_file():
    with pytest.raises(ReadError) as caught:
        open_workbook((FIXTURES / "protected.xlsx").read_bytes(), "protected.xlsx")
    assert caught.value.message == (
        "The file is protected by a password. Save it without the password and upload it again."
    )


def test_file_over_the_configured_size(settings):
    settings.KONVERGO_IMPORT_MAX_MB = 1
    with pytest.raises(ReadError) as caught:
        open_workbook(b"a,b\n" * 300_000, "big.csv")
    assert caught.value.message == "The file is larger than 1 MB. Split it into smaller files."
