"""The /api/v1/designer part of the API (drafts, validation, sandbox runs, monitoring).

The designer page talks to these endpoints with the session (and its CSRF token); programs
may use them with a bearer token. Every endpoint checks its permission first.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from konvergo.designer import library, sandbox, selectors
from konvergo.designer.models import ProcessDraft
from konvergo.designer.services import draft_create, draft_deploy, draft_save
from konvergo.designer.validation import validate
from konvergo.org.permissions import require
from konvergo.processes.models import ProcessDefinition

router = Router(tags=["designer"])


def _user(request: HttpRequest, action: str) -> Any:
    require(request.user, action, ProcessDraft)
    return request.user


class ProblemOut(Schema):
    element_id: str
    message: str


class DraftIn(Schema):
    name: str = ""
    bpmn_xml: str = ""
    dmn: dict[str, str] = {}
    forms: dict[str, str] = {}


class DraftSaveIn(Schema):
    revision: int
    bpmn_xml: str
    dmn: dict[str, str] = {}
    forms: dict[str, str] = {}


class DraftOut(Schema):
    id: UUID
    key: str
    name: str
    revision: int
    deployed_version: int | None
    problems: list[ProblemOut]


class DraftFullOut(DraftOut):
    bpmn_xml: str
    dmn: dict[str, str]
    forms: dict[str, str]


def _out(draft: ProcessDraft, *, full: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": draft.public_id,
        "key": draft.key,
        "name": draft.name,
        "revision": draft.revision,
        "deployed_version": draft.deployed_version,
        "problems": draft.problems,
    }
    if full:
        data.update(bpmn_xml=draft.bpmn_xml, dmn=draft.dmn, forms=draft.forms)
    return data


def _draft(draft_id: UUID) -> ProcessDraft:
    return get_object_or_404(ProcessDraft, public_id=draft_id)


@router.get("/drafts", response=list[DraftOut], summary="Process drafts")
def drafts(request: HttpRequest) -> list[dict[str, Any]]:
    _user(request, "view")
    return [_out(d) for d in ProcessDraft.objects.all()]


@router.post("/drafts", response={201: DraftFullOut}, summary="New draft (blank or imported)")
def create(request: HttpRequest, payload: DraftIn) -> Status[dict[str, Any]]:
    user = _user(request, "add")
    draft = draft_create(
        name=payload.name,
        bpmn_xml=payload.bpmn_xml,
        dmn=payload.dmn,
        forms=payload.forms,
        actor=user,
    )
    return Status(201, _out(draft, full=True))


@router.get("/drafts/{draft_id}", response=DraftFullOut, summary="One draft with its files")
def detail(request: HttpRequest, draft_id: UUID) -> dict[str, Any]:
    _user(request, "view")
    return _out(_draft(draft_id), full=True)


@router.put(
    "/drafts/{draft_id}",
    response=DraftOut,
    summary="Save a draft (409 when it was saved since `revision`)",
)
def save(request: HttpRequest, draft_id: UUID, payload: DraftSaveIn) -> dict[str, Any]:
    user = _user(request, "change")
    draft, _problems = draft_save(
        draft=_draft(draft_id),
        revision=payload.revision,
        bpmn_xml=payload.bpmn_xml,
        dmn=payload.dmn,
        forms=payload.forms,
        actor=user,
    )
    return _out(draft)


@router.post(
    "/drafts/{draft_id}/validate",
    response=list[ProblemOut],
    summary="Problems of the given files, by element (nothing is stored)",
)
def check(request: HttpRequest, draft_id: UUID, payload: DraftSaveIn) -> list[dict[str, str]]:
    _user(request, "view")
    _draft(draft_id)
    problems = validate(bpmn_xml=payload.bpmn_xml, dmn=payload.dmn, forms=payload.forms)
    return [p.as_dict() for p in problems]


class DeployedOut(Schema):
    definition_id: UUID
    key: str
    version: int
    monitor_url: str


@router.post("/drafts/{draft_id}/deploy", response=DeployedOut, summary="Deploy the saved draft")
def deploy(request: HttpRequest, draft_id: UUID) -> dict[str, Any]:
    user = _user(request, "change")
    definition = draft_deploy(draft=_draft(draft_id), actor=user)
    return _deployed(definition)


def _deployed(definition: ProcessDefinition) -> dict[str, Any]:
    from django.urls import reverse

    return {
        "definition_id": definition.public_id,
        "key": definition.key,
        "version": definition.version,
        "monitor_url": reverse("designer:monitor_definition", args=[definition.public_id]),
    }


@router.get("/connectors", summary="Registered connectors as Camunda 7 element templates")
def connectors(request: HttpRequest) -> list[dict[str, Any]]:
    _user(request, "view")
    return selectors.connector_templates()


class LibraryOut(Schema):
    key: str
    title: str
    description: str
    area: str
    deployed_version: int | None


@router.get("/library", response=list[LibraryOut], summary="The shipped process library")
def library_list(request: HttpRequest) -> list[dict[str, Any]]:
    _user(request, "view")
    deployed = library.deployed_versions()
    return [
        {
            "key": p.key,
            "title": str(p.title),
            "description": str(p.description),
            "area": str(p.area),
            "deployed_version": deployed.get(p.key),
        }
        for p in library.PROCESSES
    ]


@router.post("/library/{key}/deploy", response=DeployedOut, summary="Deploy a library process")
def library_deploy(request: HttpRequest, key: str) -> dict[str, Any]:
    user = _user(request, "change")
    entry = library.entry(key)
    if entry is None:
        raise Http404
    return _deployed(library.deploy(entry, actor=user))


# --- the sandbox -------------------------------------------------------------------------------


class SandboxStartIn(Schema):
    bpmn_xml: str
    dmn: dict[str, str] = {}
    forms: dict[str, str] = {}
    variables: dict[str, Any] = {}


class SandboxActionIn(Schema):
    action: str  # "complete", "fire_timers", "message" or "signal"
    task_id: str = ""
    variables: dict[str, Any] = {}
    message: str = ""


@router.post("/drafts/{draft_id}/sandbox", summary="Run the given files in a dry-run sandbox")
def sandbox_start(request: HttpRequest, draft_id: UUID, payload: SandboxStartIn) -> dict[str, Any]:
    _user(request, "change")
    _draft(draft_id)
    run = sandbox.start(
        request.session,
        bpmn_xml=payload.bpmn_xml,
        dmn=payload.dmn,
        variables=payload.variables,
    )
    return run


@router.post("/sandbox/{run_id}", summary="Take one step in a sandbox run")
def sandbox_step(request: HttpRequest, run_id: str, payload: SandboxActionIn) -> dict[str, Any]:
    _user(request, "change")
    return sandbox.step(
        request.session,
        run_id,
        action=payload.action,
        task_id=payload.task_id,
        variables=payload.variables,
        message=payload.message,
    )


# --- monitoring --------------------------------------------------------------------------------


@router.get("/definitions/{definition_id}/stats", summary="Running instances and durations")
def definition_stats(request: HttpRequest, definition_id: UUID) -> dict[str, Any]:
    require(request.user, "view", ProcessDefinition)
    definition = get_object_or_404(ProcessDefinition, public_id=definition_id)
    return selectors.definition_stats(definition)
