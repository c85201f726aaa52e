"""CRM API: activities (calls, meetings, e-mails, notes, tasks), planned or done.

Same rules as the deal endpoints: permission first, reads through `visible()`, records named
in a body must be visible to the caller (422 on the field otherwise), nothing saved on errors.
Times must carry their offset (e.g. 2026-03-02T09:00:00+01:00).
"""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations
# outside this module, so they must be real objects, not strings.

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from django.db import models
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from konvergo.crm.api.deals import MAX_PAGE, RecordRef, field_ref, filtered, owner_ref
from konvergo.crm.filters_deals import ActivityFilter
from konvergo.crm.models import Activity, Deal, Organization, Person
from konvergo.crm.services.activities import (
    activity_complete,
    activity_create,
    activity_delete,
    activity_log_call,
    activity_update,
)
from konvergo.org.api import allowed, get_visible, writing
from konvergo.org.models import User
from konvergo.org.permissions import visible
from konvergo.org.schemas import PatchSchema, UserRef

router = Router(tags=["crm"])

RECURRENCE_HELP = (
    "RFC 5545 rule: FREQ=DAILY|WEEKLY|MONTHLY, optional INTERVAL=n, COUNT=n or UNTIL=YYYYMMDD, "
    "BYDAY=MO,WE with WEEKLY; e.g. FREQ=WEEKLY;INTERVAL=2;COUNT=5."
)


class ActivityOut(Schema):
    id: UUID
    kind: str
    subject: str
    description: str
    owner: UserRef
    organization: RecordRef | None
    person: RecordRef | None
    deal: RecordRef | None
    planned: bool
    due_at: datetime | None
    ends_at: datetime | None
    done_at: datetime | None
    outcome: str
    result: str
    reminder_at: datetime | None
    reminded_at: datetime | None
    recurrence: str
    archived: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Activity) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_planned(obj: Activity) -> bool:
        return obj.done_at is None


class ActivityIn(Schema):
    kind: str = Field(description="call, meeting, email, note or task.")
    subject: str
    description: str = ""
    owner: UUID | None = Field(None, description="Default: the caller.")
    organization: UUID | None = None
    person: UUID | None = None
    deal: UUID | None = None
    due_at: datetime | None = None
    ends_at: datetime | None = None
    reminder_at: datetime | None = None
    recurrence: str = Field("", description=RECURRENCE_HELP)


class ActivityPatch(PatchSchema):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"organization", "person", "deal", "due_at", "ends_at", "reminder_at"}
    )

    kind: str | None = None
    subject: str | None = None
    description: str | None = None
    owner: UUID | None = None
    organization: UUID | None = None
    person: UUID | None = None
    deal: UUID | None = None
    due_at: datetime | None = None
    ends_at: datetime | None = None
    reminder_at: datetime | None = None
    recurrence: str | None = Field(None, description=RECURRENCE_HELP)


class CallIn(Schema):
    subject: str
    organization: UUID | None = None
    person: UUID | None = None
    deal: UUID | None = None
    outcome: str = ""
    result: str = ""


class CompleteIn(Schema):
    outcome: str = ""
    result: str = ""


class ActivityQuery(Schema):
    q: str | None = Field(None, max_length=100)
    kind: str | None = None
    owner: UUID | None = None
    organization: UUID | None = None
    person: UUID | None = None
    deal: UUID | None = None
    done: bool | None = Field(None, description="true: done ones; false: planned ones.")
    overdue: bool | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None
    archived: bool | None = Field(False, description="Archived ones are left out by default.")
    ordering: str | None = Field(None, description="due, done, created; '-' descends.")


def activity_rows() -> models.QuerySet[Activity]:
    return Activity.objects.select_related("owner", "organization", "person", "deal")


def activity_references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Turn the public ids of an activity body into records, in place (422 for unknown)."""
    for field, queryset in (
        ("organization", Organization.objects.all()),
        ("person", Person.objects.all()),
        ("deal", Deal.objects.all()),
    ):
        if field in data:
            data[field] = field_ref(user, queryset, data[field], field)
    if "owner" in data:
        data["owner"] = owner_ref(data["owner"])
    return data


@router.get("/activities", response=list[ActivityOut], summary="List activities")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def activities_list(
    request: HttpRequest, filters: Query[ActivityQuery]
) -> models.QuerySet[Activity]:
    user = allowed(request, "view", Activity)
    rows: models.QuerySet[Activity] = filtered(
        ActivityFilter, visible(user, activity_rows()), filters
    )
    return rows if filters.ordering else rows.order_by("-due_at", "-created_at", "-pk")


@router.post("/activities", response={201: ActivityOut}, summary="Create an activity")
def activities_create(request: HttpRequest, payload: ActivityIn) -> Status[Activity]:
    user = allowed(request, "add", Activity)
    data = activity_references(user, payload.model_dump())
    with writing(user):
        activity = activity_create(actor=user, **data)
    return Status(201, activity_rows().get(pk=activity.pk))


@router.post(
    "/activities/calls", response={201: ActivityOut}, summary="Log a call that just happened"
)
def activities_log_call(request: HttpRequest, payload: CallIn) -> Status[Activity]:
    user = allowed(request, "add", Activity)
    data = activity_references(user, payload.model_dump())
    with writing(user):
        activity = activity_log_call(actor=user, **data)
    return Status(201, activity_rows().get(pk=activity.pk))


@router.get("/activities/{activity_id}", response=ActivityOut, summary="One activity")
def activities_get(request: HttpRequest, activity_id: UUID) -> Activity:
    return get_visible(allowed(request, "view", Activity), activity_rows(), activity_id)


@router.patch("/activities/{activity_id}", response=ActivityOut, summary="Change an activity")
def activities_update(request: HttpRequest, activity_id: UUID, payload: ActivityPatch) -> Activity:
    user = allowed(request, "change", Activity)
    activity = get_visible(user, activity_rows(), activity_id)
    changes = activity_references(user, payload.changes())
    with writing(user):
        activity_update(actor=user, activity=activity, **changes)
    return activity_rows().get(pk=activity.pk)


@router.delete("/activities/{activity_id}", response={204: None}, summary="Delete an activity")
def activities_delete(request: HttpRequest, activity_id: UUID) -> Status[None]:
    user = allowed(request, "delete", Activity)
    activity = get_visible(user, Activity.objects.all(), activity_id)
    with writing(user):
        activity_delete(actor=user, activity=activity)
    return Status(204, None)


@router.post(
    "/activities/{activity_id}/complete",
    response=ActivityOut,
    summary="Mark an activity done (a repeating one gets its next occurrence)",
)
def activities_complete(request: HttpRequest, activity_id: UUID, payload: CompleteIn) -> Activity:
    user = allowed(request, "change", Activity)
    activity = get_visible(user, activity_rows(), activity_id)
    with writing(user):
        activity_complete(
            actor=user, activity=activity, outcome=payload.outcome, result=payload.result
        )
    return activity_rows().get(pk=activity.pk)
