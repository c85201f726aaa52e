"""Process API at stable paths under /api/v1 (outside tools rely on them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django.db.models import F
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Field, Router, Schema, Status

from konvergo.core.errors import BusinessError, FieldErrors, NotAllowed
from konvergo.org.models import User
from konvergo.processes.assignment import claimable_q, involved_q
from konvergo.processes.models import (
    HumanTask,
    Incident,
    IncidentStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
)
from konvergo.processes.services import (
    definition_deploy,
    incident_retry,
    instance_cancel,
    instance_migrate,
    instance_move_token,
    instance_set_suspended,
    instance_set_variables,
    message_correlate,
    process_start,
    task_complete,
)
from konvergo.processes.task_actions import (
    may_view,
    require_may_complete,
    require_may_delegate,
    task_claim,
    task_delegate,
    task_return,
    task_unclaim,
)

router = Router(tags=["processes"])
MAX_MODEL_BYTES = 5 * 1024 * 1024


def _require(request: HttpRequest, permission: str) -> Any:
    user = request.user
    if not user.has_perm(permission):
        raise NotAllowed("You may not do this with processes.")
    return user


class DefinitionOut(Schema):
    id: UUID
    key: str
    name: str
    version: int
    hash: str


def definition_out(d: ProcessDefinition) -> DefinitionOut:
    return DefinitionOut(
        id=d.public_id, key=d.key, name=d.name, version=d.version, hash=d.content_hash
    )


@router.post(
    "/processes/definitions",
    response={200: list[DefinitionOut], 201: list[DefinitionOut]},
    summary="Deploy a BPMN file (raw XML body or multipart 'file')",
)
def deploy(request: HttpRequest) -> Status[list[DefinitionOut]]:
    user = _require(request, "processes.add_processdefinition")
    upload = request.FILES.get("file")
    if upload is not None:
        if upload.size and upload.size > MAX_MODEL_BYTES:
            raise BusinessError("The model file is larger than 5 MB.")
        xml = upload.read()
    elif (request.content_type or "").startswith("multipart/"):
        raise BusinessError("Upload the BPMN file in the form field 'file'.")
    else:
        xml = request.body
    if not xml:
        raise BusinessError("Send the BPMN XML as the request body or as a 'file' upload.")
    forms = {str(f.name): f.read() for f in request.FILES.getlist("forms")}  # form-js schemas
    result = definition_deploy(xml=xml, actor=user, forms=forms)
    return Status(201 if result.created else 200, [definition_out(d) for d in result.definitions])


@router.get("/processes/definitions", response=list[DefinitionOut], summary="Deployed definitions")
def definitions(request: HttpRequest, key: str | None = None) -> list[DefinitionOut]:
    _require(request, "processes.view_processdefinition")
    rows = ProcessDefinition.objects.all()
    if key:
        rows = rows.filter(key=key)
    return [definition_out(d) for d in rows]


@router.get("/processes/definitions/{definition_id}/xml", summary="The BPMN XML of a version")
def definition_xml(request: HttpRequest, definition_id: UUID) -> HttpResponse:
    _require(request, "processes.view_processdefinition")
    definition = get_object_or_404(ProcessDefinition, public_id=definition_id)
    return HttpResponse(definition.bpmn_xml, content_type="application/xml")


class SubjectIn(Schema):
    type: str = Field(description="app_label.model, e.g. crm.organization")
    id: str


class StartIn(Schema):
    definition_key: str
    version: int | None = None
    business_key: str = ""
    variables: dict[str, Any] = {}


class TimerOut(Schema):
    element_id: str
    due_at: datetime


class IncidentOut(Schema):
    id: UUID
    instance: UUID
    element_id: str
    message: str
    status: str
    attempts: int
    next_retry_at: datetime | None


class StepOut(Schema):
    element_id: str
    name: str
    kind: str
    finished_at: datetime


class InstanceOut(Schema):
    id: UUID
    definition_key: str
    version: int
    status: str
    business_key: str
    variables: dict[str, Any]
    active_elements: list[str]
    timers: list[TimerOut]
    incidents: list[IncidentOut]
    history: list[StepOut]


def incident_out(i: Incident) -> IncidentOut:
    return IncidentOut(
        id=i.public_id,
        instance=i.instance.public_id,
        element_id=i.element_id,
        message=i.message,
        status=i.status,
        attempts=i.attempts,
        next_retry_at=i.next_retry_at,
    )


def instance_out(instance: ProcessInstance) -> InstanceOut:
    open_tasks = [t.element_id for t in instance.tasks.filter(status=TaskStatus.OPEN)]
    timers = list(instance.timers.all())
    waits = [s.element_id for s in instance.subscriptions.all()]
    incidents = list(instance.incidents.filter(status=IncidentStatus.OPEN))
    return InstanceOut(
        id=instance.public_id,
        definition_key=instance.definition.key,
        version=instance.definition.version,
        status=instance.status,
        business_key=instance.business_key,
        variables=instance.variables,
        active_elements=sorted(
            {
                *open_tasks,
                *(t.element_id for t in timers),
                *waits,
                *(i.element_id for i in incidents),
            }
        ),
        timers=[TimerOut(element_id=t.element_id, due_at=t.due_at) for t in timers],
        incidents=[incident_out(i) for i in incidents],
        history=[
            StepOut(element_id=s.element_id, name=s.name, kind=s.kind, finished_at=s.finished_at)
            for s in instance.steps.all()
        ],
    )


@router.post("/processes/instances", response={201: InstanceOut}, summary="Start an instance")
def start(request: HttpRequest, payload: StartIn) -> Status[InstanceOut]:
    user = _require(request, "processes.add_processinstance")
    instance = process_start(
        payload.definition_key,
        version=payload.version,
        business_key=payload.business_key,
        variables=payload.variables,
        actor=user,
    )
    instance.refresh_from_db()
    return Status(201, instance_out(instance))


@router.get("/processes/instances", response=list[InstanceOut], summary="Instances")
def instances(
    request: HttpRequest,
    status: str | None = None,
    definition_key: str | None = None,
    business_key: str | None = None,
) -> list[InstanceOut]:
    _require(request, "processes.view_processinstance")
    rows = ProcessInstance.objects.select_related("definition")
    if status:
        rows = rows.filter(status=status)
    if definition_key:
        rows = rows.filter(definition__key=definition_key)
    if business_key:
        rows = rows.filter(business_key=business_key)
    return [instance_out(i) for i in rows[:200]]


@router.get("/processes/instances/{instance_id}", response=InstanceOut, summary="One instance")
def instance_detail(request: HttpRequest, instance_id: UUID) -> InstanceOut:
    _require(request, "processes.view_processinstance")
    return instance_out(
        get_object_or_404(
            ProcessInstance.objects.select_related("definition"), public_id=instance_id
        )
    )


class CancelIn(Schema):
    reason: str = ""


@router.post("/processes/instances/{instance_id}/cancel", response=InstanceOut)
def cancel(request: HttpRequest, instance_id: UUID, payload: CancelIn) -> InstanceOut:
    user = _require(request, "processes.change_processinstance")
    instance = get_object_or_404(ProcessInstance, public_id=instance_id)
    instance_cancel(instance=instance, reason=payload.reason, actor=user)
    instance.refresh_from_db()
    return instance_out(instance)


@router.post("/processes/instances/{instance_id}/suspend", response=InstanceOut)
def suspend(request: HttpRequest, instance_id: UUID) -> InstanceOut:
    user = _require(request, "processes.change_processinstance")
    instance = get_object_or_404(ProcessInstance, public_id=instance_id)
    instance_set_suspended(instance=instance, suspended=True, actor=user)
    instance.refresh_from_db()
    return instance_out(instance)


@router.post("/processes/instances/{instance_id}/resume", response=InstanceOut)
def resume(request: HttpRequest, instance_id: UUID) -> InstanceOut:
    user = _require(request, "processes.change_processinstance")
    instance = get_object_or_404(ProcessInstance, public_id=instance_id)
    instance_set_suspended(instance=instance, suspended=False, actor=user)
    instance.refresh_from_db()
    return instance_out(instance)


class MigrateIn(Schema):
    version: int
    mapping: dict[str, str] = {}


@router.post(
    "/processes/instances/{instance_id}/migrate",
    response=InstanceOut,
    summary="Move a running instance to another version (activity ids mapped)",
)
def migrate(request: HttpRequest, instance_id: UUID, payload: MigrateIn) -> InstanceOut:
    user = _require(request, "processes.change_processinstance")
    instance = get_object_or_404(ProcessInstance, public_id=instance_id)
    migrated = instance_migrate(
        instance=instance, version=payload.version, mapping=payload.mapping, actor=user
    )
    return instance_out(ProcessInstance.objects.select_related("definition").get(pk=migrated.pk))


class MoveIn(Schema):
    from_element: str
    to_element: str


@router.post("/processes/instances/{instance_id}/move", response=InstanceOut,
             summary="Move the tokens at one activity to another (administration)")
def move(request: HttpRequest, instance_id: UUID, payload: MoveIn) -> InstanceOut:
    user = _require(request, "processes.change_processinstance")
    instance = get_object_or_404(ProcessInstance, public_id=instance_id)
    instance_move_token(instance=instance, from_element=payload.from_element,
                        to_element=payload.to_element, actor=user)
    return instance_out(ProcessInstance.objects.select_related("definition").get(pk=instance.pk))


class VariablesIn(Schema):
    variables: dict[str, Any]


@router.post(
    "/processes/instances/{instance_id}/variables",
    response=InstanceOut,
    summary="Change variables of a running instance (audited)",
)
def set_variables(request: HttpRequest, instance_id: UUID, payload: VariablesIn) -> InstanceOut:
    user = _require(request, "processes.change_processinstance")
    instance = get_object_or_404(ProcessInstance, public_id=instance_id)
    instance_set_variables(instance=instance, changes=payload.variables, actor=user)
    return instance_out(ProcessInstance.objects.select_related("definition").get(pk=instance.pk))


class TaskOut(Schema):
    id: UUID
    name: str
    element_id: str
    instance: UUID
    process: str
    status: str
    assignee: str | None
    candidate_users: list[str]
    candidate_groups: list[str]
    on_behalf_of: str | None
    delegated_by: str | None
    delegation_note: str
    due_at: datetime | None
    follow_up_at: datetime | None
    priority: int
    form: str


def _username(user: Any) -> str | None:
    return user.username if user is not None else None


def task_out(t: HumanTask) -> TaskOut:
    return TaskOut(
        id=t.public_id,
        name=t.name,
        element_id=t.element_id,
        instance=t.instance.public_id,
        process=t.instance.definition.key,
        status=t.status,
        assignee=_username(t.assignee),
        candidate_users=t.candidate_users,
        candidate_groups=t.candidate_groups,
        on_behalf_of=_username(t.on_behalf_of),
        delegated_by=_username(t.delegated_by),
        delegation_note=t.delegation_note,
        due_at=t.due_at,
        follow_up_at=t.follow_up_at,
        priority=t.priority,
        form=t.form_key,
    )


@router.get("/tasks", response=list[TaskOut], summary="Human tasks (mine, claimable, ...)")
def tasks(
    request: HttpRequest,
    instance: UUID | None = None,
    assignee: str | None = None,
    state: str = "open",
    candidate: str | None = None,
    delegated_by: str | None = None,
    process: str | None = None,
    overdue: bool | None = None,
    due_before: datetime | None = None,
    due_after: datetime | None = None,
    priority_min: int | None = None,
    order: str = "due",
    limit: int = 500,
) -> list[TaskOut]:
    """Filters: `assignee` (me or a user name), `candidate=me` (unassigned tasks I may claim),
    `delegated_by` (me or a user name), `process` (key), `overdue`, `due_before`/`due_after`,
    `priority_min`; `order` is `due` (then priority) or `priority` (then due); at most 500."""
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (the API requires authentication)
    rows = HumanTask.objects.select_related(
        "instance__definition", "assignee", "on_behalf_of", "delegated_by"
    )
    if state:
        rows = rows.filter(status=state)
    if instance:
        rows = rows.filter(instance__public_id=instance)
    if assignee == "me":
        rows = rows.filter(assignee=user)
    elif assignee:
        rows = rows.filter(assignee__username=assignee)
    if candidate == "me":
        rows = rows.filter(claimable_q(user))
    if delegated_by == "me":
        rows = rows.filter(delegated_by=user)
    elif delegated_by:
        rows = rows.filter(delegated_by__username=delegated_by)
    if process:
        rows = rows.filter(instance__definition__key=process)
    now = timezone.now()
    if overdue is not None:
        rows = rows.filter(due_at__lt=now) if overdue else rows.exclude(due_at__lt=now)
    if due_before:
        rows = rows.filter(due_at__lt=due_before)
    if due_after:
        rows = rows.filter(due_at__gte=due_after)
    if priority_min is not None:
        rows = rows.filter(priority__gte=priority_min)
    if not user.has_perm("processes.view_humantask"):
        rows = rows.filter(involved_q(user))  # everyone sees the work that concerns them
    due = F("due_at").asc(nulls_last=True)
    rows = rows.order_by(
        *((F("priority").desc(), due) if order == "priority" else (due, F("priority").desc())),
        "created_at",
    )
    return [task_out(t) for t in rows[: max(1, min(limit, 500))]]


class CompleteIn(Schema):
    variables: dict[str, Any] = {}


def _task(task_id: UUID) -> HumanTask:
    return get_object_or_404(
        HumanTask.objects.select_related("instance__definition"), public_id=task_id
    )


@router.post("/tasks/{task_id}/complete", response=InstanceOut, summary="Complete a task")
def complete_task(request: HttpRequest, task_id: UUID, payload: CompleteIn) -> InstanceOut:
    """403 if you may not complete it, 422 with field errors if the data fail its form,
    409 if it is already completed; in every case nothing changes."""
    user = request.user
    task = _task(task_id)
    require_may_complete(user, task)
    instance = task_complete(task=task, variables=payload.variables, actor=user)
    instance.refresh_from_db()
    return instance_out(instance)


def _visible_task(request: HttpRequest, task_id: UUID) -> tuple[User, HumanTask]:
    user = request.user
    assert isinstance(user, User)  # noqa: S101  (the API requires authentication)
    task = _task(task_id)
    if not may_view(user, task):
        raise NotAllowed("You may not see this task.")
    return user, task


@router.post("/tasks/{task_id}/claim", response=TaskOut, summary="Claim a task")
def claim_task(request: HttpRequest, task_id: UUID) -> TaskOut:
    user, task = _visible_task(request, task_id)
    return task_out(_task(task_claim(task=task, actor=user).public_id))


@router.post("/tasks/{task_id}/unclaim", response=TaskOut, summary="Give a task back")
def unclaim_task(request: HttpRequest, task_id: UUID) -> TaskOut:
    user, task = _visible_task(request, task_id)
    return task_out(_task(task_unclaim(task=task, actor=user).public_id))


class DelegateIn(Schema):
    to_user: str = Field(description="user name of the delegate")
    note: str = Field("", max_length=2000)


@router.post("/tasks/{task_id}/delegate", response=TaskOut, summary="Delegate with a note")
def delegate_task(request: HttpRequest, task_id: UUID, payload: DelegateIn) -> TaskOut:
    user, task = _visible_task(request, task_id)
    require_may_delegate(user, task)
    target = User.objects.filter(username=payload.to_user).first()
    if target is None:
        raise FieldErrors({"to_user": ["There is no user with this name."]})
    task_delegate(task=task, to_user=target, note=payload.note, actor=user)
    return task_out(_task(task_id))


class ReturnIn(Schema):
    note: str = Field("", max_length=2000)


@router.post("/tasks/{task_id}/return", response=TaskOut, summary="Return a delegated task")
def return_task(request: HttpRequest, task_id: UUID, payload: ReturnIn) -> TaskOut:
    user, task = _visible_task(request, task_id)
    task_return(task=task, note=payload.note, actor=user)
    return task_out(_task(task_id))


class MessageIn(Schema):
    name: str
    correlation_key: str = ""
    variables: dict[str, Any] = {}


class MatchedOut(Schema):
    matched: int


@router.post("/processes/messages", response=MatchedOut, summary="Correlate a message")
def messages(request: HttpRequest, payload: MessageIn) -> MatchedOut:
    _require(request, "processes.change_processinstance")
    return MatchedOut(
        matched=message_correlate(
            payload.name, correlation_key=payload.correlation_key, variables=payload.variables
        )
    )


class SignalIn(Schema):
    name: str
    variables: dict[str, Any] = {}


@router.post("/processes/signals", response=MatchedOut, summary="Broadcast a signal")
def signals(request: HttpRequest, payload: SignalIn) -> MatchedOut:
    _require(request, "processes.change_processinstance")
    return MatchedOut(
        matched=message_correlate(payload.name, variables=payload.variables, signal=True)
    )


@router.get("/processes/incidents", response=list[IncidentOut], summary="Open incidents")
def incidents(request: HttpRequest) -> list[IncidentOut]:
    _require(request, "processes.view_incident")
    return [
        incident_out(i)
        for i in Incident.objects.filter(status=IncidentStatus.OPEN).select_related("instance")[
            :500
        ]
    ]


@router.post("/processes/incidents/{incident_id}/retry", response=InstanceOut)
def retry(request: HttpRequest, incident_id: UUID) -> InstanceOut:
    user = _require(request, "processes.change_incident")
    incident = get_object_or_404(Incident, public_id=incident_id)
    instance = incident_retry(incident=incident, actor=user)
    instance.refresh_from_db()
    return instance_out(instance)
