"""Likely duplicates in the directory, and merging two records into one.

`find_duplicates` answers before a record is saved (and for imports): the same tax id, e-mail or
phone, or a similar normalised name, each match with its reasons in words. Names are compared
with difflib only over the few candidates an indexed prefix query returns, never over the table.

Merging moves everything that points at the source (contact data, employments, relations,
activities, deals with their quotes, campaign memberships, transfers, tags, and the records of
apps added later) to the target, fills the target's empty fields from the source, and deletes
the source; the target's audit trail and a `crm.<type>.merged` event record the merge.
"""

from __future__ import annotations

import contextlib
import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from django.db import IntegrityError, connection, models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError
from konvergo.core.events import emit
from konvergo.crm.models import (
    Address,
    CampaignMember,
    Email,
    Employment,
    Organization,
    OrganizationRelation,
    Person,
    Phone,
    TaxId,
)
from konvergo.crm.services.contacts import (
    normalize_name,
    person_normalized_name,
    phone_e164,
    tax_id_compact,
)
from konvergo.org.models import User

Record = Organization | Person
M = TypeVar("M", bound=models.Model)

SIMILAR = 0.85  # difflib ratio from which two normalised names count as similar
CANDIDATES = 300  # at most this many names are compared per search

# How much each kind of match weighs when ordering the results.
WEIGHT_TAX_ID = 8
WEIGHT_EMAIL = 4
WEIGHT_PHONE = 4
WEIGHT_NAME = 2


@dataclass
class Duplicate:
    """A record that may be the same client, and why."""

    record: Record
    reasons: list[str] = field(default_factory=list)
    weight: float = 0.0


# --- finding --------------------------------------------------------------------------------


def _contact_owner(model: type[Record]) -> str:
    return "organization" if model is Organization else "person"


def _tax_values(items: Iterable[Mapping[str, Any] | str]) -> set[str]:
    """The stored forms a tax id given by a user may have."""
    values: set[str] = set()
    for item in items:
        if isinstance(item, Mapping):
            raw = str(item.get("value") or "")
            country, kind = str(item.get("country") or ""), str(item.get("kind") or "")
            with contextlib.suppress(ValueError):  # a wrong number is still searched as typed
                values.add(tax_id_compact(country.upper(), kind.upper(), raw))
        else:
            raw = str(item)
        compact = re.sub(r"[\s\-./]", "", raw).upper()
        if len(compact) >= 4:
            values.add(compact)
            if compact[:2].isalpha() and compact[2:]:
                values.add(compact[2:])  # "PL5260250274" is stored as 5260250274 with PL
    return values


def _phone_filters(items: Iterable[Mapping[str, Any] | str]) -> tuple[set[str], set[str]]:
    """Full E.164 numbers, and the national digits of numbers given without a country."""
    exact: set[str] = set()
    endings: set[str] = set()
    for item in items:
        if isinstance(item, Mapping):
            number, region = str(item.get("number") or ""), str(item.get("region") or "")
        else:
            number, region = str(item), ""
        try:
            exact.add(phone_e164(number, region.upper()))
            continue
        except ValueError:
            pass
        digits = re.sub(r"\D", "", number).lstrip("0")
        if len(digits) >= 7:  # shorter endings match too many numbers to mean anything
            endings.add(digits)
    return exact, endings


def _similarity(a: str, b: str) -> float:
    """difflib's ratio, also with the words sorted ("Kowalski Jan" = "Jan Kowalski")."""
    plain = difflib.SequenceMatcher(None, a, b).ratio()
    if plain == 1.0 or " " not in a + b:
        return plain
    ordered = difflib.SequenceMatcher(
        None, " ".join(sorted(a.split())), " ".join(sorted(b.split()))
    )
    return max(plain, ordered.ratio())


def _name_candidates(model: type[Record], normalized: str) -> Q:
    """Names sharing a three-letter prefix with the name or one of its first words: an
    indexed `LIKE 'abc%'` per prefix."""
    prefixes = {normalized[:3]} | {word[:3] for word in normalized.split()[:3] if len(word) >= 3}
    match = Q(normalized_name=normalized)
    for prefix in prefixes:
        match |= _starting_with(prefix)
    return match


def _starting_with(prefix: str) -> Q:
    if connection.vendor == "sqlite":
        # SQLite's LIKE ignores case and so cannot use the index; normalised names are
        # lower-case already, and this range over the binary collation selects the same rows
        # through the index.
        return Q(normalized_name__gte=prefix, normalized_name__lt=prefix + "\U0010ffff")
    return Q(normalized_name__startswith=prefix)


def find_duplicates(
    *,
    model: type[Record],
    name: str = "",
    tax_ids: Iterable[Mapping[str, Any] | str] = (),
    emails: Iterable[Mapping[str, Any] | str] = (),
    phones: Iterable[Mapping[str, Any] | str] = (),
    exclude: Record | int | None = None,
    limit: int = 10,
    queryset: models.QuerySet[Any] | None = None,
) -> list[Duplicate]:
    """Records of `model` that may be the one described, strongest matches first.

    `name` is a legal name (organisations) or "first last" (persons); `tax_ids`, `emails` and
    `phones` are plain strings or the dicts the create services take. `exclude` leaves out the
    record being edited; `queryset` narrows the candidates (e.g. to those a user may see).
    """
    if model not in (Organization, Person):
        raise TypeError(f"find_duplicates() works on organisations and persons, not {model}")
    base = queryset if queryset is not None else model._default_manager.all()
    exclude_pk = exclude.pk if isinstance(exclude, Organization | Person) else exclude
    if exclude_pk is not None:
        base = base.exclude(pk=exclude_pk)
    allowed: Any = base.values("pk")  # a subquery of the candidates
    found: dict[int, Duplicate] = {}
    pending: dict[int, list[tuple[str, float]]] = {}

    def note(pk: int, reason: str, weight: float) -> None:
        pending.setdefault(pk, []).append((reason, weight))

    owner = _contact_owner(model)
    if model is Organization:
        values = _tax_values(tax_ids)
        if values:
            rows = TaxId.objects.filter(value__in=values, organization__in=allowed).values_list(
                "organization_id", "country", "kind", "value"
            )
            for pk, country, kind, value in rows:
                note(
                    pk,
                    _("Same tax id: %(country)s %(kind)s %(value)s")
                    % {"country": country, "kind": kind, "value": value},
                    WEIGHT_TAX_ID,
                )
    addresses = {(e.get("address") if isinstance(e, Mapping) else e) or "" for e in emails}
    addresses = {str(a).strip().lower() for a in addresses if str(a).strip()}
    if addresses:
        email_rows = Email.objects.filter(
            address__in=addresses, **{f"{owner}__in": allowed}
        ).values_list(f"{owner}_id", "address")
        for pk, address in email_rows:
            note(pk, _("Same e-mail: %(address)s") % {"address": address}, WEIGHT_EMAIL)
    exact, endings = _phone_filters(phones)
    if exact or endings:
        match = Q(number__in=exact)
        for digits in endings:
            match |= Q(number__endswith=digits)
        phone_rows = Phone.objects.filter(match, **{f"{owner}__in": allowed}).values_list(
            f"{owner}_id", "number"
        )
        for pk, number in phone_rows:
            note(pk, _("Same phone: %(number)s") % {"number": number}, WEIGHT_PHONE)
    normalized = (
        normalize_name(name) if model is Organization else normalize_name(name, legal_forms=False)
    )
    if len(normalized) >= 2:
        names = (
            base.filter(_name_candidates(model, normalized))
            .order_by("normalized_name")
            .values_list("pk", "normalized_name")[:CANDIDATES]
        )
        for pk, other in names:
            score = _similarity(normalized, other)
            if score == 1.0:
                note(pk, _("Same name"), WEIGHT_NAME + 1)
            elif score >= SIMILAR:
                note(
                    pk,
                    _("Similar name (%(percent)d%% alike)") % {"percent": int(score * 100)},
                    WEIGHT_NAME * score,
                )
    if not pending:
        return []
    records = model._default_manager.select_related("owner").in_bulk(list(pending))
    for pk, reasons in pending.items():
        record = records.get(pk)
        if record is None:
            continue
        duplicate = found.setdefault(pk, Duplicate(record=record))
        for reason, weight in reasons:
            if reason not in duplicate.reasons:
                duplicate.reasons.append(reason)
                duplicate.weight += weight
    ranked = sorted(found.values(), key=lambda d: (-d.weight, str(d.record)))
    return ranked[:limit]


# --- merging --------------------------------------------------------------------------------


def _check_pair(source: Any, target: Any, model: type[Record]) -> None:
    if not isinstance(source, model) or not isinstance(target, model):
        kinds = {Organization: _("an organisation"), Person: _("a person")}
        raise BusinessError(
            _("Only two records of the same kind can be merged, here %(source)s into %(target)s.")
            % {
                "source": kinds.get(type(source), type(source).__name__),
                "target": kinds.get(type(target), type(target).__name__),
            },
            details={"field": "source"},
        )
    if source.pk == target.pk:
        raise BusinessError(
            _("A record cannot be merged into itself."), details={"field": "source"}
        )


def _locked(model: type[M], *records: models.Model) -> list[M]:
    """The records re-read under a row lock, always taken in primary-key order."""
    locked = model._default_manager.select_for_update().filter(pk__in=[r.pk for r in records])
    rows = {row.pk: row for row in locked.order_by("pk")}
    if len(rows) < len(records):
        raise BusinessError(_("One of the records no longer exists."), details={"field": "source"})
    return [rows[r.pk] for r in records]


def _move(
    rows: Sequence[M],
    fields: Mapping[str, Any],
    *,
    actor: User,
    reason: str,
    also: Sequence[str] = (),
) -> int:
    """Point `rows` elsewhere, writing their history in bulk (history-less models: plain
    update)."""
    if not rows:
        return 0
    model = type(rows[0])
    now = timezone.now()
    has_updated_at = any(f.name == "updated_at" for f in model._meta.get_fields())
    for row in rows:
        for name, value in fields.items():
            setattr(row, name, value)
        if has_updated_at:
            row.updated_at = now  # type: ignore[attr-defined]
    names = [*fields, *also, *(["updated_at"] if has_updated_at else [])]
    if hasattr(model, "history"):
        bulk_update_with_history(
            rows, model, names, default_user=actor, default_change_reason=reason
        )
    else:
        model._default_manager.bulk_update(rows, names)
    return len(rows)


def _drop(rows: Iterable[models.Model], reason: str) -> int:
    count = 0
    for row in rows:
        row._change_reason = reason  # type: ignore[attr-defined]
        row.delete()
        count += 1
    return count


def _merge_contact_points(
    source: Record, target: Record, *, actor: User, reason: str, counts: dict[str, int]
) -> None:
    owner = _contact_owner(type(target))
    for model, key, label in ((Email, "address", "emails"), (Phone, "number", "phones")):
        theirs = list(model.objects.filter(**{owner: target}))
        known = {getattr(row, key) for row in theirs}
        has_primary = any(row.is_primary for row in theirs)
        moving: list[Any] = []
        dropping: list[Any] = []
        for row in model.objects.filter(**{owner: source}).order_by("pk"):
            (dropping if getattr(row, key) in known else moving).append(row)
        if has_primary:
            for row in moving:
                row.is_primary = False
        # is_primary is written as it now stands on each row.
        counts[label] = _move(
            moving, {owner: target}, actor=actor, reason=reason, also=["is_primary"]
        )
        _drop(dropping, reason)
    target_addresses = {_address_key(a) for a in Address.objects.filter(**{owner: target})}
    moving_addresses: list[Address] = []
    dropping_addresses: list[Address] = []
    for address in Address.objects.filter(**{owner: source}):
        same = _address_key(address) in target_addresses
        (dropping_addresses if same else moving_addresses).append(address)
    counts["addresses"] = _move(moving_addresses, {owner: target}, actor=actor, reason=reason)
    _drop(dropping_addresses, reason)


def _address_key(a: Address) -> tuple[str, ...]:
    return (a.kind, a.street, a.postal_code, a.city, a.region, a.country)


def _merge_employments(
    source: Record, target: Record, *, actor: User, reason: str, counts: dict[str, int]
) -> None:
    """One employment per person and organisation: the target's wins, its empty role filled."""
    side, other = (
        ("organization", "person")
        if isinstance(target, Organization)
        else (
            "person",
            "organization",
        )
    )
    theirs = {getattr(e, f"{other}_id"): e for e in Employment.objects.filter(**{side: target})}
    moving, dropping = [], []
    for employment in Employment.objects.filter(**{side: source}):
        kept = theirs.get(getattr(employment, f"{other}_id"))
        if kept is None:
            moving.append(employment)
            continue
        dropping.append(employment)
        if not kept.role and employment.role:
            kept.role = employment.role
            kept._change_reason = reason  # type: ignore[attr-defined]
            kept.save()
    counts["employments"] = _move(moving, {side: target}, actor=actor, reason=reason)
    _drop(dropping, reason)


def _merge_relations(
    source: Organization, target: Organization, *, actor: User, reason: str, counts: dict[str, int]
) -> None:
    inverse = {"parent": "branch", "branch": "parent", "partner": "partner"}
    moved = 0
    for relation in OrganizationRelation.objects.filter(Q(source=source) | Q(target=source)):
        new_source = target.pk if relation.source_id == source.pk else relation.source_id
        new_target = target.pk if relation.target_id == source.pk else relation.target_id
        same = OrganizationRelation.objects.filter(
            Q(source_id=new_source, target_id=new_target, kind=relation.kind)
            | Q(source_id=new_target, target_id=new_source, kind=inverse[relation.kind])
        ).exclude(pk=relation.pk)
        if new_source == new_target or same.exists():
            _drop([relation], reason)
            continue
        relation.source_id = new_source
        relation.target_id = new_target
        relation._change_reason = reason  # type: ignore[attr-defined]
        relation.save()
        moved += 1
    counts["relations"] = moved


def _merge_tax_ids(
    source: Organization, target: Organization, *, actor: User, reason: str, counts: dict[str, int]
) -> list[str]:
    """Tax ids move unless the target has one of the same country and kind (one each, by the
    unique constraint): then the target's stays, and the source's number is returned so it
    is kept in the notes."""
    theirs = {(t.country, t.kind): t for t in TaxId.objects.filter(organization=target)}
    moving, dropping, kept_aside = [], [], []
    for tax_id in TaxId.objects.filter(organization=source):
        existing = theirs.get((tax_id.country, tax_id.kind))
        if existing is None:
            moving.append(tax_id)
            continue
        dropping.append(tax_id)
        if existing.value != tax_id.value:
            kept_aside.append(f"{tax_id.country} {tax_id.kind} {tax_id.value}")
    counts["tax_ids"] = _move(moving, {"organization": target}, actor=actor, reason=reason)
    _drop(dropping, reason)
    return kept_aside


def _merge_memberships(
    source: Person, target: Person, *, actor: User, reason: str, counts: dict[str, int]
) -> None:
    theirs = set(CampaignMember.objects.filter(person=target).values_list("campaign_id", flat=True))
    moving: list[CampaignMember] = []
    dropping: list[CampaignMember] = []
    for member in CampaignMember.objects.filter(person=source):
        (dropping if member.campaign_id in theirs else moving).append(member)
    counts["campaign_memberships"] = _move(moving, {"person": target}, actor=actor, reason=reason)
    _drop(dropping, reason)


HANDLED = {
    Organization: {
        "tax_ids",
        "emails",
        "phones",
        "addresses",
        "employments",
        "relations_out",
        "relations_in",
    },
    Person: {"emails", "phones", "addresses", "employments", "campaign_memberships"},
}


def _merge_other_references(
    source: Record, target: Record, *, actor: User, reason: str, counts: dict[str, int]
) -> None:
    """Every other record that points at the source (deals, activities, transfers, and what
    later apps add: tickets, documents, ...) is pointed at the target."""
    model = type(target)
    for relation in model._meta.related_objects:
        accessor = relation.get_accessor_name()
        if accessor is None or accessor in HANDLED[model]:
            continue
        related = relation.related_model
        if not isinstance(related, type):
            continue
        if relation.many_to_many:
            manager_source = getattr(source, accessor)
            linked = list(manager_source.all())
            if linked:
                getattr(target, accessor).add(*linked)
                manager_source.clear()
            counts[accessor] = len(linked)
            continue
        name = relation.field.name
        rows = list(related._default_manager.filter(**{name: source}))
        try:
            with transaction.atomic():
                counts[accessor] = _move(rows, {name: target}, actor=actor, reason=reason)
        except IntegrityError as exc:
            raise BusinessError(
                _("The records cannot be merged: their %(things)s clash (%(error)s).")
                % {"things": related._meta.verbose_name_plural, "error": exc},
                details={"field": "source"},
            ) from exc


def _fill_empty(target: Record, source: Record, names: Iterable[str]) -> list[str]:
    filled = []
    for name in names:
        if getattr(target, name) in ("", None) and getattr(source, name) not in ("", None):
            setattr(target, name, getattr(source, name))
            filled.append(name)
    return filled


def _merge_notes(target: Record, source: Record, extra: Sequence[str]) -> None:
    parts = [target.notes.strip()]
    if source.notes.strip() and source.notes.strip() not in target.notes:
        parts.append(source.notes.strip())
    if extra:
        parts.append(
            _("Tax ids of the merged record %(name)s: %(ids)s")
            % {"name": source, "ids": "; ".join(extra)}
        )
    target.notes = "\n\n".join(p for p in parts if p)


def _merge(source: Record, target: Record, *, actor: User, model: type[Record]) -> Record:
    _check_pair(source, target, model)
    event = "crm.organization.merged" if model is Organization else "crm.person.merged"
    with acting_as(actor), transaction.atomic():
        source, target = _locked(model, source, target)
        reason = _("Merged %(source)s (%(id)s) into %(target)s") % {
            "source": source,
            "id": source.public_id,
            "target": target,
        }
        counts: dict[str, int] = {}
        kept_aside: list[str] = []
        filled: list[str] = []
        _merge_contact_points(source, target, actor=actor, reason=reason, counts=counts)
        _merge_employments(source, target, actor=actor, reason=reason, counts=counts)
        if isinstance(source, Organization) and isinstance(target, Organization):
            kept_aside = _merge_tax_ids(source, target, actor=actor, reason=reason, counts=counts)
            _merge_relations(source, target, actor=actor, reason=reason, counts=counts)
            filled = _fill_empty(
                target, source, ("short_name", "legal_form", "industry", "size", "website")
            )
        elif isinstance(source, Person) and isinstance(target, Person):
            _merge_memberships(source, target, actor=actor, reason=reason, counts=counts)
            filled = _fill_empty(target, source, ("first_name", "position", "birthday", "language"))
            target.normalized_name = person_normalized_name(target.first_name, target.last_name)
        _merge_other_references(source, target, actor=actor, reason=reason, counts=counts)
        tags = list(source.tags.all())
        target.tags.add(*tags)
        counts["tags"] = len(tags)
        custom = {**source.custom_data, **target.custom_data}
        if custom != target.custom_data:
            filled.append("custom_data")
        target.custom_data = custom
        _merge_notes(target, source, kept_aside)
        target._change_reason = reason  # type: ignore[union-attr]
        target.save()  # the target's history row that records the merge, by the actor
        source_id, source_name = str(source.public_id), str(source)
        source._change_reason = reason  # type: ignore[union-attr]
        source.delete()
        emit(
            event,
            subject=target,
            payload={
                "target": str(target.public_id),
                "source": source_id,
                "source_name": source_name,
                "moved": {k: v for k, v in counts.items() if v},
                "filled": filled,
                "tax_ids_kept_in_notes": kept_aside,
            },
            actor=actor,
        )
    return target


def organization_merge(*, actor: User, source: Any, target: Any) -> Organization:
    """Merge `source` into `target` (both organisations); returns the target."""
    return cast(Organization, _merge(source, target, actor=actor, model=Organization))


def person_merge(*, actor: User, source: Any, target: Any) -> Person:
    """Merge `source` into `target` (both persons); returns the target."""
    return cast(Person, _merge(source, target, actor=actor, model=Person))
