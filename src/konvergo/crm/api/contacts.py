"""CRM API: organisations and persons (the shared directory), their duplicates, merges,
ownership transfers and dossier timelines. Mounted at /api/v1/crm.

Each endpoint checks the permission for its action first (`require`), then reads through
`visible()`: a record the caller may not see answers 404, a missing permission 403. Invalid
field values answer 422 with the field names (`phones.0.number`), and nothing is saved. Users
named in a body (owner, to_user) are any active user: handing a client to a colleague does not
need the permission to browse the user directory.

(No `from __future__ import annotations` here: ninja builds the query-parameter models of the
list endpoints from the evaluated annotations.)
"""

from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

from django.db import models
from django.http import Http404, HttpRequest
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import AuthenticationError
from ninja.pagination import LimitOffsetPagination, paginate
from ninja.params.functions import Query as query_param

from konvergo.core.audit import acting_as
from konvergo.core.errors import FieldErrors, NotAllowed
from konvergo.crm.models import Organization, OwnershipTransfer, Person
from konvergo.crm.selectors import (
    dossier_timeline,
    organization_list,
    organization_rows,
    person_list,
    person_rows,
    primary,
)
from konvergo.crm.services.contacts import (
    organization_add_relation,
    organization_create,
    organization_delete,
    organization_update,
    person_create,
    person_delete,
    person_update,
)
from konvergo.crm.services.custom_fields import custom_params_filter
from konvergo.crm.services.duplicates import find_duplicates, organization_merge, person_merge
from konvergo.crm.services.transfer import (
    bulk_transfer_refusal,
    can_bulk_transfer,
    client_transfer,
    owner_bulk_transfer,
)
from konvergo.org.models import User
from konvergo.org.permissions import require, visible
from konvergo.org.schemas import PatchSchema, UserRef

router = Router(tags=["crm"])

MAX_PAGE = 200
CUSTOM_FILTERS = (
    "Custom fields filter as `cf_<key>=<value>`: text contains the value (any case); number, "
    "date (YYYY-MM-DD), choice and boolean (true/false) match exactly; a multi-choice "
    "parameter may repeat (all options); money matches a currency code; a link, a public id. "
    "An unknown key or a bad value answers 422 naming the parameter."
)
Client = Organization | Person

# --- shapes ---------------------------------------------------------------------------------


class WithPublicId(Schema):
    id: UUID

    @staticmethod
    def resolve_id(obj: Any) -> UUID:
        public_id: UUID = obj.public_id
        return public_id


class ClientRef(WithPublicId):
    """An organisation or person as another record refers to it."""

    name: str

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj)


class EmailIn(Schema):
    address: str
    kind: str = "work"
    is_primary: bool = False


class EmailOut(WithPublicId):
    address: str
    kind: str
    is_primary: bool


class PhoneIn(Schema):
    number: str = Field(description="E.164 (+48...) or national with `region`")
    kind: str = "work"
    is_primary: bool = False
    region: str = Field(
        "", description="ISO country of a national number; default: the address country"
    )


class PhoneOut(WithPublicId):
    number: str = Field(description="E.164")
    kind: str
    is_primary: bool


class TaxIdIn(Schema):
    country: str = Field(description="ISO 3166 code, e.g. PL")
    kind: str = Field(description="e.g. NIP, VAT, INN, KRS")
    value: str


class TaxIdOut(WithPublicId):
    country: str
    kind: str
    value: str = Field(description="compact form")


class AddressIn(Schema):
    kind: str = "office"
    street: str = ""
    postal_code: str = ""
    city: str = ""
    region: str = ""
    country: str = ""


class AddressOut(WithPublicId):
    kind: str
    street: str
    postal_code: str
    city: str
    region: str
    country: str


class _ContactOut(WithPublicId):
    owner: UserRef
    tags: list[str]
    notes: str
    custom_data: dict[str, Any]
    emails: list[EmailOut]
    phones: list[PhoneOut]
    addresses: list[AddressOut]
    primary_email: str | None
    primary_phone: str | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_tags(obj: Client) -> list[str]:
        return [tag.name for tag in obj.tags.all()]

    @staticmethod
    def resolve_primary_email(obj: Client) -> str | None:
        email = primary(obj.emails.all())
        return email.address if email else None

    @staticmethod
    def resolve_primary_phone(obj: Client) -> str | None:
        phone = primary(obj.phones.all())
        return phone.number if phone else None


class OrganizationOut(_ContactOut):
    legal_name: str
    short_name: str
    legal_form: str
    industry: str
    size: str
    website: str
    status: str
    tax_ids: list[TaxIdOut]


class EmploymentOut(Schema):
    organization: ClientRef
    role: str
    is_primary: bool


class PersonOut(_ContactOut):
    first_name: str
    last_name: str
    name: str
    position: str
    birthday: date | None
    language: str
    employments: list[EmploymentOut]

    @staticmethod
    def resolve_name(obj: Person) -> str:
        return str(obj)


class OrganizationIn(Schema):
    legal_name: str
    owner: UUID | None = Field(None, description="default: you")
    short_name: str = ""
    legal_form: str = ""
    industry: str = ""
    size: str = ""
    website: str = ""
    status: str = "lead"
    tags: list[str] = Field(default_factory=list, description="tag names")
    notes: str = ""
    emails: list[EmailIn] = Field(default_factory=list)
    phones: list[PhoneIn] = Field(default_factory=list)
    tax_ids: list[TaxIdIn] = Field(default_factory=list)
    addresses: list[AddressIn] = Field(default_factory=list)
    custom_data: dict[str, Any] | None = None


class OrganizationPatch(PatchSchema):
    """Fields left out stay; lists sent replace the organisation's lists."""

    nullable: ClassVar[frozenset[str]] = frozenset({"custom_data"})

    legal_name: str | None = None
    owner: UUID | None = None
    short_name: str | None = None
    legal_form: str | None = None
    industry: str | None = None
    size: str | None = None
    website: str | None = None
    status: str | None = None
    tags: list[str] | None = None
    notes: str | None = None
    emails: list[EmailIn] | None = None
    phones: list[PhoneIn] | None = None
    tax_ids: list[TaxIdIn] | None = None
    addresses: list[AddressIn] | None = None
    custom_data: dict[str, Any] | None = None


class PersonIn(Schema):
    last_name: str
    first_name: str = ""
    position: str = ""
    birthday: date | None = None
    language: str = ""
    owner: UUID | None = Field(None, description="default: you")
    tags: list[str] = Field(default_factory=list)
    notes: str = ""
    emails: list[EmailIn] = Field(default_factory=list)
    phones: list[PhoneIn] = Field(default_factory=list)
    addresses: list[AddressIn] = Field(default_factory=list)
    organization: UUID | None = Field(None, description="the employer")
    role: str = ""
    custom_data: dict[str, Any] | None = None


class PersonPatch(PatchSchema):
    """Fields left out stay; lists sent replace the person's lists; `organization` makes that
    organisation the person's main employer."""

    nullable: ClassVar[frozenset[str]] = frozenset({"custom_data", "birthday"})

    last_name: str | None = None
    first_name: str | None = None
    position: str | None = None
    birthday: date | None = None
    language: str | None = None
    owner: UUID | None = None
    tags: list[str] | None = None
    notes: str | None = None
    emails: list[EmailIn] | None = None
    phones: list[PhoneIn] | None = None
    addresses: list[AddressIn] | None = None
    organization: UUID | None = None
    role: str | None = None
    custom_data: dict[str, Any] | None = None


class OrganizationQuery(Schema):
    q: str | None = Field(None, description="name, e-mail, phone or tax id")
    status: list[str] | None = None
    owner: UUID | None = None
    tag: str | None = Field(None, description="tag name")
    created_after: date | None = None
    created_before: date | None = None
    ordering: str | None = Field(
        None, description="name, status, created, updated; '-' first for descending"
    )


class PersonQuery(Schema):
    q: str | None = Field(None, description="name, e-mail or phone")
    organization: UUID | None = None
    owner: UUID | None = None
    tag: str | None = None
    created_after: date | None = None
    created_before: date | None = None
    ordering: str | None = Field(
        None, description="last_name, first_name, created, updated; '-' first for descending"
    )


class DuplicateOut(Schema):
    id: UUID
    name: str
    owner: UserRef
    reasons: list[str]


class DuplicatesOut(Schema):
    items: list[DuplicateOut]
    hidden: int = Field(description="likely duplicates you may not see")


class MergeIn(Schema):
    source: UUID = Field(description="the record merged into this one and then deleted")


class TransferIn(Schema):
    to_user: UUID
    reason: str
    include_deals: bool = True
    include_activities: bool = True


class BulkTransferIn(Schema):
    from_user: UUID
    to_user: UUID
    reason: str


class TransferOut(WithPublicId):
    organization: ClientRef | None
    person: ClientRef | None
    from_user: UserRef
    to_user: UserRef
    by: UserRef | None
    reason: str
    moved: dict[str, int]
    created_at: datetime


class RelationIn(Schema):
    target: UUID
    kind: str = Field(description="parent (of target), branch (of target) or partner")


class RelationOut(WithPublicId):
    source: ClientRef
    target: ClientRef
    kind: str


class TimelineOut(Schema):
    kind: str
    when: datetime
    title: str
    url: str
    planned: bool


# --- helpers --------------------------------------------------------------------------------


def allowed(request: HttpRequest, *checks: tuple[str, type[models.Model]]) -> User:
    user = request.user
    if not isinstance(user, User):  # unreachable: the API requires authentication
        raise AuthenticationError()
    for action, model in checks:
        require(user, action, model)
    return user


def get_visible(user: User, queryset: models.QuerySet[Any], public_id: UUID) -> Any:
    record = visible(user, queryset).filter(public_id=public_id).first()
    if record is None:
        raise Http404
    return record


def active_user(public_id: UUID, field: str) -> User:
    found = User.objects.filter(public_id=public_id, is_active=True).first()
    if found is None:
        raise FieldErrors({field: [_("No active user with this id.")]})
    return found


def body(payload: Schema, *, only_sent: bool = False) -> dict[str, Any]:
    """The payload as plain data (nested lists as dicts), for the services."""
    if only_sent:
        return payload.model_dump(include=set(payload.model_fields_set))
    return payload.model_dump()


def query_data(filters: Schema) -> MultiValueDict[str, Any]:
    """Query parameters in the form django-filter reads (lists for multi-valued ones)."""
    data: MultiValueDict[str, Any] = MultiValueDict()
    for name, value in filters.model_dump(exclude_none=True).items():
        data.setlist(name, [str(v) for v in value] if isinstance(value, list) else [str(value)])
    return data


def with_references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Public ids of a body turned into records."""
    if data.get("owner") is not None:
        data["owner"] = active_user(data["owner"], "owner")
    if data.get("organization") is not None:
        organization = visible(user, Organization.objects.all()).filter(
            public_id=data["organization"]
        )
        found = organization.first()
        if found is None:
            raise FieldErrors({"organization": [_("No such organisation.")]})
        data["organization"] = found
    return data


def duplicates_out(user: User, model: type[Client], **criteria: Any) -> dict[str, Any]:
    found = find_duplicates(model=model, limit=20, **criteria)
    seen = set(
        visible(user, model._default_manager.all())
        .filter(pk__in=[d.record.pk for d in found])
        .values_list("pk", flat=True)
    )
    items = [
        {
            "id": d.record.public_id,
            "name": str(d.record),
            "owner": d.record.owner,
            "reasons": d.reasons,
        }
        for d in found
        if d.record.pk in seen
    ]
    return {"items": items[:10], "hidden": len(found) - len(items)}


def transfer_rows() -> models.QuerySet[OwnershipTransfer]:
    return OwnershipTransfer.objects.select_related(
        "organization", "person", "from_user", "to_user", "by"
    )


def timeline_out(user: User, record: Client, limit: int) -> list[TimelineOut]:
    return [
        TimelineOut(kind=i.kind, when=i.when, title=i.title, url=i.url, planned=i.planned)
        for i in dossier_timeline(user, record)[:limit]
    ]


TIMELINE_LIMIT = query_param(100, ge=1, le=500)

# --- organisations --------------------------------------------------------------------------


@router.get(
    "/organizations",
    response=list[OrganizationOut],
    summary="List organisations you may see",
    description=CUSTOM_FILTERS,
)
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def organizations_list(
    request: HttpRequest, filters: Query[OrganizationQuery]
) -> models.QuerySet[Organization]:
    user = allowed(request, ("view", Organization))
    rows = organization_list(user, query_data(filters), strict=True)
    return custom_params_filter(rows, "organization", request.GET)


@router.get(
    "/organizations/duplicates",
    response=DuplicatesOut,
    summary="Likely duplicates of an organisation about to be created",
)
def organizations_duplicates(
    request: HttpRequest, name: str = "", email: str = "", phone: str = "", tax_id: str = ""
) -> dict[str, Any]:
    user = allowed(request, ("view", Organization))
    return duplicates_out(
        user,
        Organization,
        name=name,
        emails=[email] if email else [],
        phones=[phone] if phone else [],
        tax_ids=[tax_id] if tax_id else [],
    )


@router.post(
    "/organizations",
    response={201: OrganizationOut},
    summary="Create an organisation (check /organizations/duplicates first)",
)
def organizations_create(request: HttpRequest, payload: OrganizationIn) -> Status[Organization]:
    user = allowed(request, ("add", Organization))
    data = with_references(user, body(payload))
    with acting_as(user):
        organization = organization_create(actor=user, **data)
    return Status(201, organization_rows().get(pk=organization.pk))


@router.get(
    "/organizations/{uuid:organization_id}", response=OrganizationOut, summary="One organisation"
)
def organizations_get(request: HttpRequest, organization_id: UUID) -> Organization:
    user = allowed(request, ("view", Organization))
    found: Organization = get_visible(user, organization_rows(), organization_id)
    return found


@router.patch(
    "/organizations/{uuid:organization_id}",
    response=OrganizationOut,
    summary="Change an organisation",
)
def organizations_update(
    request: HttpRequest, organization_id: UUID, payload: OrganizationPatch
) -> Organization:
    user = allowed(request, ("change", Organization))
    organization = get_visible(user, Organization.objects.all(), organization_id)
    data = with_references(user, body(payload, only_sent=True))
    with acting_as(user):
        organization_update(actor=user, organization=organization, **data)
    return organization_rows().get(pk=organization.pk)


@router.delete(
    "/organizations/{uuid:organization_id}",
    response={204: None},
    summary="Delete an organisation (refused while it has deals: merge it instead)",
)
def organizations_delete(request: HttpRequest, organization_id: UUID) -> Status[None]:
    user = allowed(request, ("delete", Organization))
    organization = get_visible(user, Organization.objects.all(), organization_id)
    with acting_as(user):
        organization_delete(actor=user, organization=organization)
    return Status(204, None)


@router.post(
    "/organizations/{uuid:organization_id}/merge",
    response=OrganizationOut,
    summary="Merge another organisation (source) into this one; the source is deleted",
)
def organizations_merge(
    request: HttpRequest, organization_id: UUID, payload: MergeIn
) -> Organization:
    user = allowed(request, ("change", Organization), ("delete", Organization))
    target = get_visible(user, Organization.objects.all(), organization_id)
    source = merge_source(user, Organization, payload.source)
    with acting_as(user):
        organization_merge(actor=user, source=source, target=target)
    return organization_rows().get(pk=target.pk)


@router.post(
    "/organizations/{uuid:organization_id}/transfer",
    response={201: TransferOut},
    summary="Hand the organisation (with its open deals and activities) to another user",
)
def organizations_transfer(
    request: HttpRequest, organization_id: UUID, payload: TransferIn
) -> Status[OwnershipTransfer]:
    user = allowed(request, ("change", Organization))
    organization = get_visible(user, Organization.objects.all(), organization_id)
    to_user = active_user(payload.to_user, "to_user")
    with acting_as(user):
        transfer = client_transfer(
            actor=user,
            to_user=to_user,
            reason=payload.reason,
            organization=organization,
            include_deals=payload.include_deals,
            include_activities=payload.include_activities,
        )
    return Status(201, transfer_rows().get(pk=transfer.pk))


@router.post(
    "/organizations/{uuid:organization_id}/relations",
    response={201: RelationOut},
    summary="Relate the organisation to another (parent of, branch of, partner of)",
)
def organizations_relate(
    request: HttpRequest, organization_id: UUID, payload: RelationIn
) -> Status[Any]:
    user = allowed(request, ("change", Organization))
    source = get_visible(user, Organization.objects.all(), organization_id)
    target = visible(user, Organization.objects.all()).filter(public_id=payload.target).first()
    if target is None:
        raise FieldErrors({"target": [_("No such organisation.")]})
    with acting_as(user):
        relation = organization_add_relation(
            actor=user, source=source, target=target, kind=payload.kind
        )
    return Status(201, relation)


@router.get(
    "/organizations/{uuid:organization_id}/timeline",
    response=list[TimelineOut],
    summary="The dossier timeline: planned actions first, then the past, newest first",
)
def organizations_timeline(
    request: HttpRequest, organization_id: UUID, limit: int = TIMELINE_LIMIT
) -> list[TimelineOut]:
    user = allowed(request, ("view", Organization))
    organization = get_visible(user, Organization.objects.all(), organization_id)
    return timeline_out(user, organization, limit)


# --- persons --------------------------------------------------------------------------------


@router.get(
    "/persons",
    response=list[PersonOut],
    summary="List persons you may see",
    description=CUSTOM_FILTERS,
)
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def persons_list(request: HttpRequest, filters: Query[PersonQuery]) -> models.QuerySet[Person]:
    user = allowed(request, ("view", Person))
    rows = person_list(user, query_data(filters), strict=True)
    return custom_params_filter(rows, "person", request.GET)


@router.get(
    "/persons/duplicates",
    response=DuplicatesOut,
    summary="Likely duplicates of a person about to be created",
)
def persons_duplicates(
    request: HttpRequest, name: str = "", email: str = "", phone: str = ""
) -> dict[str, Any]:
    user = allowed(request, ("view", Person))
    return duplicates_out(
        user,
        Person,
        name=name,
        emails=[email] if email else [],
        phones=[phone] if phone else [],
    )


@router.post(
    "/persons",
    response={201: PersonOut},
    summary="Create a person (check /persons/duplicates first)",
)
def persons_create(request: HttpRequest, payload: PersonIn) -> Status[Person]:
    user = allowed(request, ("add", Person))
    data = with_references(user, body(payload))
    with acting_as(user):
        person = person_create(actor=user, **data)
    return Status(201, person_rows().get(pk=person.pk))


@router.get("/persons/{uuid:person_id}", response=PersonOut, summary="One person")
def persons_get(request: HttpRequest, person_id: UUID) -> Person:
    user = allowed(request, ("view", Person))
    found: Person = get_visible(user, person_rows(), person_id)
    return found


@router.patch("/persons/{uuid:person_id}", response=PersonOut, summary="Change a person")
def persons_update(request: HttpRequest, person_id: UUID, payload: PersonPatch) -> Person:
    user = allowed(request, ("change", Person))
    person = get_visible(user, Person.objects.all(), person_id)
    data = with_references(user, body(payload, only_sent=True))
    with acting_as(user):
        person_update(actor=user, person=person, **data)
    return person_rows().get(pk=person.pk)


@router.delete("/persons/{uuid:person_id}", response={204: None}, summary="Delete a person")
def persons_delete(request: HttpRequest, person_id: UUID) -> Status[None]:
    user = allowed(request, ("delete", Person))
    person = get_visible(user, Person.objects.all(), person_id)
    with acting_as(user):
        person_delete(actor=user, person=person)
    return Status(204, None)


@router.post(
    "/persons/{uuid:person_id}/merge",
    response=PersonOut,
    summary="Merge another person (source) into this one; the source is deleted",
)
def persons_merge(request: HttpRequest, person_id: UUID, payload: MergeIn) -> Person:
    user = allowed(request, ("change", Person), ("delete", Person))
    target = get_visible(user, Person.objects.all(), person_id)
    source = merge_source(user, Person, payload.source)
    with acting_as(user):
        person_merge(actor=user, source=source, target=target)
    return person_rows().get(pk=target.pk)


@router.post(
    "/persons/{uuid:person_id}/transfer",
    response={201: TransferOut},
    summary="Hand the person (with their open deals and activities) to another user",
)
def persons_transfer(
    request: HttpRequest, person_id: UUID, payload: TransferIn
) -> Status[OwnershipTransfer]:
    user = allowed(request, ("change", Person))
    person = get_visible(user, Person.objects.all(), person_id)
    to_user = active_user(payload.to_user, "to_user")
    with acting_as(user):
        transfer = client_transfer(
            actor=user,
            to_user=to_user,
            reason=payload.reason,
            person=person,
            include_deals=payload.include_deals,
            include_activities=payload.include_activities,
        )
    return Status(201, transfer_rows().get(pk=transfer.pk))


@router.get(
    "/persons/{uuid:person_id}/timeline",
    response=list[TimelineOut],
    summary="The person's dossier timeline: planned actions first, then the past",
)
def persons_timeline(
    request: HttpRequest, person_id: UUID, limit: int = TIMELINE_LIMIT
) -> list[TimelineOut]:
    user = allowed(request, ("view", Person))
    person = get_visible(user, Person.objects.all(), person_id)
    return timeline_out(user, person, limit)


# --- both -----------------------------------------------------------------------------------


def merge_source(user: User, model: type[Client], public_id: UUID) -> Client:
    """The record to merge away: one of `model` the caller sees; a record of the other kind is
    passed on so the service refuses the cross-type merge in words."""
    for candidate in (model, Person if model is Organization else Organization):
        rows: models.QuerySet[Any] = candidate._default_manager.all()
        found = visible(user, rows).filter(public_id=public_id).first()
        if isinstance(found, Organization | Person):
            return found
    raise FieldErrors({"source": [_("No such record.")]})


@router.post(
    "/transfers/bulk",
    response={201: list[TransferOut]},
    summary="Hand everything a (leaving) user owns to another user",
)
def transfers_bulk(request: HttpRequest, payload: BulkTransferIn) -> Status[Any]:
    user = allowed(request)
    if not can_bulk_transfer(user):
        raise NotAllowed(bulk_transfer_refusal(user))
    from_user = User.objects.filter(public_id=payload.from_user).first()
    if from_user is None:
        raise FieldErrors({"from_user": [_("No user with this id.")]})
    to_user = active_user(payload.to_user, "to_user")
    with acting_as(user):
        transfers = owner_bulk_transfer(
            actor=user, from_user=from_user, to_user=to_user, reason=payload.reason
        )
    rows = transfer_rows().filter(pk__in=[t.pk for t in transfers]).order_by("pk")
    return Status(201, list(rows))
