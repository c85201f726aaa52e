"""CRM API: pipelines, deals and the pipeline board.

Every endpoint checks the caller's permission for its action first (`require`, 403) and reads
through `visible()`: a deal the caller may not see answers 404. Records a body names (stage,
organisation, person, owner) are looked up by public id; one that does not exist or is not
visible to the caller is a field error (422), like any other invalid field, and nothing is
saved. The helpers here are shared by the activity and quote routers.
"""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations
# outside this module, so they must be real objects, not strings.

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar, TypeVar
from uuid import UUID

from django.db import models
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.params.functions import Query as query_param

from konvergo.core.errors import FieldErrors
from konvergo.crm.filters_deals import DealFilter
from konvergo.crm.models import Deal, Organization, Person, Pipeline, Stage
from konvergo.crm.services.custom_fields import custom_params_filter
from konvergo.crm.services.deals import (
    BoardColumn,
    deal_board,
    deal_create,
    deal_delete,
    deal_mark_lost,
    deal_mark_won,
    deal_move_to_stage,
    deal_update,
    pipeline_create,
)
from konvergo.org.api import allowed, get_visible, writing
from konvergo.org.models import User
from konvergo.org.permissions import visible
from konvergo.org.schemas import PatchSchema, UserRef

M = TypeVar("M", bound=models.Model)

MAX_PAGE = 200
router = Router(tags=["crm"])


# --- shared helpers -------------------------------------------------------------------------


def field_ref(
    user: User, queryset: models.QuerySet[M], public_id: UUID | None, field: str
) -> M | None:
    """The record a body names in `field`, if the caller may see it; else a 422 on `field`."""
    if public_id is None:
        return None
    record = visible(user, queryset).filter(public_id=public_id).first()
    if record is None:
        raise FieldErrors({field: [_("No such record: %(id)s") % {"id": public_id}]})
    return record


def owner_ref(public_id: UUID | None) -> User | None:
    """An owner named by public id: any active user (a colleague's id is not a secret)."""
    if public_id is None:
        return None
    found = User.objects.filter(public_id=public_id, is_active=True).first()
    if found is None:
        raise FieldErrors({"owner": [_("No such active user: %(id)s") % {"id": public_id}]})
    return found


def stage_ref(public_id: UUID, field: str = "stage") -> Stage:
    """Stages are configuration: whoever may change a deal may name any stage."""
    found = Stage.objects.select_related("pipeline").filter(public_id=public_id).first()
    if found is None:
        raise FieldErrors({field: [_("No such stage: %(id)s") % {"id": public_id}]})
    return found


def filtered(filterset_class: Any, queryset: models.QuerySet[M], query: Schema) -> Any:
    """Apply a django-filter FilterSet to `queryset` with the query's parameters (422 if bad)."""
    data = {key: str(value) for key, value in query.model_dump(exclude_none=True).items()}
    filterset = filterset_class(data=data, queryset=queryset)
    if not filterset.is_valid():
        raise FieldErrors({key: list(map(str, value)) for key, value in filterset.errors.items()})
    return filterset.qs


class RecordRef(Schema):
    """Another record as this one refers to it."""

    id: UUID
    name: str

    @staticmethod
    def resolve_id(obj: Any) -> UUID:
        public_id: UUID = obj.public_id
        return public_id

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj)


class MoneyOut(Schema):
    currency: str
    amount: Decimal


# --- schemas --------------------------------------------------------------------------------


class StageIn(Schema):
    name: str
    probability: int = 0
    is_won: bool = False
    is_lost: bool = False


class PipelineIn(Schema):
    name: str
    is_default: bool = False
    stages: list[StageIn]


class StageOut(Schema):
    id: UUID
    name: str
    order: int
    probability: int
    is_won: bool
    is_lost: bool

    @staticmethod
    def resolve_id(obj: Stage) -> UUID:
        return obj.public_id


class PipelineOut(Schema):
    id: UUID
    name: str
    is_default: bool
    stages: list[StageOut]

    @staticmethod
    def resolve_id(obj: Pipeline) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_stages(obj: Pipeline) -> list[Stage]:
        return list(obj.stages.all())


class StageRef(Schema):
    id: UUID
    name: str
    probability: int

    @staticmethod
    def resolve_id(obj: Stage) -> UUID:
        return obj.public_id


class DealOut(Schema):
    id: UUID
    title: str
    pipeline: RecordRef
    stage: StageRef
    status: str
    amount: Decimal
    currency: str
    expected_close: date | None
    closed_at: datetime | None
    lost_reason: str
    organization: RecordRef | None
    person: RecordRef | None
    owner: UserRef
    custom_data: dict[str, Any]
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Deal) -> UUID:
        return obj.public_id


class DealIn(Schema):
    title: str
    pipeline: UUID | None = Field(None, description="Default: the default pipeline.")
    stage: UUID | None = Field(None, description="Default: the pipeline's first stage.")
    organization: UUID | None = None
    person: UUID | None = None
    amount: Decimal = Decimal("0")
    currency: str = Field("EUR", description="ISO 4217 code.")
    expected_close: date | None = None
    owner: UUID | None = Field(None, description="Default: the caller.")
    custom_data: dict[str, Any] | None = None


class DealPatch(PatchSchema):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"organization", "person", "expected_close", "custom_data"}
    )

    title: str | None = None
    pipeline: UUID | None = None
    stage: UUID | None = None
    organization: UUID | None = None
    person: UUID | None = None
    amount: Decimal | None = None
    currency: str | None = None
    expected_close: date | None = None
    owner: UUID | None = None
    custom_data: dict[str, Any] | None = None


class DealQuery(Schema):
    q: str | None = Field(None, max_length=100, description="Words in title or client name.")
    pipeline: UUID | None = None
    stage: UUID | None = None
    status: str | None = None
    owner: UUID | None = None
    organization: UUID | None = None
    person: UUID | None = None
    currency: str | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    close_from: date | None = None
    close_to: date | None = None
    ordering: str | None = Field(
        None, description="title, amount, expected_close, created, updated, stage; '-' descends."
    )


class StageMoveIn(Schema):
    stage: UUID


class LostIn(Schema):
    reason: str


class DealCard(Schema):
    id: UUID
    title: str
    amount: Decimal
    currency: str
    status: str
    expected_close: date | None
    organization: RecordRef | None
    person: RecordRef | None
    owner: UserRef

    @staticmethod
    def resolve_id(obj: Deal) -> UUID:
        return obj.public_id


class BoardColumnOut(Schema):
    stage: StageOut
    count: int
    totals: list[MoneyOut]
    deals: list[DealCard]

    @staticmethod
    def resolve_totals(obj: BoardColumn) -> list[dict[str, Any]]:
        return [{"currency": code, "amount": total} for code, total in sorted(obj.totals.items())]


class BoardOut(Schema):
    pipeline: RecordRef
    columns: list[BoardColumnOut]


# --- pipelines ------------------------------------------------------------------------------


@router.get("/pipelines", response=list[PipelineOut], summary="List pipelines with their stages")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def pipelines_list(request: HttpRequest) -> models.QuerySet[Pipeline]:
    user = allowed(request, "view", Pipeline)
    return visible(user, Pipeline.objects.prefetch_related("stages")).order_by(
        "-is_default", "name"
    )


@router.post("/pipelines", response={201: PipelineOut}, summary="Create a pipeline and stages")
def pipelines_create(request: HttpRequest, payload: PipelineIn) -> Status[Pipeline]:
    user = allowed(request, "add", Pipeline)
    with writing(user):
        pipeline = pipeline_create(
            name=payload.name,
            stages=[stage.model_dump() for stage in payload.stages],
            is_default=payload.is_default,
        )
    return Status(201, Pipeline.objects.prefetch_related("stages").get(pk=pipeline.pk))


@router.get(
    "/pipelines/{pipeline_id}/board",
    response=BoardOut,
    summary="The pipeline's board: deals per stage with counts and sums per currency",
)
def pipelines_board(
    request: HttpRequest,
    pipeline_id: UUID,
    filters: Query[DealQuery],
    per_stage: int = query_param(50, ge=1, le=MAX_PAGE, description="Cards per column."),
) -> Any:
    user = allowed(request, "view", Deal)
    pipeline = Pipeline.objects.filter(public_id=pipeline_id).first()
    if pipeline is None:
        raise Http404
    deals = custom_params_filter(
        filtered(DealFilter, Deal.objects.all(), filters), "deal", request.GET
    )
    return deal_board(user=user, pipeline=pipeline, deals=deals, per_stage=per_stage)


# --- deals ----------------------------------------------------------------------------------


def deal_rows() -> models.QuerySet[Deal]:
    return Deal.objects.select_related("pipeline", "stage", "organization", "person", "owner")


def deal_references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Turn the public ids of a deal body into records, in place (422 for unknown ones)."""
    if data.get("pipeline") is not None:
        pipeline = Pipeline.objects.filter(public_id=data["pipeline"]).first()
        if pipeline is None:
            raise FieldErrors(
                {"pipeline": [_("No such pipeline: %(id)s") % {"id": data["pipeline"]}]}
            )
        data["pipeline"] = pipeline
    if data.get("stage") is not None:
        data["stage"] = stage_ref(data["stage"])
    if "organization" in data:
        data["organization"] = field_ref(
            user, Organization.objects.all(), data["organization"], "organization"
        )
    if "person" in data:
        data["person"] = field_ref(user, Person.objects.all(), data["person"], "person")
    if "owner" in data:
        data["owner"] = owner_ref(data["owner"])
    return data


@router.get(
    "/deals",
    response=list[DealOut],
    summary="List deals",
    description=(
        "Custom fields filter as `cf_<key>=<value>`: text contains the value (any case); "
        "number, date (YYYY-MM-DD), choice and boolean (true/false) match exactly; a "
        "multi-choice parameter may repeat (all options); money matches a currency code; a "
        "link, a public id. An unknown key or a bad value answers 422 naming the parameter."
    ),
)
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def deals_list(request: HttpRequest, filters: Query[DealQuery]) -> models.QuerySet[Deal]:
    user = allowed(request, "view", Deal)
    rows: models.QuerySet[Deal] = filtered(DealFilter, visible(user, deal_rows()), filters)
    rows = custom_params_filter(rows, "deal", request.GET)
    return rows if filters.ordering else rows.order_by("-created_at", "-pk")


@router.post("/deals", response={201: DealOut}, summary="Create a deal")
def deals_create(request: HttpRequest, payload: DealIn) -> Status[Deal]:
    user = allowed(request, "add", Deal)
    data = deal_references(user, payload.model_dump())
    with writing(user):
        deal = deal_create(actor=user, **data)
    return Status(201, deal_rows().get(pk=deal.pk))


@router.get("/deals/{deal_id}", response=DealOut, summary="One deal")
def deals_get(request: HttpRequest, deal_id: UUID) -> Deal:
    return get_visible(allowed(request, "view", Deal), deal_rows(), deal_id)


@router.patch("/deals/{deal_id}", response=DealOut, summary="Change a deal")
def deals_update(request: HttpRequest, deal_id: UUID, payload: DealPatch) -> Deal:
    user = allowed(request, "change", Deal)
    deal = get_visible(user, deal_rows(), deal_id)
    changes = deal_references(user, payload.changes())
    if "custom_data" in changes and changes["custom_data"] is None:
        changes["custom_data"] = {}
    with writing(user):
        deal_update(actor=user, deal=deal, **changes)
    return deal_rows().get(pk=deal.pk)


@router.delete("/deals/{deal_id}", response={204: None}, summary="Delete a deal")
def deals_delete(request: HttpRequest, deal_id: UUID) -> Status[None]:
    user = allowed(request, "delete", Deal)
    deal = get_visible(user, Deal.objects.all(), deal_id)
    with writing(user):
        deal_delete(actor=user, deal=deal)
    return Status(204, None)


@router.post(
    "/deals/{deal_id}/stage",
    response=DealOut,
    summary="Move a deal to another stage of its pipeline (won/lost stages close it)",
)
def deals_move(request: HttpRequest, deal_id: UUID, payload: StageMoveIn) -> Deal:
    user = allowed(request, "change", Deal)
    deal = get_visible(user, deal_rows(), deal_id)
    stage = stage_ref(payload.stage)
    with writing(user):
        deal_move_to_stage(actor=user, deal=deal, stage=stage)
    return deal_rows().get(pk=deal.pk)


@router.post("/deals/{deal_id}/won", response=DealOut, summary="Mark a deal won")
def deals_won(request: HttpRequest, deal_id: UUID) -> Deal:
    user = allowed(request, "change", Deal)
    deal = get_visible(user, deal_rows(), deal_id)
    with writing(user):
        deal_mark_won(actor=user, deal=deal)
    return deal_rows().get(pk=deal.pk)


@router.post("/deals/{deal_id}/lost", response=DealOut, summary="Mark a deal lost, with a reason")
def deals_lost(request: HttpRequest, deal_id: UUID, payload: LostIn) -> Deal:
    user = allowed(request, "change", Deal)
    deal = get_visible(user, deal_rows(), deal_id)
    with writing(user):
        deal_mark_lost(actor=user, deal=deal, reason=payload.reason)
    return deal_rows().get(pk=deal.pk)
