"""Inbox pages: the list with its sections (htmx-polled), the navigation badge, and the task
page (diagram, form, subject record, history, comments) with its actions.

Every view is behind login; task views first check that the user may see the task (404 for
others, so task ids reveal nothing), and write only through services.
"""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST, require_safe

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.inbox import selectors
from konvergo.inbox.models import Comment, Preference
from konvergo.inbox.services import comment_add, preference_set_digest
from konvergo.org.models import User
from konvergo.org.permissions import visible
from konvergo.processes.forms import form_for
from konvergo.processes.models import HumanTask, HumanTaskLog, StepRecord
from konvergo.processes.services import task_complete
from konvergo.processes.task_actions import (
    may_complete,
    may_view,
    require_may_complete,
    task_claim,
    task_delegate,
    task_return,
    task_unclaim,
)


def _user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def _is_htmx(request: HttpRequest) -> bool:
    # The same test as web.htmx (the inbox sits below web, so it cannot import it).
    return request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers


# --- the list -------------------------------------------------------------------------------


@require_safe
@login_required
def index(request: HttpRequest) -> HttpResponse:
    """The inbox; to htmx (its polling) only the list of the chosen section."""
    user = _user(request)
    section = request.GET.get("section", "mine")
    if section not in selectors.SECTIONS:
        section = "mine"
    order = request.GET.get("order", "due")
    if order not in selectors.ORDERS:
        order = "due"
    inbox = selectors.inbox_for(user)
    context = {
        "section": section,
        "order": order,
        "orders": selectors.ORDERS.items(),
        "sections": [
            (key, label, count)
            for (key, label), count in zip(
                selectors.SECTIONS.items(), inbox.counts().values(), strict=True
            )
        ],
        "items": selectors.ordered(inbox.section(section), order),
        "now": inbox.now,
        "digest": Preference.objects.filter(user=user, daily_digest=True).exists(),
    }
    template = "inbox/_list.html" if _is_htmx(request) else "inbox/index.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@require_safe
@login_required
def badge(request: HttpRequest) -> HttpResponse:
    """The counts next to "Inbox" in the navigation (polled by htmx)."""
    return render(request, "inbox/_badge.html", {"badge": selectors.badge_for(_user(request))})


@require_POST
@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    preference_set_digest(user=_user(request), enabled=request.POST.get("daily_digest") == "on")
    messages.success(request, _("Your inbox settings are saved."))
    return redirect("inbox:index")


# --- the task page --------------------------------------------------------------------------


def _task(request: HttpRequest, public_id: UUID) -> HumanTask:
    task = (
        HumanTask.objects.select_related(
            "instance__definition",
            "instance__started_by",
            "instance__subject_type",
            "assignee",
            "on_behalf_of",
            "delegated_by",
            "completed_by",
        )
        .filter(public_id=public_id)
        .first()
    )
    if task is None or not may_view(request.user, task):
        raise Http404
    return task


def _history(task: HumanTask) -> list[dict[str, Any]]:
    """Finished steps of the instance and what people did with its tasks, oldest first."""
    rows: list[dict[str, Any]] = [
        {"at": s.finished_at, "what": s.name or s.element_id, "kind": s.kind, "who": s.actor}
        for s in StepRecord.objects.filter(instance=task.instance).select_related("actor")
    ]
    labels = {
        "claimed": _("claimed"),
        "unclaimed": _("gave back"),
        "delegated": _("delegated"),
        "returned": _("returned"),
        "escalated": _("escalated to the manager"),
        "deputy": _("handed to the deputy"),
    }
    for entry in HumanTaskLog.objects.filter(task__instance=task.instance).select_related(
        "task", "actor", "to_user"
    ):
        rows.append(
            {
                "at": entry.at,
                "what": entry.task.name,
                "kind": str(labels.get(entry.action, entry.action)),
                "who": entry.actor,
                "to": entry.to_user if entry.to_user_id != entry.actor_id else None,
                "note": entry.note,
            }
        )
    return sorted(rows, key=lambda r: r["at"])


@require_safe
@login_required
def task_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request)
    task = _task(request, public_id)
    instance = task.instance
    form = form_for(task)
    record, record_url = selectors.subject_of(instance)
    form_data = {**instance.variables, **selectors.subject_data(record)}
    active = sorted(
        set(instance.tasks.filter(status="open").values_list("element_id", flat=True))
        | {task.element_id if task.status == "open" else ""} - {""}
    )
    context = {
        "task": task,
        "instance": instance,
        "form_schema": form.schema if form is not None else None,
        "form_data": form_data,
        "variables": sorted(instance.variables.items()),
        "record": record,
        "record_url": record_url,
        "record_kind": record._meta.verbose_name if record is not None else "",
        "now": timezone.now(),
        "history": _history(task),
        "comments": Comment.objects.filter(process=instance).select_related("author", "task"),
        "may_complete": task.status == "open" and may_complete(user, task),
        "may_claim": task.status == "open"
        and task.assignee_id is None
        and may_complete(user, task),
        "may_unclaim": task.status == "open" and task.assignee_id == user.pk,
        "may_delegate": task.status == "open" and task.assignee_id == user.pk,
        "may_return": task.status == "open"
        and task.assignee_id == user.pk
        and task.delegated_by_id is not None,
        "active_elements": active,
        # Suggestions for "delegate to": only people the user may see in the directory.
        "people": visible(user, User.objects.filter(is_active=True))
        .exclude(pk=user.pk)
        .order_by("username")[:200],
        "breadcrumbs": [(_("Inbox"), reverse("inbox:index")), (task.name, "")],
    }
    return render(request, "inbox/task.html", context)


@require_safe
@login_required
def task_diagram(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The BPMN of the task's process version, for the viewer (anyone who may see the task)."""
    task = _task(request, public_id)
    return HttpResponse(task.instance.definition.bpmn_xml, content_type="application/xml")


def _wants_json(request: HttpRequest) -> bool:
    return (request.content_type or "").startswith("application/json")


@require_POST
@login_required
def task_complete_view(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Complete with the form's data: JSON from the form-js viewer ({"variables": {...}}),
    answered in JSON (422 with field errors the page shows next to the fields), or a plain
    form post for tasks without a form."""
    user = _user(request)
    task = _task(request, public_id)
    variables: dict[str, Any] = {}
    if _wants_json(request):
        try:
            payload = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"message": _("The form data could not be read.")}, status=400)
        raw = payload.get("variables", {}) if isinstance(payload, dict) else None
        if not isinstance(raw, dict):
            return JsonResponse({"message": _("The form data could not be read.")}, status=400)
        variables = raw
    try:
        require_may_complete(user, task)
        task_complete(task=task, variables=variables, actor=user)
    except FieldErrors as exc:
        if _wants_json(request):
            return JsonResponse({"message": exc.message, "errors": exc.errors}, status=422)
        messages.error(request, exc.message)
        return redirect("inbox:task", public_id=public_id)
    except BusinessError as exc:
        if _wants_json(request):
            return JsonResponse({"message": exc.message}, status=exc.status)
        if exc.status == 403:
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
        return redirect("inbox:task", public_id=public_id)
    messages.success(request, _("Task “%(name)s” completed.") % {"name": task.name})
    if _wants_json(request):
        return JsonResponse({"redirect": reverse("inbox:index")})
    return redirect("inbox:index")


def _act(request: HttpRequest, public_id: UUID, action: str) -> HttpResponse:
    user = _user(request)
    task = _task(request, public_id)
    note = request.POST.get("note", "")[:2000]
    try:
        if action == "claim":
            task_claim(task=task, actor=user)
            done = _("You claimed the task.")
        elif action == "unclaim":
            task_unclaim(task=task, actor=user)
            done = _("The task is back with its group.")
        elif action == "delegate":
            target = User.objects.filter(
                username=request.POST.get("to_user", "").strip(), is_active=True
            ).first()
            if target is None:
                raise BusinessError(_("Choose a person to delegate to."))
            task_delegate(task=task, to_user=target, note=note, actor=user)
            done = _("The task is delegated to %(user)s.") % {"user": target}
        elif action == "return":
            task_return(task=task, note=note, actor=user)
            done = _("The task is returned.")
        else:
            comment_add(task=task, author=user, text=request.POST.get("text", ""))
            done = _("Comment added.")
    except BusinessError as exc:
        if exc.status == 403:
            raise PermissionDenied(exc.message) from exc
        messages.error(request, exc.message)
        return redirect("inbox:task", public_id=public_id)
    messages.success(request, done)
    if action in ("delegate", "unclaim", "return") and not may_view(user, _fresh(task)):
        return redirect("inbox:index")
    return redirect("inbox:task", public_id=public_id)


def _fresh(task: HumanTask) -> HumanTask:
    task.refresh_from_db()
    return task


@require_POST
@login_required
def task_action(request: HttpRequest, public_id: UUID, action: str) -> HttpResponse:
    if action not in ("claim", "unclaim", "delegate", "return", "comment"):
        raise Http404
    return _act(request, public_id, action)
