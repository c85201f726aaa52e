"""Custom fields: administrators add typed fields to organisations, persons and deals.

A `CustomField` defines a key, a label and a type; the values live in the record's
`custom_data` JSON under that key. `custom_data_clean` is the one gate every write of
`custom_data` goes through (the contacts and deals services call it): it refuses unknown keys,
checks each value against its type and returns JSON-safe values in one canonical form, so
that filtering (`custom_field_filter`) can compare stored values directly on SQLite and
PostgreSQL.

Stored forms, by type:

| type | stored as | example |
| --- | --- | --- |
| text | string | `"Key account"` |
| number | decimal string without exponent or trailing zeros | `"12.5"` |
| date | ISO date string | `"2026-03-31"` |
| choice | one of the options | `"gold"` |
| multi_choice | list of options, in the options' order | `["de", "pl"]` |
| boolean | JSON true/false | `true` |
| money | object, amount with two decimals | `{"amount": "12.50", "currency": "EUR"}` |
| link | object naming a record by its public id | `{"type": "crm.organization", "id": "…"}` |

An empty value (`None`, `""`, `[]`) means "not set": the key is left out of the result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID

from django.db import connection, models, transaction
from django.db.models import BooleanField
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from konvergo.core.errors import FieldErrors
from konvergo.crm.choices import CustomFieldTarget, CustomFieldType
from konvergo.crm.currencies import ISO_4217
from konvergo.crm.models import CustomField, Deal, Organization, Person

TARGET_MODELS: dict[str, type[models.Model]] = {
    CustomFieldTarget.ORGANIZATION: Organization,
    CustomFieldTarget.PERSON: Person,
    CustomFieldTarget.DEAL: Deal,
}
# Records a link field may point at ("app_label.model_name"); later apps add theirs here.
LINK_TYPES: dict[str, type[models.Model]] = {
    "crm.organization": Organization,
    "crm.person": Person,
    "crm.deal": Deal,
}
CHOICE_TYPES = frozenset({CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE})

# Lower-case words joined by single underscores: usable as `custom_data__<key>` in lookups.
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# Keys that Django would read as a lookup or transform instead of a JSON key.
RESERVED_KEYS = frozenset(
    {
        *("contains", "contained_by", "exact", "iexact", "icontains", "in", "gt", "gte"),
        *("lt", "lte", "startswith", "istartswith", "endswith", "iendswith", "range"),
        *("isnull", "regex", "iregex", "has_key", "has_keys", "has_any_keys", "pk", "id"),
    }
)
MAX_OPTIONS = 100
MAX_OPTION_LENGTH = 100
MAX_TEXT_LENGTH = 2000
MAX_NUMBER_DIGITS = 20


# --- definitions ----------------------------------------------------------------------------


def _target_clean(target: str, errors: dict[str, list[str]]) -> str:
    if target not in TARGET_MODELS:
        errors["target"] = [
            _("Unknown target %(target)s; one of %(targets)s.")
            % {"target": target, "targets": ", ".join(TARGET_MODELS)}
        ]
    return str(target)


def _options_clean(
    field_type: str, options: Iterable[Any], errors: dict[str, list[str]]
) -> list[str]:
    values = list(options or ())
    if field_type == CustomFieldType.LINK:
        unknown = [str(v) for v in values if v not in LINK_TYPES]
        if unknown:
            errors["options"] = [
                _("A link may point at %(types)s; not %(unknown)s.")
                % {"types": ", ".join(LINK_TYPES), "unknown": ", ".join(unknown)}
            ]
        return [str(v) for v in values]
    if field_type not in CHOICE_TYPES:
        if values:
            errors["options"] = [_("Only choice fields have options.")]
        return []
    cleaned: list[str] = []
    problems: list[str] = []
    for value in values:
        text = value.strip() if isinstance(value, str) else ""
        if not text:
            problems.append(_("Each option must be a non-empty text."))
        elif len(text) > MAX_OPTION_LENGTH:
            problems.append(
                _("Option %(option)s is longer than %(max)d characters.")
                % {"option": text[:20] + "…", "max": MAX_OPTION_LENGTH}
            )
        elif text in cleaned:
            problems.append(_("Option %(option)s is listed twice.") % {"option": text})
        else:
            cleaned.append(text)
    if not values:
        problems.append(_("A choice field needs at least one option."))
    elif len(values) > MAX_OPTIONS:
        problems.append(_("At most %(max)d options.") % {"max": MAX_OPTIONS})
    if problems:
        errors["options"] = problems
    return cleaned


def custom_field_create(
    *,
    target: str,
    key: str,
    label: str,
    field_type: str,
    options: Sequence[Any] = (),
    required: bool = False,
    order: int = 0,
) -> CustomField:
    errors: dict[str, list[str]] = {}
    target = _target_clean(target, errors)
    key = (key or "").strip()
    if not KEY_PATTERN.match(key) or len(key) > 60:
        errors["key"] = [
            _(
                "Use lower-case letters, digits and single underscores, starting with a "
                "letter (at most 60 characters)."
            )
        ]
    elif key in RESERVED_KEYS:
        errors["key"] = [_("%(key)s is a reserved word; choose another key.") % {"key": key}]
    elif "target" not in errors and CustomField.objects.filter(target=target, key=key).exists():
        errors["key"] = [_("This key is already used for these records.")]
    label = (label or "").strip()
    if not label or len(label) > 120:
        errors["label"] = [_("Enter a label of at most 120 characters.")]
    if field_type not in CustomFieldType.values:
        errors["field_type"] = [
            _("Unknown type %(type)s; one of %(types)s.")
            % {"type": field_type, "types": ", ".join(CustomFieldType.values)}
        ]
        cleaned_options: list[str] = []
    else:
        cleaned_options = _options_clean(field_type, options, errors)
    if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 32767:
        errors["order"] = [_("Enter a whole number from 0 to 32767.")]
    if errors:
        raise FieldErrors(errors)
    return CustomField.objects.create(
        target=target,
        key=key,
        label=label,
        field_type=field_type,
        options=cleaned_options,
        required=bool(required),
        order=order,
    )


EDITABLE = frozenset({"label", "options", "required", "order"})


def custom_field_update(*, field: CustomField, **changes: Any) -> CustomField:
    """Change the label, options, required flag or order. Key, target and type stay: values
    already stored were validated against them."""
    errors: dict[str, list[str]] = {
        name: [_("Cannot be changed.")] for name in sorted(set(changes) - EDITABLE)
    }
    if "label" in changes:
        label = (changes["label"] or "").strip()
        if not label or len(label) > 120:
            errors["label"] = [_("Enter a label of at most 120 characters.")]
        changes["label"] = label
    if "options" in changes:
        changes["options"] = _options_clean(field.field_type, changes["options"], errors)
    if "order" in changes:
        order = changes["order"]
        if not isinstance(order, int) or isinstance(order, bool) or not 0 <= order <= 32767:
            errors["order"] = [_("Enter a whole number from 0 to 32767.")]
    if errors:
        raise FieldErrors(errors)
    for name in ("label", "options", "required", "order"):
        if name in changes:
            setattr(field, name, bool(changes[name]) if name == "required" else changes[name])
    field.save()
    return field


def custom_field_delete(*, field: CustomField) -> int:
    """Delete the definition and its values from every record; returns how many records lost
    a value. (Left behind, the values would make those records fail `custom_data_clean`.)"""
    model = TARGET_MODELS[field.target]
    changed = 0
    with transaction.atomic():
        holders = model._default_manager.filter(custom_data__has_key=field.key).only(
            "pk", "custom_data"
        )
        batch: list[models.Model] = []
        for record in holders.iterator(chunk_size=1000):
            data = dict(getattr(record, "custom_data", None) or {})
            data.pop(field.key, None)
            record.custom_data = data  # type: ignore[attr-defined]
            batch.append(record)
            if len(batch) == 1000:
                changed += model._default_manager.bulk_update(batch, ["custom_data"])
                batch = []
        if batch:
            changed += model._default_manager.bulk_update(batch, ["custom_data"])
        field.delete()
    return changed


def custom_fields_for(target: str) -> list[CustomField]:
    return list(CustomField.objects.filter(target=target).order_by("order", "label", "pk"))


# --- values ---------------------------------------------------------------------------------


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, int | str | Decimal):
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            return None
        if number.is_finite():
            return number
    return None


def _number_text(number: Decimal) -> str:
    """The canonical text of a number: no exponent, no trailing zeros ("12.5", "100", "0")."""
    text = format(number.normalize(), "f")
    return "0" if text in {"-0", "0"} else text


def _clean_text(field: CustomField, value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(_("Enter a text."))
    text = value.strip()
    if len(text) > MAX_TEXT_LENGTH:
        raise ValueError(_("At most %(max)d characters.") % {"max": MAX_TEXT_LENGTH})
    return text


def _clean_number(field: CustomField, value: Any) -> str:
    number = _decimal(value)
    if number is None:
        raise ValueError(_("Enter a number, e.g. 12.5."))
    if len(number.normalize().as_tuple().digits) > MAX_NUMBER_DIGITS:
        raise ValueError(_("At most %(max)d digits.") % {"max": MAX_NUMBER_DIGITS})
    return _number_text(number)


def _clean_date(field: CustomField, value: Any) -> str:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValueError(_("Enter a date as YYYY-MM-DD."))


def _clean_choice(field: CustomField, value: Any) -> str:
    if not isinstance(value, str) or value not in field.options:
        raise ValueError(
            _("Choose one of: %(options)s.") % {"options": ", ".join(map(str, field.options))}
        )
    return value


def _clean_multi_choice(field: CustomField, value: Any) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ValueError(_("Enter a list of options."))
    wrong = [str(v) for v in value if not isinstance(v, str) or v not in field.options]
    if wrong:
        raise ValueError(
            _("Not an option: %(wrong)s. Choose among: %(options)s.")
            % {"wrong": ", ".join(wrong), "options": ", ".join(map(str, field.options))}
        )
    chosen = set(value)
    return [option for option in field.options if option in chosen]


def _clean_boolean(field: CustomField, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return value.strip().lower() == "true"
    raise ValueError(_("Enter true or false."))


def _clean_money(field: CustomField, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) - {"amount", "currency"}:
        raise ValueError(_('Enter an object {"amount": "12.50", "currency": "EUR"}.'))
    amount = _decimal(value.get("amount"))
    problems = []
    if amount is None:
        problems.append(_("The amount must be a number, e.g. 12.50."))
    else:
        exponent = amount.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -2:
            problems.append(_("The amount has at most 2 decimal places."))
        elif abs(amount) >= Decimal(10) ** 12:
            problems.append(_("The amount is too large."))
    currency = value.get("currency")
    code = currency.strip().upper() if isinstance(currency, str) else ""
    if code not in ISO_4217:
        problems.append(
            _("%(code)s is not an ISO 4217 currency code.") % {"code": currency or "''"}
        )
    if problems or amount is None:
        raise ValueError(" ".join(problems))
    return {"amount": str(amount.quantize(Decimal("0.01"))), "currency": code}


def _clean_link(field: CustomField, value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping) or set(value) != {"type", "id"}:
        raise ValueError(_('Enter an object {"type": "crm.organization", "id": "<uuid>"}.'))
    allowed = list(field.options) or list(LINK_TYPES)
    kind = value["type"]
    if kind not in allowed:
        raise ValueError(
            _("The record type must be one of: %(types)s.") % {"types": ", ".join(allowed)}
        )
    try:
        public_id = UUID(str(value["id"]))
    except ValueError:
        raise ValueError(_("The id must be a record's public UUID.")) from None
    if not LINK_TYPES[kind]._default_manager.filter(public_id=public_id).exists():
        raise ValueError(_("No such record."))
    return {"type": kind, "id": str(public_id)}


CLEANERS = {
    CustomFieldType.TEXT: _clean_text,
    CustomFieldType.NUMBER: _clean_number,
    CustomFieldType.DATE: _clean_date,
    CustomFieldType.CHOICE: _clean_choice,
    CustomFieldType.MULTI_CHOICE: _clean_multi_choice,
    CustomFieldType.BOOLEAN: _clean_boolean,
    CustomFieldType.MONEY: _clean_money,
    CustomFieldType.LINK: _clean_link,
}


def custom_data_clean(*, target: str, data: Mapping[str, Any] | None) -> dict[str, Any]:
    """The validated, JSON-safe values of `data` for records of `target`.

    Raises FieldErrors keyed "custom_data.<key>" for unknown keys, missing required values and
    values of the wrong type; the result holds the set values in their canonical stored form.
    """
    if target not in TARGET_MODELS:
        message = _("Records of %(target)s have no custom fields.") % {"target": target}
        raise FieldErrors({"custom_data": [message]})
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise FieldErrors({"custom_data": [_("Must be an object of field values.")]})
    fields = {field.key: field for field in custom_fields_for(target)}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    for key in data:
        if key not in fields:
            errors[f"custom_data.{key}"] = [_("Unknown field.")]
    for key, field in fields.items():
        value = data.get(key)
        if isinstance(value, str) and field.field_type != CustomFieldType.TEXT:
            value = value.strip()
        if _is_empty(value):
            if field.required:
                errors[f"custom_data.{key}"] = [_("This field is required.")]
            continue
        try:
            result = CLEANERS[CustomFieldType(field.field_type)](field, value)
        except ValueError as exc:
            errors[f"custom_data.{key}"] = [str(exc)]
            continue
        if _is_empty(result):
            if field.required:
                errors[f"custom_data.{key}"] = [_("This field is required.")]
            continue
        cleaned[key] = result
    if errors:
        raise FieldErrors(errors)
    return cleaned


# --- filtering ------------------------------------------------------------------------------


def custom_field_filter(
    queryset: models.QuerySet[Any], target: str, key: str, value: Any
) -> models.QuerySet[Any]:
    """Records of `queryset` whose custom field `key` matches `value`.

    Text matches case-insensitively as a substring; multi-choice matches records that have the
    given option (or all of a list of options); money matches amount and currency (or only the
    currency when `value` is a currency code); a link matches the record's public id (or a
    `{"type", "id"}` object); everything else matches the cleaned value exactly. A value that
    is not valid for the field raises FieldErrors, like `custom_data_clean`.
    """
    field = CustomField.objects.filter(target=target, key=key).first()
    if field is None:
        raise FieldErrors({f"custom_data.{key}": [_("Unknown field.")]})
    kind = CustomFieldType(field.field_type)
    lookup = f"custom_data__{key}"
    if kind == CustomFieldType.TEXT:
        text = str(value).strip()
        return queryset.filter(**{f"{lookup}__icontains": text}) if text else queryset
    if kind == CustomFieldType.MULTI_CHOICE:
        wanted = [value] if isinstance(value, str) else list(value)
        try:
            options = _clean_multi_choice(field, wanted)
        except ValueError as exc:
            raise FieldErrors({f"custom_data.{key}": [str(exc)]}) from None
        for option in options:
            queryset = queryset.filter(_has_option(queryset.model, key, option))
        return queryset
    if kind == CustomFieldType.MONEY and isinstance(value, str):
        return queryset.filter(**{f"{lookup}__currency": value.strip().upper()})
    if kind == CustomFieldType.LINK and not isinstance(value, Mapping):
        try:
            return queryset.filter(**{f"{lookup}__id": str(UUID(str(value)))})
        except ValueError:
            raise FieldErrors({f"custom_data.{key}": [_("Enter a public UUID.")]}) from None
    try:
        cleaned = CLEANERS[kind](field, value)
    except ValueError as exc:
        raise FieldErrors({f"custom_data.{key}": [str(exc)]}) from None
    if isinstance(cleaned, dict):
        return queryset.filter(**{f"{lookup}__{part}": text for part, text in cleaned.items()})
    return queryset.filter(**{lookup: cleaned})


def _has_option(model: type[models.Model], key: str, option: str) -> Any:
    """A condition: the record's multi-choice list `key` contains `option`."""
    # Only the model's own table name is formatted in; key and option are parameters.
    column = connection.ops.quote_name(model._meta.db_table) + '."custom_data"'
    if connection.vendor == "postgresql":
        sql = f"({column} -> %s) @> to_jsonb(%s::text)"
    else:  # SQLite's JSON1: look through the list's elements
        sql = f"EXISTS (SELECT 1 FROM json_each({column}, %s) WHERE json_each.value = %s)"  # noqa: S608
        key = f'$."{key}"'
    return RawSQL(sql, [key, option], output_field=BooleanField())  # noqa: S611


# --- filtering by query parameters ----------------------------------------------------------

PARAMETER_PREFIX = "cf_"


def custom_params_filter(
    queryset: models.QuerySet[Any], target: str, params: Mapping[str, Any]
) -> models.QuerySet[Any]:
    """`queryset` filtered by every `cf_<key>=<value>` parameter of `params` (a QueryDict or a
    dict) with `custom_field_filter`; other parameters and blank values are ignored.

    A multi-choice parameter may repeat (records having all the options); a repeated parameter
    of another type must match each value. Unknown keys and bad values raise FieldErrors keyed
    by the parameter's name (`cf_tier`), all of them at once.
    """
    getlist = getattr(params, "getlist", None)
    wanted: dict[str, list[Any]] = {}
    for name in params:
        if not name.startswith(PARAMETER_PREFIX):
            continue
        values = getlist(name) if getlist is not None else params[name]
        values = list(values) if isinstance(values, list | tuple) else [values]
        values = [v for v in values if not _is_empty(v.strip() if isinstance(v, str) else v)]
        if values:
            wanted[name.removeprefix(PARAMETER_PREFIX)] = values
    if not wanted:
        return queryset
    fields = {
        field.key: field for field in CustomField.objects.filter(target=target, key__in=wanted)
    }
    errors: dict[str, list[str]] = {}
    for key, values in wanted.items():
        field = fields.get(key)
        if field is None:
            errors[f"{PARAMETER_PREFIX}{key}"] = [_("Unknown field.")]
            continue
        multi = field.field_type == CustomFieldType.MULTI_CHOICE
        try:
            for value in [values] if multi else values:
                queryset = custom_field_filter(queryset, target, key, value)
        except FieldErrors as exc:
            errors[f"{PARAMETER_PREFIX}{key}"] = [
                str(message) for messages in exc.errors.values() for message in messages
            ]
    if errors:
        raise FieldErrors(errors)
    return queryset
