"""CRM API: custom fields (administration) and campaigns with their members and export.

Each endpoint checks the caller's permission first (`require`, 403): custom fields need
`crm.<action>_customfield`; campaigns `crm.<action>_campaign`, and filling a campaign,
changing a member or exporting counts as changing / viewing the campaign. Campaigns are read
through `visible()` (a campaign belongs to its owner): one the caller may not see is a 404.
Invalid input is a 422 with field errors and saves nothing.
"""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations
# outside this module, so they must be real objects, not strings.

import re
from datetime import date, datetime
from typing import Any, ClassVar, Literal
from uuid import UUID

from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from konvergo.crm.choices import CustomFieldTarget
from konvergo.crm.models import Campaign, CampaignMember, CustomField, Person
from konvergo.crm.services.campaigns import (
    EXPORT_CONTENT_TYPES,
    campaign_create,
    campaign_delete,
    campaign_fill_from_segment,
    campaign_member_set_status,
    campaign_members,
    campaign_members_export,
    campaign_update,
    segment_persons,
)
from konvergo.crm.services.custom_fields import (
    custom_field_create,
    custom_field_delete,
    custom_field_update,
)
from konvergo.org.api import allowed, get_visible, writing
from konvergo.org.permissions import require, visible
from konvergo.org.schemas import PatchSchema, UserRef

MAX_PAGE = 200
router = Router(tags=["crm"])


# --- custom fields --------------------------------------------------------------------------


class CustomFieldOut(Schema):
    id: UUID
    target: str
    key: str
    label: str
    field_type: str
    options: list[str]
    required: bool
    order: int

    @staticmethod
    def resolve_id(obj: CustomField) -> UUID:
        return obj.public_id


class CustomFieldIn(Schema):
    target: str = Field(description="organization, person or deal")
    key: str = Field(description="Lower-case letters, digits and underscores; fixed once made.")
    label: str
    field_type: str = Field(
        description="text, number, date, choice, multi_choice, boolean, money or link"
    )
    options: list[str] = Field(
        default_factory=list,
        description="The choices of a (multi-)choice field; for a link, the record types it "
        "may point at (crm.organization, crm.person, crm.deal; none = any).",
    )
    required: bool = False
    order: int = 0


class CustomFieldPatch(PatchSchema):
    label: str | None = None
    options: list[str] | None = None
    required: bool | None = None
    order: int | None = None


@router.get(
    "/custom-fields", response=list[CustomFieldOut], summary="List custom field definitions"
)
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def custom_fields_list(
    request: HttpRequest, target: CustomFieldTarget | None = None
) -> models.QuerySet[CustomField]:
    allowed(request, "view", CustomField)
    rows = CustomField.objects.all()
    if target is not None:
        rows = rows.filter(target=target)
    return rows.order_by("target", "order", "label", "pk")


@router.post("/custom-fields", response={201: CustomFieldOut}, summary="Add a custom field")
def custom_fields_create(request: HttpRequest, payload: CustomFieldIn) -> Status[CustomField]:
    user = allowed(request, "add", CustomField)
    with writing(user):
        created = custom_field_create(**payload.model_dump())
    return Status(201, created)


def _custom_field(public_id: UUID) -> CustomField:
    found = CustomField.objects.filter(public_id=public_id).first()
    if found is None:
        raise Http404
    return found


@router.patch(
    "/custom-fields/{field_id}",
    response=CustomFieldOut,
    summary="Change a custom field's label, options, required flag or order",
)
def custom_fields_update(
    request: HttpRequest, field_id: UUID, payload: CustomFieldPatch
) -> CustomField:
    user = allowed(request, "change", CustomField)
    field = _custom_field(field_id)
    with writing(user):
        return custom_field_update(field=field, **payload.changes())


@router.delete(
    "/custom-fields/{field_id}",
    response={204: None},
    summary="Delete a custom field and its values on every record",
)
def custom_fields_delete(request: HttpRequest, field_id: UUID) -> Status[None]:
    user = allowed(request, "delete", CustomField)
    field = _custom_field(field_id)
    with writing(user):
        custom_field_delete(field=field)
    return Status(204, None)


# --- campaigns ------------------------------------------------------------------------------

SEGMENT_HELP = (
    'A saved filter over persons, e.g. {"organization_status": ["customer"], "tags": ["vip"], '
    '"q": "text", "has_email": true}; see konvergo.crm.services.campaigns for every key.'
)


class CampaignOut(Schema):
    id: UUID
    name: str
    description: str
    segment: dict[str, Any]
    starts_on: date | None
    ends_on: date | None
    owner: UserRef
    members: int
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Campaign) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_members(obj: Campaign) -> int:
        return int(getattr(obj, "member_count", 0))


class CampaignIn(Schema):
    name: str
    description: str = ""
    segment: dict[str, Any] = Field(default_factory=dict, description=SEGMENT_HELP)
    starts_on: date | None = None
    ends_on: date | None = None


class CampaignPatch(PatchSchema):
    nullable: ClassVar[frozenset[str]] = frozenset({"starts_on", "ends_on"})

    name: str | None = None
    description: str | None = None
    segment: dict[str, Any] | None = Field(None, description=SEGMENT_HELP)
    starts_on: date | None = None
    ends_on: date | None = None


class FillOut(Schema):
    added: int
    members: int


class SegmentIn(Schema):
    segment: dict[str, Any] = Field(default_factory=dict, description=SEGMENT_HELP)


class SegmentCountOut(Schema):
    count: int


class PersonRef(Schema):
    id: UUID
    name: str

    @staticmethod
    def resolve_id(obj: Person) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_name(obj: Person) -> str:
        return str(obj)


class MemberOut(Schema):
    id: UUID
    person: PersonRef
    organization: str
    email: str
    phone: str
    status: str
    response: str
    responded_at: datetime | None

    @staticmethod
    def resolve_id(obj: CampaignMember) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_organization(obj: CampaignMember) -> str:
        employments = list(obj.person.employments.all())
        return str(employments[0].organization) if employments else ""

    @staticmethod
    def resolve_email(obj: CampaignMember) -> str:
        emails = list(obj.person.emails.all())
        return emails[0].address if emails else ""

    @staticmethod
    def resolve_phone(obj: CampaignMember) -> str:
        phones = list(obj.person.phones.all())
        return phones[0].number if phones else ""


class MemberPatch(Schema):
    status: str = Field(description="planned, contacted, responded, converted or opted_out")
    response: str = ""


def campaign_rows() -> models.QuerySet[Campaign]:
    return Campaign.objects.select_related("owner").annotate(member_count=models.Count("members"))


def _campaign(user: Any, public_id: UUID) -> Campaign:
    return get_visible(user, campaign_rows(), public_id)


@router.get("/campaigns", response=list[CampaignOut], summary="List campaigns")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def campaigns_list(request: HttpRequest) -> models.QuerySet[Campaign]:
    user = allowed(request, "view", Campaign)
    return visible(user, campaign_rows()).order_by("-created_at", "-pk")


@router.post("/campaigns", response={201: CampaignOut}, summary="Create a campaign")
def campaigns_create(request: HttpRequest, payload: CampaignIn) -> Status[Campaign]:
    user = allowed(request, "add", Campaign)
    with writing(user):
        created = campaign_create(actor=user, **payload.model_dump())
    return Status(201, campaign_rows().get(pk=created.pk))


@router.post(
    "/campaigns/segment-count",
    response=SegmentCountOut,
    summary="How many persons a segment selects (as the caller sees the directory)",
)
def campaigns_segment_count(request: HttpRequest, payload: SegmentIn) -> dict[str, int]:
    user = allowed(request, "view", Campaign)
    require(user, "view", Person)
    return {"count": segment_persons(user, payload.segment).count()}


@router.get("/campaigns/{campaign_id}", response=CampaignOut, summary="One campaign")
def campaigns_get(request: HttpRequest, campaign_id: UUID) -> Campaign:
    return _campaign(allowed(request, "view", Campaign), campaign_id)


@router.patch("/campaigns/{campaign_id}", response=CampaignOut, summary="Change a campaign")
def campaigns_update(request: HttpRequest, campaign_id: UUID, payload: CampaignPatch) -> Campaign:
    user = allowed(request, "change", Campaign)
    campaign = _campaign(user, campaign_id)
    with writing(user):
        campaign_update(actor=user, campaign=campaign, **payload.changes())
    return campaign_rows().get(pk=campaign.pk)


@router.delete("/campaigns/{campaign_id}", response={204: None}, summary="Delete a campaign")
def campaigns_delete(request: HttpRequest, campaign_id: UUID) -> Status[None]:
    user = allowed(request, "delete", Campaign)
    campaign = _campaign(user, campaign_id)
    with writing(user):
        campaign_delete(actor=user, campaign=campaign)
    return Status(204, None)


@router.post(
    "/campaigns/{campaign_id}/fill",
    response=FillOut,
    summary="Add the persons of the segment who are not members yet",
)
def campaigns_fill(request: HttpRequest, campaign_id: UUID) -> dict[str, int]:
    user = allowed(request, "change", Campaign)
    campaign = _campaign(user, campaign_id)
    with writing(user):
        added = campaign_fill_from_segment(campaign=campaign)
    return {"added": added, "members": CampaignMember.objects.filter(campaign=campaign).count()}


@router.get(
    "/campaigns/{campaign_id}/members",
    response=list[MemberOut],
    summary="The members of a campaign",
)
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def campaigns_members(
    request: HttpRequest, campaign_id: UUID, status: str | None = None
) -> models.QuerySet[CampaignMember]:
    user = allowed(request, "view", Campaign)
    require(user, "view", Person)  # members show names, e-mails and phones
    campaign = _campaign(user, campaign_id)
    rows = campaign_members(campaign)
    return rows.filter(status=status) if status else rows


@router.patch(
    "/campaigns/{campaign_id}/members/{member_id}",
    response=MemberOut,
    summary="Record a member's status and response",
)
def campaigns_member_update(
    request: HttpRequest, campaign_id: UUID, member_id: UUID, payload: MemberPatch
) -> CampaignMember:
    user = allowed(request, "change", Campaign)
    campaign = _campaign(user, campaign_id)
    member = CampaignMember.objects.filter(campaign=campaign, public_id=member_id).first()
    if member is None:
        raise Http404
    with writing(user):
        campaign_member_set_status(member=member, status=payload.status, response=payload.response)
    return campaign_members(campaign).get(pk=member.pk)


@router.get(
    "/campaigns/{campaign_id}/export",
    response={200: None},
    summary="The members as a CSV or XLSX file",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, as an attachment.",
                "content": {
                    content_type.split(";")[0]: {"schema": {"type": "string", "format": "binary"}}
                    for content_type in EXPORT_CONTENT_TYPES.values()
                },
            }
        }
    },
)
def campaigns_export(
    request: HttpRequest, campaign_id: UUID, format: Literal["csv", "xlsx"] = "csv"
) -> HttpResponse:
    user = allowed(request, "view", Campaign)
    require(user, "view", Person)  # the file holds names, e-mails and phones
    campaign = _campaign(user, campaign_id)
    content = campaign_members_export(campaign=campaign, file_format=format)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", campaign.name).strip("-.") or "campaign"
    response = HttpResponse(content, content_type=EXPORT_CONTENT_TYPES[format])
    response["Content-Disposition"] = f'attachment; filename="{stem[:80]}-members.{format}"'
    response["Cache-Control"] = "private, no-store"  # names, e-mails and phones
    return response
