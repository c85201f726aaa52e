"""What an uploaded file really is, whether it may be stored, and the text it holds.

The type is read from the content, never trusted from the name or the browser: `filetype`
(pure Python, magic numbers) instead of python-magic, which needs the system's libmagic.
ZIP containers (DOCX, XLSX, ODT...) are checked for zip bombs from their central directory
(total uncompressed size and compression ratio) before anything opens them; PDFs must be
readable by pypdf.
"""

from __future__ import annotations

import io
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import PurePath

import filetype
from django.conf import settings
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError

logger = logging.getLogger(__name__)

MAX_BYTES_DEFAULT = 50 * 1024 * 1024
ZIP_MAX_TOTAL_DEFAULT = 200 * 1024 * 1024
ZIP_MAX_RATIO_DEFAULT = 100
ZIP_MAX_MEMBERS = 10_000
TEXT_LIMIT = 1_000_000  # characters of extracted text kept for search

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PPTX = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
ODT = "application/vnd.oasis.opendocument.text"
ODS = "application/vnd.oasis.opendocument.spreadsheet"
PDF = "application/pdf"
ZIP = "application/zip"
TEXT = "text/plain"
OCTET = "application/octet-stream"

# Extensions whose content must say the same; others are stored as what the content says.
EXPECTED: dict[str, set[str]] = {
    ".pdf": {PDF},
    ".docx": {DOCX},
    ".xlsx": {XLSX},
    ".pptx": {PPTX},
    ".odt": {ODT},
    ".ods": {ODS},
    ".zip": {ZIP, DOCX, XLSX, PPTX, ODT, ODS},
    ".png": {"image/png"},
    ".jpg": {"image/jpeg"},
    ".jpeg": {"image/jpeg"},
    ".gif": {"image/gif"},
    ".txt": {TEXT},
    ".csv": {TEXT},
    ".md": {TEXT},
}


class ContentRefused(BusinessError):
    """The file may not be stored; `message` says why, in a sentence."""

    status = 422
    code = "file_refused"


@dataclass(frozen=True)
class Checked:
    content_type: str
    text: str


def max_bytes() -> int:
    """The size limit: a setting (tests), else `KONVERGO_DOCUMENTS_MAX_MB`, else 50 MB."""
    configured = getattr(settings, "KONVERGO_DOCUMENTS_MAX_BYTES", None)
    if configured is not None:
        return int(configured)
    megabytes = os.environ.get("KONVERGO_DOCUMENTS_MAX_MB", "")
    return int(megabytes) * 1024 * 1024 if megabytes.isdigit() else MAX_BYTES_DEFAULT


def _zip_kind(data: bytes) -> str:
    """The office format of a ZIP container, by its members (after the bomb check)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        if "mimetype" in names:
            declared = archive.read("mimetype")[:100].decode("ascii", "replace").strip()
            if declared in (ODT, ODS):
                return declared
        if "word/document.xml" in names:
            return DOCX
        if "xl/workbook.xml" in names:
            return XLSX
        if "ppt/presentation.xml" in names:
            return PPTX
    return ZIP


def check_zip(data: bytes) -> None:
    """Refuse archives that would expand beyond the limits (zip bombs) or are broken."""
    total_limit = int(getattr(settings, "KONVERGO_DOCUMENTS_ZIP_MAX_BYTES", ZIP_MAX_TOTAL_DEFAULT))
    ratio_limit = int(getattr(settings, "KONVERGO_DOCUMENTS_ZIP_MAX_RATIO", ZIP_MAX_RATIO_DEFAULT))
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, ValueError, OSError):
        raise ContentRefused(_("The file is a damaged ZIP archive.")) from None
    if len(infos) > ZIP_MAX_MEMBERS:
        raise ContentRefused(_("The archive holds too many files."))
    total = sum(info.file_size for info in infos)
    packed = max(sum(info.compress_size for info in infos), 1)
    if total > total_limit or total / packed > ratio_limit:
        raise ContentRefused(
            _("The archive would expand to %(size)s bytes (ratio %(ratio)d:1); refused.")
            % {"size": f"{total:,}", "ratio": total // packed}
        )


def _looks_like_text(data: bytes) -> bool:
    if b"\0" in data[:8192]:
        return False
    try:
        data[:65536].decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        return exc.start >= len(data[:65536]) - 3
    return True


def sniff(data: bytes) -> str:
    kind = filetype.guess_mime(data)
    if kind == ZIP or (kind in (DOCX, XLSX, PPTX, ODT, ODS)):
        check_zip(data)
        return _zip_kind(data)
    if kind:
        return str(kind)
    if _looks_like_text(data):
        return TEXT
    return OCTET


def check_file(file_name: str, data: bytes) -> Checked:
    """The real type of the file and its text, or ContentRefused with the reason."""
    limit = max_bytes()
    if len(data) > limit:
        raise ContentRefused(
            _("The file is %(size)s bytes; the limit is %(limit)s bytes.")
            % {"size": f"{len(data):,}", "limit": f"{limit:,}"}
        )
    if not data:
        raise ContentRefused(_("The file is empty."))
    content_type = sniff(data)
    extension = PurePath(file_name).suffix.lower()
    expected = EXPECTED.get(extension)
    if expected is not None and content_type not in expected:
        raise ContentRefused(
            _("The file is named %(name)s but its content is %(type)s.")
            % {"name": file_name, "type": content_type}
        )
    return Checked(content_type=content_type, text=extract_text(content_type, data))


def extract_text(content_type: str, data: bytes) -> str:
    if content_type == PDF:
        text = _pdf_text(data)
    elif content_type == DOCX:
        text = _docx_text(data)
    elif content_type == XLSX:
        text = _xlsx_text(data)
    elif content_type == TEXT:
        text = data.decode("utf-8", "replace")
    else:
        text = ""
    return text[:TEXT_LIMIT]


def _pdf_text(data: bytes) -> str:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            return ""
        return "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AssertionError) as exc:
        logger.info("Refused a PDF pypdf cannot read: %s", exc)
        raise ContentRefused(_("The PDF file is damaged and cannot be read.")) from None


def _docx_text(data: bytes) -> str:
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception:  # python-docx raises many kinds for broken files
        raise ContentRefused(_("The Word document is damaged and cannot be read.")) from None
    parts = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(part for part in parts if part)


def _xlsx_text(data: bytes) -> str:
    from python_calamine import CalamineWorkbook

    try:
        workbook = CalamineWorkbook.from_filelike(io.BytesIO(data))
        lines = []
        for name in workbook.sheet_names:
            for row in workbook.get_sheet_by_name(name).to_python():
                lines.append(" ".join(str(cell) for cell in row if cell not in ("", None)))
    except Exception:  # calamine raises its own errors for broken workbooks
        raise ContentRefused(_("The spreadsheet is damaged and cannot be read.")) from None
    return "\n".join(line for line in lines if line)
