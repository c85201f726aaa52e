"""Pipelines, their ordered stages, and deals moving through them.

Every write validates first (FieldErrors, nothing saved) and then runs in one transaction with
its events (`crm.deal.created`, `crm.deal.stage_changed`, `crm.deal.won`, `crm.deal.lost`).
Changing a deal's stage or status locks the deal row first, so two people dragging the same
card cannot both "win" it or emit events for a move that was overwritten.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from django.db import models, transaction
from django.db.models import Count, F, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.events import emit
from konvergo.crm.choices import DealStatus
from konvergo.crm.currencies import ISO_4217
from konvergo.crm.models import Deal, Organization, Person, Pipeline, Stage
from konvergo.crm.services.custom_fields import custom_data_clean
from konvergo.org.models import User
from konvergo.org.permissions import visible

AMOUNT_DIGITS = 14  # Deal.amount: max_digits=14, decimal_places=2
AMOUNT_PLACES = 2
CENT = Decimal("0.01")
DEAL_FIELDS = frozenset(
    {
        "title",
        "organization",
        "person",
        "pipeline",
        "stage",
        "amount",
        "currency",
        "expected_close",
        "owner",
        "custom_data",
    }
)


# --- shared validation (quotes use these too) ------------------------------------------------


def currency_clean(value: Any, errors: dict[str, list[str]], name: str = "currency") -> str:
    """`value` as an upper-case ISO 4217 code; adds a message to `errors` when it is not one."""
    code = value.strip().upper() if isinstance(value, str) else ""
    if code not in ISO_4217:
        errors.setdefault(name, []).append(
            _("%(value)s is not an ISO 4217 currency code (e.g. EUR, USD, PLN).") % {"value": value}
        )
    return code


def decimal_clean(
    value: Any,
    errors: dict[str, list[str]],
    name: str,
    *,
    digits: int,
    places: int,
    maximum: Decimal | None = None,
) -> Decimal:
    """A non-negative Decimal fitting `digits` with at most `places` decimals (else an error)."""
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        errors.setdefault(name, []).append(_("Enter a number."))
        return Decimal(0)
    if not number.is_finite():
        errors.setdefault(name, []).append(_("Enter a number."))
        return Decimal(0)
    problems = errors.setdefault(name, [])
    if number < 0:
        problems.append(_("Must not be negative."))
    elif maximum is not None and number > maximum:
        problems.append(_("Must be at most %(maximum)s.") % {"maximum": maximum})
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > places:
        problems.append(_("At most %(places)d decimal places.") % {"places": places})
    elif abs(number) >= Decimal(10) ** (digits - places):
        problems.append(_("The number is too large."))
    if not problems:
        del errors[name]
    return number


def text_clean(
    value: Any, errors: dict[str, list[str]], name: str, *, max_length: int, required: bool
) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if value is not None and not isinstance(value, str):
        errors.setdefault(name, []).append(_("Enter a text."))
    elif required and not text:
        errors.setdefault(name, []).append(_("This field is required."))
    elif len(text) > max_length:
        errors.setdefault(name, []).append(_("At most %(max)d characters.") % {"max": max_length})
    return text


# --- pipelines ------------------------------------------------------------------------------


def pipeline_create(
    *, name: str, stages: Iterable[Mapping[str, Any]], is_default: bool = False
) -> Pipeline:
    """A pipeline with its stages in the given order: [{"name", "probability", "is_won",
    "is_lost"}]. The first pipeline, or one created with `is_default`, becomes the default."""
    errors: dict[str, list[str]] = {}
    name = text_clean(name, errors, "name", max_length=120, required=True)
    if name and Pipeline.objects.filter(name__iexact=name).exists():
        errors.setdefault("name", []).append(_("A pipeline with this name exists."))
    rows = list(stages)
    if not rows:
        errors["stages"] = [_("A pipeline needs at least one stage.")]
    cleaned: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        key = f"stages.{index}"
        stage_name = text_clean(
            row.get("name"), errors, f"{key}.name", max_length=120, required=True
        )
        if stage_name.casefold() in seen:
            errors.setdefault(f"{key}.name", []).append(_("Stage names must differ."))
        seen.add(stage_name.casefold())
        probability = row.get("probability", 0)
        if (
            isinstance(probability, bool)
            or not isinstance(probability, int)
            or not 0 <= probability <= 100
        ):
            errors.setdefault(f"{key}.probability", []).append(
                _("Enter a whole number from 0 to 100.")
            )
        is_won, is_lost = bool(row.get("is_won", False)), bool(row.get("is_lost", False))
        if is_won and is_lost:
            errors.setdefault(key, []).append(_("A stage cannot be both won and lost."))
        cleaned.append(
            {"name": stage_name, "probability": probability, "is_won": is_won, "is_lost": is_lost}
        )
    if sum(1 for row in cleaned if row["is_won"]) > 1:
        errors.setdefault("stages", []).append(_("Only one stage may be the won stage."))
    if sum(1 for row in cleaned if row["is_lost"]) > 1:
        errors.setdefault("stages", []).append(_("Only one stage may be the lost stage."))
    if errors:
        raise FieldErrors(errors)

    with transaction.atomic():
        first = not Pipeline.objects.exists()
        if is_default:
            for other in Pipeline.objects.select_for_update().filter(is_default=True):
                other.is_default = False
                other.save(update_fields=["is_default", "updated_at"])
        pipeline = Pipeline.objects.create(name=name, is_default=is_default or first)
        for order, row in enumerate(cleaned, start=1):
            Stage.objects.create(pipeline=pipeline, order=order, **row)
    return pipeline


def default_pipeline() -> Pipeline | None:
    return Pipeline.objects.order_by("-is_default", "name").first()


def first_stage(pipeline: Pipeline) -> Stage | None:
    """Where new deals start: the first stage that is neither won nor lost."""
    stages = pipeline.stages.order_by("order")
    return stages.filter(is_won=False, is_lost=False).first() or stages.first()


# --- deals ----------------------------------------------------------------------------------


def _stage_error(stage: Stage, pipeline: Pipeline) -> FieldErrors:
    return FieldErrors(
        {
            "stage": [
                _("The stage %(stage)s belongs to another pipeline than %(pipeline)s.")
                % {"stage": stage.name, "pipeline": pipeline.name}
            ]
        }
    )


def _deal_payload(deal: Deal) -> dict[str, Any]:
    return {
        "deal": str(deal.public_id),
        "title": deal.title,
        "pipeline": deal.pipeline.name,
        "stage": deal.stage.name,
        "amount": str(deal.amount),
        "currency": deal.currency,
        "status": deal.status,
        "owner": deal.owner.username,
    }


def _validate_deal_fields(fields: Mapping[str, Any], errors: dict[str, list[str]]) -> None:
    """Check the plain fields present in `fields` and normalise them in place."""
    values: dict[str, Any] = dict(fields)
    if "title" in values:
        values["title"] = text_clean(
            values["title"], errors, "title", max_length=255, required=True
        )
    if "amount" in values:
        values["amount"] = decimal_clean(
            values["amount"], errors, "amount", digits=AMOUNT_DIGITS, places=AMOUNT_PLACES
        )
    if "currency" in values:
        values["currency"] = currency_clean(values["currency"], errors)
    if "expected_close" in values:
        value = values["expected_close"]
        if value is not None and not isinstance(value, date):
            errors.setdefault("expected_close", []).append(_("Enter a date."))
    if "organization" in values and not isinstance(values["organization"], Organization | None):
        errors.setdefault("organization", []).append(_("Choose an organisation."))
    if "person" in values and not isinstance(values["person"], Person | None):
        errors.setdefault("person", []).append(_("Choose a person."))
    if "owner" in values:
        owner = values["owner"]
        if not isinstance(owner, User) or not owner.is_active:
            errors.setdefault("owner", []).append(_("Choose an active user."))
    if isinstance(fields, dict):
        fields.update(values)


def _custom_data(data: Any, errors: dict[str, list[str]]) -> dict[str, Any]:
    """The deal's custom field values, cleaned; their errors join the others."""
    try:
        return custom_data_clean(target="deal", data=data)
    except FieldErrors as exc:
        errors.update(exc.errors)
        return {}


def _close(deal: Deal, status: str, now: Any) -> None:
    deal.status = status
    deal.closed_at = now


def _apply_stage(deal: Deal, stage: Stage, actor: Any, *, reason: str = "") -> bool:
    """Put the locked `deal` in `stage` with its status; emits the events. False: no change."""
    previous = deal.stage
    if previous.pk == stage.pk:
        return False
    was = deal.status
    deal.stage = stage
    now = timezone.now()
    if stage.is_won:
        _close(deal, DealStatus.WON, now)
        deal.lost_reason = ""
    elif stage.is_lost:
        _close(deal, DealStatus.LOST, now)
        deal.lost_reason = reason
    elif was != DealStatus.OPEN:  # dragged back from won/lost: open again
        deal.status = DealStatus.OPEN
        deal.closed_at = None
        deal.lost_reason = ""
    deal.save()
    emit(
        "crm.deal.stage_changed",
        subject=deal,
        payload={
            **_deal_payload(deal),
            "from_stage": previous.name,
            "to_stage": stage.name,
            "from_stage_id": str(previous.public_id),
            "to_stage_id": str(stage.public_id),
            "probability": stage.probability,
        },
        actor=actor,
    )
    _emit_closing(deal, was, actor)
    return True


def _emit_closing(deal: Deal, was: str, actor: Any) -> None:
    if deal.status == was:
        return
    if deal.status == DealStatus.WON:
        emit("crm.deal.won", subject=deal, payload=_deal_payload(deal), actor=actor)
    elif deal.status == DealStatus.LOST:
        emit(
            "crm.deal.lost",
            subject=deal,
            payload={**_deal_payload(deal), "reason": deal.lost_reason},
            actor=actor,
        )


def _locked(deal: Deal) -> Deal:
    return (
        Deal.objects.select_for_update(of=("self",))
        .select_related("pipeline", "stage", "owner")
        .get(pk=deal.pk)
    )


def _refresh(target: Deal, source: Deal) -> Deal:
    """Copy the saved state onto the caller's instance too, and return it."""
    for field_ in Deal._meta.concrete_fields:
        setattr(target, field_.attname, getattr(source, field_.attname))
    target._state.fields_cache = dict(source._state.fields_cache)
    return target


def deal_create(
    *,
    actor: User | None,
    title: str,
    pipeline: Pipeline | None = None,
    stage: Stage | None = None,
    organization: Organization | None = None,
    person: Person | None = None,
    amount: Decimal = Decimal("0"),
    currency: str = "EUR",
    expected_close: date | None = None,
    owner: User | None = None,
    custom_data: Mapping[str, Any] | None = None,
) -> Deal:
    """A new deal, in `stage` or the first stage of `pipeline` (default: the default pipeline).
    A deal created straight into a won or lost stage is closed at once."""
    fields: dict[str, Any] = {
        "title": title,
        "amount": amount,
        "currency": currency,
        "expected_close": expected_close,
        "organization": organization,
        "person": person,
        "owner": owner or actor,
    }
    errors: dict[str, list[str]] = {}
    _validate_deal_fields(fields, errors)
    if pipeline is None:
        pipeline = stage.pipeline if stage is not None else default_pipeline()
    if pipeline is None:
        errors.setdefault("pipeline", []).append(_("Create a pipeline first."))
    elif stage is None:
        stage = first_stage(pipeline)
        if stage is None:
            errors.setdefault("pipeline", []).append(_("The pipeline has no stages."))
    elif stage.pipeline_id != pipeline.pk:
        errors.update(_stage_error(stage, pipeline).errors)
    cleaned_custom = _custom_data(custom_data, errors)
    if errors:
        raise FieldErrors(errors)
    assert pipeline is not None and stage is not None  # noqa: S101  (checked above)

    with transaction.atomic(), acting_as(actor):
        deal = Deal(pipeline=pipeline, stage=stage, custom_data=cleaned_custom, **fields)
        now = timezone.now()
        if stage.is_won:
            _close(deal, DealStatus.WON, now)
        elif stage.is_lost:
            _close(deal, DealStatus.LOST, now)
        deal.save()
        emit("crm.deal.created", subject=deal, payload=_deal_payload(deal), actor=actor)
        _emit_closing(deal, DealStatus.OPEN, actor)
    return deal


def deal_update(*, actor: User | None, deal: Deal, **fields: Any) -> Deal:
    """Change the given fields. A new `stage` moves the deal (with its events); a new
    `pipeline` without a stage puts the deal in that pipeline's first stage."""
    unknown = set(fields) - DEAL_FIELDS
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on a deal")
    errors: dict[str, list[str]] = {}
    _validate_deal_fields(fields, errors)
    new_pipeline: Pipeline | None = fields.pop("pipeline", None)
    new_stage: Stage | None = fields.pop("stage", None)
    if new_pipeline is not None and new_stage is None and new_pipeline.pk != deal.pipeline_id:
        new_stage = first_stage(new_pipeline)
        if new_stage is None:
            errors.setdefault("pipeline", []).append(_("The pipeline has no stages."))
    if new_stage is not None:
        target = new_pipeline or deal.pipeline
        if new_stage.pipeline_id != target.pk:
            errors.update(_stage_error(new_stage, target).errors)
    if "custom_data" in fields:
        fields["custom_data"] = _custom_data(fields["custom_data"], errors)
    if errors:
        raise FieldErrors(errors)

    with transaction.atomic(), acting_as(actor):
        locked = _locked(deal)
        if (
            new_stage is not None
            and new_pipeline is None
            and new_stage.pipeline_id != locked.pipeline_id
        ):
            raise _stage_error(new_stage, locked.pipeline)  # the deal moved meanwhile
        for name, value in fields.items():
            setattr(locked, name, value)
        if new_pipeline is not None:
            locked.pipeline = new_pipeline
        if new_stage is None or not _apply_stage(locked, new_stage, actor):
            locked.save()
    return _refresh(deal, locked)


def deal_move_to_stage(*, actor: User | None, deal: Deal, stage: Stage) -> Deal:
    """Move the deal to `stage` of its pipeline; a won or lost stage closes it, an open stage
    re-opens a closed deal. A stage of another pipeline is refused (FieldErrors on "stage")."""
    if stage.pipeline_id != deal.pipeline_id:
        raise _stage_error(stage, deal.pipeline)
    with transaction.atomic(), acting_as(actor):
        locked = _locked(deal)
        if stage.pipeline_id != locked.pipeline_id:
            raise _stage_error(stage, locked.pipeline)
        _apply_stage(locked, stage, actor)
    return _refresh(deal, locked)


def deal_mark_won(*, actor: User | None, deal: Deal) -> Deal:
    """Win the deal: it moves to its pipeline's won stage (if it has one). Winning a won deal
    changes nothing."""
    with transaction.atomic(), acting_as(actor):
        locked = _locked(deal)
        if locked.status != DealStatus.WON:
            won = locked.pipeline.stages.filter(is_won=True).order_by("order").first()
            if won is None or not _apply_stage(locked, won, actor):
                was = locked.status
                _close(locked, DealStatus.WON, timezone.now())
                locked.lost_reason = ""
                locked.save()
                _emit_closing(locked, was, actor)
    return _refresh(deal, locked)


def deal_mark_lost(*, actor: User | None, deal: Deal, reason: str) -> Deal:
    """Lose the deal with a reason: it moves to its pipeline's lost stage (if it has one).
    Losing a lost deal again only updates the reason."""
    errors: dict[str, list[str]] = {}
    reason = text_clean(reason, errors, "reason", max_length=255, required=True)
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic(), acting_as(actor):
        locked = _locked(deal)
        if locked.status == DealStatus.LOST:
            if locked.lost_reason != reason:
                locked.lost_reason = reason
                locked.save()
        else:
            lost = locked.pipeline.stages.filter(is_lost=True).order_by("order").first()
            if lost is None or not _apply_stage(locked, lost, actor, reason=reason):
                was = locked.status
                _close(locked, DealStatus.LOST, timezone.now())
                locked.lost_reason = reason
                locked.save()
                _emit_closing(locked, was, actor)
    return _refresh(deal, locked)


def deal_delete(*, actor: User | None, deal: Deal) -> None:
    """Delete a deal that has no quotes (quotes are documents and must stay)."""
    if deal.quotes.exists():
        raise BusinessError(
            _("The deal has quotes; mark it lost instead of deleting it."),
            details={"field": "quotes"},
        )
    with transaction.atomic(), acting_as(actor):
        deal.delete()


# --- the board ------------------------------------------------------------------------------


@dataclass
class BoardColumn:
    stage: Stage
    count: int = 0
    totals: dict[str, Decimal] = field(default_factory=dict)  # currency -> sum of amounts
    deals: list[Deal] = field(default_factory=list)  # the first `per_stage`, newest first


@dataclass
class Board:
    pipeline: Pipeline
    columns: list[BoardColumn]


def deal_board(
    *,
    user: Any,
    pipeline: Pipeline,
    deals: models.QuerySet[Deal] | None = None,
    per_stage: int = 50,
) -> Board:
    """The Kanban board of a pipeline as `user` sees it: one column per stage with the count,
    the sums per currency and the newest `per_stage` deals (optionally pre-filtered `deals`).
    A read: three queries (stages, sums, cards) whatever the number of stages and deals."""
    stages = list(pipeline.stages.order_by("order"))
    columns = {stage.pk: BoardColumn(stage=stage) for stage in stages}
    rows = visible(user, deals if deals is not None else Deal.objects.all()).filter(
        pipeline=pipeline
    )
    for item in (
        rows.order_by()
        .values("stage_id", "currency")
        .annotate(count=Count("pk"), total=Sum("amount"))
    ):
        column = columns.get(item["stage_id"])
        if column is not None:
            column.count += item["count"]
            # Quantised: SQLite sums decimals as floating point.
            total = Decimal(item["total"] or 0).quantize(CENT, rounding=ROUND_HALF_UP)
            column.totals[item["currency"]] = total
    cards = (
        rows.select_related("organization", "person", "owner", "stage")
        .annotate(
            position=Window(
                RowNumber(),
                partition_by=[F("stage_id")],
                order_by=[F("created_at").desc(), F("pk").desc()],
            )
        )
        .filter(position__lte=per_stage)
        .order_by("stage__order", "position")
    )
    for deal in cards:
        columns[deal.stage_id].deals.append(deal)
    return Board(pipeline=pipeline, columns=[columns[stage.pk] for stage in stages])
