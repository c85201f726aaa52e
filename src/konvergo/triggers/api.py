"""The /api/v1/triggers part of the API: rules (list, create, change, delete) and the firing
log. Rules are configuration: the model permissions on trigger rules decide who sees them."""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations.

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db import models
from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from konvergo.org.api import allowed, writing
from konvergo.org.schemas import PatchSchema
from konvergo.triggers.models import TriggerFiring, TriggerRule
from konvergo.triggers.services import KNOWN_EVENTS, rule_create, rule_delete, rule_update

router = Router(tags=["triggers"])


class RuleOut(Schema):
    id: UUID
    name: str
    event: str
    condition: str
    action: str
    process_key: str
    message_name: str
    correlation_key: str
    webhook_url: str
    has_webhook_secret: bool
    variables: dict[str, str]
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: TriggerRule) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_has_webhook_secret(obj: TriggerRule) -> bool:
        return bool(obj.webhook_secret)


class RuleIn(Schema):
    name: str = Field(max_length=200)
    event: str = Field(max_length=120, description="e.g. integrations.call.missed; * is a glob.")
    condition: str = Field("", description="Safe expression on the event (payload keys).")
    action: str = Field("start_process", description="start_process, correlate or webhook.")
    process_key: str = ""
    message_name: str = ""
    correlation_key: str = Field("", description="Expression giving the business key.")
    webhook_url: str = ""
    webhook_secret: str = ""
    variables: dict[str, str] = Field(default_factory=dict)
    is_active: bool = True


class RulePatch(PatchSchema):
    name: str | None = None
    event: str | None = None
    condition: str | None = None
    action: str | None = None
    process_key: str | None = None
    message_name: str | None = None
    correlation_key: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    variables: dict[str, str] | None = None
    is_active: bool | None = None


class FiringOut(Schema):
    id: UUID
    rule: UUID
    rule_name: str
    event_id: UUID
    event_name: str
    status: str
    instance: UUID | None
    matched: int
    variables: dict[str, Any]
    error: str
    created_at: datetime

    @staticmethod
    def resolve_id(obj: TriggerFiring) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_rule(obj: TriggerFiring) -> UUID:
        return obj.rule.public_id

    @staticmethod
    def resolve_rule_name(obj: TriggerFiring) -> str:
        return obj.rule.name

    @staticmethod
    def resolve_instance(obj: TriggerFiring) -> UUID | None:
        return obj.instance.public_id if obj.instance else None


class FiringQuery(Schema):
    rule: UUID | None = None
    status: str | None = None
    event_name: str | None = Field(None, max_length=120)


def _rule(public_id: UUID) -> TriggerRule:
    rule = TriggerRule.objects.filter(public_id=public_id).first()
    if rule is None:
        raise Http404
    return rule


@router.get("/events", response=list[str], summary="Event names offered for rules")
def events_list(request: HttpRequest) -> list[str]:
    allowed(request, "view", TriggerRule)
    return list(KNOWN_EVENTS)


@router.get("/rules", response=list[RuleOut], summary="List trigger rules")
@paginate(LimitOffsetPagination, max_limit=200)
def rules_list(request: HttpRequest) -> models.QuerySet[TriggerRule]:
    allowed(request, "view", TriggerRule)
    return TriggerRule.objects.order_by("name", "pk")


@router.post("/rules", response={201: RuleOut}, summary="Create a trigger rule")
def rules_create(request: HttpRequest, payload: RuleIn) -> Status[TriggerRule]:
    user = allowed(request, "add", TriggerRule)
    with writing(user):
        rule = rule_create(actor=user, **payload.model_dump())
    return Status(201, rule)


@router.get("/rules/{rule_id}", response=RuleOut, summary="One trigger rule")
def rules_get(request: HttpRequest, rule_id: UUID) -> TriggerRule:
    allowed(request, "view", TriggerRule)
    return _rule(rule_id)


@router.patch("/rules/{rule_id}", response=RuleOut, summary="Change a trigger rule")
def rules_update(request: HttpRequest, rule_id: UUID, payload: RulePatch) -> TriggerRule:
    user = allowed(request, "change", TriggerRule)
    rule = _rule(rule_id)
    with writing(user):
        return rule_update(actor=user, rule=rule, **payload.changes())


@router.delete("/rules/{rule_id}", response={204: None}, summary="Delete a trigger rule")
def rules_delete(request: HttpRequest, rule_id: UUID) -> Status[None]:
    user = allowed(request, "delete", TriggerRule)
    rule = _rule(rule_id)
    with writing(user):
        rule_delete(actor=user, rule=rule)
    return Status(204, None)


@router.get("/firings", response=list[FiringOut], summary="The firing log, newest first")
@paginate(LimitOffsetPagination, max_limit=200)
def firings_list(request: HttpRequest, filters: Query[FiringQuery]) -> models.QuerySet[Any]:
    allowed(request, "view", TriggerRule)
    rows = TriggerFiring.objects.select_related("rule", "instance").order_by("-created_at", "-pk")
    if filters.rule:
        rows = rows.filter(rule__public_id=filters.rule)
    if filters.status:
        rows = rows.filter(status=filters.status)
    if filters.event_name:
        rows = rows.filter(event_name=filters.event_name)
    return rows
