# ruff: noqa: RUF001  (Cyrillic and Persian header words on purpose)
"""What a column can be mapped to, the suggestions from header names (in the five interface
languages), and the transforms that turn a cell into a field value.

A target is "<entity>.<field>" (organization, person, deal, activity) or
"<entity>.cf.<key>" for a custom field; "" ignores the column.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from konvergo.crm import choices
from konvergo.crm.models import CustomField

ENTITIES = ("organization", "person", "deal", "activity")
ENTITY_LABELS: dict[str, Promise] = {
    "organization": gettext_lazy("Organisation"),
    "person": gettext_lazy("Person"),
    "deal": gettext_lazy("Deal"),
    "activity": gettext_lazy("Activity"),
}


@dataclass(frozen=True)
class Target:
    key: str  # "organization.email", "deal.cf.budget"
    label: str | Promise
    kind: str  # text, email, phone, date, datetime, decimal, choice, country, tax_id, ...
    max_length: int = 255
    choices: type[Any] | None = None
    custom: CustomField | None = None

    @property
    def entity(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def field(self) -> str:
        return self.key.split(".", 1)[1]


_L = gettext_lazy
BUILT_IN: tuple[Target, ...] = (
    Target("organization.legal_name", _L("Company name"), "text", 255),
    Target("organization.short_name", _L("Short name"), "text", 120),
    Target("organization.tax_id", _L("Tax id (VAT, NIP, INN...)"), "tax_id", 60),
    Target("organization.email", _L("Company e-mail"), "email", 254),
    Target("organization.phone", _L("Company phone"), "phone", 40),
    Target("organization.website", _L("Website"), "text", 200),
    Target("organization.industry", _L("Industry"), "text", 120),
    Target("organization.status", _L("Status"), "choice", 10, choices.OrganizationStatus),
    Target("organization.size", _L("Size"), "choice", 10, choices.CompanySize),
    Target("organization.street", _L("Street"), "text", 255),
    Target("organization.postal_code", _L("Postal code"), "text", 20),
    Target("organization.city", _L("City"), "text", 120),
    Target("organization.country", _L("Country"), "country", 2),
    Target("organization.notes", _L("Company notes"), "text", 20000),
    Target("person.full_name", _L("Full name (split)"), "full_name", 241),
    Target("person.last_first_name", _L("Full name, last name first (split)"), "full_name", 241),
    Target("person.first_name", _L("First name"), "text", 120),
    Target("person.last_name", _L("Last name"), "text", 120),
    Target("person.email", _L("Person e-mail"), "email", 254),
    Target("person.phone", _L("Person phone"), "phone", 40),
    Target("person.mobile", _L("Mobile phone"), "phone", 40),
    Target("person.position", _L("Position"), "text", 120),
    Target("person.birthday", _L("Birthday"), "date"),
    Target("person.language", _L("Language"), "text", 8),
    Target("person.notes", _L("Person notes"), "text", 20000),
    Target("deal.title", _L("Deal title"), "text", 255),
    Target("deal.amount", _L("Deal amount"), "decimal"),
    Target("deal.currency", _L("Currency"), "text", 3),
    Target("deal.expected_close", _L("Expected close"), "date"),
    Target("deal.stage", _L("Deal stage"), "stage", 120),
    Target("activity.kind", _L("Activity kind"), "choice", 8, choices.ActivityKind),
    Target("activity.subject", _L("Activity subject"), "text", 255),
    Target("activity.due_at", _L("Activity due"), "datetime"),
    Target("activity.description", _L("Activity description"), "text", 20000),
)

# Header words per target, in English, German, Polish, Russian and Persian. Compared after
# `header_key` (case, accents, punctuation and spaces dropped).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "organization.legal_name": (
        "company",
        "company name",
        "organisation",
        "organization",
        "account",
        "customer",
        "client",
        "firm",
        "firma",
        "firmenname",
        "unternehmen",
        "kunde",
        "name der firma",
        "nazwa",
        "nazwa firmy",
        "klient",
        "kontrahent",
        "компания",
        "организация",
        "наименование",
        "название",
        "название компании",
        "контрагент",
        "клиент",
        "شرکت",
        "نام شرکت",
        "سازمان",
        "مشتری",
    ),
    "organization.short_name": ("short name", "kurzname", "nazwa skrócona", "краткое название"),
    "organization.tax_id": (
        "tax id",
        "tax number",
        "vat",
        "vat id",
        "vat number",
        "vat no",
        "tin",
        "nip",
        "ust-idnr",
        "ustid",
        "ust id",
        "umsatzsteuer-id",
        "steuernummer",
        "nip firmy",
        "инн",
        "инн организации",
        "кпп инн",
        "شناسه ملی",
        "کد اقتصادی",
        "شماره اقتصادی",
    ),
    "person.email": (
        "email",
        "e-mail",
        "mail",
        "email address",
        "e-mail address",
        "e-mail-adresse",
        "adres e-mail",
        "adres email",
        "электронная почта",
        "эл почта",
        "почта",
        "email",
        "ایمیل",
        "پست الکترونیک",
        "رایانامه",
    ),
    "person.phone": (
        "phone",
        "telephone",
        "tel",
        "phone number",
        "telefon",
        "telefonnummer",
        "rufnummer",
        "nr telefonu",
        "numer telefonu",
        "телефон",
        "номер телефона",
        "تلفن",
        "شماره تلفن",
        "تلفن ثابت",
    ),
    "person.mobile": (
        "mobile",
        "mobile phone",
        "cell",
        "handy",
        "mobil",
        "mobiltelefon",
        "komórka",
        "telefon komórkowy",
        "мобильный",
        "мобильный телефон",
        "сотовый",
        "موبایل",
        "تلفن همراه",
        "همراه",
    ),
    "organization.website": (
        "website",
        "web",
        "www",
        "url",
        "homepage",
        "webseite",
        "strona",
        "strona www",
        "сайт",
        "веб-сайт",
        "وب سایت",
        "وبسایت",
        "سایت",
    ),
    "organization.industry": ("industry", "sector", "branche", "branża", "отрасль", "صنعت"),
    "organization.status": ("status", "статус", "وضعیت"),
    "organization.size": ("size", "company size", "größe", "wielkość", "размер", "اندازه"),
    "organization.street": (
        "street",
        "address",
        "adresse",
        "straße",
        "strasse",
        "anschrift",
        "ulica",
        "adres",
        "улица",
        "адрес",
        "آدرس",
        "نشانی",
        "خیابان",
    ),
    "organization.postal_code": (
        "zip",
        "zip code",
        "postcode",
        "postal code",
        "plz",
        "postleitzahl",
        "kod pocztowy",
        "kod",
        "индекс",
        "почтовый индекс",
        "کد پستی",
    ),
    "organization.city": ("city", "town", "stadt", "ort", "miasto", "miejscowość", "город", "شهر"),
    "organization.country": ("country", "land", "kraj", "страна", "کشور"),
    "person.full_name": (
        "name",
        "full name",
        "contact",
        "contact person",
        "contact name",
        "ansprechpartner",
        "kontakt",
        "kontaktperson",
        "imię i nazwisko",
        "osoba kontaktowa",
        "контактное лицо",
        "имя и фамилия",
        "نام و نام خانوادگی",
        "نام کامل",
        "مخاطب",
    ),
    "person.last_first_name": (
        "фио",
        "ф и о",
        "фамилия имя",
        "фамилия имя отчество",
        "nazwisko i imię",
        "name, vorname",
    ),
    "person.first_name": ("first name", "given name", "firstname", "vorname", "imię", "имя", "نام"),
    "person.last_name": (
        "last name",
        "surname",
        "family name",
        "lastname",
        "nachname",
        "familienname",
        "nazwisko",
        "фамилия",
        "نام خانوادگی",
    ),
    "person.position": (
        "position",
        "job title",
        "role",
        "funktion",
        "stellung",
        "stanowisko",
        "должность",
        "سمت",
        "عنوان شغلی",
    ),
    "person.birthday": (
        "birthday",
        "date of birth",
        "birth date",
        "geburtstag",
        "geburtsdatum",
        "data urodzenia",
        "дата рождения",
        "день рождения",
        "تاریخ تولد",
    ),
    "person.language": ("language", "sprache", "język", "язык", "زبان"),
    "organization.notes": (
        "notes",
        "note",
        "comment",
        "comments",
        "remarks",
        "bemerkung",
        "bemerkungen",
        "notiz",
        "notizen",
        "kommentar",
        "uwagi",
        "notatki",
        "komentarz",
        "комментарий",
        "примечание",
        "заметки",
        "یادداشت",
        "توضیحات",
    ),
    "deal.title": (
        "deal",
        "deal title",
        "opportunity",
        "geschäft",
        "verkaufschance",
        "projekt",
        "szansa",
        "szansa sprzedaży",
        "transakcja",
        "сделка",
        "название сделки",
        "معامله",
        "فرصت فروش",
    ),
    "deal.amount": (
        "amount",
        "value",
        "deal value",
        "deal amount",
        "betrag",
        "wert",
        "summe",
        "kwota",
        "wartość",
        "сумма",
        "стоимость",
        "مبلغ",
        "ارزش",
    ),
    "deal.currency": ("currency", "währung", "waluta", "валюта", "ارز", "واحد پول"),
    "deal.expected_close": (
        "close date",
        "expected close",
        "closing date",
        "abschlussdatum",
        "data zamknięcia",
        "дата закрытия",
        "تاریخ بستن",
    ),
    "deal.stage": ("stage", "deal stage", "phase", "etap", "этап", "стадия", "مرحله"),
    "activity.subject": ("activity", "subject", "betreff", "aktivität", "temat", "тема", "موضوع"),
    "activity.kind": ("activity type", "aktivitätstyp", "typ aktywności", "тип", "نوع"),
    "activity.due_at": (
        "due",
        "due date",
        "fällig",
        "termin",
        "fälligkeit",
        "срок",
        "سررسید",
        "موعد",
    ),
}


def header_key(text: str) -> str:
    """A header as suggestions compare it: lower-case, no accents, only letters and digits."""
    decomposed = unicodedata.normalize("NFKD", str(text).casefold())
    kept = [c for c in decomposed if unicodedata.category(c)[0] in "LN"]
    return "".join(kept)


_SYNONYM_INDEX: dict[str, str] = {}
for _target, _words in SYNONYMS.items():
    for _word in _words:
        _SYNONYM_INDEX.setdefault(header_key(_word), _target)


def headers_signature(headers: Sequence[str]) -> str:
    """Identifies a sheet layout: the same headers (any case, spacing) give the same key."""
    joined = "\x1f".join(header_key(h) for h in headers)
    return hashlib.sha256(joined.encode()).hexdigest()


def custom_targets() -> list[Target]:
    targets = []
    for field in CustomField.objects.order_by("target", "order", "label"):
        targets.append(
            Target(
                f"{field.target}.cf.{field.key}",
                f"{ENTITY_LABELS.get(field.target, field.target)}: {field.label}",
                "custom",
                custom=field,
            )
        )
    return targets


def all_targets_static() -> dict[str, Target]:
    """The built-in targets (no custom fields, no database)."""
    return {t.key: t for t in BUILT_IN}


def all_targets() -> dict[str, Target]:
    return {t.key: t for t in (*BUILT_IN, *custom_targets())}


def suggest(headers: Sequence[str], targets: Mapping[str, Target] | None = None) -> dict[str, str]:
    """A target for each header that names one (each target used once; "" otherwise).

    Custom fields are recognised by their key or label. E-mail and phone go to the person when
    the sheet has person names, else to the organisation; a lone "Name" beside a company
    column is the contact's name, otherwise the company's.
    """
    targets = targets if targets is not None else all_targets()
    custom: dict[str, str] = {}
    for option in targets.values():
        if option.custom is not None:
            custom.setdefault(header_key(option.custom.key), option.key)
            custom.setdefault(header_key(option.custom.label), option.key)
    found: dict[str, str] = {}
    for header in headers:
        key = header_key(header)
        found[header] = custom.get(key) or _SYNONYM_INDEX.get(key, "")
    chosen = set(found.values())
    has_person = bool({"person.first_name", "person.last_name", "person.last_first_name"} & chosen)
    has_company = "organization.legal_name" in chosen
    for header, target in found.items():
        if target == "person.full_name" and header_key(header) == "name" and not has_company:
            found[header] = "organization.legal_name"
    chosen = set(found.values())
    for header, target in found.items():
        if target in ("person.email", "person.phone") and not (
            has_person or "person.full_name" in chosen
        ):
            found[header] = target.replace("person.", "organization.")
    used: set[str] = set()
    for header, target in found.items():
        if target in used:
            found[header] = ""
        elif target:
            used.add(target)
    return found


# --- transforms -----------------------------------------------------------------------------


class CellError(ValueError):
    """A cell that cannot become its field's value; the message is for the user."""


def as_text(value: Any) -> str:
    """A cell as trimmed text: 12.0 -> "12", inner runs of spaces collapsed."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    return " ".join(str(value).split())


_TITLES = {"dr", "prof", "mr", "mrs", "ms", "herr", "frau", "pan", "pani", "ing", "dipl", "mgr"}


def split_name(full: str, *, last_first: bool = False) -> tuple[str, str]:
    """(first, last) from "Jan Kowalski", "Kowalski, Jan" or "Dr. Hans Peter Müller";
    with `last_first` from "Иванов Иван Петрович" (last name, first name, patronymic)."""
    text = as_text(full)
    if last_first and "," not in text and len(text.split()) > 1:
        words = text.split()
        return " ".join(words[1:]), words[0]
    if "," in text:
        last, first = (part.strip() for part in text.split(",", 1))
        return first, last
    words = [w for w in text.split() if w.rstrip(".").casefold() not in _TITLES] or text.split()
    if len(words) == 1:
        return "", words[0]
    return " ".join(words[:-1]), words[-1]


EXCEL_EPOCH = date(1899, 12, 30)
_DATE_FORMATS = {
    "DMY": ("%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%y", "%d/%m/%y"),
    "MDY": ("%m/%d/%Y", "%m-%d-%Y", "%m/%d/%y", "%d.%m.%Y"),
}
_ISO_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d")


def as_date(value: Any, *, order: str = "DMY") -> date | None:
    """A date from a date cell, an Excel serial number (45292 = 2024-01-01) or text in the
    common formats (ISO, 31.12.2024, 31/12/2024; 12/31/2024 when `order` is MDY)."""
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        if 1 <= value < 2958466:  # up to 9999-12-31
            return EXCEL_EPOCH + timedelta(days=int(value))
        raise CellError(_("%(value)s is not a date.") % {"value": as_text(value)})
    text = as_text(value)
    if re.fullmatch(r"\d{5}(\.\d+)?", text):
        return EXCEL_EPOCH + timedelta(days=int(float(text)))
    text = text.split("T")[0].split(" ")[0]
    for fmt in (*_ISO_FORMATS, *_DATE_FORMATS.get(order, _DATE_FORMATS["DMY"])):
        try:
            return datetime.strptime(text, fmt).date()  # noqa: DTZ007  (a date, no time)
        except ValueError:
            continue
    raise CellError(
        _("%(value)s is not a date (use e.g. 2024-12-31 or 31.12.2024).") % {"value": text}
    )


def as_datetime(value: Any, *, order: str = "DMY", zone: Any = None) -> datetime | None:
    """An aware date and time in `zone` (a date alone means 09:00 that day)."""
    from django.utils import timezone

    if value in (None, ""):
        return None
    zone = zone or timezone.get_current_timezone()
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else value.replace(tzinfo=zone)
    if isinstance(value, int | float) and not isinstance(value, bool) and 1 <= value < 2958466:
        moment = datetime(1899, 12, 30) + timedelta(days=float(value))  # noqa: DTZ001
        return moment.replace(tzinfo=zone)
    text = as_text(value)
    for fmt in (
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%d.%m.%Y %H:%M",
        "%d/%m/%Y %H:%M",
        "%m/%d/%Y %H:%M",
    ):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    day = as_date(value, order=order)
    assert day is not None  # noqa: S101  (empty values returned above)
    return datetime(day.year, day.month, day.day, 9, 0, tzinfo=zone)


_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f'’]|[A-Za-z€$£¥₽﷼zł]+\.?$|^[A-Za-z€$£¥₽﷼]+\.?")


def as_decimal(value: Any, *, separator: str = "auto") -> Decimal | None:
    """A Decimal from a number cell or text with either decimal separator: "1 234,56",
    "1.234,56", "1,234.56", "€ 12,50". `separator` "," or "." settles "1,234"; "auto" reads
    a single separator followed by exactly three digits as a thousands separator."""
    if value in (None, ""):
        return None
    if isinstance(value, bool):
        raise CellError(_("%(value)s is not an amount.") % {"value": value})
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = _MONEY_NOISE.sub("", as_text(value).translate(_DIGITS))
    text = _MONEY_NOISE.sub("", text)
    negative = text.startswith("-")
    text = text.lstrip("-+")
    if separator in (",", "."):
        other = "." if separator == "," else ","
        text = text.replace(other, "").replace(separator, ".")
    elif "," in text and "." in text:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
        thousands = "." if decimal_mark == "," else ","
        text = text.replace(thousands, "").replace(decimal_mark, ".")
    else:
        mark = "," if "," in text else "." if "." in text else ""
        if mark and (text.count(mark) > 1 or re.fullmatch(rf"\d{{1,3}}\{mark}\d{{3}}", text)):
            text = text.replace(mark, "")
        elif mark:
            text = text.replace(mark, ".")
    try:
        number = Decimal(text)
    except InvalidOperation:
        raise CellError(_("%(value)s is not an amount.") % {"value": as_text(value)}) from None
    if not number.is_finite():
        raise CellError(_("%(value)s is not an amount.") % {"value": as_text(value)})
    return -number if negative else number


# Persian and Arabic-Indic digits, as typed in Persian sheets.
_DIGITS = str.maketrans("۰۱۲۳۴۵۶۷۸۹٠١٢٣٤٥٦٧٨٩٫٬", "01234567890123456789.,")


def phone_text(value: Any) -> str:
    """A phone cell as text: numbers stored as numbers lose their ".0"."""
    return as_text(value).translate(_DIGITS)


LANGUAGES = ("en", "de", "pl", "ru", "fa")


def choice_lookup(options: type[Any]) -> dict[str, str]:
    """Every way a choice may be written (its value, its label in each interface language)."""
    lookup: dict[str, str] = {}
    for value, label in options.choices:
        lookup[header_key(value)] = value
        for language in LANGUAGES:
            with translation.override(language):
                lookup.setdefault(header_key(str(label)), value)
    return lookup


EXTRA_CHOICES: dict[str, dict[str, str]] = {
    # Words people write in sheets for our choices, beyond the labels.
    "organization.status": {
        "client": "customer",
        "kunde": "customer",
        "klient": "customer",
        "клиент": "customer",
        "مشتری": "customer",
        "interessent": "prospect",
        "potencjalny": "prospect",
    },
    "activity.kind": {
        "anruf": "call",
        "telefonat": "call",
        "telefon": "call",
        "звонок": "call",
        "تماس": "call",
        "termin": "meeting",
        "treffen": "meeting",
        "spotkanie": "meeting",
        "встреча": "meeting",
        "جلسه": "meeting",
        "aufgabe": "task",
        "zadanie": "task",
        "задача": "task",
        "وظیفه": "task",
        "notiz": "note",
        "notatka": "note",
        "заметка": "note",
        "یادداشت": "note",
    },
}


def choice_value(
    target: Target, value: Any, lookup: Mapping[str, str], extra: Mapping[str, str]
) -> str:
    text = as_text(value)
    if not text:
        return ""
    key = header_key(text)
    found = extra.get(text.casefold()) or extra.get(key) or lookup.get(key)
    if found is None:
        assert target.choices is not None  # noqa: S101
        raise CellError(
            _("%(value)s is not one of: %(choices)s.")
            % {"value": text, "choices": ", ".join(str(lbl) for _v, lbl in target.choices.choices)}
        )
    return found


COUNTRY_NAMES: dict[str, str] = {
    "germany": "DE",
    "deutschland": "DE",
    "niemcy": "DE",
    "германия": "DE",
    "آلمان": "DE",
    "poland": "PL",
    "polen": "PL",
    "polska": "PL",
    "польша": "PL",
    "لهستان": "PL",
    "russia": "RU",
    "russland": "RU",
    "rosja": "RU",
    "россия": "RU",
    "روسیه": "RU",
    "iran": "IR",
    "iran islamic republic of": "IR",
    "ایران": "IR",
    "иран": "IR",
    "austria": "AT",
    "österreich": "AT",
    "austria ": "AT",
    "switzerland": "CH",
    "schweiz": "CH",
    "szwajcaria": "CH",
    "france": "FR",
    "frankreich": "FR",
    "united kingdom": "GB",
    "uk": "GB",
    "great britain": "GB",
    "united states": "US",
    "usa": "US",
    "netherlands": "NL",
    "niederlande": "NL",
    "czech republic": "CZ",
    "czechia": "CZ",
    "tschechien": "CZ",
    "czechy": "CZ",
    "ukraine": "UA",
    "ukraina": "UA",
    "украина": "UA",
    "belarus": "BY",
    "беларусь": "BY",
    "kazakhstan": "KZ",
    "казахстан": "KZ",
    "italy": "IT",
    "italien": "IT",
    "włochy": "IT",
    "spain": "ES",
    "spanien": "ES",
}
_COUNTRY_KEYS = {header_key(k): v for k, v in COUNTRY_NAMES.items()}


def country_code(value: Any) -> str:
    text = as_text(value)
    if not text:
        return ""
    if re.fullmatch(r"[A-Za-z]{2}", text):
        return text.upper()
    code = _COUNTRY_KEYS.get(header_key(text))
    if code is None:
        raise CellError(
            _("%(value)s is not a country: use its two-letter code (DE, PL, RU, IR...).")
            % {"value": text}
        )
    return code


# The kind of tax id assumed per country when the sheet just says "tax id".
TAX_KINDS = {"PL": "NIP", "RU": "INN", "DE": "VAT", "AT": "VAT", "IR": "NID", "UA": "EDRPOU"}


def tax_id_parts(value: Any, country: str) -> dict[str, str]:
    """{"country", "kind", "value"} of a tax id cell: "PL 526-025-02-74" names its country,
    otherwise the row's (or the import's default) country is used."""
    text = as_text(value)
    match = re.match(r"^([A-Za-z]{2})[\s\-]?(?=[0-9])", text)
    if match:
        country = match.group(1).upper()
        text = text[match.end() :]
    return {"country": country, "kind": TAX_KINDS.get(country, "VAT"), "value": text}


YES = {"1", "yes", "y", "true", "x", "ja", "tak", "да", "بله", "آری", "wahr"}
NO = {"0", "no", "n", "false", "nein", "nie", "нет", "خیر", "نه", "falsch", ""}


def custom_value(field: CustomField, value: Any, *, currency: str, order: str) -> Any:
    """A cell in the form `custom_data_clean` checks for this field's type."""
    kind = field.field_type
    if value in (None, ""):
        return None
    if kind == choices.CustomFieldType.NUMBER:
        return str(as_decimal(value))
    if kind == choices.CustomFieldType.DATE:
        day = as_date(value, order=order)
        return day.isoformat() if day else None
    if kind == choices.CustomFieldType.BOOLEAN:
        text = as_text(value).casefold()
        if text in YES:
            return True
        if text in NO:
            return False
        raise CellError(_("%(value)s is not yes or no.") % {"value": as_text(value)})
    if kind == choices.CustomFieldType.MONEY:
        return {"amount": str(as_decimal(value)), "currency": currency}
    if kind in (choices.CustomFieldType.CHOICE, choices.CustomFieldType.MULTI_CHOICE):
        by_key = {header_key(str(o)): str(o) for o in field.options}
        parts = (
            [as_text(value)]
            if kind == choices.CustomFieldType.CHOICE
            else [p for p in re.split(r"[,;\n]", as_text(value)) if p.strip()]
        )
        picked = [by_key.get(header_key(p), p.strip()) for p in parts]
        return picked[0] if kind == choices.CustomFieldType.CHOICE else picked
    return as_text(value)


def mapped_entities(columns: Mapping[str, str]) -> set[str]:
    return {t.split(".", 1)[0] for t in columns.values() if t}


def iter_mapped(columns: Mapping[str, str], headers: Iterable[str]) -> list[tuple[int, str]]:
    """(column index, target) of each mapped column of the sheet."""
    index = {h: i for i, h in enumerate(headers)}
    return [(index[h], t) for h, t in columns.items() if t and h in index]
