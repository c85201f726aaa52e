"""Reading an uploaded file into rows of cells: .xlsx, .xls and .ods through python-calamine,
.csv with its encoding (charset-normalizer) and delimiter (csv.Sniffer) detected.

Everything a user can get wrong ends in `ReadError` with one sentence for them: not a
spreadsheet, password-protected, empty, too large. Formula errors (#DIV/0!, #N/A, ...) are kept
per cell, so the rows that use them fail with the cell named while the others import.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

import python_calamine
from charset_normalizer import from_bytes
from django.conf import settings
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError

FORMATS = ("xlsx", "xls", "ods", "csv")
ERROR_CODES = frozenset(
    {"#DIV/0!", "#N/A", "#NAME?", "#NULL!", "#NUM!", "#REF!", "#VALUE!", "#GETTING_DATA"}
)
HEADER_SCAN = 20  # rows looked at to find the header row
_CFB = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file: .xls, or an encrypted .xlsx
_ENCRYPTED = "EncryptionInfo".encode("utf-16-le")
_ERR_ODS = re.compile(r"^Err:\d{3}$")
# Encodings of CSV files looked for when a file is not UTF-8, the most common first.
CANDIDATES = (
    "utf_8",
    "cp1252",
    "cp1250",
    "cp1251",
    "koi8_r",
    "cp1256",
    "cp866",
    "mac_cyrillic",
    "iso8859_2",
    "iso8859_5",
    "iso8859_6",
    "cp1253",
    "cp1254",
    "cp1257",
)


class ReadError(BusinessError):
    """The file cannot be read as a spreadsheet; `message` says why, for the user."""

    status = 422
    code = "unreadable_file"


def max_upload_bytes() -> int:
    """The size limit of an uploaded file: KONVERGO_IMPORT_MAX_MB (default 50)."""
    megabytes = getattr(settings, "KONVERGO_IMPORT_MAX_MB", None)
    if megabytes is None:
        megabytes = int(os.environ.get("KONVERGO_IMPORT_MAX_MB", "50") or 50)
    return int(megabytes) * 1024 * 1024


def check_size(size: int) -> None:
    if size > max_upload_bytes():
        raise ReadError(
            _("The file is larger than %(mb)d MB. Split it into smaller files.")
            % {"mb": max_upload_bytes() // (1024 * 1024)}
        )


@dataclass
class Sheet:
    """One sheet as rows of cells (str, float, int, bool, date, datetime; "" when empty)."""

    name: str
    rows: list[list[Any]]
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)
    # (row index, column index) -> the formula error shown in that cell
    errors: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass
class Workbook:
    file_format: str
    sheet_names: list[str]
    encoding: str = ""
    delimiter: str = ""
    _data: bytes = b""
    _book: Any = None

    def sheet(self, name: str = "") -> Sheet:
        """The named sheet (the first one when `name` is empty)."""
        if self.file_format == "csv":
            return _csv_sheet(self._data, self.encoding, self.delimiter)
        if name and name not in self.sheet_names:
            raise ReadError(_("The file has no sheet named %(name)s.") % {"name": name})
        name = name or self.sheet_names[0]
        try:
            raw = self._book.get_sheet_by_name(name)
            rows = raw.to_python(skip_empty_area=False)
        except python_calamine.CalamineError as exc:
            raise ReadError(
                _("The sheet %(name)s cannot be read: %(reason)s") % {"name": name, "reason": exc}
            ) from None
        sheet = Sheet(name=name, rows=rows, merged=list(raw.merged_cell_ranges or []))
        if self.file_format == "xlsx":
            sheet.errors = _xlsx_error_cells(self._data, self.sheet_names.index(name))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                if isinstance(value, str) and (value in ERROR_CODES or _ERR_ODS.match(value)):
                    sheet.errors[(r, c)] = value
        return sheet


def detect_format(data: bytes, filename: str) -> str:
    """xlsx, xls, ods or csv from the content (the name only breaks ties); ReadError else."""
    if data[:4] == b"PK\x03\x04":
        try:
            names = set(zipfile.ZipFile(io.BytesIO(data)).namelist())
        except zipfile.BadZipFile:
            raise ReadError(_("The file is damaged: it cannot be opened.")) from None
        if "xl/workbook.xml" in names:
            return "xlsx"
        if "content.xml" in names and b"opendocument.spreadsheet" in data[:200]:
            return "ods"
        raise ReadError(
            _(
                "This is not a spreadsheet (a ZIP archive or another document). Upload an .xlsx, "
                ".xls, .ods or .csv file."
            )
        )
    if data[:8] == _CFB:
        if _ENCRYPTED in data:
            raise ReadError(
                _(
                    "The file is protected by a password. Save it without the password and upload "
                    "it again."
                )
            )
        return "xls"
    if _looks_like_text(data):
        return "csv"
    raise ReadError(
        _("%(name)s is not a spreadsheet. Upload an .xlsx, .xls, .ods or .csv file.")
        % {"name": filename or _("The file")}
    )


def _looks_like_text(data: bytes) -> bool:
    sample = data[:8192]
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return True
    if b"\x00" in sample or sample.startswith(b"%PDF"):
        return False
    controls = sum(1 for byte in sample if byte < 32 and byte not in (9, 10, 13))
    return controls <= len(sample) // 100


def open_workbook(data: bytes, filename: str = "", *, encoding: str = "") -> Workbook:
    """The workbook in `data`; ReadError when it is too large, not a spreadsheet, protected or
    empty. `encoding` overrides the detected encoding of a CSV file."""
    check_size(len(data))
    if not data.strip():
        raise ReadError(_("The file is empty."))
    file_format = detect_format(data, filename)
    if file_format == "csv":
        enc = encoding or detect_encoding(data)
        try:
            text = data.decode(enc)
        except (LookupError, UnicodeDecodeError):
            raise ReadError(
                _("The file cannot be read as %(encoding)s text.") % {"encoding": enc}
            ) from None
        if not text.strip("\ufeff \r\n\t,;"):
            raise ReadError(_("The file is empty."))
        return Workbook("csv", ["CSV"], encoding=enc, delimiter=detect_delimiter(text), _data=data)
    try:
        book = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(data))
    except python_calamine.CalamineError as exc:
        if "password" in str(exc).lower() or "encrypt" in str(exc).lower():
            raise ReadError(
                _(
                    "The file is protected by a password. Save it without the password and upload "
                    "it again."
                )
            ) from None
        raise ReadError(
            _("The file cannot be read as a spreadsheet: %(reason)s") % {"reason": exc}
        ) from None
    names = [str(n) for n in book.sheet_names]
    if not names:
        raise ReadError(_("The file has no sheets."))
    return Workbook(file_format, names, _book=book, _data=data)


def detect_encoding(data: bytes) -> str:
    """UTF-8 (with or without BOM) and UTF-16 by their marks or a clean decode; otherwise the
    encoding charset-normalizer finds most likely (cp1250, cp1251, cp1252, cp1256, KOI8-R...)."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    matches = list(from_bytes(data[:200_000], cp_isolation=list(CANDIDATES)))
    if not matches:
        return "cp1252"
    # Equally clean readings (German text is the same in cp1250 and cp1252): the more common
    # encoding of the first kind wins.
    least = min(match.chaos for match in matches)
    tied = [match.encoding for match in matches if match.chaos <= least + 0.001]
    best = min(tied, key=lambda name: CANDIDATES.index(name) if name in CANDIDATES else 99)
    return codecs.lookup(best).name


def detect_delimiter(text: str) -> str:
    sample = "\n".join(text.lstrip("\ufeff").splitlines()[:50])
    try:
        return csv.Sniffer().sniff(sample, delimiters=",;\t|").delimiter
    except csv.Error:
        first = sample.split("\n", 1)[0]
        return max(",;\t|", key=first.count)


def _csv_sheet(data: bytes, encoding: str, delimiter: str) -> Sheet:
    text = data.decode(encoding).lstrip("\ufeff")
    rows = [list(row) for row in csv.reader(io.StringIO(text), delimiter=delimiter or ",")]
    sheet = Sheet(name="CSV", rows=rows)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if value.strip() in ERROR_CODES:
                sheet.errors[(r, c)] = value.strip()
    return sheet


_CELL = re.compile(rb'<c\b[^>]*?\br="([A-Z]+)(\d+)"[^>]*>.*?</c>', re.DOTALL)
_ERR_ATTR = re.compile(rb'\bt="e"')
_VALUE = re.compile(rb"<v>([^<]*)</v>")


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _xlsx_error_cells(data: bytes, sheet_index: int) -> dict[tuple[int, int], str]:
    """Cells stored as errors (t="e"), which python-calamine reads as empty."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        workbook = archive.read("xl/workbook.xml").decode()
        rels = archive.read("xl/_rels/workbook.xml.rels").decode()
    except (KeyError, zipfile.BadZipFile):
        return {}
    ids = re.findall(r'<sheet\b[^>]*?r:id="([^"]+)"', workbook)
    if sheet_index >= len(ids):
        return {}
    target = re.search(rf'<Relationship\b[^>]*?Id="{re.escape(ids[sheet_index])}"[^>]*>', rels)
    path = re.search(r'Target="([^"]+)"', target.group(0)) if target else None
    if path is None:
        return {}
    name = path.group(1).lstrip("/")
    name = name if name.startswith("xl/") else f"xl/{name}"
    try:
        xml = archive.read(name)
    except KeyError:
        return {}
    if b't="e"' not in xml:
        return {}
    errors: dict[tuple[int, int], str] = {}
    for match in _CELL.finditer(xml):
        opening = match.group(0)[: match.group(0).index(b">") + 1]
        if not _ERR_ATTR.search(opening):
            continue
        value = _VALUE.search(match.group(0))
        code = value.group(1).decode() if value else "#VALUE!"
        errors[(int(match.group(2)) - 1, _column_index(match.group(1).decode()))] = code
    return errors


# --- header row -----------------------------------------------------------------------------


def _filled(row: list[Any]) -> int:
    return sum(1 for value in row if str(value).strip() != "")


def detect_header_row(rows: list[list[Any]]) -> int:
    """The 1-based number of the row that looks like the header: the first of the first rows
    whose filled cells are all texts and that fills at least half as many cells as the
    fullest row (titles above a table and blank rows are passed over)."""
    scan = rows[:HEADER_SCAN]
    widest = max((_filled(row) for row in scan), default=0)
    for index, row in enumerate(scan):
        filled = _filled(row)
        if filled == 0 or filled * 2 < widest or (widest > 1 and filled < 2):
            continue
        if all(isinstance(v, str) for v in row if str(v).strip() != ""):
            return index + 1
    return next((i + 1 for i, row in enumerate(scan) if _filled(row)), 1)


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def headers_of(sheet: Sheet, header_row: int) -> list[str]:
    """The column names of the header row: cells merged across columns name each column they
    span ("Address", "Address 2"), blank ones become "Column C", repeated ones get a number."""
    if header_row < 1 or header_row > len(sheet.rows):
        return []
    index = header_row - 1
    width = max((len(row) for row in sheet.rows), default=0)
    row = [*sheet.rows[index], *([""] * (width - len(sheet.rows[index])))]
    names = [str(value).strip() if value is not None else "" for value in row]
    for (r1, c1), (r2, c2) in sheet.merged:
        if r1 <= index <= r2 and c1 < len(names) and names[c1]:
            for offset, column in enumerate(range(c1 + 1, min(c2 + 1, len(names))), start=2):
                if not names[column]:
                    names[column] = f"{names[c1]} {offset}"
    # Cells merged across the header rows above (a two-row header): take the upper text.
    if index > 0:
        above = sheet.rows[index - 1]
        for (r1, c1), (r2, _c2) in sheet.merged:
            if r1 < index <= r2 and c1 < len(names) and not names[c1] and c1 < len(above):
                names[c1] = str(above[c1]).strip()
    seen: dict[str, int] = {}
    result = []
    for column, name in enumerate(names):
        name = " ".join(name.split()) or _("Column %(letter)s") % {"letter": column_letter(column)}
        count = seen.get(name.casefold(), 0) + 1
        seen[name.casefold()] = count
        result.append(name if count == 1 else f"{name} ({count})")
    # Trailing unnamed empty columns are not columns of the table.
    while (
        result
        and not str(row[len(result) - 1]).strip()
        and _column_empty(sheet, index, len(result) - 1)
    ):
        result.pop()
    return result


def _column_empty(sheet: Sheet, header_index: int, column: int) -> bool:
    for row in sheet.rows[header_index + 1 :]:
        if column < len(row) and str(row[column]).strip() != "":
            return False
    return True
