"""The import engine: rows of a sheet -> checked plans -> CRM records, in chunks.

The dry run and the real run go through the same `Importer.plan()`; only the real run writes.
Each row is checked with the CRM's own cleaners (e-mails, E.164 phones, tax ids with their
check digits, websites, custom fields) and matched against the directory by the CRM's
duplicate keys (tax id, e-mail, phone, normalised name - `crm.services.duplicates` and
`contacts.normalize_name`), and against the rows above it in the same file.

Writing is done a chunk at a time in one transaction: the records with their history rows
(simple-history's bulk helpers; the SQLite search index follows by its triggers), an
`ImportedRecord` for each, the batch's counters. A chunk that fails rolls back alone; what the
chunks before it wrote is recorded, so `batch_undo` removes it completely.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import connection, models
from django.db.models.expressions import RawSQL
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from konvergo.core.errors import FieldErrors
from konvergo.crm import choices
from konvergo.crm.models import (
    Activity,
    Address,
    Deal,
    Email,
    Employment,
    Organization,
    Person,
    Phone,
    Pipeline,
    Stage,
    TaxId,
)
from konvergo.crm.services.contacts import (
    COUNTRIES,
    AddressIn,
    EmailIn,
    Errors,
    PhoneIn,
    TaxIdIn,
    normalize_name,
    person_normalized_name,
    phone_e164,
    tax_ids_clean,
    website_clean,
)
from konvergo.crm.services.custom_fields import custom_data_clean, custom_fields_for
from konvergo.crm.services.deals import (
    currency_clean,
    decimal_clean,
    default_pipeline,
    first_stage,
)
from konvergo.imports import mapping as m
from konvergo.imports.bulk import Inserter
from konvergo.imports.models import DuplicatePolicy, ImportBatch, ImportedRecord
from konvergo.imports.reading import Sheet, column_letter
from konvergo.org.models import Scope, User
from konvergo.org.permissions import scope_for, visible

MATCH_KEYS = ("tax_id", "email", "phone", "name")
# Rows per transaction. Large: SQLite writes every index page a chunk touches to its log once
# per commit, and the random public ids touch most of them (2,000 -> 10,000 rows with the
# larger page cache of services._large_page_cache: commits 96 -> 38 us per row, 100,000 rows).
CHUNK = 10_000


@dataclass
class Options:
    duplicates: str = DuplicatePolicy.SKIP
    match_by: tuple[str, ...] = MATCH_KEYS
    default_country: str = ""
    date_order: str = "DMY"
    decimal_separator: str = "auto"
    currency: str = "EUR"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> Options:
        data = data or {}
        match_by = data.get("match_by")
        return cls(
            duplicates=str(data.get("duplicates") or DuplicatePolicy.SKIP),
            match_by=tuple(k for k in (match_by or MATCH_KEYS) if k in MATCH_KEYS),
            default_country=str(data.get("default_country") or "").upper(),
            date_order=str(data.get("date_order") or "DMY"),
            decimal_separator=str(data.get("decimal_separator") or "auto"),
            currency=str(data.get("currency") or "EUR").upper(),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "duplicates": self.duplicates,
            "match_by": list(self.match_by),
            "default_country": self.default_country,
            "date_order": self.date_order,
            "decimal_separator": self.decimal_separator,
            "currency": self.currency,
        }

    def check(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.duplicates not in DuplicatePolicy.values:
            errors["duplicates"] = [_("Choose skip, update or create.")]
        if self.default_country and self.default_country not in COUNTRIES:
            errors["default_country"] = [
                _("%(code)s is not an ISO 3166 country code.") % {"code": self.default_country}
            ]
        if self.date_order not in ("DMY", "MDY"):
            errors["date_order"] = [_("Choose DMY or MDY.")]
        if self.decimal_separator not in ("auto", ",", "."):
            errors["decimal_separator"] = [_("Choose auto, a comma or a point.")]
        currency_clean(self.currency, errors)
        if errors:
            raise FieldErrors(errors)


@dataclass
class Entity:
    """One organisation or person a row describes, checked, with what to do with it."""

    kind: str  # organization | person
    values: dict[str, Any]
    emails: list[EmailIn] = field(default_factory=list)
    phones: list[PhoneIn] = field(default_factory=list)
    tax_ids: list[TaxIdIn] = field(default_factory=list)
    addresses: list[AddressIn] = field(default_factory=list)
    action: str = "create"  # create | update | link
    existing: int | None = None  # pk of the matching record in the directory
    same_as: Entity | None = None  # an earlier row of this file describing the same client
    reason: str = ""
    pk: int | None = None  # the record written or linked (real run)

    def keys(self, match_by: Sequence[str]) -> list[tuple[str, str]]:
        found: list[tuple[str, str]] = []
        if "tax_id" in match_by:
            found += [("tax_id", t.value) for t in self.tax_ids]
        if "email" in match_by:
            found += [("email", e.address) for e in self.emails]
        if "phone" in match_by:
            found += [("phone", p.number) for p in self.phones]
        name = self.values.get("normalized_name", "")
        if "name" in match_by and len(name) >= 2:
            found.append(("name", name))
        return found


@dataclass
class Row:
    number: int  # in the sheet, 1-based
    cells: list[Any]
    errors: list[str] = field(default_factory=list)
    organization: Entity | None = None
    person: Entity | None = None
    deal: dict[str, Any] | None = None
    activity: dict[str, Any] | None = None
    outcome: str = ""  # created | updated | skipped | failed
    note: str = ""

    @property
    def message(self) -> str:
        return "; ".join(self.errors)


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0

    def add(self, row: Row) -> None:
        setattr(self, row.outcome, getattr(self, row.outcome) + 1)


def data_rows(sheet: Sheet, header_row: int) -> Iterator[tuple[int, list[Any]]]:
    """(row number, cells) below the header, blank rows left out."""
    for index in range(header_row, len(sheet.rows)):
        cells = sheet.rows[index]
        if any(str(v).strip() for v in cells if v is not None):
            yield index + 1, cells


class Importer:
    """Plans (and in the real run writes) the rows of one sheet with one column mapping."""

    def __init__(
        self,
        *,
        sheet: Sheet,
        headers: Sequence[str],
        columns: Mapping[str, str],
        options: Options,
        actor: User,
        owner: User | None = None,
    ) -> None:
        self.formula_errors = sheet.errors
        self.headers = list(headers)
        self.options = options
        self.actor = actor
        self.owner = owner or actor
        self.targets = m.all_targets()
        self.mapped = [
            (index, self.targets[target])
            for index, target in m.iter_mapped(columns, headers)
            if target in self.targets
        ]
        self.entities = {t.entity for _i, t in self.mapped}
        self.lookups = {
            t.key: (m.choice_lookup(t.choices), m.EXTRA_CHOICES.get(t.key, {}))
            for _i, t in self.mapped
            if t.kind == "choice" and t.choices is not None
        }
        # Required custom fields must be checked even when no column fills them.
        self.custom_targets = {
            target: bool(custom_fields_for(target)) for target in ("organization", "person", "deal")
        }
        self.pipeline: Pipeline | None = None
        self.stages: dict[str, Stage] = {}
        self.first_stage: Stage | None = None
        if "deal" in self.entities:
            self.pipeline = default_pipeline()
            if self.pipeline is not None:
                self.first_stage = first_stage(self.pipeline)
                self.stages = {m.header_key(s.name): s for s in self.pipeline.stages.all()}
        self.stage_of = {s.pk: s for s in [*self.stages.values(), self.first_stage] if s}
        # Keys of the clients already planned from this file: (kind, key, value) -> entity.
        self.seen: dict[tuple[str, str, str], Entity] = {}

    # --- checking one row -------------------------------------------------------------------

    def _cell_errors(self, row_index: int) -> list[str]:
        errors = []
        for column, target in self.mapped:
            code = self.formula_errors.get((row_index, column))
            if code:
                errors.append(
                    _("Cell %(cell)s (%(field)s) has the formula error %(code)s.")
                    % {
                        "cell": f"{column_letter(column)}{row_index + 1}",
                        "field": target.label,
                        "code": code,
                    }
                )
        return errors

    def parse(self, number: int, cells: list[Any]) -> Row:
        row = Row(number, cells, errors=self._cell_errors(number - 1))
        if row.errors:
            return row
        raw: dict[str, dict[str, Any]] = {e: {} for e in m.ENTITIES}
        custom: dict[str, dict[str, Any]] = {e: {} for e in m.ENTITIES}
        for column, target in self.mapped:
            value = cells[column] if column < len(cells) else ""
            try:
                converted = self._convert(target, value)
            except m.CellError as exc:
                row.errors.append(f"{target.label}: {exc}")
                continue
            if converted in (None, "", []):
                continue
            if target.custom is not None:
                custom[target.entity][target.custom.key] = converted
            else:
                raw[target.entity][target.field] = converted
        if row.errors:
            return row
        if raw["organization"] or custom["organization"]:
            row.organization = self._organization(raw["organization"], custom["organization"], row)
        if raw["person"] or custom["person"]:
            row.person = self._person(raw["person"], custom["person"], row)
        if raw["deal"] or custom["deal"]:
            row.deal = self._deal(raw["deal"], custom["deal"], row)
        if raw["activity"]:
            row.activity = self._activity(raw["activity"], row)
        if not row.errors and not (row.organization or row.person or row.deal or row.activity):
            row.errors.append(_("The row has no value in any mapped column."))
        return row

    def _convert(self, target: m.Target, value: Any) -> Any:
        o = self.options
        if target.custom is not None:
            return m.custom_value(target.custom, value, currency=o.currency, order=o.date_order)
        kind = target.kind
        if kind == "date":
            return m.as_date(value, order=o.date_order)
        if kind == "datetime":
            return m.as_datetime(value, order=o.date_order)
        if kind == "decimal":
            return m.as_decimal(value, separator=o.decimal_separator)
        if kind == "phone":
            return m.phone_text(value)
        if kind == "country":
            return m.country_code(value)
        if kind == "choice":
            lookup, extra = self.lookups[target.key]
            return m.choice_value(target, value, lookup, extra)
        text = m.as_text(value)
        if kind == "text" and len(text) > target.max_length:
            raise m.CellError(_("At most %(n)d characters.") % {"n": target.max_length})
        return text

    def _messages(self, errors: Mapping[str, Sequence[str]], prefix: str, row: Row) -> None:
        if not errors:
            return
        labels = {
            "emails": _("E-mail"),
            "phones": _("Phone"),
            "tax_ids": _("Tax id"),
            "addresses": _("Address"),
            "website": _("Website"),
            "custom_data": _("Custom field"),
        }
        for key, messages in errors.items():
            head = key.split(".", 1)[0]
            label = labels.get(head, head)
            if head == "custom_data" and "." in key:
                cf = self.targets.get(f"{prefix}.cf.{key.split('.', 1)[1]}")
                label = str(cf.label) if cf else key.split(".", 1)[1]
            for message in messages:
                row.errors.append(f"{label}: {message}")

    def _custom(self, target: str, values: dict[str, Any], row: Row) -> dict[str, Any]:
        if not values and not self.custom_targets.get(target):
            return {}
        try:
            return custom_data_clean(target=target, data=values)
        except FieldErrors as exc:
            self._messages(exc.errors, target, row)
            return {}

    def _emails(self, value: str, row: Row) -> list[EmailIn]:
        """The CRM's rule for an address (lower-case, Django's e-mail check), one cell."""
        address = value.strip().lower()
        if len(address) > 254:
            row.errors.append(_("E-mail: at most %(n)d characters.") % {"n": 254})
            return []
        try:
            validate_email(address)
        except ValidationError:
            row.errors.append(
                _("E-mail: %(value)s is not a valid e-mail address.") % {"value": address}
            )
            return []
        return [EmailIn(address, choices.ContactKind.WORK, True)]

    def _phones(self, cells: list[tuple[str, str]], region: str, row: Row) -> list[PhoneIn]:
        """Numbers in E.164 by the CRM's `phone_e164` (the region for numbers without +)."""
        phones: list[PhoneIn] = []
        for number, kind in cells:
            try:
                e164 = phone_e164(number, region)
            except ValueError as exc:
                row.errors.append(f"{_('Phone')}: {exc}")
                continue
            if all(p.number != e164 for p in phones):
                phones.append(PhoneIn(e164, kind, not phones))
        return phones

    def _country(self, raw: Mapping[str, Any]) -> str:
        return str(raw.get("country") or self.options.default_country)

    def _organization(self, raw: dict[str, Any], custom: dict[str, Any], row: Row) -> Entity:
        errors = Errors()
        name = str(raw.get("legal_name", ""))
        if not name:
            row.errors.append(_("Company name: this field is required."))
        country = self._country(raw)
        values: dict[str, Any] = {
            "legal_name": name,
            "normalized_name": normalize_name(name),
            "owner_id": self.owner.pk,
        }
        for key in ("short_name", "industry", "status", "size", "notes"):
            if key in raw:
                values[key] = raw[key]
        if "website" in raw:
            values["website"] = website_clean(raw["website"], errors)
        entity = Entity("organization", values)
        if "email" in raw:
            entity.emails = self._emails(raw["email"], row)
        if "phone" in raw:
            entity.phones = self._phones([(raw["phone"], "work")], country, row)
        if "tax_id" in raw:
            parts = m.tax_id_parts(raw["tax_id"], country)
            if parts["country"]:
                entity.tax_ids = tax_ids_clean([parts], errors)
            else:
                row.errors.append(
                    _(
                        "Tax id: give its country (a Country column, a prefix such as PL, or the "
                        "import's default country)."
                    )
                )
        if any(k in raw for k in ("street", "postal_code", "city", "country")):
            code = str(raw.get("country", ""))
            if code and code not in COUNTRIES:
                row.errors.append(
                    _("Country: %(code)s is not an ISO 3166 country code.") % {"code": code}
                )
            entity.addresses = [
                AddressIn(
                    kind=choices.AddressKind.OFFICE,
                    street=str(raw.get("street", "")),
                    postal_code=str(raw.get("postal_code", "")),
                    city=str(raw.get("city", "")),
                    region="",
                    country=code,
                )
            ]
        if custom or self.custom_targets["organization"]:
            values["custom_data"] = self._custom("organization", custom, row)
        self._messages(errors.fields, "organization", row)
        return entity

    def _person(self, raw: dict[str, Any], custom: dict[str, Any], row: Row) -> Entity:
        errors = Errors()
        first, last = str(raw.get("first_name", "")), str(raw.get("last_name", ""))
        if "full_name" in raw and not (first or last):
            first, last = m.split_name(raw["full_name"])
        elif "last_first_name" in raw and not (first or last):
            first, last = m.split_name(raw["last_first_name"], last_first=True)
        if len(first) > 120 or len(last) > 120:
            row.errors.append(_("Name: at most %(n)d characters.") % {"n": 120})
        if not last:
            row.errors.append(_("Last name: this field is required."))
        values: dict[str, Any] = {
            "first_name": first,
            "last_name": last,
            "normalized_name": person_normalized_name(first, last),
            "owner_id": self.owner.pk,
        }
        for key in ("position", "notes", "language"):
            if key in raw:
                values[key] = raw[key]
        birthday = raw.get("birthday")
        if isinstance(birthday, date):
            if birthday > timezone.localdate():
                row.errors.append(_("Birthday: the birthday lies in the future."))
            values["birthday"] = birthday
        entity = Entity("person", values)
        if "email" in raw:
            entity.emails = self._emails(raw["email"], row)
        phones = [
            (raw[key], kind)
            for key, kind in (("phone", "work"), ("mobile", "mobile"))
            if key in raw
        ]
        if phones:
            org_addresses = row.organization.addresses if row.organization else []
            region = (org_addresses[0].country if org_addresses else "") or (
                self.options.default_country
            )
            entity.phones = self._phones(phones, region, row)
        if custom or self.custom_targets["person"]:
            values["custom_data"] = self._custom("person", custom, row)
        self._messages(errors.fields, "person", row)
        return entity

    def _deal(self, raw: dict[str, Any], custom: dict[str, Any], row: Row) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        title = str(raw.get("title", ""))
        if not title:
            named = row.organization or row.person
            title = (
                str(named.values.get("legal_name") or named.values.get("last_name"))
                if named
                else ""
            )
        if not title:
            errors["title"] = [_("This field is required.")]
        values: dict[str, Any] = {"title": title[:255], "owner_id": self.owner.pk}
        values["amount"] = decimal_clean(
            raw.get("amount", 0), errors, "amount", digits=14, places=2
        )
        values["currency"] = currency_clean(raw.get("currency") or self.options.currency, errors)
        values["expected_close"] = raw.get("expected_close")
        stage = self.first_stage
        if "stage" in raw:
            stage = self.stages.get(m.header_key(raw["stage"]))
            if stage is None:
                errors["stage"] = [
                    _("%(value)s is not a stage of the pipeline %(pipeline)s.")
                    % {"value": raw["stage"], "pipeline": self.pipeline}
                ]
        if stage is None and "stage" not in errors:
            errors["pipeline"] = [_("Create a pipeline with stages first.")]
        values["stage_id"] = stage.pk if stage is not None else None
        values["custom_data"] = self._custom("deal", custom, row)
        for key, messages in errors.items():
            label = self.targets.get(f"deal.{key}")
            for message in messages:
                row.errors.append(f"{label.label if label else _('Deal')}: {message}")
        return values

    def _activity(self, raw: dict[str, Any], row: Row) -> dict[str, Any]:
        subject = str(raw.get("subject", ""))
        if not subject:
            row.errors.append(_("Activity subject: this field is required."))
        if not (row.organization or row.person or row.deal):
            row.errors.append(_("An activity needs an organisation, a person or a deal."))
        return {
            "kind": raw.get("kind") or choices.ActivityKind.TASK,
            "subject": subject,
            "description": raw.get("description", ""),
            "due_at": raw.get("due_at"),
            "owner_id": self.owner.pk,
        }

    # --- matching ---------------------------------------------------------------------------

    def _existing(
        self, kind: str, keyed: Iterable[Sequence[tuple[str, str]]]
    ) -> dict[tuple[str, str], int]:
        """(key, value) -> pk of a directory record with that tax id, e-mail, phone or name
        (`keyed`: the keys of each client)."""
        wanted: dict[str, set[str]] = {}
        for keys in keyed:
            for key, value in keys:
                wanted.setdefault(key, set()).add(value)
        owner = kind  # the foreign key of contact rows
        model = Organization if kind == "organization" else Person
        queries: dict[str, tuple[models.QuerySet[Any], str, str]] = {
            "tax_id": (TaxId.objects.all(), "value", "organization_id"),
            "email": (
                Email.objects.filter(**{f"{owner}__isnull": False}),
                "address",
                f"{owner}_id",
            ),
            "phone": (Phone.objects.filter(**{f"{owner}__isnull": False}), "number", f"{owner}_id"),
            "name": (model._default_manager.all(), "normalized_name", "pk"),
        }
        # Only records the importing user may see are matched (and so updated or linked to).
        restricted = scope_for(self.actor, model) != Scope.ALL
        allowed = visible(self.actor, model._default_manager.all()).values("pk")
        found: dict[tuple[str, str], int] = {}
        for key, values in wanted.items():
            if key == "tax_id" and kind != "organization":
                continue
            queryset, column, pk = queries[key]
            if restricted:
                owner_field = "pk" if key == "name" else pk.removesuffix("_id")
                queryset = queryset.filter(**{f"{owner_field}__in": allowed})
            rows = queryset.filter(**{f"{column}__in": _value_list(values)}).order_by(pk)
            for value, record in rows.values_list(column, pk):
                found.setdefault((key, value), record)
        return found

    def _match(self, rows: Sequence[Row]) -> None:
        """Decide per client: create, update or link to the record it duplicates."""
        policy = self.options.duplicates
        match_by = self.options.match_by
        seen = self.seen
        for kind in ("organization", "person"):
            keyed = [
                (entity, entity.keys(match_by))
                for entity in (getattr(r, kind) for r in rows if not r.errors)
                if entity
            ]
            existing = (
                self._existing(kind, (keys for _entity, keys in keyed))
                if policy != DuplicatePolicy.CREATE
                else {}
            )
            for entity, keys in keyed:
                same = next((seen[(kind, k, v)] for k, v in keys if (kind, k, v) in seen), None)
                hit = next(((k, v) for k, v in keys if (k, v) in existing), None)
                if policy == DuplicatePolicy.CREATE:
                    entity.action = "create"
                elif same is not None:
                    entity.action, entity.same_as = "link", same
                    entity.reason = _("the same client as an earlier row")
                elif hit is not None:
                    entity.existing = existing[hit]
                    entity.action = "update" if policy == DuplicatePolicy.UPDATE else "link"
                    entity.reason = _DUPLICATE_REASONS[hit[0]]() % {"value": hit[1]}
                for k, v in keys:
                    seen.setdefault((kind, k, v), entity if same is None else same)

    # --- planning ---------------------------------------------------------------------------

    def plan(self, rows: Iterable[tuple[int, list[Any]]]) -> list[Row]:
        return self.settle(self.parse_rows(rows))

    def parse_rows(self, rows: Iterable[tuple[int, list[Any]]]) -> list[Row]:
        """The rows checked one by one (no database: see `checking_state`)."""
        return [self.parse(number, cells) for number, cells in rows]

    def settle(self, parsed: list[Row]) -> list[Row]:
        """Checked rows matched against the directory and the rows before them."""
        self._match(parsed)
        for row in parsed:
            row.outcome = self._outcome(row)
        return parsed

    # --- checking in another process --------------------------------------------------------

    def checks_without_database(self) -> bool:
        """Whether `parse` runs no query: custom fields are read per row when a column fills
        one or one of the entities has any (a required one is checked even without a column)."""
        return not any(t.custom is not None for _i, t in self.mapped) and not any(
            self.custom_targets[e] for e in ("organization", "person", "deal") if e in self.entities
        )

    def checking_state(self) -> dict[str, Any]:
        """What `parse` needs, picklable, for `from_checking_state` in another process."""
        state = dict(self.__dict__)
        for name in ("actor", "seen"):
            state.pop(name)
        return state

    @classmethod
    def from_checking_state(cls, state: dict[str, Any]) -> Importer:
        importer = cls.__new__(cls)
        importer.__dict__.update(state)
        return importer

    def _outcome(self, row: Row) -> str:
        if row.errors:
            return "failed"
        actions = [e.action for e in (row.organization, row.person) if e is not None]
        if row.deal is not None or row.activity is not None or "create" in actions:
            return "created"
        if "update" in actions:
            return "updated"
        reasons = [e.reason for e in (row.organization, row.person) if e is not None and e.reason]
        row.note = _("Skipped: %(reason)s.") % {"reason": ", ".join(reasons)}
        return "skipped"

    # --- writing ----------------------------------------------------------------------------

    def write(self, batch: ImportBatch, rows: Sequence[Row]) -> None:
        """Write the planned rows (inside the caller's transaction)."""
        writer = _Writer(batch, self.actor)
        good = [r for r in rows if r.outcome != "failed"]
        for kind, model in (("organization", Organization), ("person", Person)):
            entities = [getattr(r, kind) for r in good if getattr(r, kind) is not None]
            writer.clients(kind, model, entities)
        employments = []
        for row in good:
            # A new person works at the row's organisation (new or existing).
            org, fresh = _record(row.organization), row.person
            if (
                org is not None
                and fresh is not None
                and fresh.action == "create"
                and fresh.same_as is None
            ):
                employments.append(
                    {"person_id": fresh.pk, "organization_id": org, "is_primary": True, "role": ""}
                )
        writer.inserter.insert(Employment, employments)  # deleted with their new person
        deals: list[tuple[int, dict[str, Any]]] = []
        for row in good:
            if row.deal is not None:
                values = dict(row.deal)
                stage = self.stage_of[values["stage_id"]]
                values.update(
                    pipeline_id=stage.pipeline_id,
                    organization_id=_record(row.organization),
                    person_id=_record(row.person),
                    status=choices.DealStatus.OPEN,
                    lost_reason="",
                )
                if stage.is_won or stage.is_lost:
                    values["status"] = (
                        choices.DealStatus.WON if stage.is_won else choices.DealStatus.LOST
                    )
                    values["closed_at"] = writer.now
                deals.append((row.number, values))
        deal_ids = writer.create(Deal, [d for _n, d in deals], rows=[n for n, _d in deals])
        deal_of = {
            number: (pk, values) for (number, values), pk in zip(deals, deal_ids, strict=True)
        }
        activities: list[tuple[int, dict[str, Any]]] = []
        for row in good:
            if row.activity is not None:
                values = dict(row.activity)
                deal_pk, deal_values = deal_of.get(row.number, (None, {}))
                values.update(
                    organization_id=_record(row.organization) or deal_values.get("organization_id"),
                    person_id=_record(row.person),
                    deal_id=deal_pk,
                )
                if values["kind"] == choices.ActivityKind.NOTE:
                    values["done_at"] = writer.now
                activities.append((row.number, values))
        writer.create(Activity, [a for _n, a in activities], rows=[n for n, _a in activities])
        writer.flush()


def _value_list(values: Collection[str]) -> RawSQL:
    """`values` as a subquery of one parameter, for `__in`: an IN list of thousands of
    parameters costs Django a conversion per value, and SQLite allows only so many."""
    ordered = sorted(values)
    if connection.vendor == "postgresql":
        return RawSQL("SELECT unnest(%s::text[])", [ordered])
    return RawSQL("SELECT value FROM json_each(%s)", [json.dumps(ordered)])


def _dup_tax() -> str:
    return _("same tax id %(value)s")


def _dup_email() -> str:
    return _("same e-mail %(value)s")


def _dup_phone() -> str:
    return _("same phone %(value)s")


def _dup_name() -> str:
    return _("same name %(value)s")


_DUPLICATE_REASONS = {
    "tax_id": _dup_tax,
    "email": _dup_email,
    "phone": _dup_phone,
    "name": _dup_name,
}


def _record(entity: Entity | None) -> int | None:
    """The primary key of the record a row's client was written to (or linked with)."""
    if entity is None:
        return None
    if entity.same_as is not None:
        return entity.same_as.pk
    return entity.pk


UPDATABLE = {
    "organization": ("short_name", "industry", "status", "size", "website", "notes"),
    "person": ("first_name", "position", "birthday", "language", "notes"),
}


class _Writer:
    def __init__(self, batch: ImportBatch, actor: User) -> None:
        self.batch = batch
        self.actor = actor
        self.now = timezone.now()
        # History keeps at most 100 characters of a change reason (a long file name).
        self.reason = (_("Import %(file)s") % {"file": batch.filename})[:100]
        self.inserter = Inserter(user_id=actor.pk, reason=self.reason, now=self.now)
        self.tracked: list[tuple[int, int, str, int, dict[str, Any]]] = []
        # Records created in one range of ids, not from a row: (model, content type, first, last)
        self.ranges: list[tuple[type[models.Model], int, int, int]] = []
        self.types: dict[type[models.Model], int] = {}

    def _type(self, model: type[models.Model]) -> int:
        if model not in self.types:
            self.types[model] = ContentType.objects.get_for_model(model).pk
        return self.types[model]

    def track(
        self, model: type[models.Model], pk: int, action: str, row: int = 0, previous: Any = None
    ) -> None:
        self.tracked.append((self._type(model), pk, action, row, previous or {}))

    def create(
        self,
        model: type[models.Model],
        values: list[dict[str, Any]],
        *,
        rows: Sequence[int] = (),
    ) -> list[int]:
        """Insert records the batch owns (undo deletes them); their ids."""
        ids = self.inserter.insert(model, values)
        kind, created = self._type(model), ImportedRecord.Action.CREATED
        if not rows and ids and connection.vendor == "sqlite":
            self.ranges.append((model, kind, ids[0], ids[-1]))  # take_ids: one unbroken range
            return ids
        numbers = rows or [0] * len(ids)
        self.tracked.extend(
            (kind, pk, created, number, {}) for pk, number in zip(ids, numbers, strict=True)
        )
        return ids

    def clients(
        self, kind: str, model: type[Organization] | type[Person], entities: list[Entity]
    ) -> None:
        new = [e for e in entities if e.action == "create" and e.same_as is None]
        rows = []
        for entity in new:
            rows.append(dict(entity.values))
        for entity, pk in zip(new, self.create(model, rows), strict=True):
            entity.pk = pk
        existing = model._default_manager.in_bulk(
            list({e.existing for e in entities if e.existing is not None})
        )
        for entity in entities:
            if entity.existing is not None:
                entity.pk = entity.existing
        updating = [e for e in entities if e.action == "update" and e.existing in existing]
        self._update(kind, model, updating, existing)
        have = self._present(kind, [e.pk for e in updating if e.pk is not None])
        owned: dict[type[models.Model], list[dict[str, Any]]] = {
            Email: [],
            Phone: [],
            TaxId: [],
            Address: [],
        }
        added: dict[type[models.Model], list[dict[str, Any]]] = {
            Email: [],
            Phone: [],
            TaxId: [],
        }
        owner = f"{kind}_id"
        other = "person_id" if kind == "organization" else "organization_id"
        for entity in entities:
            if entity.same_as is not None or entity.pk is None or entity.action == "link":
                continue
            fresh = entity.action == "create"
            bucket = owned if fresh else added
            pk = entity.pk
            for email in entity.emails:
                if fresh or ("email", pk, email.address) not in have:
                    bucket[Email].append(
                        {
                            owner: pk,
                            other: None,
                            "address": email.address,
                            "kind": email.kind,
                            "is_primary": email.is_primary and fresh,
                        }
                    )
            for phone in entity.phones:
                if fresh or ("phone", pk, phone.number) not in have:
                    bucket[Phone].append(
                        {
                            owner: pk,
                            other: None,
                            "number": phone.number,
                            "kind": phone.kind,
                            "is_primary": phone.is_primary and fresh,
                        }
                    )
            for tax in entity.tax_ids:
                if fresh or ("tax", pk, tax.country, tax.kind) not in have:
                    bucket[TaxId].append(
                        {
                            "organization_id": pk,
                            "country": tax.country,
                            "kind": tax.kind,
                            "value": tax.value,
                        }
                    )
            for address in entity.addresses if fresh else []:
                owned[Address].append({owner: pk, other: None, **address.__dict__})
        for contact_model, contacts in owned.items():
            self.inserter.insert(contact_model, contacts)  # deleted with their new owner
        for contact_model, contacts in added.items():
            self.create(contact_model, contacts)  # added to an existing client: undo removes them

    def _present(self, kind: str, pks: list[int]) -> set[tuple[Any, ...]]:
        if not pks:
            return set()
        have: set[tuple[Any, ...]] = set()
        emails = Email.objects.filter(**{f"{kind}__in": pks}).values_list(f"{kind}_id", "address")
        have.update(("email", pk, address) for pk, address in emails)
        phones = Phone.objects.filter(**{f"{kind}__in": pks}).values_list(f"{kind}_id", "number")
        have.update(("phone", pk, number) for pk, number in phones)
        if kind == "organization":
            taxes = TaxId.objects.filter(organization__in=pks).values_list(
                "organization_id", "country", "kind"
            )
            have.update(("tax", pk, country, tax_kind) for pk, country, tax_kind in taxes)
        return have

    def _update(
        self,
        kind: str,
        model: type[models.Model],
        entities: list[Entity],
        existing: Mapping[Any, Any],
    ) -> None:
        """Fill in the mapped values that differ; the old ones are kept for undo."""
        changed_objs = []
        names: set[str] = set()
        done: set[int] = set()
        for entity in entities:
            obj = existing[entity.existing]
            if obj.pk in done:
                continue  # two rows of the file update the same record: the first one wins
            done.add(obj.pk)
            previous = {}
            for name in UPDATABLE[kind]:
                if name in entity.values and getattr(obj, name) != entity.values[name]:
                    previous[name] = _json(getattr(obj, name))
                    setattr(obj, name, entity.values[name])
            custom = entity.values.get("custom_data") or {}
            if custom and any(obj.custom_data.get(k) != v for k, v in custom.items()):
                previous["custom_data"] = dict(obj.custom_data)
                obj.custom_data = {**obj.custom_data, **custom}
            if previous:
                names.update(previous)
                changed_objs.append(obj)
            self.track(model, obj.pk, ImportedRecord.Action.UPDATED, previous=previous)
        if changed_objs:
            for obj in changed_objs:
                obj.updated_at = self.now
            bulk_update_with_history(
                changed_objs,
                model,
                [*sorted(names), "updated_at"],
                default_user=self.actor,
                default_change_reason=self.reason,
            )

    def flush(self) -> None:
        batch = self.batch.pk
        self.inserter.insert_plain_values(
            ImportedRecord,
            ("batch_id", "content_type_id", "object_id", "action", "row", "previous"),
            [(batch, *record) for record in self.tracked],
        )
        self.tracked = []
        if self.ranges:
            self._track_ranges()
        self.inserter.finish()

    def _track_ranges(self) -> None:
        """The ImportedRecord rows of `ranges`, copied from the records' ids by SQL."""
        quote = connection.ops.quote_name
        meta = ImportedRecord._meta
        fields = {f.name: f for f in meta.concrete_fields}
        columns = ", ".join(
            quote(str(fields[name].column))
            for name in ("batch", "content_type", "object_id", "action", "row", "previous")
        )
        previous = fields["previous"].get_db_prep_save({}, connection)
        with connection.cursor() as cursor:
            for model, kind, first, last in self.ranges:
                # Names from the models' metadata, values as parameters.
                cursor.execute(
                    f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
                    f"SELECT %s, %s, r.id, %s, 0, %s FROM {quote(model._meta.db_table)} AS r "
                    "WHERE r.id BETWEEN %s AND %s ORDER BY r.id",
                    [self.batch.pk, kind, ImportedRecord.Action.CREATED, previous, first, last],
                )
        self.ranges = []


def _json(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    return value


def restore_value(model: type[models.Model], name: str, value: Any) -> Any:
    """A value kept by `_json` back in the field's type."""
    field_ = model._meta.get_field(name)
    if isinstance(field_, models.DateField) and isinstance(value, str):
        with contextlib.suppress(ValueError):
            return date.fromisoformat(value)
    return value
