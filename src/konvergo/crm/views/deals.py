"""Deal pages: the Kanban board per pipeline (cards dragged with SortableJS, the drop posted to
htmx), the deal's page with its won/lost buttons, and the activity page with "done".

The drop endpoint answers with the two columns it changed (out-of-band swaps); a refused move
answers 4xx with the reason, and the board script puts the card back and shows the reason.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import BusinessError
from konvergo.crm import forms
from konvergo.crm.filters_deals import DealFilter
from konvergo.crm.models import Activity, Deal, Organization, Person, Pipeline, Stage
from konvergo.crm.services import activities as activity_services
from konvergo.crm.services import deals as deal_services
from konvergo.crm.views.common import (
    actor,
    add_service_error,
    error_messages,
    is_htmx,
    require_page,
    safe_next,
    visible_or_404,
)
from konvergo.crm.views.contacts import client_url, find_client, timeline_of
from konvergo.org.permissions import can, visible

CARDS_PER_STAGE = 50


def deal_url(deal: Deal) -> str:
    return reverse("crm:deal_detail", args=[deal.public_id])


def _deals(user: Any) -> QuerySet[Deal]:
    return visible(user, Deal.objects.all()).select_related(
        "organization", "person", "owner", "stage", "pipeline"
    )


# --- the board ------------------------------------------------------------------------------


def _pipeline(request: HttpRequest, public_id: UUID | None) -> Pipeline | None:
    pipelines = Pipeline.objects.all()
    if public_id is not None:
        found = pipelines.filter(public_id=public_id).first()
        if found is None:
            raise Http404
        return found
    return pipelines.order_by("-is_default", "name").first()


def _board_filters(request: HttpRequest) -> Any:
    """The board's filters (owner, search, …): the deal list's FilterSet without the pipeline,
    stage and sorting, which the board itself decides."""
    data = request.GET.copy()
    for name in ("pipeline", "stage", "ordering"):
        data.pop(name, None)
    return DealFilter(data or None, queryset=Deal.objects.all(), request=request)


def _column_context(
    request: HttpRequest, pipeline: Pipeline, stage_ids: set[int] | None = None
) -> dict[str, Any]:
    filterset = _board_filters(request)
    deals = filterset.qs if filterset.is_bound and filterset.is_valid() else Deal.objects.all()
    board = deal_services.deal_board(
        user=request.user, pipeline=pipeline, deals=deals, per_stage=CARDS_PER_STAGE
    )
    columns = board.columns
    if stage_ids is not None:
        columns = [column for column in columns if column.stage.pk in stage_ids]
    user = actor(request)
    return {
        "pipeline": pipeline,
        "columns": columns,
        "stages": [column.stage for column in board.columns],
        "may_move": can(user, "change", Deal),
        "filters": filterset,
        "query": request.GET.urlencode(),
    }


@require_safe
@login_required
def board(request: HttpRequest, pipeline_id: UUID | None = None) -> HttpResponse:
    require_page(request, "view", Deal)
    pipeline = _pipeline(request, pipeline_id)
    user = actor(request)
    context: dict[str, Any] = {
        "pipelines": Pipeline.objects.order_by("-is_default", "name"),
        "title": _("Deals board"),
        "may_add": can(user, "add", Deal),
        "breadcrumbs": [(_("Deals"), reverse("crm:deal_list")), (_("Board"), "")],
    }
    if pipeline is not None:
        context.update(_column_context(request, pipeline))
        context["title"] = _("Deals board: %(pipeline)s") % {"pipeline": pipeline.name}
        form = context["filters"].form
        if "owner" in form.fields:
            form.fields["owner"].widget = _owner_select(form.fields["owner"])
    return render(request, "crm/board.html", context)


def _owner_select(field: Any) -> Any:
    from django import forms as django_forms

    users = forms.active_users()
    return django_forms.Select(
        choices=[("", _("Everyone"))]
        + [(str(u.public_id), u.get_full_name() or u.get_username()) for u in users]
    )


@require_POST
@login_required
def deal_move(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The drop of a card onto a column: move the deal to that stage.

    To htmx: the source and target columns re-rendered (out-of-band); on a refusal a 4xx with
    the reason as text (the board puts the card back). Without htmx: back to the board."""
    require_page(request, "change", Deal)
    deal = visible_or_404(request, _deals(request.user), public_id)
    form = forms.StageMoveForm(request.POST)
    problem = ""
    status = 200
    from_stage = deal.stage
    if not form.is_valid():
        problem, status = _("Choose a stage of the deal's pipeline."), 422
    else:
        stage: Stage = form.cleaned_data["stage"]
        try:
            deal_services.deal_move_to_stage(actor=actor(request), deal=deal, stage=stage)
        except (BusinessError, ValidationError) as exc:
            problem = " ".join(error_messages(exc))
            status = getattr(exc, "status", 400)
    back = safe_next(request, reverse("crm:board_pipeline", args=[deal.pipeline.public_id]))
    if not is_htmx(request):
        if problem:
            messages.error(request, problem)
        else:
            messages.success(
                request,
                _("“%(deal)s” moved to %(stage)s.") % {"deal": deal, "stage": deal.stage.name},
            )
        return redirect(back)
    if problem:
        response = HttpResponse(problem, status=status, content_type="text/plain; charset=utf-8")
        return response
    context = _column_context(request, deal.pipeline, {from_stage.pk, deal.stage_id})
    context["oob"] = True
    context["moved"] = deal
    return render(request, "crm/_board_columns.html", context)


# --- a deal ---------------------------------------------------------------------------------


@require_safe
@login_required
def deal_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "view", Deal)
    deal = visible_or_404(request, _deals(request.user), public_id)
    return render(request, "crm/deal_detail.html", _deal_context(request, deal))


def _deal_context(request: HttpRequest, deal: Deal, lost_form: Any = None) -> dict[str, Any]:
    user = actor(request)
    activities = []
    if can(user, "view", Activity):
        activities = list(
            visible(user, Activity.objects.filter(deal=deal))
            .select_related("owner")
            .order_by("done_at", "-due_at")[:20]
        )
    return {
        "deal": deal,
        "title": deal.title,
        "may_change": can(user, "change", Deal),
        "lost_form": lost_form or forms.LostForm(),
        "stages": deal.pipeline.stages.order_by("order"),
        "activities": activities,
        "client_url": client_url(deal.organization or deal.person)
        if (deal.organization or deal.person)
        else "",
        "breadcrumbs": [
            (_("Deals"), reverse("crm:deal_list")),
            (deal.pipeline.name, reverse("crm:board_pipeline", args=[deal.pipeline.public_id])),
            (deal.title, ""),
        ],
    }


@require_POST
@login_required
def deal_won(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Deal)
    deal = visible_or_404(request, _deals(request.user), public_id)
    try:
        deal_services.deal_mark_won(actor=actor(request), deal=deal)
    except (BusinessError, ValidationError) as exc:
        for message in error_messages(exc):
            messages.error(request, message)
    else:
        messages.success(request, _("“%(deal)s” was won.") % {"deal": deal})
    return redirect(safe_next(request, deal_url(deal)))


@require_POST
@login_required
def deal_lost(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Deal)
    deal = visible_or_404(request, _deals(request.user), public_id)
    form = forms.LostForm(request.POST)
    if form.is_valid():
        try:
            deal_services.deal_mark_lost(
                actor=actor(request), deal=deal, reason=form.cleaned_data["reason"]
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("“%(deal)s” was lost.") % {"deal": deal})
            return redirect(safe_next(request, deal_url(deal)))
    return render(request, "crm/deal_detail.html", _deal_context(request, deal, form), status=422)


@require_http_methods(["GET", "POST"])
@login_required
def deal_create(request: HttpRequest) -> HttpResponse:
    """A new deal (from the list or the board); from a dossier the quick action is used."""
    require_page(request, "add", Deal)
    user = actor(request)
    data = request.POST if request.method == "POST" else None
    initial: dict[str, Any] = {}
    pipeline_id = request.GET.get("pipeline", "")
    if pipeline_id and forms._uuid(pipeline_id):
        initial["pipeline"] = Pipeline.objects.filter(public_id=pipeline_id).first()
    form = forms.DealForm(data, actor=user, initial=initial)
    form.fields["client"] = forms.OrganizationChoiceField(
        user=user, label=_("Organisation"), required=False
    )
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            deal = deal_services.deal_create(
                actor=user,
                title=values["title"],
                pipeline=values.get("pipeline"),
                organization=values.get("client"),
                amount=values["amount"],
                currency=values["currency"],
                expected_close=values.get("expected_close"),
                owner=values.get("owner") or None,
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc, aliases={"organization": "client"})
        else:
            messages.success(request, _("The deal “%(title)s” was created.") % {"title": deal})
            return redirect(deal_url(deal))
    return render(
        request,
        "crm/simple_form.html",
        {
            "form": form,
            "title": _("New deal"),
            "cancel_url": reverse("crm:board"),
            "datalist": "organization",
            "breadcrumbs": [(_("Deals"), reverse("crm:deal_list")), (_("New"), "")],
        },
    )


# --- an activity ----------------------------------------------------------------------------


@require_safe
@login_required
def activity_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "view", Activity)
    activity = visible_or_404(
        request,
        Activity.objects.select_related("owner", "organization", "person", "deal"),
        public_id,
    )
    record = activity.organization or activity.person
    return render(
        request,
        "crm/activity_detail.html",
        {
            "activity": activity,
            "title": str(activity),
            "client_url": client_url(record) if record else "",
            "deal_url": deal_url(activity.deal) if activity.deal else "",
            "may_change": can(request.user, "change", Activity),
            "breadcrumbs": [(_("Activities"), reverse("crm:activity_list")), (str(activity), "")],
        },
    )


@require_POST
@login_required
def activity_done(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Mark a planned activity done. From a dossier's timeline (htmx), the timeline again."""
    require_page(request, "change", Activity)
    activity = visible_or_404(
        request, Activity.objects.select_related("organization", "person"), public_id
    )
    user = actor(request)
    problem = ""
    try:
        activity_services.activity_complete(
            actor=user,
            activity=activity,
            outcome=request.POST.get("outcome", ""),
            result=request.POST.get("result", ""),
        )
    except (BusinessError, ValidationError) as exc:
        problem = " ".join(error_messages(exc))
    client = _timeline_client(request)
    if is_htmx(request) and client is not None:
        return render(
            request,
            "crm/_timeline.html",
            {"timeline": timeline_of(user, client), "problem": problem},
        )
    if problem:
        messages.error(request, problem)
    else:
        messages.success(request, _("“%(activity)s” is done.") % {"activity": activity})
    return redirect(safe_next(request, reverse("crm:activity_detail", args=[activity.public_id])))


def _timeline_client(request: HttpRequest) -> Organization | Person | None:
    """The dossier whose timeline asked (`dossier=organization:<uuid>`), if the user sees it."""
    kind, _sep, public_id = request.POST.get("dossier", "").partition(":")
    return find_client(request.user, kind, public_id)
