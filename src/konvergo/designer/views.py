"""Designer, library and monitoring pages under /processes/.

Every view checks its permission first (403 page otherwise) and writes only through services:
designing and deploying need `designer.change_processdraft`, monitoring needs view permission
on process instances, and its actions the engine's change permissions.
"""

from __future__ import annotations

import json
from itertools import pairwise
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from konvergo.core.errors import BusinessError, NotAllowed
from konvergo.designer import library, selectors
from konvergo.designer.models import ProcessDraft
from konvergo.designer.services import (
    VersionDiff,
    draft_create,
    draft_from_definition,
    versions_diff,
)
from konvergo.org.permissions import can, require
from konvergo.processes.models import (
    Incident,
    IncidentStatus,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
)
from konvergo.processes.services import (
    incident_retry,
    instance_cancel,
    instance_migrate,
    process_start,
)

MAX_UPLOAD = 5 * 1024 * 1024
MAX_INSTANCES_SHOWN = 50


def _require(request: HttpRequest, action: str, model: type[Any]) -> None:
    try:
        require(request.user, action, model)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


def _may_monitor(request: HttpRequest) -> None:
    _require(request, "view", ProcessInstance)


# --- drafts and the designer -------------------------------------------------------------------


@require_safe
@login_required
def index(request: HttpRequest) -> HttpResponse:
    """Drafts and deployed processes, with links to design, monitor and the library."""
    may_design = can(request.user, "view", ProcessDraft)
    may_monitor = can(request.user, "view", ProcessInstance)
    if not (may_design or may_monitor):
        raise PermissionDenied
    newest = (
        ProcessDefinition.objects.filter(key=OuterRef("key"))
        .order_by("-version")
        .values("version")[:1]
    )
    definitions = (
        ProcessDefinition.objects.filter(version=Subquery(newest))
        .defer("bpmn_xml", "dmn_xml")
        .order_by("key")
    )
    return render(
        request,
        "designer/index.html",
        {
            "drafts": ProcessDraft.objects.all() if may_design else [],
            "definitions": definitions if may_monitor else [],
            "may_design": may_design,
            "may_edit": can(request.user, "change", ProcessDraft),
            "may_monitor": may_monitor,
            "breadcrumbs": [(_("Processes"), "")],
        },
    )


@require_POST
@login_required
def draft_new(request: HttpRequest) -> HttpResponse:
    """A blank draft with a name, or a draft imported from an uploaded .bpmn file."""
    _require(request, "add", ProcessDraft)
    upload = request.FILES.get("file")
    try:
        if upload is not None:
            if upload.size and upload.size > MAX_UPLOAD:
                raise BusinessError(_("The file is larger than 5 MB."))
            try:
                xml = upload.read().decode()
            except UnicodeDecodeError:
                raise BusinessError(_("The file is not UTF-8 text.")) from None
            draft = draft_create(
                name=request.POST.get("name", ""), bpmn_xml=xml, actor=request.user
            )
        else:
            draft = draft_create(name=request.POST.get("name", ""), actor=request.user)
    except BusinessError as exc:
        messages.error(request, exc.message)
        return redirect("designer:index")
    return redirect("designer:draft", public_id=draft.public_id)


@require_POST
@login_required
def draft_from_version(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _require(request, "add", ProcessDraft)
    definition = get_object_or_404(ProcessDefinition, public_id=public_id)
    draft = draft_from_definition(definition=definition, actor=request.user)
    return redirect("designer:draft", public_id=draft.public_id)


@require_safe
@login_required
def draft_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The designer: BPMN modeler, form editor and decision tables of one draft."""
    _require(request, "view", ProcessDraft)
    draft = get_object_or_404(ProcessDraft, public_id=public_id)
    return render(
        request,
        "designer/designer.html",
        {
            "draft": draft,
            "may_edit": can(request.user, "change", ProcessDraft),
            "breadcrumbs": [
                (_("Processes"), reverse("designer:index")),
                (draft.name, ""),
            ],
        },
    )


@require_safe
@login_required
def draft_export(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The saved BPMN of a draft as a .bpmn download."""
    _require(request, "view", ProcessDraft)
    draft = get_object_or_404(ProcessDraft, public_id=public_id)
    response = HttpResponse(draft.bpmn_xml, content_type="application/xml")
    response["Content-Disposition"] = f'attachment; filename="{draft.key}.bpmn"'
    return response


@require_safe
@login_required
def draft_history(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Saved revisions of a draft and the deployed versions of its process, each with what
    changed against the version before."""
    _require(request, "view", ProcessDraft)
    draft = get_object_or_404(ProcessDraft, public_id=public_id)
    revisions = draft.history.select_related("history_user").order_by("-history_date")[:50]
    versions = list(ProcessDefinition.objects.filter(key=draft.key).order_by("-version"))
    changes: list[tuple[ProcessDefinition, VersionDiff | None]] = [
        (newer, versions_diff(older, newer)) for newer, older in pairwise(versions)
    ]
    if versions:
        changes.append((versions[-1], None))
    return render(
        request,
        "designer/history.html",
        {
            "draft": draft,
            "revisions": revisions,
            "changes": changes,
            "breadcrumbs": [
                (_("Processes"), reverse("designer:index")),
                (draft.name, reverse("designer:draft", args=[draft.public_id])),
                (_("History"), ""),
            ],
        },
    )


# --- the library -----------------------------------------------------------------------------


@require_safe
@login_required
def library_index(request: HttpRequest) -> HttpResponse:
    _require(request, "view", ProcessDraft)
    deployed = library.deployed_versions()
    return render(
        request,
        "designer/library.html",
        {
            "processes": [(p, deployed.get(p.key)) for p in library.PROCESSES],
            "may_edit": can(request.user, "change", ProcessDraft),
            "breadcrumbs": [
                (_("Processes"), reverse("designer:index")),
                (_("Library"), ""),
            ],
        },
    )


@require_POST
@login_required
def library_deploy(request: HttpRequest, key: str) -> HttpResponse:
    _require(request, "change", ProcessDraft)
    process = library.entry(key)
    if process is None:
        raise Http404
    try:
        definition = library.deploy(process, actor=request.user)
    except BusinessError as exc:
        messages.error(request, exc.message)
        return redirect("designer:library")
    messages.success(
        request,
        _("%(title)s is deployed as version %(version)s.")
        % {"title": process.title, "version": definition.version},
    )
    return redirect("designer:library")


# --- monitoring ------------------------------------------------------------------------------


@require_safe
@login_required
def definition_xml(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _require(request, "view", ProcessDefinition)
    definition = get_object_or_404(ProcessDefinition, public_id=public_id)
    return HttpResponse(definition.bpmn_xml, content_type="application/xml")


@require_safe
@login_required
def monitor_definition(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One version: the diagram with running tokens and the duration heat map, incidents and
    the latest instances."""
    _may_monitor(request)
    _require(request, "view", ProcessDefinition)
    definition = get_object_or_404(ProcessDefinition, public_id=public_id)
    status = request.GET.get("status", InstanceStatus.RUNNING)
    instances = ProcessInstance.objects.filter(definition=definition)
    if status in InstanceStatus.values:
        instances = instances.filter(status=status)
    versions = (
        ProcessDefinition.objects.filter(key=definition.key)
        .only("public_id", "version")
        .order_by("-version")
    )
    stats = selectors.definition_stats(definition)
    return render(
        request,
        "designer/monitor_definition.html",
        {
            "definition": definition,
            "versions": versions,
            "stats": stats,
            "status_counts": [
                (value, label, stats["instances"][value]) for value, label in InstanceStatus.choices
            ],
            "durations": sorted(selectors.durations(definition).values(), key=lambda d: -d.mean),
            "incidents": Incident.objects.filter(
                instance__definition=definition, status=IncidentStatus.OPEN
            ).select_related("instance")[:MAX_INSTANCES_SHOWN],
            "instances": instances.order_by("-created_at")[:MAX_INSTANCES_SHOWN],
            "status": status,
            "statuses": InstanceStatus.choices,
            "may_start": can(request.user, "add", ProcessInstance),
            "breadcrumbs": [
                (_("Processes"), reverse("designer:index")),
                (f"{definition.name} v{definition.version}", ""),
            ],
        },
    )


@require_safe
@login_required
def monitor_instance(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """One instance: completed path and current tokens on the diagram, timers, variables,
    history, and the administrator's actions."""
    _may_monitor(request)
    instance = get_object_or_404(
        ProcessInstance.objects.select_related("definition"), public_id=public_id
    )
    return render(
        request,
        "designer/monitor_instance.html",
        {
            "instance": instance,
            "path": selectors.completed_path(instance),
            "variables": json.dumps(instance.variables, indent=2, ensure_ascii=False),
            "tokens": selectors.instance_tokens(instance),
            "tasks": instance.tasks.filter(status=TaskStatus.OPEN).select_related("assignee"),
            "timers": instance.timers.order_by("due_at"),
            "subscriptions": instance.subscriptions.all(),
            "incidents": instance.incidents.filter(status=IncidentStatus.OPEN),
            "steps": instance.steps.select_related("actor").order_by("-finished_at", "-pk")[:200],
            "other_versions": ProcessDefinition.objects.filter(key=instance.definition.key)
            .exclude(pk=instance.definition_id)
            .only("version")
            .order_by("-version"),
            "may_change": can(request.user, "change", ProcessInstance),
            "may_retry": can(request.user, "change", Incident),
            "breadcrumbs": [
                (_("Processes"), reverse("designer:index")),
                (
                    f"{instance.definition.name} v{instance.definition.version}",
                    reverse("designer:monitor_definition", args=[instance.definition.public_id]),
                ),
                (instance.business_key or str(instance.public_id)[:8], ""),
            ],
        },
    )


@require_POST
@login_required
def instance_start(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Start an instance of this version by hand, with a business key and JSON variables."""
    _require(request, "add", ProcessInstance)
    definition = get_object_or_404(ProcessDefinition, public_id=public_id)
    back = reverse("designer:monitor_definition", args=[definition.public_id])
    try:
        variables = json.loads(request.POST.get("variables") or "{}")
    except ValueError as exc:
        messages.error(request, _("The variables are not JSON: %(error)s") % {"error": exc})
        return redirect(back)
    if not isinstance(variables, dict):
        messages.error(request, _("The variables must be a JSON object."))
        return redirect(back)
    try:
        instance = process_start(
            definition.key,
            version=definition.version,
            business_key=request.POST.get("business_key", "").strip()[:200],
            variables=variables,
            actor=request.user,
        )
    except BusinessError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, _("The instance is started."))
    return redirect("designer:monitor_instance", public_id=instance.public_id)


def _back(instance: ProcessInstance) -> HttpResponse:
    return redirect("designer:monitor_instance", public_id=instance.public_id)


@require_POST
@login_required
def instance_retry(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _require(request, "change", Incident)
    incident = get_object_or_404(Incident.objects.select_related("instance"), public_id=public_id)
    try:
        incident_retry(incident=incident, actor=request.user)
        messages.success(request, _("The step was tried again."))
    except BusinessError as exc:
        messages.error(request, exc.message)
    return _back(incident.instance)


@require_POST
@login_required
def instance_cancel_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _require(request, "change", ProcessInstance)
    instance = get_object_or_404(ProcessInstance, public_id=public_id)
    reason = request.POST.get("reason", "").strip()
    if not reason:
        messages.error(request, _("Say why the instance is cancelled."))
        return _back(instance)
    try:
        instance_cancel(instance=instance, reason=reason, actor=request.user)
        messages.success(request, _("The instance is cancelled."))
    except BusinessError as exc:
        messages.error(request, exc.message)
    return _back(instance)


@require_POST
@login_required
def instance_migrate_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Move the instance to another version; `mapping` lines read `old_id = new_id`."""
    _require(request, "change", ProcessInstance)
    instance = get_object_or_404(ProcessInstance, public_id=public_id)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        messages.error(request, _("Choose the version to migrate to."))
        return _back(instance)
    mapping: dict[str, str] = {}
    for line in request.POST.get("mapping", "").splitlines():
        if not line.strip():
            continue
        old, sep, new = line.partition("=")
        if not sep or not old.strip() or not new.strip():
            messages.error(
                request,
                _("Write each mapping as old_id = new_id (line: %(line)s).") % {"line": line},
            )
            return _back(instance)
        mapping[old.strip()] = new.strip()
    try:
        instance = instance_migrate(
            instance=instance, version=version, mapping=mapping, actor=request.user
        )
        messages.success(request, _("The instance now runs version %(v)s.") % {"v": version})
    except BusinessError as exc:
        messages.error(request, exc.message)
    return _back(instance)
