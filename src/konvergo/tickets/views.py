"""Service desk pages: queue views and "my tickets" with SLA badges and bulk actions, the
ticket page with the client's dossier beside it, the new-ticket form, and the page a customer
follows their ticket on by its secret link.

Every agent view checks the permission first (403), finds the ticket among those the user may
see (404) and writes only through a service; a refusal is shown, and nothing is half-saved.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.calendars import CalendarError, CalendarSpec
from konvergo.core.errors import BusinessError
from konvergo.crm.models import Organization, Person
from konvergo.crm.views.common import (
    actor,
    add_service_error,
    error_messages,
    require_page,
    safe_next,
)
from konvergo.org.permissions import can, visible
from konvergo.tickets import choices, forms, selectors
from konvergo.tickets.models import (
    AssignmentRule,
    Attachment,
    Category,
    EscalationLevel,
    Queue,
    SlaPolicy,
    Ticket,
)
from konvergo.tickets.services import setup as setup_services
from konvergo.tickets.services import sla
from konvergo.tickets.services import tickets as services

M = TypeVar("M", EscalationLevel, AssignmentRule)

PAGE_SIZE = 50


@dataclass(frozen=True)
class Badge:
    css: str  # Bootstrap background
    label: str
    title: str


def _duration(amount: timedelta) -> str:
    minutes = int(abs(amount).total_seconds() // 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return _("%(hours)s h %(minutes)02d min") % {"hours": hours, "minutes": minutes}
    return _("%(minutes)s min") % {"minutes": minutes}


def sla_badge(ticket: Ticket, now: datetime, spec: CalendarSpec | None = None) -> Badge | None:
    """Business time left until the nearest running target: green, amber under 25 %, red
    when breached; grey while the clock is paused."""
    if ticket.status in choices.DONE_STATUSES or ticket.sla_policy_id is None:
        return None
    if ticket.is_paused:
        return Badge("secondary", _("paused"), _("The SLA clock waits for the other side."))
    due = min(
        (d for d in (ticket.first_response_due_at, ticket.resolution_due_at) if d), default=None
    )
    if due is None:
        return None
    try:
        left = sla.time_left(ticket, now=now, spec=spec)
    except CalendarError:
        left = due - now
    due_text = _("due %(when)s UTC") % {"when": f"{due:%Y-%m-%d %H:%M}"}
    if due <= now:
        # Overdue by business time (none yet if it fell due after hours).
        late = _duration(left) if left < timedelta(0) else ""
        label = _("overdue %(t)s") % {"t": late} if late else _("overdue")
        return Badge("danger", label, due_text)
    policy = ticket.sla_policy
    metric = (
        choices.Metric.FIRST_RESPONSE
        if ticket.first_response_due_at == due
        else choices.Metric.RESOLUTION
    )
    warn = policy is not None and left <= sla.target(policy, metric) / 4
    return Badge(
        "warning" if warn else "success", _("%(t)s left") % {"t": _duration(left)}, due_text
    )


def _ticket_or_404(request: HttpRequest, public_id: UUID) -> Ticket:
    found = (
        selectors.tickets_visible(request.user)
        .select_related(*selectors.LIST_RELATED, "sla_policy", "queue__calendar", "parent")
        .filter(public_id=public_id)
        .first()
    )
    if found is None:
        raise Http404
    return found


# --- lists ----------------------------------------------------------------------------------


@require_safe
@login_required
def ticket_list(request: HttpRequest) -> HttpResponse:
    """Queue views (?queue=…), my tickets (?mine=1), by status (?status=…), search (?q=…)."""
    require_page(request, "view", Ticket)
    queue = None
    queue_id = request.GET.get("queue", "")
    if queue_id:
        try:
            queue = Queue.objects.filter(public_id=UUID(queue_id)).first()
        except ValueError:
            queue = None
        if queue is None:
            raise Http404
    mine = request.GET.get("mine") == "1"
    status = request.GET.get("status", "")
    if status not in choices.Status.values:
        status = ""
    q = request.GET.get("q", "")[:100]
    tickets = selectors.ticket_list(
        request.user, queue=queue, mine=mine, status=status, open_only=not status, q=q
    ).select_related("sla_policy", "queue__calendar")
    page = Paginator(tickets, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    specs: dict[int, CalendarSpec] = {}  # one calendar per queue, whatever the page size
    rows = []
    for ticket in page.object_list:
        if ticket.queue_id not in specs:
            specs[ticket.queue_id] = sla.queue_calendar(ticket.queue)
        rows.append((ticket, sla_badge(ticket, now, specs[ticket.queue_id])))
    title = _("My tickets") if mine else (str(queue) if queue else _("All open tickets"))
    context = {
        "title": title,
        "page": page,
        "rows": rows,
        "queues": selectors.queues_for(request.user),
        "current_queue": queue,
        "mine": mine,
        "status": status,
        "statuses": choices.Status.choices,
        "q": q,
        "bulk_form": forms.BulkForm(),
        "may_change": can(request.user, "change", Ticket),
        "may_add": can(request.user, "add", Ticket),
        "breadcrumbs": [(_("Service desk"), reverse("tickets:list")), (title, "")],
    }
    return render(request, "tickets/list.html", context)


@require_POST
@login_required
def ticket_bulk(request: HttpRequest) -> HttpResponse:
    require_page(request, "change", Ticket)
    form = forms.BulkForm(request.POST)
    back = safe_next(request, reverse("tickets:list"))
    ids = request.POST.getlist("ticket")
    valid_ids = []
    for value in ids:
        try:
            valid_ids.append(UUID(value))
        except ValueError:
            continue
    if not form.is_valid() or not valid_ids:
        messages.error(request, _("Choose tickets and an action."))
        return redirect(back)
    tickets = list(selectors.tickets_visible(request.user).filter(public_id__in=valid_ids))
    try:
        done, refusals = services.tickets_bulk(
            actor=actor(request), tickets=tickets, action=form.cleaned_data["action"],
            value=form.value(),
        )  # fmt: skip
    except BusinessError as exc:
        messages.error(request, exc.message)
        return redirect(back)
    messages.success(request, _("%(n)s ticket(s) changed.") % {"n": done})
    for refusal in refusals:
        messages.warning(request, refusal)
    return redirect(back)


# --- one ticket -----------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def ticket_new(request: HttpRequest) -> HttpResponse:
    require_page(request, "add", Ticket)
    form = forms.TicketForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            ticket = services.ticket_create(actor=actor(request), **form.cleaned_data)
        except BusinessError as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("Ticket %(ref)s opened.") % {"ref": ticket.reference})
            return redirect("tickets:detail", public_id=ticket.public_id)
    initial_queue = request.GET.get("queue")
    if request.method == "GET" and initial_queue:
        form.initial["queue"] = Queue.objects.filter(public_id=initial_queue).first()
    return render(
        request,
        "tickets/new.html",
        {
            "form": form,
            "title": _("New ticket"),
            "breadcrumbs": [(_("Service desk"), reverse("tickets:list")), (_("New ticket"), "")],
        },
    )


def _detail_context(request: HttpRequest, ticket: Ticket, **extra: Any) -> dict[str, Any]:
    user = request.user
    now = timezone.now()
    client: Organization | Person | None = ticket.organization or ticket.requester
    client_visible = False
    if client is not None:
        client_visible = visible(user, type(client)._default_manager.filter(pk=client.pk)).exists()
    other_tickets = []
    if ticket.organization_id or ticket.requester_id:
        others = selectors.tickets_visible(user).exclude(pk=ticket.pk).select_related("priority")
        others = (
            others.filter(organization_id=ticket.organization_id)
            if ticket.organization_id
            else others.filter(requester_id=ticket.requester_id)
        )
        other_tickets = list(others.order_by("-created_at")[:10])
    context = {
        "ticket": ticket,
        "title": f"{ticket.reference} {ticket.subject}",
        "badge": sla_badge(ticket, now),
        "comments": selectors.ticket_comments(ticket),
        "escalations": ticket.escalations.select_related("notified"),
        "attachments": ticket.attachments.filter(comment__isnull=True),
        "links": list(ticket.links_out.select_related("target"))
        + list(ticket.links_in.select_related("source")),
        "children": ticket.children.select_related("priority"),
        "next_statuses": [
            (value, label)
            for value, label in choices.Status.choices
            if value in choices.TRANSITIONS[ticket.status]
        ],
        "comment_form": forms.CommentForm(initial={"public": True}),
        "link_kinds": [
            (value, label)
            for value, label in choices.LinkKind.choices
            if value != choices.LinkKind.SPLIT_FROM
        ],
        "edit_form": forms.EditForm(
            initial={
                "version": ticket.version,
                "priority": ticket.priority,
                "assignee": ticket.assignee,
                "queue": ticket.queue,
                "category": ticket.category,
            }
        ),
        "fields_form": forms.CustomFieldsForm(
            initial={
                "version": ticket.version,
                **{f"cf_{k}": v for k, v in (ticket.custom_data or {}).items()},
            },
            category=ticket.category,
        ),
        "client": client if client_visible else None,
        "client_kind": "organization" if isinstance(client, Organization) else "person",
        "other_tickets": other_tickets,
        "may_change": can(user, "change", Ticket),
        "follow_url": request.build_absolute_uri(
            reverse("tickets:follow", kwargs={"secret": ticket.secret})
        ),
        "breadcrumbs": [
            (_("Service desk"), reverse("tickets:list")),
            (str(ticket.queue), f"{reverse('tickets:list')}?queue={ticket.queue.public_id}"),
            (ticket.reference, ""),
        ],
    }
    context.update(extra)
    return context


@require_safe
@login_required
def ticket_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "view", Ticket)
    ticket = _ticket_or_404(request, public_id)
    return render(request, "tickets/detail.html", _detail_context(request, ticket))


def _refused(request: HttpRequest, ticket: Ticket, exc: BusinessError) -> HttpResponse:
    for message in error_messages(exc):
        messages.error(request, message)
    return redirect("tickets:detail", public_id=ticket.public_id)


@require_POST
@login_required
def ticket_edit(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    form = forms.EditForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Check the fields: %(e)s") % {"e": form.errors.as_text()})
        return redirect("tickets:detail", public_id=ticket.public_id)
    data = dict(form.cleaned_data)
    version = data.pop("version")
    changes = {name: value for name, value in data.items() if getattr(ticket, name) != value}
    try:
        services.ticket_update(actor=actor(request), ticket=ticket, version=version, **changes)
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("Saved."))
    return redirect("tickets:detail", public_id=ticket.public_id)


@require_POST
@login_required
def ticket_fields(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    form = forms.CustomFieldsForm(request.POST, category=ticket.category)
    if not form.is_valid():
        messages.error(request, _("Check the fields: %(e)s") % {"e": form.errors.as_text()})
        return redirect("tickets:detail", public_id=ticket.public_id)
    try:
        services.ticket_update(
            actor=actor(request), ticket=ticket, version=form.cleaned_data["version"],
            custom_data=form.custom_data(),
        )  # fmt: skip
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("Saved."))
    return redirect("tickets:detail", public_id=ticket.public_id)


@require_POST
@login_required
def ticket_transition(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = None
    status = request.POST.get("status", "")
    try:
        ticket = services.ticket_transition(
            actor=actor(request), ticket=ticket, status=status, version=version
        )
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(
        request,
        _("Ticket %(ref)s is now %(status)s.")
        % {"ref": ticket.reference, "status": ticket.get_status_display()},
    )
    return redirect("tickets:detail", public_id=ticket.public_id)


@require_POST
@login_required
def ticket_comment(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    form = forms.CommentForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, _("Write something first."))
        return redirect("tickets:detail", public_id=ticket.public_id)
    try:
        services.comment_add(
            actor=actor(request), ticket=ticket, body=form.cleaned_data["body"],
            is_public=form.cleaned_data["public"], files=request.FILES.getlist("files"),
        )  # fmt: skip
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("Reply sent.") if form.cleaned_data["public"] else _("Note added."))
    return redirect("tickets:detail", public_id=ticket.public_id)


def _visible_ticket_numbered(request: HttpRequest, number: str) -> Ticket | None:
    if not number.isdigit():
        return None
    return selectors.tickets_visible(request.user).filter(number=int(number)).first()


@require_POST
@login_required
def ticket_merge(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    number = request.POST.get("into", "").strip().lstrip("#")
    target = _visible_ticket_numbered(request, number)
    if target is None:
        messages.error(request, _("No ticket %(n)s that you may see.") % {"n": number})
        return redirect("tickets:detail", public_id=ticket.public_id)
    try:
        services.ticket_merge(actor=actor(request), source=ticket, target=target)
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("Merged into %(ref)s.") % {"ref": target.reference})
    return redirect("tickets:detail", public_id=target.public_id)


@require_POST
@login_required
def ticket_link(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    number = request.POST.get("target", "").strip().lstrip("#")
    target = _visible_ticket_numbered(request, number)
    if target is None:
        messages.error(request, _("No ticket %(n)s that you may see.") % {"n": number})
        return redirect("tickets:detail", public_id=ticket.public_id)
    try:
        services.ticket_link(
            actor=actor(request), source=ticket, target=target,
            kind=request.POST.get("kind", choices.LinkKind.RELATES),
        )  # fmt: skip
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("Linked to %(ref)s.") % {"ref": target.reference})
    return redirect("tickets:detail", public_id=ticket.public_id)


@require_POST
@login_required
def ticket_split(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    require_page(request, "add", Ticket)
    ticket = _ticket_or_404(request, public_id)
    wanted = []
    for value in request.POST.getlist("comment"):
        try:
            wanted.append(UUID(value))
        except ValueError:
            continue
    comments = list(ticket.comments.filter(public_id__in=wanted))
    try:
        new = services.ticket_split(
            actor=actor(request), ticket=ticket, comments=comments,
            subject=request.POST.get("subject", ""),
        )  # fmt: skip
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("Ticket %(ref)s split off.") % {"ref": new.reference})
    return redirect("tickets:detail", public_id=new.public_id)


@require_POST
@login_required
def ticket_process(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "change", Ticket)
    ticket = _ticket_or_404(request, public_id)
    try:
        services.ticket_start_process(actor=actor(request), ticket=ticket)
    except BusinessError as exc:
        return _refused(request, ticket, exc)
    messages.success(request, _("The process was started."))
    return redirect("tickets:detail", public_id=ticket.public_id)


# --- the customer's page --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
def ticket_follow(request: HttpRequest, secret: str) -> HttpResponse:
    """A customer follows their ticket by its secret link: public replies only; they may
    answer (which takes a ticket waiting for them back to the agents)."""
    ticket = selectors.ticket_by_secret(secret)
    if ticket is None:
        raise Http404
    form = forms.CustomerReplyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        if ticket.status == choices.Status.CLOSED:
            form.add_error(None, _("This ticket is closed; please open a new one."))
        else:
            try:
                services.comment_add(
                    actor=None, ticket=ticket, body=form.cleaned_data["body"], is_public=True,
                    from_customer=True,
                    author_name=str(ticket.requester) if ticket.requester else _("Customer"),
                )  # fmt: skip
            except BusinessError as exc:
                add_service_error(form, exc)
            else:
                messages.success(request, _("Thank you, your message was added."))
                return redirect("tickets:follow", secret=secret)
    return render(
        request,
        "tickets/follow.html",
        {
            "ticket": ticket,
            "comments": selectors.ticket_comments(ticket, public_only=True),
            "form": form,
            "title": f"{ticket.reference} {ticket.subject}",
            "breadcrumbs": [(ticket.reference, "")],
        },
    )


# --- configuration --------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def setup(request: HttpRequest) -> HttpResponse:
    """Queues, SLA policies, the escalation ladder, categories and assignment rules; adding
    queues, SLA policies, escalation levels and assignment rules, and removing levels and rules
    (the API does the same)."""
    require_page(request, "view", Queue)
    post = request.POST
    queue_form = forms.QueueForm(post if "add_queue" in post else None)
    policy_form = forms.SlaPolicyForm(post if "add_policy" in post else None)
    level_form = forms.EscalationLevelForm(post if "add_level" in post else None)
    rule_form = forms.AssignmentRuleForm(post if "add_rule" in post else None)
    if request.method == "POST":
        done = _setup_change(request, queue_form, policy_form, level_form, rule_form)
        if done:
            messages.success(request, done)
            return redirect("tickets:setup")
    return render(
        request,
        "tickets/setup.html",
        {
            "title": _("Service desk setup"),
            "queues": Queue.objects.select_related("team", "calendar", "department"),
            "policies": SlaPolicy.objects.select_related("priority", "category"),
            "levels": EscalationLevel.objects.select_related("reassign_to"),
            "categories": Category.objects.select_related("department"),
            "rules": AssignmentRule.objects.select_related(
                "queue", "category", "organization", "team"
            ),
            "queue_form": queue_form,
            "policy_form": policy_form,
            "level_form": level_form,
            "rule_form": rule_form,
            "may_add_queue": can(request.user, "add", Queue),
            "may_add_policy": can(request.user, "add", SlaPolicy),
            "may_change_ladder": can(request.user, "change", EscalationLevel),
            "may_change_rules": can(request.user, "change", AssignmentRule),
            "breadcrumbs": [(_("Service desk"), reverse("tickets:list")), (_("Setup"), "")],
        },
    )


# --- attachments (never a public URL) -------------------------------------------------------


def _download(attachment: Attachment) -> FileResponse:
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    # Always a download, never rendered by the browser: an uploaded HTML file runs nothing.
    response = FileResponse(handle, as_attachment=True, filename=attachment.name)
    response["Content-Security-Policy"] = "default-src 'none'"
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private"
    return response


@require_safe
@login_required
def attachment_download(request: HttpRequest, public_id: UUID) -> FileResponse:
    require_page(request, "view", Ticket)
    attachment = Attachment.objects.filter(
        public_id=public_id, ticket__in=selectors.tickets_visible(request.user).values("pk")
    ).first()
    if attachment is None:
        raise Http404
    return _download(attachment)


@require_safe
def follow_download(request: HttpRequest, secret: str, public_id: UUID) -> FileResponse:
    """A file the customer may see: one attached to a public reply of their ticket."""
    ticket = selectors.ticket_by_secret(secret)
    attachment = (
        Attachment.objects.filter(ticket=ticket, public_id=public_id, is_public=True).first()
        if ticket is not None
        else None
    )
    if attachment is None:
        raise Http404
    return _download(attachment)


def _setup_change(
    request: HttpRequest,
    queue_form: forms.QueueForm,
    policy_form: forms.SlaPolicyForm,
    level_form: forms.EscalationLevelForm,
    rule_form: forms.AssignmentRuleForm,
) -> str:
    """Apply the setup form that was posted; the success message, or "" to show the page
    again with the form's errors."""
    post = request.POST
    if "delete_level" in post:
        require_page(request, "change", EscalationLevel)
        setup_services.escalation_level_delete(_setup_row(EscalationLevel, post["delete_level"]))
        return _("Escalation level removed.")
    if "delete_rule" in post:
        require_page(request, "change", AssignmentRule)
        setup_services.assignment_rule_delete(_setup_row(AssignmentRule, post["delete_rule"]))
        return _("Assignment rule removed.")
    actions: list[tuple[str, str, type[Any], Any, Any, str]] = [
        ("add_queue", "add", Queue, queue_form, setup_services.queue_create, _("Queue added.")),
        (
            "add_policy",
            "add",
            SlaPolicy,
            policy_form,
            setup_services.sla_policy_create,
            _("SLA policy added."),
        ),
        (
            "add_level",
            "change",
            EscalationLevel,
            level_form,
            setup_services.escalation_level_create,
            _("Escalation level added."),
        ),
        (
            "add_rule",
            "change",
            AssignmentRule,
            rule_form,
            setup_services.assignment_rule_create,
            _("Assignment rule added."),
        ),
    ]
    for button, action, model, form, create, message in actions:
        if button not in post:
            continue
        require_page(request, action, model)
        if not form.is_valid():
            return ""
        try:
            create(**form.cleaned_data)
        except BusinessError as exc:
            add_service_error(form, exc)
            return ""
        return message
    return ""


def _setup_row(model: type[M], public_id: str) -> M:
    try:
        return model._default_manager.get(public_id=UUID(public_id))
    except (ValueError, model.DoesNotExist):
        raise Http404 from None
