"""Every UI language besides English is complete, consistent and compiled.

For each of de, pl, ru and fa the catalog `locale/<lang>/LC_MESSAGES/django.po` must translate
every entry (every plural form too), carry no fuzzy flag, keep the python-format placeholders
of its msgid, and its committed `django.mo` must say the same as the .po (the product runs
without the gettext tools, so a stale .mo would show old or English text).

Run a single language with `-k de` (test names avoid the letter pairs of the language codes).
"""

from __future__ import annotations

import gettext
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from django.utils import translation
from django.utils.html import escape

LOCALE_DIR = Path(__file__).resolve().parents[2] / "locale"
LANGUAGES = ["de", "pl", "ru", "fa"]

# The translation of "Sign in" a German or Polish user must see on the sign-in page.
SIGN_IN = {"de": "Anmelden", "pl": "Zaloguj się"}


# --- a tiny .po parser (enough for what makemessages and msgcat write) ---------------------------


@dataclass
class Entry:
    msgid: str
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)  # plain msgstr is form 0
    flags: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        context = f"[{self.msgctxt}] " if self.msgctxt is not None else ""
        return f"{context}{self.msgid!r}"


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
_KEYWORD = re.compile(r"^(msgctxt|msgid_plural|msgid|msgstr)(?:\[(\d+)\])?\s+(\".*\")\s*$")


def _unquote(text: str) -> str:
    if len(text) < 2 or not (text.startswith('"') and text.endswith('"')):
        raise ValueError(f"not a quoted .po string: {text}")
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), m.group(1)), text[1:-1])


def parse_po(text: str) -> list[Entry]:
    """The entries of a .po file, the header (msgid "") first; obsolete (#~) entries are
    left out."""
    entries: list[Entry] = []
    entry: Entry | None = None
    flags: set[str] = set()
    target: tuple[str, int] | None = None  # the keyword that continuation lines extend

    def append(value: str) -> None:
        assert entry is not None and target is not None
        keyword, index = target
        if keyword == "msgctxt":
            entry.msgctxt = (entry.msgctxt or "") + value
        elif keyword == "msgid":
            entry.msgid += value
        elif keyword == "msgid_plural":
            entry.msgid_plural = (entry.msgid_plural or "") + value
        else:
            entry.msgstr[index] = entry.msgstr.get(index, "") + value

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            target = None
            continue
        if line.startswith("#"):
            if line.startswith("#,"):
                flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith('"'):
            if target is None:
                raise ValueError(f"line {number}: a string outside an entry")
            append(_unquote(line))
            continue
        match = _KEYWORD.match(line)
        if match is None:
            raise ValueError(f"line {number}: cannot read {raw!r}")
        keyword, index, value = match.group(1), int(match.group(2) or 0), match.group(3)
        # msgctxt, or an msgid that does not follow its msgctxt, starts a new entry.
        if keyword == "msgctxt" or (keyword == "msgid" and (entry is None or entry.msgstr)):
            entry = Entry(msgid="", flags=flags)
            entries.append(entry)
            flags = set()
        if entry is None:
            raise ValueError(f"line {number}: {keyword} before any msgid")
        target = (keyword, index)
        if keyword == "msgctxt":
            entry.msgctxt = ""
        elif keyword == "msgid_plural":
            entry.msgid_plural = ""
        elif keyword == "msgstr":
            entry.msgstr[index] = ""
        append(_unquote(value))
    return entries


def parse_header(entry: Entry) -> dict[str, str]:
    header = {}
    for line in entry.msgstr.get(0, "").splitlines():
        name, colon, value = line.partition(":")
        if colon:
            header[name.strip()] = value.strip()
    return header


# printf-style conversions as Python's % operator reads them; %% is a literal percent sign.
_PLACEHOLDER = re.compile(
    r"%(?:\((?P<name>[^)]*)\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[hlL]?(?P<conv>.)"
)


def placeholders(text: str) -> list[str]:
    """The placeholders of a python-format string, sorted (positional ones as their spec)."""
    found = []
    for match in _PLACEHOLDER.finditer(text):
        if match.group("conv") == "%":
            continue
        found.append(match.group(0) if match.group("name") is None else match.group("name"))
    return sorted(found)


# --- the catalogs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalog:
    language: str
    header: dict[str, str]
    header_flags: frozenset[str]
    entries: list[Entry]

    @property
    def plural_forms(self) -> tuple[int, Callable[[int], int]]:
        spec = self.header.get("Plural-Forms", "")
        match = re.search(r"nplurals\s*=\s*(\d+)\s*;\s*plural\s*=\s*(.+?);?\s*$", spec)
        if match is None:
            pytest.fail(f"{self.language}: the header has no valid Plural-Forms: {spec!r}")
        return int(match.group(1)), gettext.c2py(match.group(2))


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


@cache
def _load(language: str) -> Catalog:
    entries = parse_po(po_path(language).read_text(encoding="utf-8"))
    if not entries or entries[0].msgid != "" or entries[0].msgctxt is not None:
        raise ValueError(f"{po_path(language)} does not start with a header")
    header = entries[0]
    return Catalog(language, parse_header(header), frozenset(header.flags), entries[1:])


def catalog(language: str) -> Catalog:
    if not po_path(language).is_file():
        pytest.fail(f"{po_path(language)} does not exist")
    return _load(language)


language_param = pytest.mark.parametrize("language", LANGUAGES)


# --- the parser itself ---------------------------------------------------------------------------


SAMPLE_PO = r"""
# A comment
#, fuzzy
msgid ""
msgstr ""
"Language: xx\n"
"Plural-Forms: nplurals=2; plural=(n != 1);\n"

#, python-format
msgid "%(count)s apple"
msgid_plural "%(count)s apples"
msgstr[0] "%(count)s Apfel"
msgstr[1] ""
"%(count)s Äpfel"

msgctxt "state"
msgid "a \"quoted\"\n"
"line"
msgstr "b\tc"

#~ msgid "gone"
#~ msgstr "weg"
"""


def test_po_parser_reads_context_forms_and_escapes():
    header, apples, quoted = parse_po(SAMPLE_PO)

    assert header.flags == {"fuzzy"}
    assert parse_header(header) == {
        "Language": "xx",
        "Plural-Forms": "nplurals=2; plural=(n != 1);",
    }
    assert apples.flags == {"python-format"}
    assert apples.msgid_plural == "%(count)s apples"
    assert apples.msgstr == {0: "%(count)s Apfel", 1: "%(count)s Äpfel"}
    assert quoted.msgctxt == "state"
    assert quoted.msgid == 'a "quoted"\nline'
    assert quoted.msgstr == {0: "b\tc"}
    assert placeholders("%(a)s of %(b)d, 100%% and %s") == ["%s", "a", "b"]


# --- completeness and consistency, per language --------------------------------------------------


@language_param
def test_po_file_exists(language):
    assert po_path(language).is_file(), f"{po_path(language)} does not exist"


@language_param
def test_catalog_metadata(language):
    cat = catalog(language)

    assert "fuzzy" not in cat.header_flags, "the header is still marked fuzzy"
    assert cat.header.get("Language") == language
    assert "charset=UTF-8" in cat.header.get("Content-Type", "")
    nplurals, plural = cat.plural_forms
    assert all(0 <= plural(n) < nplurals for n in range(1000))
    assert cat.entries, "the catalog has no entries"


@language_param
def test_every_entry_is_translated(language):
    cat = catalog(language)
    nplurals, _plural = cat.plural_forms

    missing = []
    for entry in cat.entries:
        forms = range(nplurals) if entry.msgid_plural is not None else range(1)
        if sorted(entry.msgstr) != list(forms) or not all(entry.msgstr[i] for i in forms):
            missing.append(entry.label)
    assert not missing, f"{len(missing)} untranslated entries: {missing}"


@language_param
def test_no_entry_is_fuzzy(language):
    fuzzy = [entry.label for entry in catalog(language).entries if "fuzzy" in entry.flags]

    assert not fuzzy, f"{len(fuzzy)} fuzzy entries: {fuzzy}"


@language_param
def test_python_format_arguments_match(language):
    wrong = []
    for entry in catalog(language).entries:
        if "python-format" not in entry.flags:
            continue
        expected = sorted(
            set(placeholders(entry.msgid)) | set(placeholders(entry.msgid_plural or ""))
        )
        for index, text in sorted(entry.msgstr.items()):
            if sorted(set(placeholders(text))) != expected:
                wrong.append(f"{entry.label} form {index}: {text!r}")
    assert not wrong, "placeholders differ from the msgid:\n" + "\n".join(wrong)


@language_param
def test_mo_file_matches_po(language):
    """Django, reading the committed .mo, returns each msgstr of the .po: the .mo is compiled
    from this very .po. (Every entry is checked; there are only a few hundred.)"""
    cat = catalog(language)
    nplurals, plural = cat.plural_forms
    # for each plural form, a number that selects it
    numbers = {}
    for form in range(nplurals):
        number = next((n for n in range(1000) if plural(n) == form), None)
        if number is None:
            pytest.fail(f"{language}: no number below 1000 selects plural form {form}")
        numbers[form] = number

    stale = []
    with translation.override(language):
        for entry in cat.entries:
            if entry.msgid_plural is None:
                if entry.msgctxt is None:
                    got = {0: translation.gettext(entry.msgid)}
                else:
                    got = {0: translation.pgettext(entry.msgctxt, entry.msgid)}
            elif entry.msgctxt is None:
                got = {
                    form: translation.ngettext(entry.msgid, entry.msgid_plural, n)
                    for form, n in numbers.items()
                }
            else:
                got = {
                    form: translation.npgettext(entry.msgctxt, entry.msgid, entry.msgid_plural, n)
                    for form, n in numbers.items()
                }
            if got != entry.msgstr:
                stale.append(f"{entry.label}: .mo gives {got}, .po says {entry.msgstr}")
    assert not stale, (
        f"{language}: django.mo is out of date; run `konvergo compilemessages -l {language}`:\n"
        + "\n".join(stale)
    )


# --- what a user sees ----------------------------------------------------------------------------


def _translation_of(language: str, msgid: str) -> str:
    for entry in catalog(language).entries:
        if entry.msgid == msgid and entry.msgctxt is None and entry.msgid_plural is None:
            return entry.msgstr[0]
    pytest.fail(f"{language}: {msgid!r} is not in the catalog")


@language_param
def test_login_page_follows_the_browser_language(client, db, language):
    response = client.get("/login/", HTTP_ACCEPT_LANGUAGE=language)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'<html lang="{language}"' in html
    sign_in = _translation_of(language, "Sign in")
    if language in SIGN_IN:
        assert sign_in == SIGN_IN[language]
    assert f">{escape(sign_in)}</button>" in html
    heading = _translation_of(language, "Sign in to Konvergo")
    assert escape(heading) in html
    if heading != "Sign in to Konvergo":
        assert "Sign in to Konvergo" not in html
