"""Writes to the shared directory: organisations, persons and what hangs off them.

Every function validates the whole input first and raises `FieldErrors` naming each bad field
(`phones.0.number`, `tax_ids.1.value`, ...) before anything is written; the writes then run in
one transaction together with their audit history and event. E-mail addresses are stored
lower-case, phones in E.164, tax ids in the compact form of their `python-stdnum` module.
"""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any, TypeVar

import phonenumbers
from django.core.exceptions import ValidationError
from django.core.validators import URLValidator, validate_email
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from stdnum.exceptions import InvalidChecksum
from stdnum.exceptions import ValidationError as NumberInvalid
from stdnum.util import get_cc_module

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.events import emit
from konvergo.crm import choices
from konvergo.crm.models import (
    Address,
    Email,
    Employment,
    Organization,
    OrganizationRelation,
    Person,
    Phone,
    Tag,
    TaxId,
)
from konvergo.org.models import User

# ISO 3166-1 alpha-2: every region phonenumbers knows, plus the few without a phone plan.
COUNTRIES: frozenset[str] = frozenset(phonenumbers.SUPPORTED_REGIONS) | {
    "AQ",
    "BV",
    "GS",
    "HM",
    "PN",
    "TF",
    "UM",
}

# --- names ----------------------------------------------------------------------------------

# Legal forms as word sequences after normalisation (accents gone, punctuation turned into
# spaces): "Sp. z o.o." becomes "sp z o o". They are removed only at the end of a name, and
# the ones written before the name (Russian, Persian) at the start too, so a name that merely
# contains such a word ("AG Bank Holding" stays "ag bank holding") keeps it.
_SUFFIX_FORMS = """
gmbh|mbh|ag|kg|kgaa|ohg|ug|gbr|e v|ev|se|haftungsbeschrankt|co|co kg|gmbh co kg|
llc|l l c|ltd|limited|inc|incorporated|corp|corporation|plc|llp|lp|company|pty|pty ltd|
sp z o o|sp z oo|spzoo|sp k|sp j|sp p|s k a|s c|s a|sa|spolka z ograniczona odpowiedzialnoscia|
spolka akcyjna|spolka komandytowa|spolka jawna|
sarl|s a r l|sas|sasu|eurl|snc|scs|bv|b v|nv|n v|srl|s r l|spa|s p a|s r o|sro|a s|as|ab|oy|
oyj|aps|kft|zrt|nyrt|d o o|doo|ad|jsc|pjsc|cjsc|ojsc|ooo|oao|zao|pao
"""
# Written before the name as often as after it.
_PREFIX_FORMS = (
    "ооо|оао|зао|пао|ао|нао|ип|тоо|ooo|oao|zao|pao"  # noqa: RUF001  (Cyrillic on purpose)
    "|شرکت|شرکت سهامی خاص|شرکت سهامی عام"
)
_SUFFIX_ONLY_FA = "سهامی خاص|سهامی عام|با مسئولیت محدود|مسئولیت محدود|تضامنی"


def _forms(text: str) -> list[tuple[str, ...]]:
    forms = {tuple(f.split()) for f in text.replace("\n", "").split("|") if f.strip()}
    return sorted(forms, key=len, reverse=True)  # longest first: "gmbh co kg" before "kg"


SUFFIX_FORMS = _forms(f"{_SUFFIX_FORMS}|{_PREFIX_FORMS}|{_SUFFIX_ONLY_FA}")
PREFIX_FORMS = _forms(_PREFIX_FORMS)
# Arabic letters typed on some keyboards where Persian ones are meant.
_PERSIAN = str.maketrans({"ي": "ی", "ك": "ک", "ى": "ی", "ة": "ه"})  # noqa: RUF001


def _by_word(forms: list[tuple[str, ...]], index: int) -> dict[str, list[tuple[str, ...]]]:
    """The forms grouped by their last (index -1) or first (index 0) word, longest first."""
    grouped: dict[str, list[tuple[str, ...]]] = {}
    for form in forms:
        grouped.setdefault(form[index], []).append(form)
    return grouped


# Only the forms ending (starting) with a name's last (first) word can match it: the longest
# of those is the longest matching form of all (two matching forms of one length are equal).
_SUFFIXES_BY_LAST = _by_word(SUFFIX_FORMS, -1)
_PREFIXES_BY_FIRST = _by_word(PREFIX_FORMS, 0)


def _strip_forms(words: list[str]) -> list[str]:
    changed = True
    while changed and len(words) > 1:
        changed = False
        for form in _SUFFIXES_BY_LAST.get(words[-1], ()):
            if len(form) < len(words) and tuple(words[-len(form) :]) == form:
                words = words[: -len(form)]
                changed = True
                break
        for form in _PREFIXES_BY_FIRST.get(words[0], ()):
            if len(form) < len(words) and tuple(words[: len(form)]) == form:
                words = words[len(form) :]
                changed = True
                break
    return words


class _NameChars(dict[int, str | None]):
    """What each character of a decomposed name becomes, looked up once per character:
    apostrophes and combining marks (accents) vanish, punctuation, symbols, spaces and control
    characters become spaces, the rest stays. For `str.translate`."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        category = unicodedata.category(char)
        if char in "'\u2019`\u02bc" or category == "Mn":
            result = None
        else:
            result = " " if category[0] in "PSZC" else char
        self[code] = result
        return result


_NAME_CHARS = _NameChars()


def normalize_name(text: str, *, legal_forms: bool = True) -> str:
    """The name as duplicate detection and search compare it.

    Lower-case, accents stripped, punctuation dropped, legal forms (GmbH, Sp. z o.o., OOO in
    Cyrillic, Persian سهامی خاص, ...) removed, spaces collapsed: "Müller GmbH & Co. KG" -> "muller".
    """
    decomposed = unicodedata.normalize("NFKD", text.casefold().translate(_PERSIAN))
    words = decomposed.translate(_NAME_CHARS).split()
    if legal_forms:
        words = _strip_forms(words)
    return " ".join(words)[:255]


def person_normalized_name(first_name: str, last_name: str) -> str:
    return normalize_name(f"{first_name} {last_name}", legal_forms=False)


# --- validation -----------------------------------------------------------------------------


class Errors:
    """Field errors collected over a whole input, raised together."""

    def __init__(self) -> None:
        self.fields: dict[str, list[str]] = {}

    def add(self, name: str, message: str) -> None:
        self.fields.setdefault(name, []).append(str(message))

    def merge(self, errors: Mapping[str, Sequence[str]]) -> None:
        for name, messages in errors.items():
            for message in messages:
                self.add(name, message)

    def check(self) -> None:
        if self.fields:
            raise FieldErrors(self.fields)


@dataclass(frozen=True)
class EmailIn:
    address: str
    kind: str
    is_primary: bool


@dataclass(frozen=True)
class PhoneIn:
    number: str
    kind: str
    is_primary: bool


@dataclass(frozen=True)
class TaxIdIn:
    country: str
    kind: str
    value: str


@dataclass(frozen=True)
class AddressIn:
    kind: str
    street: str
    postal_code: str
    city: str
    region: str
    country: str


def _text(
    item: Mapping[str, Any],
    name: str,
    key: str,
    errors: Errors,
    *,
    max_length: int,
    required: bool = False,
) -> str:
    value = item.get(name)
    text = "" if value is None else str(value).strip()
    if required and not text:
        errors.add(key, _("This field is required."))
    elif len(text) > max_length:
        errors.add(key, _("At most %(n)d characters.") % {"n": max_length})
    return text


def _choice(
    value: Any, allowed: type[models.TextChoices], key: str, errors: Errors, default: str = ""
) -> str:
    text = default if value in (None, "") else str(value)
    if text and text not in allowed.values:
        errors.add(
            key,
            _("%(value)s is not one of: %(choices)s.")
            % {"value": text, "choices": ", ".join(allowed.values)},
        )
    return text


def _with_one_primary(items: list[Any]) -> list[Any]:
    """The first item marked primary stays primary (else the first item); the rest are not."""
    if not items:
        return items
    primary = next((i for i, item in enumerate(items) if item.is_primary), 0)
    return [replace(item, is_primary=i == primary) for i, item in enumerate(items)]


def country_clean(value: Any, key: str, errors: Errors) -> str:
    code = "" if value is None else str(value).strip().upper()
    if code and code not in COUNTRIES:
        errors.add(key, _("%(code)s is not an ISO 3166 country code.") % {"code": code})
    return code


def emails_clean(items: Iterable[Mapping[str, Any]], errors: Errors) -> list[EmailIn]:
    cleaned: list[EmailIn] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = f"emails.{index}"
        address = _text(item, "address", f"{key}.address", errors, max_length=254, required=True)
        address = address.lower()
        kind = _choice(item.get("kind"), choices.ContactKind, f"{key}.kind", errors, "work")
        if not address:
            continue
        try:
            validate_email(address)
        except ValidationError:
            errors.add(
                f"{key}.address", _("%(value)s is not a valid e-mail address.") % {"value": address}
            )
            continue
        if address in seen:
            errors.add(f"{key}.address", _("%(value)s is listed twice.") % {"value": address})
            continue
        seen.add(address)
        cleaned.append(EmailIn(address, kind, bool(item.get("is_primary"))))
    return _with_one_primary(cleaned)


def phone_e164(number: str, region: str = "") -> str:
    """The number in E.164, or ValueError with a message for the user."""
    text = number.strip()
    if not text:
        raise ValueError(_("Enter a phone number."))
    if not region and not text.startswith("+"):
        raise ValueError(
            _("Give the number with its country code (e.g. +48 ...) or the phone's region.")
        )
    try:
        parsed = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        raise ValueError(_("%(value)s is not a phone number.") % {"value": text}) from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(_("%(value)s is not a valid phone number.") % {"value": text})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def phones_clean(
    items: Iterable[Mapping[str, Any]], errors: Errors, *, default_region: str = ""
) -> list[PhoneIn]:
    """Phones in E.164. A number without "+" needs a region: the phone's own `region`, else
    `default_region` (the record's address country)."""
    cleaned: list[PhoneIn] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        key = f"phones.{index}"
        number = _text(item, "number", f"{key}.number", errors, max_length=40, required=True)
        kind = _choice(item.get("kind"), choices.ContactKind, f"{key}.kind", errors, "work")
        region = str(item.get("region") or "").strip().upper()
        if region and region not in phonenumbers.SUPPORTED_REGIONS:
            errors.add(f"{key}.region", _("%(code)s is not a phone region.") % {"code": region})
            continue
        if not number:
            continue
        try:
            e164 = phone_e164(number, region or default_region)
        except ValueError as exc:
            errors.add(f"{key}.number", str(exc))
            continue
        if e164 in seen:
            errors.add(f"{key}.number", _("%(value)s is listed twice.") % {"value": e164})
            continue
        seen.add(e164)
        cleaned.append(PhoneIn(e164, kind, bool(item.get("is_primary"))))
    return _with_one_primary(cleaned)


_KIND_ALIASES = {"ustidnr": "vat", "vatid": "vat", "vatno": "vat", "mwst": "vat"}


def tax_id_module(country: str, kind: str) -> Any:
    """The python-stdnum module that checks `kind` numbers of `country`, or None."""
    name = re.sub(r"[^a-z0-9]", "", kind.lower())
    name = _KIND_ALIASES.get(name, name)
    if not re.fullmatch(r"[a-z]{2}", country.lower()) or not re.fullmatch(r"[a-z][a-z0-9]*", name):
        return None
    module = get_cc_module(country.lower(), name)
    return module if callable(getattr(module, "validate", None)) else None


def tax_id_compact(country: str, kind: str, value: str) -> str:
    """The number in its stored form; ValueError (with the message) when its check fails."""
    module = tax_id_module(country, kind)
    if module is None:
        compact = re.sub(r"[\s\-./]", "", value).upper()
        if not compact:
            raise ValueError(_("Enter the number."))
        return compact
    try:
        return str(module.validate(value))
    except InvalidChecksum:
        raise ValueError(
            _("%(value)s is not a valid %(country)s %(kind)s: the check digit is wrong.")
            % {"value": value, "country": country, "kind": kind}
        ) from None
    except NumberInvalid as exc:
        raise ValueError(
            _("%(value)s is not a valid %(country)s %(kind)s: %(reason)s")
            % {"value": value, "country": country, "kind": kind, "reason": str(exc)}
        ) from None


def tax_ids_clean(items: Iterable[Mapping[str, Any]], errors: Errors) -> list[TaxIdIn]:
    cleaned: list[TaxIdIn] = []
    seen: set[tuple[str, str]] = set()
    for index, item in enumerate(items):
        key = f"tax_ids.{index}"
        country = _text(item, "country", f"{key}.country", errors, max_length=2, required=True)
        country = country_clean(country, f"{key}.country", errors)
        kind = _text(item, "kind", f"{key}.kind", errors, max_length=20, required=True).upper()
        value = _text(item, "value", f"{key}.value", errors, max_length=60, required=True)
        if not (country in COUNTRIES and kind and value):
            continue
        try:
            compact = tax_id_compact(country, kind, value)
        except ValueError as exc:
            errors.add(f"{key}.value", str(exc))
            continue
        if len(compact) > 40:
            errors.add(f"{key}.value", _("At most %(n)d characters.") % {"n": 40})
            continue
        if (country, kind) in seen:
            errors.add(
                f"{key}.kind",
                _("Only one %(kind)s per country.") % {"kind": kind},
            )
            continue
        seen.add((country, kind))
        cleaned.append(TaxIdIn(country, kind, compact))
    return cleaned


def addresses_clean(items: Iterable[Mapping[str, Any]], errors: Errors) -> list[AddressIn]:
    cleaned: list[AddressIn] = []
    for index, item in enumerate(items):
        key = f"addresses.{index}"
        address = AddressIn(
            kind=_choice(item.get("kind"), choices.AddressKind, f"{key}.kind", errors, "office"),
            street=_text(item, "street", f"{key}.street", errors, max_length=255),
            postal_code=_text(item, "postal_code", f"{key}.postal_code", errors, max_length=20),
            city=_text(item, "city", f"{key}.city", errors, max_length=120),
            region=_text(item, "region", f"{key}.region", errors, max_length=120),
            country=country_clean(item.get("country"), f"{key}.country", errors),
        )
        if not any((address.street, address.postal_code, address.city, address.country)):
            errors.add(key, _("Give at least a street, postal code, city or country."))
            continue
        cleaned.append(address)
    return cleaned


def tags_clean(items: Iterable[Tag | str], errors: Errors) -> list[Tag | str]:
    cleaned: list[Tag | str] = []
    for index, item in enumerate(items):
        if isinstance(item, Tag):
            cleaned.append(item)
            continue
        name = str(item).strip()
        if not name or len(name) > 60:
            errors.add(f"tags.{index}", _("A tag name has 1 to 60 characters."))
            continue
        cleaned.append(name)
    return cleaned


def website_clean(value: Any, errors: Errors) -> str:
    text = "" if value is None else str(value).strip()
    if not text:
        return ""
    if "://" not in text:
        text = f"https://{text}"
    try:
        URLValidator(schemes=["http", "https"])(text)
    except ValidationError:
        errors.add("website", _("%(value)s is not a web address.") % {"value": value})
    if len(text) > 200:
        errors.add("website", _("At most %(n)d characters.") % {"n": 200})
    return text


def owner_clean(owner: User | None, actor: User, errors: Errors) -> User:
    chosen = owner or actor
    if not chosen.is_active:
        errors.add("owner", _("%(user)s is not an active user.") % {"user": chosen})
    return chosen


def custom_values_clean(
    target: str, data: Mapping[str, Any] | None, errors: Errors
) -> dict[str, Any]:
    """The custom field values, checked by the custom fields service."""
    values = dict(data or {})
    # The custom fields service is looked up when called: where it is not installed there are
    # no field definitions to check against, so the values pass as given.
    module_name = "konvergo.crm.services.custom_fields"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return values
    clean = getattr(module, "custom_data_clean", None)
    if clean is None:
        return values
    try:
        cleaned: dict[str, Any] = clean(target=target, data=values)
    except FieldErrors as exc:
        errors.merge(exc.errors)
        return values
    return cleaned


def _first_country(addresses: Iterable[AddressIn | Address]) -> str:
    return next((a.country for a in addresses if a.country), "")


# --- writing the lists ----------------------------------------------------------------------

R = TypeVar("R", bound=models.Model)


def _sync(
    existing: Iterable[R],
    wanted: Sequence[Any],
    *,
    key: Callable[[Any], Any],
    create: Callable[[Any], R],
    fields: Sequence[str],
) -> bool:
    """Make the rows match `wanted`: rows with the same key are updated in place (keeping their
    public ids and history), missing ones deleted, new ones created. True if anything changed."""
    by_key = {key(row): row for row in existing}
    wanted_keys = {key(item) for item in wanted}
    changed = False
    for row_key, row in by_key.items():
        if row_key not in wanted_keys:
            row.delete()
            changed = True
    for item in wanted:
        found = by_key.get(key(item))
        if found is None:
            create(item)
            changed = True
            continue
        row = found
        updates = [f for f in fields if getattr(row, f) != getattr(item, f)]
        if updates:
            for f in updates:
                setattr(row, f, getattr(item, f))
            row.save()
            changed = True
    return changed


def _owned_by(record: Organization | Person) -> dict[str, Any]:
    return {"organization": record} if isinstance(record, Organization) else {"person": record}


def emails_write(record: Organization | Person, emails: Sequence[EmailIn]) -> bool:
    owner = _owned_by(record)
    return _sync(
        Email.objects.filter(**owner),
        emails,
        key=lambda e: e.address,
        create=lambda e: Email.objects.create(
            **owner, address=e.address, kind=e.kind, is_primary=e.is_primary
        ),
        fields=("kind", "is_primary"),
    )


def phones_write(record: Organization | Person, phones: Sequence[PhoneIn]) -> bool:
    owner = _owned_by(record)
    return _sync(
        Phone.objects.filter(**owner),
        phones,
        key=lambda p: p.number,
        create=lambda p: Phone.objects.create(
            **owner, number=p.number, kind=p.kind, is_primary=p.is_primary
        ),
        fields=("kind", "is_primary"),
    )


def _address_key(a: AddressIn | Address) -> tuple[str, ...]:
    return (a.kind, a.street, a.postal_code, a.city, a.region, a.country)


def addresses_write(record: Organization | Person, addresses: Sequence[AddressIn]) -> bool:
    owner = _owned_by(record)
    return _sync(
        Address.objects.filter(**owner),
        addresses,
        key=_address_key,
        create=lambda a: Address.objects.create(**owner, **a.__dict__),
        fields=(),
    )


def tax_ids_write(organization: Organization, tax_ids: Sequence[TaxIdIn]) -> bool:
    # Same country and kind: the row is kept and its number changed (one per country and kind).
    return _sync(
        TaxId.objects.filter(organization=organization),
        tax_ids,
        key=lambda t: (t.country, t.kind),
        create=lambda t: TaxId.objects.create(
            organization=organization, country=t.country, kind=t.kind, value=t.value
        ),
        fields=("value",),
    )


def tags_write(record: Organization | Person, tags: Sequence[Tag | str]) -> bool:
    wanted = [t if isinstance(t, Tag) else Tag.objects.get_or_create(name=t)[0] for t in tags]
    before = set(record.tags.values_list("pk", flat=True))
    if before == {t.pk for t in wanted}:
        return False
    record.tags.set(wanted)
    return True


# --- organisations --------------------------------------------------------------------------

ORGANIZATION_TEXT = {
    "legal_name": 255,
    "short_name": 120,
    "legal_form": 60,
    "industry": 120,
}
ORGANIZATION_FIELDS = frozenset(
    {
        *ORGANIZATION_TEXT,
        "owner",
        "size",
        "website",
        "status",
        "tags",
        "notes",
        "emails",
        "phones",
        "tax_ids",
        "addresses",
        "custom_data",
    }
)


@dataclass
class _Clean:
    """An input checked field by field: plain values, and the lists to write."""

    values: dict[str, Any] = field(default_factory=dict)
    emails: list[EmailIn] | None = None
    phones: list[PhoneIn] | None = None
    tax_ids: list[TaxIdIn] | None = None
    addresses: list[AddressIn] | None = None
    tags: list[Tag | str] | None = None


def _organization_clean(
    data: Mapping[str, Any], *, actor: User, organization: Organization | None
) -> _Clean:
    errors = Errors()
    clean = _Clean()
    for name, max_length in ORGANIZATION_TEXT.items():
        if name in data:
            clean.values[name] = _text(
                data, name, name, errors, max_length=max_length, required=name == "legal_name"
            )
    if "owner" in data:
        clean.values["owner"] = owner_clean(data["owner"], actor, errors)
    if "size" in data:
        clean.values["size"] = _choice(data["size"], choices.CompanySize, "size", errors)
    if "status" in data:
        clean.values["status"] = _choice(
            data["status"], choices.OrganizationStatus, "status", errors, "lead"
        )
    if "website" in data:
        clean.values["website"] = website_clean(data["website"], errors)
    if "notes" in data:
        clean.values["notes"] = str(data["notes"] or "").strip()
    if data.get("addresses") is not None:
        clean.addresses = addresses_clean(data["addresses"], errors)
    if data.get("emails") is not None:
        clean.emails = emails_clean(data["emails"], errors)
    if data.get("phones") is not None:
        if clean.addresses is not None:
            region = _first_country(clean.addresses)
        elif organization is not None:
            region = _first_country(organization.addresses.all())
        else:
            region = ""
        clean.phones = phones_clean(data["phones"], errors, default_region=region)
    if data.get("tax_ids") is not None:
        clean.tax_ids = tax_ids_clean(data["tax_ids"], errors)
    if data.get("tags") is not None:
        clean.tags = tags_clean(data["tags"], errors)
    if "custom_data" in data:
        clean.values["custom_data"] = custom_values_clean(
            choices.CustomFieldTarget.ORGANIZATION, data["custom_data"], errors
        )
    errors.check()
    return clean


def _changed(record: Organization | Person, values: Mapping[str, Any]) -> list[str]:
    if record.pk is None:
        return list(values)
    return [name for name, value in values.items() if getattr(record, name) != value]


def _organization_write(organization: Organization, clean: _Clean) -> list[str]:
    """Save the organisation and its lists; the names of what changed."""
    changed = _changed(organization, clean.values)
    for name, value in clean.values.items():
        setattr(organization, name, value)
    organization.normalized_name = normalize_name(organization.legal_name)
    if changed or organization.pk is None:
        organization.save()
    if clean.addresses is not None and addresses_write(organization, clean.addresses):
        changed.append("addresses")
    if clean.emails is not None and emails_write(organization, clean.emails):
        changed.append("emails")
    if clean.phones is not None and phones_write(organization, clean.phones):
        changed.append("phones")
    if clean.tax_ids is not None and tax_ids_write(organization, clean.tax_ids):
        changed.append("tax_ids")
    if clean.tags is not None and tags_write(organization, clean.tags):
        changed.append("tags")
    return changed


def organization_create(
    *,
    actor: User,
    legal_name: str,
    owner: User | None = None,
    short_name: str = "",
    legal_form: str = "",
    industry: str = "",
    size: str = "",
    website: str = "",
    status: str = choices.OrganizationStatus.LEAD,
    tags: Iterable[Tag | str] = (),
    notes: str = "",
    emails: Iterable[Mapping[str, Any]] = (),
    phones: Iterable[Mapping[str, Any]] = (),
    tax_ids: Iterable[Mapping[str, Any]] = (),
    addresses: Iterable[Mapping[str, Any]] = (),
    custom_data: Mapping[str, Any] | None = None,
) -> Organization:
    clean = _organization_clean(
        {
            "legal_name": legal_name,
            "owner": owner,
            "short_name": short_name,
            "legal_form": legal_form,
            "industry": industry,
            "size": size,
            "website": website,
            "status": status,
            "tags": list(tags),
            "notes": notes,
            "emails": list(emails),
            "phones": list(phones),
            "tax_ids": list(tax_ids),
            "addresses": list(addresses),
            "custom_data": custom_data,
        },
        actor=actor,
        organization=None,
    )
    organization = Organization()
    with acting_as(actor), transaction.atomic():
        _organization_write(organization, clean)
        emit(
            "crm.organization.created",
            subject=organization,
            payload={
                "organization": str(organization.public_id),
                "legal_name": organization.legal_name,
                "owner": str(organization.owner.public_id),
            },
            actor=actor,
        )
    return organization


def organization_update(*, actor: User, organization: Organization, **fields: Any) -> Organization:
    """Change the given fields; lists (emails, phones, tax_ids, addresses, tags) given replace
    the record's lists. Emits crm.organization.updated when anything changed."""
    unknown = set(fields) - ORGANIZATION_FIELDS
    if unknown:
        raise TypeError(f"organization_update() got unknown fields: {', '.join(sorted(unknown))}")
    if "owner" in fields and fields["owner"] is None:
        fields.pop("owner")
    clean = _organization_clean(fields, actor=actor, organization=organization)
    with acting_as(actor), transaction.atomic():
        changed = _organization_write(organization, clean)
        if changed:
            emit(
                "crm.organization.updated",
                subject=organization,
                payload={"organization": str(organization.public_id), "fields": sorted(changed)},
                actor=actor,
            )
    return organization


def organization_delete(*, actor: User, organization: Organization) -> None:
    """Delete an organisation with its contact data and activities; refused while deals
    point at it (they keep the sales history: merge the record instead)."""
    if organization.deals.exists():
        raise BusinessError(
            _("%(name)s has deals; merge it into another organisation instead of deleting it.")
            % {"name": organization},
            details={"field": "deals"},
        )
    public_id = str(organization.public_id)
    with acting_as(actor), transaction.atomic():
        emit(
            "crm.organization.deleted",
            subject=organization,
            payload={"organization": public_id, "legal_name": organization.legal_name},
            actor=actor,
        )
        organization.delete()


def _relation_exists(source: Organization, target: Organization, kind: str) -> bool:
    """The same fact, also written the other way round (A parent of B = B branch of A)."""
    inverse = {"parent": "branch", "branch": "parent", "partner": "partner"}[kind]
    return OrganizationRelation.objects.filter(
        models.Q(source=source, target=target, kind=kind)
        | models.Q(source=target, target=source, kind=inverse)
    ).exists()


def organization_add_relation(
    *, actor: User, source: Organization, target: Organization, kind: str
) -> OrganizationRelation:
    errors = Errors()
    kind = _choice(kind, choices.OrganizationRelationKind, "kind", errors)
    if not kind:
        errors.add("kind", _("This field is required."))
    errors.check()
    if source.pk == target.pk:
        raise BusinessError(
            _("An organisation cannot be related to itself."), details={"field": "target"}
        )
    with acting_as(actor), transaction.atomic():
        if _relation_exists(source, target, kind):
            raise BusinessError(
                _("%(source)s and %(target)s are already related that way.")
                % {"source": source, "target": target},
                details={"field": "target"},
            )
        relation = OrganizationRelation.objects.create(source=source, target=target, kind=kind)
        emit(
            "crm.organization.updated",
            subject=source,
            payload={
                "organization": str(source.public_id),
                "fields": ["relations"],
                "relation": {"kind": kind, "target": str(target.public_id)},
            },
            actor=actor,
        )
    return relation


# --- persons --------------------------------------------------------------------------------

PERSON_TEXT = {"first_name": 120, "last_name": 120, "position": 120}
PERSON_FIELDS = frozenset(
    {
        *PERSON_TEXT,
        "birthday",
        "language",
        "owner",
        "tags",
        "notes",
        "emails",
        "phones",
        "addresses",
        "organization",
        "role",
        "custom_data",
    }
)


def _person_clean(data: Mapping[str, Any], *, actor: User, person: Person | None) -> _Clean:
    errors = Errors()
    clean = _Clean()
    for name, max_length in PERSON_TEXT.items():
        if name in data:
            clean.values[name] = _text(
                data, name, name, errors, max_length=max_length, required=name == "last_name"
            )
    if "owner" in data:
        clean.values["owner"] = owner_clean(data["owner"], actor, errors)
    if "birthday" in data:
        birthday = data["birthday"]
        if birthday is not None and not isinstance(birthday, date):
            errors.add("birthday", _("Enter a date."))
        elif birthday is not None and birthday > timezone.localdate():
            errors.add("birthday", _("The birthday lies in the future."))
        clean.values["birthday"] = birthday
    if "language" in data:
        language = str(data["language"] or "").strip()
        if language and not re.fullmatch(r"[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,4})?", language):
            errors.add("language", _("Enter a language code such as de, pl or pt-BR."))
        clean.values["language"] = language
    if "notes" in data:
        clean.values["notes"] = str(data["notes"] or "").strip()
    organization = data.get("organization")
    if organization is not None and not isinstance(organization, Organization):
        errors.add("organization", _("Choose an organisation."))
        organization = None
    if "role" in data:
        clean.values["role"] = _text(data, "role", "role", errors, max_length=120)
    if data.get("addresses") is not None:
        clean.addresses = addresses_clean(data["addresses"], errors)
    if data.get("emails") is not None:
        clean.emails = emails_clean(data["emails"], errors)
    if data.get("phones") is not None:
        # A person's own address country, else their organisation's.
        if clean.addresses is not None:
            region = _first_country(clean.addresses)
        elif person is not None:
            region = _first_country(person.addresses.all())
        else:
            region = ""
        if not region and organization is not None:
            region = _first_country(organization.addresses.all())
        clean.phones = phones_clean(data["phones"], errors, default_region=region)
    if data.get("tags") is not None:
        clean.tags = tags_clean(data["tags"], errors)
    if "custom_data" in data:
        clean.values["custom_data"] = custom_values_clean(
            choices.CustomFieldTarget.PERSON, data["custom_data"], errors
        )
    errors.check()
    if organization is not None:
        clean.values["organization"] = organization
    return clean


def _employ(person: Person, organization: Organization, role: str | None) -> bool:
    """Make `organization` the person's main employer (with `role` when given)."""
    changed = False
    employment = Employment.objects.filter(person=person, organization=organization).first()
    if employment is None:
        employment = Employment.objects.create(
            person=person, organization=organization, role=role or "", is_primary=True
        )
        changed = True
    elif (role is not None and employment.role != role) or not employment.is_primary:
        employment.role = role if role is not None else employment.role
        employment.is_primary = True
        employment.save()
        changed = True
    for other in Employment.objects.filter(person=person, is_primary=True).exclude(
        pk=employment.pk
    ):
        other.is_primary = False
        other.save()
    return changed


def _person_write(person: Person, clean: _Clean) -> list[str]:
    organization: Organization | None = clean.values.pop("organization", None)
    role: str | None = clean.values.pop("role", None)
    changed = _changed(person, clean.values)
    for name, value in clean.values.items():
        setattr(person, name, value)
    person.normalized_name = person_normalized_name(person.first_name, person.last_name)
    if changed or person.pk is None:
        person.save()
    if organization is not None:
        if _employ(person, organization, role):
            changed.append("employments")
    elif role is not None:
        employment = Employment.objects.filter(person=person, is_primary=True).first()
        if employment is not None and employment.role != role:
            employment.role = role
            employment.save()
            changed.append("employments")
    if clean.addresses is not None and addresses_write(person, clean.addresses):
        changed.append("addresses")
    if clean.emails is not None and emails_write(person, clean.emails):
        changed.append("emails")
    if clean.phones is not None and phones_write(person, clean.phones):
        changed.append("phones")
    if clean.tags is not None and tags_write(person, clean.tags):
        changed.append("tags")
    return changed


def person_create(
    *,
    actor: User,
    last_name: str,
    first_name: str = "",
    position: str = "",
    birthday: date | None = None,
    language: str = "",
    owner: User | None = None,
    tags: Iterable[Tag | str] = (),
    notes: str = "",
    emails: Iterable[Mapping[str, Any]] = (),
    phones: Iterable[Mapping[str, Any]] = (),
    addresses: Iterable[Mapping[str, Any]] = (),
    organization: Organization | None = None,
    role: str = "",
    custom_data: Mapping[str, Any] | None = None,
) -> Person:
    clean = _person_clean(
        {
            "last_name": last_name,
            "first_name": first_name,
            "position": position,
            "birthday": birthday,
            "language": language,
            "owner": owner,
            "tags": list(tags),
            "notes": notes,
            "emails": list(emails),
            "phones": list(phones),
            "addresses": list(addresses),
            "organization": organization,
            "role": role,
            "custom_data": custom_data,
        },
        actor=actor,
        person=None,
    )
    person = Person()
    with acting_as(actor), transaction.atomic():
        _person_write(person, clean)
        emit(
            "crm.person.created",
            subject=person,
            payload={
                "person": str(person.public_id),
                "name": str(person),
                "owner": str(person.owner.public_id),
                "organization": str(organization.public_id) if organization else None,
            },
            actor=actor,
        )
    return person


def person_update(*, actor: User, person: Person, **fields: Any) -> Person:
    """Change the given fields; lists given replace the person's lists; `organization` (with
    `role`) makes that organisation the person's main employer."""
    unknown = set(fields) - PERSON_FIELDS
    if unknown:
        raise TypeError(f"person_update() got unknown fields: {', '.join(sorted(unknown))}")
    if "owner" in fields and fields["owner"] is None:
        fields.pop("owner")
    clean = _person_clean(fields, actor=actor, person=person)
    with acting_as(actor), transaction.atomic():
        changed = _person_write(person, clean)
        if changed:
            emit(
                "crm.person.updated",
                subject=person,
                payload={"person": str(person.public_id), "fields": sorted(changed)},
                actor=actor,
            )
    return person


def person_delete(*, actor: User, person: Person) -> None:
    """Delete a person with their contact data, activities and campaign memberships; their
    deals stay (without the person)."""
    public_id = str(person.public_id)
    with acting_as(actor), transaction.atomic():
        emit(
            "crm.person.deleted",
            subject=person,
            payload={"person": public_id, "name": str(person)},
            actor=actor,
        )
        person.delete()
