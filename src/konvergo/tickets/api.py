"""The /api/v1/tickets part of the API: tickets, their comments and escalations, queues, SLA
policies, priorities and categories.

Permission first (403), then visibility (a ticket the caller may not see is a 404). An edit
names the `version` it was made on; a stale one answers 409 and changes nothing. Records a body
names by public id that do not exist are field errors (422).
"""

# No `from __future__ import annotations`: ninja's @paginate re-reads the view's annotations.

from datetime import datetime
from typing import Any, ClassVar
from uuid import UUID

from django.db import models
from django.http import Http404, HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import LimitOffsetPagination, paginate

from konvergo.core.errors import FieldErrors
from konvergo.crm.models import Organization, Person, Tag
from konvergo.org.api import allowed, writing
from konvergo.org.models import Team, User
from konvergo.org.permissions import visible
from konvergo.org.schemas import PatchSchema, UserRef
from konvergo.tickets import choices
from konvergo.tickets.models import (
    AssignmentRule,
    Category,
    Comment,
    Escalation,
    EscalationLevel,
    Priority,
    Queue,
    SlaPolicy,
    Ticket,
    TicketLink,
)
from konvergo.tickets.selectors import LIST_RELATED, ticket_comments, ticket_list, tickets_visible
from konvergo.tickets.services import tickets as services
from konvergo.tickets.services.setup import (
    assignment_rule_create,
    assignment_rule_delete,
    category_create,
    escalation_level_create,
    escalation_level_delete,
    queue_create,
    sla_policy_create,
)

router = Router(tags=["tickets"])
MAX_PAGE = 200


class Ref(Schema):
    id: UUID
    name: str

    @staticmethod
    def resolve_id(obj: Any) -> UUID:
        public_id: UUID = obj.public_id
        return public_id

    @staticmethod
    def resolve_name(obj: Any) -> str:
        return str(obj)


class PriorityOut(Schema):
    id: UUID
    key: str
    name: str
    rank: int

    @staticmethod
    def resolve_id(obj: Priority) -> UUID:
        return obj.public_id


class CategoryOut(Schema):
    id: UUID
    name: str
    fields: list[dict[str, Any]]
    process_key: str
    process_auto: bool

    @staticmethod
    def resolve_id(obj: Category) -> UUID:
        return obj.public_id


class QueueIn(Schema):
    name: str
    team: UUID | None = None
    reopen_window_days: int = Field(14, ge=0, le=3650)


class QueueOut(Schema):
    id: UUID
    name: str
    team: Ref | None
    calendar: Ref | None
    reopen_window_days: int

    @staticmethod
    def resolve_id(obj: Queue) -> UUID:
        return obj.public_id


class SlaPolicyIn(Schema):
    name: str
    priority: str = Field(description="Priority key, e.g. P1.")
    category: UUID | None = None
    customer_tier: str = ""
    first_response_minutes: int = Field(description="Business minutes, > 0.")
    next_response_minutes: int = Field(description="Business minutes, > 0.")
    resolution_minutes: int = Field(description="Business minutes, > 0.")


class SlaPolicyOut(Schema):
    id: UUID
    name: str
    priority: str
    category: Ref | None
    customer_tier: str
    first_response_minutes: int
    next_response_minutes: int
    resolution_minutes: int

    @staticmethod
    def resolve_id(obj: SlaPolicy) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_priority(obj: SlaPolicy) -> str:
        return obj.priority.key


class TicketOut(Schema):
    id: UUID
    number: int
    subject: str
    description: str = Field(description="Sanitised HTML.")
    status: str
    priority: str
    queue: Ref
    category: Ref | None
    assignee: UserRef | None
    requester: Ref | None
    organization: Ref | None
    customer_tier: str
    custom_data: dict[str, Any]
    tags: list[str]
    parent: Ref | None
    version: int
    first_response_at: datetime | None
    first_response_due_at: datetime | None
    next_response_due_at: datetime | None
    resolution_due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    sla_paused: bool
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Ticket) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_priority(obj: Ticket) -> str:
        return obj.priority.key

    @staticmethod
    def resolve_sla_paused(obj: Ticket) -> bool:
        return obj.is_paused

    @staticmethod
    def resolve_tags(obj: Ticket) -> list[str]:
        return [tag.name for tag in obj.tags.all()]


class TicketIn(Schema):
    subject: str
    queue: UUID
    description: str = ""
    priority: str | None = Field(None, description="Priority key; default the lowest.")
    category: UUID | None = None
    requester: UUID | None = None
    organization: UUID | None = None
    assignee: UUID | None = Field(None, description="Default: the assignment rules.")
    custom_data: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list, description="Tag names.")
    parent: UUID | None = None


class TicketPatch(PatchSchema):
    nullable: ClassVar[frozenset[str]] = frozenset(
        {"category", "assignee", "requester", "organization", "parent"}
    )

    version: int = Field(description="The version you edited; a stale one answers 409.")
    subject: str | None = None
    description: str | None = None
    queue: UUID | None = None
    priority: str | None = None
    category: UUID | None = None
    assignee: UUID | None = None
    requester: UUID | None = None
    organization: UUID | None = None
    customer_tier: str | None = None
    custom_data: dict[str, Any] | None = None
    tags: list[str] | None = Field(None, description="Tag names; replaces the ticket's tags.")
    parent: UUID | None = Field(None, description="The parent ticket; null: none.")


class TransitionIn(Schema):
    status: str = Field(description=", ".join(choices.Status.values))
    version: int | None = Field(None, description="Optional: refuse (409) if it is stale.")


class CommentIn(Schema):
    body: str
    public: bool = Field(False, description="true: a reply the customer sees; false: a note.")


class CommentOut(Schema):
    id: UUID
    body: str
    is_public: bool
    from_customer: bool
    author_name: str
    created_at: datetime

    @staticmethod
    def resolve_id(obj: Comment) -> UUID:
        return obj.public_id


class EscalationOut(Schema):
    metric: str
    level: int
    name: str
    due_at: datetime
    fired_at: datetime
    notified: UserRef | None


class MergeIn(Schema):
    into: UUID


class SplitIn(Schema):
    subject: str
    comments: list[UUID] = Field(description="The comments that move to the new ticket.")


class LinkIn(Schema):
    target: UUID
    kind: str = Field("relates", description=", ".join(choices.LinkKind.values))


class LinkOut(Schema):
    source: Ref
    target: Ref
    kind: str


class CategoryIn(Schema):
    name: str
    fields: list[dict[str, Any]] = Field(
        default_factory=list, description='[{"key", "label", "required"}]'
    )
    process_key: str = ""
    process_auto: bool = False


class EscalationLevelIn(Schema):
    level: int = Field(..., ge=0, le=99)
    name: str
    percent: int = Field(100, description="Share of the target after which the level fires.")
    after_minutes: int = Field(0, description="Then this many business minutes more.")
    notify: str = Field(
        choices.Notify.ASSIGNEE.value, description="assignee, team_lead, department_head"
    )
    raise_priority: bool = False
    reassign_to: UUID | None = None


class AssignmentRuleIn(Schema):
    team: UUID
    strategy: str = Field(
        choices.Strategy.ROUND_ROBIN.value, description="round_robin, least_loaded"
    )
    queue: UUID | None = None
    category: UUID | None = None
    organization: UUID | None = None
    position: int = Field(0, ge=0, le=999)


class AssignmentRuleOut(Schema):
    id: UUID
    position: int
    queue: Ref | None
    category: Ref | None
    organization: Ref | None
    team: Ref
    strategy: str

    @staticmethod
    def resolve_id(obj: AssignmentRule) -> UUID:
        return obj.public_id


class EscalationLevelOut(Schema):
    id: UUID
    level: int
    name: str
    percent: int
    after_minutes: int
    notify: str
    raise_priority: bool
    reassign_to: UserRef | None

    @staticmethod
    def resolve_id(obj: EscalationLevel) -> UUID:
        return obj.public_id


class TicketQuery(Schema):
    queue: UUID | None = None
    status: str | None = None
    mine: bool = False
    open: bool = Field(False, description="Only tickets still being worked on.")
    q: str = Field("", max_length=100)


# --- references -----------------------------------------------------------------------------


def _ref(queryset: models.QuerySet[Any], public_id: UUID | None, field: str) -> Any:
    if public_id is None:
        return None
    found = queryset.filter(public_id=public_id).first()
    if found is None:
        raise FieldErrors({field: [_("No such record: %(id)s") % {"id": public_id}]})
    return found


def _priority(key: str | None) -> Priority | None:
    if key is None:
        return None
    found = Priority.objects.filter(key=key).first()
    if found is None:
        raise FieldErrors({"priority": [_("No such priority: %(key)s") % {"key": key}]})
    return found


def _references(user: User, data: dict[str, Any]) -> dict[str, Any]:
    """Public ids of a body turned into records, in place (422 for unknown ones)."""
    lookups: dict[str, models.QuerySet[Any]] = {
        "queue": Queue.objects.all(),
        "category": Category.objects.all(),
        "assignee": User.objects.filter(is_active=True),
        "requester": visible(user, Person.objects.all()),
        "organization": visible(user, Organization.objects.all()),
    }
    lookups["parent"] = tickets_visible(user)
    for field, queryset in lookups.items():
        if field in data:
            data[field] = _ref(queryset, data[field], field)
    if data.get("tags") is not None and "tags" in data:
        names = [name.strip()[:60] for name in data["tags"] if name.strip()]
        data["tags"] = [Tag.objects.get_or_create(name=name)[0] for name in names]
    if "priority" in data:
        data["priority"] = _priority(data["priority"])
    return data


def _ticket(user: User, ticket_id: UUID) -> Ticket:
    ticket = (
        tickets_visible(user)
        .select_related(*LIST_RELATED, "parent")
        .prefetch_related("tags")
        .filter(public_id=ticket_id)
    )
    found = ticket.first()
    if found is None:
        raise Http404
    return found


def _fresh(ticket: Ticket) -> Ticket:
    return (
        Ticket.objects.select_related(*LIST_RELATED, "parent")
        .prefetch_related("tags")
        .get(pk=ticket.pk)
    )


# --- configuration --------------------------------------------------------------------------


@router.get("/priorities", response=list[PriorityOut], summary="Priority levels")
def priorities_list(request: HttpRequest) -> models.QuerySet[Priority]:
    allowed(request, "view", Ticket)
    return Priority.objects.order_by("rank")


@router.get("/categories", response=list[CategoryOut], summary="Ticket categories")
def categories_list(request: HttpRequest) -> models.QuerySet[Category]:
    allowed(request, "view", Ticket)
    return Category.objects.order_by("name")


@router.post("/categories", response={201: CategoryOut}, summary="Create a category")
def categories_create(request: HttpRequest, payload: CategoryIn) -> Status[Category]:
    user = allowed(request, "add", Category)
    with writing(user):
        category = category_create(**payload.model_dump())
    return Status(201, category)


@router.get(
    "/escalation-levels", response=list[EscalationLevelOut], summary="The escalation ladder"
)
def escalation_levels_list(request: HttpRequest) -> models.QuerySet[EscalationLevel]:
    allowed(request, "view", Ticket)
    return EscalationLevel.objects.select_related("reassign_to").order_by("level")


@router.post(
    "/escalation-levels", response={201: EscalationLevelOut}, summary="Add an escalation level"
)
def escalation_levels_create(
    request: HttpRequest, payload: EscalationLevelIn
) -> Status[EscalationLevel]:
    user = allowed(request, "change", EscalationLevel)
    data = payload.model_dump()
    data["reassign_to"] = _ref(
        User.objects.filter(is_active=True), payload.reassign_to, "reassign_to"
    )
    with writing(user):
        level = escalation_level_create(**data)
    return Status(201, level)


@router.delete(
    "/escalation-levels/{level_id}", response={204: None}, summary="Remove an escalation level"
)
def escalation_levels_delete(request: HttpRequest, level_id: UUID) -> Status[None]:
    user = allowed(request, "change", EscalationLevel)
    level = EscalationLevel.objects.filter(public_id=level_id).first()
    if level is None:
        raise Http404
    with writing(user):
        escalation_level_delete(level)
    return Status(204, None)


@router.get("/assignment-rules", response=list[AssignmentRuleOut], summary="Assignment rules")
def assignment_rules_list(request: HttpRequest) -> models.QuerySet[AssignmentRule]:
    allowed(request, "view", Ticket)
    return AssignmentRule.objects.select_related("queue", "category", "organization", "team")


@router.post(
    "/assignment-rules", response={201: AssignmentRuleOut}, summary="Add an assignment rule"
)
def assignment_rules_create(
    request: HttpRequest, payload: AssignmentRuleIn
) -> Status[AssignmentRule]:
    user = allowed(request, "change", AssignmentRule)
    team = _ref(Team.objects.all(), payload.team, "team")
    queue = _ref(Queue.objects.all(), payload.queue, "queue")
    category = _ref(Category.objects.all(), payload.category, "category")
    organization = _ref(
        visible(user, Organization.objects.all()), payload.organization, "organization"
    )
    with writing(user):
        rule = assignment_rule_create(
            team=team,
            strategy=payload.strategy,
            queue=queue,
            category=category,
            organization=organization,
            position=payload.position,
        )
    return Status(201, rule)


@router.delete(
    "/assignment-rules/{rule_id}", response={204: None}, summary="Remove an assignment rule"
)
def assignment_rules_delete(request: HttpRequest, rule_id: UUID) -> Status[None]:
    user = allowed(request, "change", AssignmentRule)
    rule = AssignmentRule.objects.filter(public_id=rule_id).first()
    if rule is None:
        raise Http404
    with writing(user):
        assignment_rule_delete(rule)
    return Status(204, None)


@router.get("/queues", response=list[QueueOut], summary="List queues")
def queues_list(request: HttpRequest) -> models.QuerySet[Queue]:
    allowed(request, "view", Queue)
    return Queue.objects.select_related("team", "calendar").order_by("name")


@router.post("/queues", response={201: QueueOut}, summary="Create a queue")
def queues_create(request: HttpRequest, payload: QueueIn) -> Status[Queue]:
    user = allowed(request, "add", Queue)
    team = _ref(Team.objects.all(), payload.team, "team")
    with writing(user):
        queue = queue_create(
            name=payload.name, team=team, reopen_window_days=payload.reopen_window_days
        )
    return Status(201, queue)


@router.get("/sla-policies", response=list[SlaPolicyOut], summary="List SLA policies")
def sla_policies_list(request: HttpRequest) -> models.QuerySet[SlaPolicy]:
    allowed(request, "view", SlaPolicy)
    return SlaPolicy.objects.select_related("priority", "category")


@router.post("/sla-policies", response={201: SlaPolicyOut}, summary="Create an SLA policy")
def sla_policies_create(request: HttpRequest, payload: SlaPolicyIn) -> Status[SlaPolicy]:
    user = allowed(request, "add", SlaPolicy)
    priority = _priority(payload.priority)
    if priority is None:
        raise FieldErrors({"priority": [_("Name a priority.")]})
    category = _ref(Category.objects.all(), payload.category, "category")
    with writing(user):
        policy = sla_policy_create(
            name=payload.name,
            priority=priority,
            category=category,
            customer_tier=payload.customer_tier,
            first_response_minutes=payload.first_response_minutes,
            next_response_minutes=payload.next_response_minutes,
            resolution_minutes=payload.resolution_minutes,
        )
    return Status(201, policy)


# --- tickets --------------------------------------------------------------------------------


@router.get("/", response=list[TicketOut], summary="List tickets")
@paginate(LimitOffsetPagination, max_limit=MAX_PAGE)
def tickets_list(request: HttpRequest, filters: Query[TicketQuery]) -> models.QuerySet[Ticket]:
    user = allowed(request, "view", Ticket)
    queue = _ref(Queue.objects.all(), filters.queue, "queue")
    if filters.status and filters.status not in choices.Status.values:
        raise FieldErrors({"status": [_("Unknown status %(s)s.") % {"s": filters.status}]})
    return (
        ticket_list(
            user,
            queue=queue,
            mine=filters.mine,
            status=filters.status or "",
            open_only=filters.open,
            q=filters.q,
        )
        .select_related("parent")
        .prefetch_related("tags")
    )


@router.post("/", response={201: TicketOut}, summary="Open a ticket")
def tickets_create(request: HttpRequest, payload: TicketIn) -> Status[Ticket]:
    user = allowed(request, "add", Ticket)
    with writing(user):
        data = _references(user, payload.model_dump())
        ticket = services.ticket_create(actor=user, **data)
    return Status(201, _fresh(ticket))


@router.get("/{ticket_id}", response=TicketOut, summary="One ticket")
def tickets_get(request: HttpRequest, ticket_id: UUID) -> Ticket:
    return _ticket(allowed(request, "view", Ticket), ticket_id)


@router.patch("/{ticket_id}", response=TicketOut, summary="Change a ticket (optimistic)")
def tickets_update(request: HttpRequest, ticket_id: UUID, payload: TicketPatch) -> Ticket:
    user = allowed(request, "change", Ticket)
    ticket = _ticket(user, ticket_id)
    with writing(user):
        changes = _references(user, payload.changes())
        version = changes.pop("version")
        services.ticket_update(actor=user, ticket=ticket, version=version, **changes)
    return _fresh(ticket)


@router.post("/{ticket_id}/transition", response=TicketOut, summary="Change the status")
def tickets_transition(request: HttpRequest, ticket_id: UUID, payload: TransitionIn) -> Ticket:
    user = allowed(request, "change", Ticket)
    ticket = _ticket(user, ticket_id)
    with writing(user):
        services.ticket_transition(
            actor=user, ticket=ticket, status=payload.status, version=payload.version
        )
    return _fresh(ticket)


@router.get("/{ticket_id}/comments", response=list[CommentOut], summary="Replies and notes")
def tickets_comments(request: HttpRequest, ticket_id: UUID) -> models.QuerySet[Comment]:
    ticket = _ticket(allowed(request, "view", Ticket), ticket_id)
    return ticket_comments(ticket)


@router.post("/{ticket_id}/comments", response={201: CommentOut}, summary="Reply or add a note")
def tickets_comment(request: HttpRequest, ticket_id: UUID, payload: CommentIn) -> Status[Comment]:
    user = allowed(request, "change", Ticket)
    ticket = _ticket(user, ticket_id)
    with writing(user):
        comment = services.comment_add(
            actor=user, ticket=ticket, body=payload.body, is_public=payload.public
        )
    return Status(201, comment)


@router.get(
    "/{ticket_id}/escalations", response=list[EscalationOut], summary="Escalations that fired"
)
def tickets_escalations(request: HttpRequest, ticket_id: UUID) -> models.QuerySet[Escalation]:
    ticket = _ticket(allowed(request, "view", Ticket), ticket_id)
    return ticket.escalations.select_related("notified")


@router.post("/{ticket_id}/merge", response=TicketOut, summary="Merge into another ticket")
def tickets_merge(request: HttpRequest, ticket_id: UUID, payload: MergeIn) -> Ticket:
    user = allowed(request, "change", Ticket)
    source = _ticket(user, ticket_id)
    target = tickets_visible(user).filter(public_id=payload.into).first()
    if target is None:
        raise FieldErrors({"into": [_("No such record: %(id)s") % {"id": payload.into}]})
    with writing(user):
        services.ticket_merge(actor=user, source=source, target=target)
    return _fresh(target)


@router.post("/{ticket_id}/process", response=TicketOut, summary="Start the category's process")
def tickets_start_process(request: HttpRequest, ticket_id: UUID) -> Ticket:
    user = allowed(request, "change", Ticket)
    ticket = _ticket(user, ticket_id)
    with writing(user):
        services.ticket_start_process(actor=user, ticket=ticket)
    return _fresh(ticket)


@router.post("/{ticket_id}/split", response={201: TicketOut}, summary="Split off a new ticket")
def tickets_split(request: HttpRequest, ticket_id: UUID, payload: SplitIn) -> Status[Ticket]:
    user = allowed(request, "change", Ticket)
    ticket = _ticket(user, ticket_id)
    comments = list(ticket.comments.filter(public_id__in=payload.comments))
    if len(comments) != len(set(payload.comments)):
        raise FieldErrors({"comments": [_("Name comments of this ticket only.")]})
    with writing(user):
        new = services.ticket_split(
            actor=user, ticket=ticket, comments=comments, subject=payload.subject
        )
    return Status(201, _fresh(new))


@router.post("/{ticket_id}/links", response={201: LinkOut}, summary="Link to another ticket")
def tickets_link(request: HttpRequest, ticket_id: UUID, payload: LinkIn) -> Status[TicketLink]:
    user = allowed(request, "change", Ticket)
    source = _ticket(user, ticket_id)
    target = tickets_visible(user).filter(public_id=payload.target).first()
    if target is None:
        raise FieldErrors({"target": [_("No such record: %(id)s") % {"id": payload.target}]})
    with writing(user):
        link = services.ticket_link(actor=user, source=source, target=target, kind=payload.kind)
    return Status(201, link)
