"""Organisation and person pages: the create/edit forms with the duplicate warning, the client
dossier with its timeline and quick actions, ownership transfer, and the quick entry forms for
phones.

URLs name the record type (`organizations/…`, `persons/…`); one `ClientType` per type holds
what differs (model, form, services), so each view is written once.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import BusinessError
from konvergo.crm import choices, forms
from konvergo.crm.models import (
    Activity,
    CustomField,
    Deal,
    Employment,
    Organization,
    OrganizationRelation,
    OwnershipTransfer,
    Person,
    Tag,
)
from konvergo.crm.services import activities as activity_services
from konvergo.crm.services import contacts as contact_services
from konvergo.crm.services import deals as deal_services
from konvergo.crm.services import duplicates as duplicate_services
from konvergo.crm.services import transfer as transfer_services
from konvergo.crm.views.common import (
    actor,
    add_service_error,
    is_htmx,
    require_page,
    visible_or_404,
)
from konvergo.org.models import User
from konvergo.org.permissions import can, visible

Client = Organization | Person


@dataclass(frozen=True)
class ClientType:
    key: str  # organization / person (URL names crm:<key>_…)
    model: type[Organization] | type[Person]
    target: str  # custom field target
    form: type[forms.OrganizationForm] | type[forms.PersonForm]
    create: Callable[..., Any]
    update: Callable[..., Any]
    list_label: str | Promise

    @property
    def name(self) -> str:
        return str(self.model._meta.verbose_name)

    def url(self, action: str, record: Any = None) -> str:
        if record is None:
            return reverse(f"crm:{self.key}_{action}")
        return reverse(f"crm:{self.key}_{action}", args=[record.public_id])

    def queryset(self) -> QuerySet[Any]:
        manager = self.model._default_manager
        return manager.select_related("owner")


ORGANIZATIONS = ClientType(
    key="organization",
    model=Organization,
    target=choices.CustomFieldTarget.ORGANIZATION,
    form=forms.OrganizationForm,
    create=contact_services.organization_create,
    update=lambda *, actor, record, **fields: contact_services.organization_update(
        actor=actor, organization=record, **fields
    ),
    list_label=gettext_lazy("Organisations"),
)
PERSONS = ClientType(
    key="person",
    model=Person,
    target=choices.CustomFieldTarget.PERSON,
    form=forms.PersonForm,
    create=contact_services.person_create,
    update=lambda *, actor, record, **fields: contact_services.person_update(
        actor=actor, person=record, **fields
    ),
    list_label=gettext_lazy("Persons"),
)
CLIENT_TYPES = {client.key: client for client in (ORGANIZATIONS, PERSONS)}


def client_url(record: Any) -> str:
    """The dossier of an organisation or person."""
    key = "organization" if isinstance(record, Organization) else "person"
    return reverse(f"crm:{key}_detail", args=[record.public_id])


def find_client(user: Any, kind: str, public_id: str) -> Organization | Person | None:
    """The organisation or person (`kind`) with this public id, if `user` may see it."""
    if not forms._uuid(public_id):
        return None
    if kind == "organization":
        return visible(user, Organization.objects.filter(public_id=public_id)).first()
    if kind == "person":
        return visible(user, Person.objects.filter(public_id=public_id)).first()
    return None


def _crumbs(client: ClientType, *rest: tuple[str, str]) -> list[tuple[str, str]]:
    return [(str(client.list_label), client.url("list")), *rest]


# --- create and edit, with the duplicate warning --------------------------------------------


@dataclass(frozen=True)
class DuplicateRow:
    record: Client
    reasons: list[str]
    url: str  # "" when the user may not open it


def _duplicates(
    request: HttpRequest, client: ClientType, data: Mapping[str, Any], exclude: Client | None
) -> list[DuplicateRow]:
    """Likely duplicates of what was typed, over the whole shared directory; the ones the
    user may open link to their dossier."""
    if client.model is Organization:
        name = str(data.get("legal_name") or "")
    else:
        name = f"{data.get('first_name') or ''} {data.get('last_name') or ''}"
    found = duplicate_services.find_duplicates(
        model=client.model,
        name=name.strip(),
        tax_ids=data.get("tax_ids") or (),
        emails=data.get("emails") or (),
        phones=data.get("phones") or (),
        exclude=exclude,
        limit=5,
    )
    if not found:
        return []
    open_ids = set(
        visible(
            request.user, client.model._default_manager.filter(pk__in=[d.record.pk for d in found])
        ).values_list("pk", flat=True)
    )
    return [
        DuplicateRow(
            d.record, list(d.reasons), client_url(d.record) if d.record.pk in open_ids else ""
        )
        for d in found
    ]


def _raw_rows(request: HttpRequest, prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a formset as typed (for the live duplicate check, before validation)."""
    try:
        total = min(int(request.POST.get(f"{prefix}-TOTAL_FORMS", "0")), 50)
    except ValueError:
        total = 0
    rows = []
    for index in range(total):
        row = {name: request.POST.get(f"{prefix}-{index}-{name}", "").strip() for name in names}
        if any(row.values()) and not request.POST.get(f"{prefix}-{index}-DELETE"):
            rows.append(row)
    return rows


@require_POST
@login_required
def duplicates_check(request: HttpRequest, *, client: ClientType) -> HttpResponse:
    """The duplicate warning for what is being typed (htmx, while typing)."""
    require_page(request, "add", client.model)
    data: dict[str, Any] = {
        "legal_name": request.POST.get("legal_name", ""),
        "first_name": request.POST.get("first_name", ""),
        "last_name": request.POST.get("last_name", ""),
        "emails": [r["address"] for r in _raw_rows(request, "emails", ("address",))],
        "phones": [r["number"] for r in _raw_rows(request, "phones", ("number",))],
        "tax_ids": _raw_rows(request, "tax_ids", ("country", "kind", "value")),
    }
    exclude = None
    if request.POST.get("record"):
        exclude = visible_or_404(request, client.queryset(), request.POST["record"])
    name_typed = data["legal_name"] if client.model is Organization else data["last_name"]
    rows = (
        _duplicates(request, client, data, exclude)
        if (
            len(str(name_typed).strip()) >= 3 or data["emails"] or data["phones"] or data["tax_ids"]
        )
        else []
    )
    return render(request, "crm/_duplicates.html", {"duplicates": rows, "live": True})


def _edit_queryset(client: ClientType) -> QuerySet[Any]:
    queryset = client.queryset().prefetch_related("tags", "emails", "phones", "addresses")
    if client.model is Organization:
        return queryset.prefetch_related("tax_ids")
    return queryset.prefetch_related(
        Prefetch("employments", queryset=Employment.objects.select_related("organization"))
    )


@require_http_methods(["GET", "POST"])
@login_required
def client_edit(
    request: HttpRequest, *, client: ClientType, public_id: UUID | None = None
) -> HttpResponse:
    require_page(request, "add" if public_id is None else "change", client.model)
    user = actor(request)
    record = None
    if public_id is not None:
        record = visible_or_404(request, _edit_queryset(client), public_id)
    data = request.POST if request.method == "POST" else None
    kwargs: dict[str, Any] = {"instance": record, "actor": user}
    if client.model is Person and record is None:
        kwargs["organization"] = _organization_from_query(request)
    form = client.form(data, **kwargs)
    duplicates: list[DuplicateRow] = []
    if data is not None and form.is_valid():
        values = form.values()
        if record is None and not request.POST.get("ignore_duplicates"):
            duplicates = _duplicates(request, client, values, None)
        if not duplicates:
            try:
                if record is None:
                    saved = client.create(actor=user, **values)
                else:
                    saved = client.update(actor=user, record=record, **values)
            except (BusinessError, ValidationError) as exc:
                add_service_error(form, exc, formsets=form.formsets)
            else:
                messages.success(
                    request,
                    _("%(type)s “%(name)s” was saved.")
                    % {"type": capfirst(client.name), "name": saved},
                )
                return redirect(client_url(saved))
    if record is None:
        title = _("New %(type)s") % {"type": client.name}
        cancel = client.url("list")
    else:
        title = _("Edit %(type)s “%(name)s”") % {"type": client.name, "name": record}
        cancel = client_url(record)
    return render(
        request,
        "crm/client_form.html",
        {
            "client": client,
            "form": form,
            "record": record,
            "title": title,
            "duplicates": duplicates,
            "cancel_url": cancel,
            "check_url": client.url("duplicates"),
            "tag_names": Tag.objects.order_by("name").values_list("name", flat=True)[:200],
            "breadcrumbs": _crumbs(
                client,
                *([(str(record), client_url(record))] if record else []),
                (_("Edit") if record else _("New"), ""),
            ),
        },
        status=200,
    )


def _organization_from_query(request: HttpRequest) -> Organization | None:
    public_id = request.GET.get("organization", "")
    if not public_id or not forms._uuid(public_id):
        return None
    return visible(request.user, Organization.objects.all()).filter(public_id=public_id).first()


# --- the dossier ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CustomValue:
    label: str
    value: Any
    url: str = ""


def custom_values(target: str, data: Mapping[str, Any]) -> list[CustomValue]:
    """The record's custom field values as label and display text, in the fields' order."""
    values = []
    for definition in CustomField.objects.filter(target=target).order_by("order", "label"):
        value = data.get(definition.key)
        if value in (None, "", []):
            continue
        url = ""
        kind = definition.field_type
        if kind == choices.CustomFieldType.MONEY and isinstance(value, Mapping):
            value = f"{value.get('amount')} {value.get('currency')}"
        elif kind == choices.CustomFieldType.LINK and isinstance(value, Mapping):
            url = _link_url(value)
            value = value.get("id", "")
        elif kind == choices.CustomFieldType.BOOLEAN:
            value = _("Yes") if value else _("No")
        elif kind == choices.CustomFieldType.DATE and isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = date.fromisoformat(value)
        elif isinstance(value, list):
            value = ", ".join(str(item) for item in value)
        values.append(CustomValue(definition.label, value, url))
    return values


def _link_url(value: Mapping[str, Any]) -> str:
    kind = value.get("type")
    name = {
        "crm.organization": "crm:organization_detail",
        "crm.person": "crm:person_detail",
        "crm.deal": "crm:deal_detail",
    }.get(str(kind))
    return reverse(name, args=[value.get("id")]) if name and value.get("id") else ""


def _dossier_queryset(client: ClientType, user: Any) -> QuerySet[Any]:
    queryset = client.queryset().prefetch_related("tags", "emails", "phones", "addresses")
    persons = visible(user, Person.objects.all()).values("pk")
    organizations = visible(user, Organization.objects.all()).values("pk")
    if client.model is Organization:
        return queryset.prefetch_related(
            "tax_ids",
            Prefetch(
                "employments",
                queryset=Employment.objects.filter(person__in=persons)
                .select_related("person")
                .order_by("person__last_name", "person__first_name"),
            ),
            Prefetch(
                "relations_out",
                queryset=OrganizationRelation.objects.filter(
                    target__in=organizations
                ).select_related("target"),
            ),
            Prefetch(
                "relations_in",
                queryset=OrganizationRelation.objects.filter(
                    source__in=organizations
                ).select_related("source"),
            ),
        )
    return queryset.prefetch_related(
        Prefetch(
            "employments",
            queryset=Employment.objects.filter(organization__in=organizations)
            .select_related("organization")
            .order_by("-is_primary", "organization__legal_name"),
        )
    )


RELATION_WORDS = {
    # (kind, direction): how the other organisation relates to this one
    ("parent", "out"): gettext_lazy("Branch / subsidiary"),
    ("parent", "in"): gettext_lazy("Parent company"),
    ("branch", "out"): gettext_lazy("Parent company"),
    ("branch", "in"): gettext_lazy("Branch / subsidiary"),
    ("partner", "out"): gettext_lazy("Partner"),
    ("partner", "in"): gettext_lazy("Partner"),
}


def _relations(record: Organization) -> list[tuple[str, Organization]]:
    found = [(str(RELATION_WORDS[(r.kind, "out")]), r.target) for r in record.relations_out.all()]
    found += [(str(RELATION_WORDS[(r.kind, "in")]), r.source) for r in record.relations_in.all()]
    return found


@dataclass(frozen=True)
class TimelineEntry:
    item: Any  # selectors.TimelineItem
    done_url: str  # "" unless it is a planned activity the reader may mark done
    overdue: bool


@dataclass(frozen=True)
class Timeline:
    planned: list[TimelineEntry]
    past: list[TimelineEntry]
    ref: str  # "organization:<uuid>": which dossier asks, when an entry is marked done
    url: str  # the dossier's page


def timeline_of(user: Any, record: Client) -> Timeline:
    """The dossier's timeline: planned actions soonest first on top, the past newest first."""
    from konvergo.crm import selectors

    items = list(selectors.dossier_timeline(user, record))
    may_complete = can(user, "change", Activity)
    now = timezone.now()

    def entry(item: Any) -> TimelineEntry:
        activity = item.record if isinstance(item.record, Activity) else None
        done_url = ""
        if item.planned and activity is not None and may_complete:
            done_url = reverse("crm:activity_done", args=[activity.public_id])
        return TimelineEntry(item, done_url, bool(item.planned and item.when and item.when < now))

    planned = [entry(item) for item in items if item.planned]
    past = [entry(item) for item in items if not item.planned]
    planned.sort(key=lambda e: e.item.when)
    past.sort(key=lambda e: e.item.when, reverse=True)
    key = "organization" if isinstance(record, Organization) else "person"
    return Timeline(planned, past, f"{key}:{record.public_id}", client_url(record))


def _process_definitions(user: Any) -> list[tuple[str, str]]:
    """(key, name) of the processes the user may start; empty when none are deployed."""
    try:
        from konvergo.processes.models import ProcessDefinition, ProcessInstance
    except ImportError:  # pragma: no cover - processes is always installed today
        return []
    if not can(user, "add", ProcessInstance):
        return []
    latest: dict[str, str] = {}
    for key, name in ProcessDefinition.objects.order_by("key", "-version").values_list(
        "key", "name"
    ):
        latest.setdefault(key, name or key)
    return sorted(latest.items(), key=lambda item: str(item[1]).casefold())


def action_forms(user: User, data: Any = None, failed: str = "") -> dict[str, Any]:
    """The dossier's quick action forms (the one named `failed` bound to `data`)."""

    def bound(name: str) -> Any:
        return data if name == failed else None

    found: dict[str, Any] = {}
    if can(user, "add", Activity):
        found["call"] = forms.LogCallForm(bound("call"), prefix="call")
        found["meeting"] = forms.PlanForm(
            bound("meeting"), prefix="meeting", kind=choices.ActivityKind.MEETING, actor=user
        )
        found["task"] = forms.PlanForm(
            bound("task"), prefix="task", kind=choices.ActivityKind.TASK, actor=user
        )
    if can(user, "add", Deal):
        found["deal"] = forms.DealForm(bound("deal"), prefix="deal", actor=user)
    definitions = _process_definitions(user)
    if definitions:
        found["process"] = forms.StartProcessForm(
            bound("process"), prefix="process", definitions=definitions
        )
    return found


@dataclass(frozen=True)
class QuickAction:
    key: str
    label: Any
    form: Any
    url: str


def _action_url(client: ClientType, record: Client, key: str) -> str:
    return reverse(f"crm:{client.key}_action", args=[record.public_id, key])


ACTION_LABELS = {
    "call": gettext_lazy("Log a call"),
    "meeting": gettext_lazy("Plan a meeting"),
    "task": gettext_lazy("Add a task"),
    "deal": gettext_lazy("New deal"),
    "process": gettext_lazy("Start a process"),
}


def _dossier_context(
    request: HttpRequest,
    client: ClientType,
    record: Client,
    action_data: Any = None,
    failed: str = "",
) -> dict[str, Any]:
    user = actor(request)
    actions = action_forms(user, action_data, failed)
    context: dict[str, Any] = {
        "client": client,
        "record": record,
        "title": str(record),
        "is_organization": isinstance(record, Organization),
        "custom_values": custom_values(client.target, record.custom_data or {}),
        "timeline": timeline_of(user, record),
        "actions": [
            QuickAction(key, ACTION_LABELS[key], form, _action_url(client, record, key))
            for key, form in actions.items()
        ],
        "open_action": failed,
        "may_change": can(user, "change", client.model),
        "breadcrumbs": _crumbs(client, (str(record), "")),
    }
    if isinstance(record, Organization):
        context["relations"] = _relations(record)
        context["people"] = list(record.employments.all())
        context["may_add_person"] = can(user, "add", Person)
    else:
        context["organizations"] = list(record.employments.all())
    if can(user, "view", Deal):
        context["deals"] = list(
            visible(user, Deal.objects.filter(**{client.key: record}))
            .select_related("stage", "pipeline")
            .order_by("status", "-created_at")[:10]
        )
    return context


@require_safe
@login_required
def dossier(request: HttpRequest, *, client: ClientType, public_id: UUID) -> HttpResponse:
    require_page(request, "view", client.model)
    record = visible_or_404(request, _dossier_queryset(client, request.user), public_id)
    return render(request, "crm/dossier.html", _dossier_context(request, client, record))


@require_safe
@login_required
def dossier_timeline(request: HttpRequest, *, client: ClientType, public_id: UUID) -> HttpResponse:
    """The timeline alone (htmx refreshes it after a quick action elsewhere on the page)."""
    require_page(request, "view", client.model)
    record = visible_or_404(request, client.queryset(), public_id)
    return render(request, "crm/_timeline.html", {"timeline": timeline_of(request.user, record)})


ACTION_PERMISSIONS: dict[str, tuple[str, type[Model] | None]] = {
    "call": ("add", Activity),
    "meeting": ("add", Activity),
    "task": ("add", Activity),
    "deal": ("add", Deal),
    "process": ("add", None),  # processes.add_processinstance
}


def _require_action(request: HttpRequest, action: str) -> None:
    permission, model = ACTION_PERMISSIONS[action]
    if model is None:
        from konvergo.processes.models import ProcessInstance

        model = ProcessInstance
    require_page(request, permission, model)


def _run_action(user: User, action: str, form: Any, record: Client) -> str:
    """Call the service behind a quick action; returns the success message."""
    link: dict[str, Any] = (
        {"organization": record} if isinstance(record, Organization) else {"person": record}
    )
    data = form.cleaned_data
    if action == "call":
        activity_services.activity_log_call(
            actor=user,
            subject=data["subject"],
            outcome=data["outcome"],
            result=data["result"],
            **link,
        )
        return _("The call was logged.")
    if action in ("meeting", "task"):
        activity_services.activity_create(
            actor=user,
            kind=choices.ActivityKind.MEETING if action == "meeting" else choices.ActivityKind.TASK,
            subject=data["subject"],
            owner=data.get("owner") or None,
            due_at=data["due_at"],
            ends_at=data.get("ends_at"),
            reminder_at=data.get("reminder_at"),
            description=data.get("description", ""),
            recurrence=data.get("recurrence", ""),
            **link,
        )
        return _("The meeting was planned.") if action == "meeting" else _("The task was added.")
    if action == "deal":
        deal = deal_services.deal_create(
            actor=user,
            title=data["title"],
            pipeline=data.get("pipeline"),
            amount=data["amount"],
            currency=data["currency"],
            expected_close=data.get("expected_close"),
            owner=data.get("owner") or None,
            **link,
        )
        return _("The deal “%(title)s” was created.") % {"title": deal.title}
    from konvergo.processes.services import process_start

    process_start(
        data["definition"], subject=record, business_key=str(record.public_id), actor=user
    )
    return _("The process was started.")


@require_POST
@login_required
def dossier_action(
    request: HttpRequest, *, client: ClientType, public_id: UUID, action: str
) -> HttpResponse:
    """A quick action of the dossier (log a call, plan a meeting, add a task, new deal, start a
    process). To htmx: the action's form again (fresh, or with its errors) and the timeline."""
    if action not in ACTION_PERMISSIONS:
        raise Http404
    _require_action(request, action)
    require_page(request, "view", client.model)
    record = visible_or_404(request, _dossier_queryset(client, request.user), public_id)
    user = actor(request)
    form = action_forms(user, request.POST, action).get(action)
    if form is None:
        raise PermissionDenied
    message = ""
    if form.is_valid():
        try:
            message = _run_action(user, action, form, record)
        except (BusinessError, ValidationError) as exc:
            add_service_error(
                form, exc, aliases={"definition_key": "definition", "variables": "definition"}
            )
    if is_htmx(request):
        context = {
            "record": record,
            "action": QuickAction(
                action,
                ACTION_LABELS[action],
                form if not message else action_forms(user)[action],
                _action_url(client, record, action),
            ),
            "open": True,
            "message": message,
            "timeline": timeline_of(user, record) if message else None,
        }
        return render(request, "crm/_action_response.html", context)
    if message:
        messages.success(request, message)
        return redirect(client_url(record))
    return render(
        request,
        "crm/dossier.html",
        _dossier_context(request, client, record, request.POST, action),
        status=422,
    )


# --- ownership transfer ---------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def client_transfer(request: HttpRequest, *, client: ClientType, public_id: UUID) -> HttpResponse:
    require_page(request, "change", client.model)
    record = visible_or_404(request, client.queryset(), public_id)
    user = actor(request)
    data = request.POST if request.method == "POST" else None
    form = forms.TransferForm(data, current_owner=record.owner)
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            transfer_services.client_transfer(
                actor=user,
                to_user=values["to_user"],
                reason=values["reason"],
                include_deals=values["include_deals"],
                include_activities=values["include_activities"],
                **{client.key: record},
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("“%(name)s” now belongs to %(user)s.")
                % {
                    "name": record,
                    "user": values["to_user"].get_full_name() or values["to_user"].get_username(),
                },
            )
            return redirect(client_url(record))
    return render(
        request,
        "crm/transfer.html",
        {
            "form": form,
            "record": record,
            "client": client,
            "title": _("Hand over “%(name)s”") % {"name": record},
            "cancel_url": client_url(record),
            "breadcrumbs": _crumbs(client, (str(record), client_url(record)), (_("Hand over"), "")),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def bulk_transfer(request: HttpRequest) -> HttpResponse:
    """Everything a leaving employee owns, handed to someone else (administrators)."""
    if not transfer_services.can_bulk_transfer(request.user):
        raise PermissionDenied(transfer_services.bulk_transfer_refusal(request.user))
    user = actor(request)
    data = request.POST if request.method == "POST" else None
    form = forms.BulkTransferForm(data)
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            transfers = transfer_services.owner_bulk_transfer(
                actor=user,
                from_user=values["from_user"],
                to_user=values["to_user"],
                reason=values["reason"],
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("%(count)d clients of %(from)s were handed to %(to)s.")
                % {
                    "count": len(transfers),
                    "from": values["from_user"].get_full_name() or values["from_user"],
                    "to": values["to_user"].get_full_name() or values["to_user"],
                },
            )
            return redirect(reverse("crm:bulk_transfer"))
    return render(
        request,
        "crm/bulk_transfer.html",
        {
            "form": form,
            "title": _("Hand over a leaving employee's clients"),
            "recent": OwnershipTransfer.objects.select_related(
                "organization", "person", "from_user", "to_user"
            ).order_by("-created_at")[:10],
            "breadcrumbs": [(_("Hand over clients"), "")],
        },
    )


# --- quick entry on a phone -----------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def quick_contact(request: HttpRequest) -> HttpResponse:
    """A new person with a phone and an e-mail in four fields."""
    require_page(request, "add", Person)
    user = actor(request)
    data = request.POST if request.method == "POST" else None
    form = forms.QuickContactForm(data, actor=user)
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            person = contact_services.person_create(
                actor=user,
                first_name=values["first_name"],
                last_name=values["last_name"],
                phones=[{"number": values["phone"], "kind": "mobile", "is_primary": True}]
                if values["phone"]
                else [],
                emails=[{"address": values["email"], "kind": "work", "is_primary": True}]
                if values["email"]
                else [],
                organization=values.get("organization"),
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(
                form, exc, aliases={"phones.0.number": "phone", "emails.0.address": "email"}
            )
        else:
            messages.success(request, _("“%(name)s” was saved.") % {"name": person})
            return redirect(client_url(person))
    return render(
        request,
        "crm/quick_form.html",
        {
            "form": form,
            "title": _("New contact"),
            "submit": _("Save contact"),
            "datalist": "organization",
            "breadcrumbs": [(_("New contact"), "")],
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def quick_call(request: HttpRequest) -> HttpResponse:
    """Log a call with a client in three fields."""
    require_page(request, "add", Activity)
    user = actor(request)
    data = request.POST if request.method == "POST" else None
    initial = {}
    client_id = request.GET.get("client", "")
    if client_id:
        found = find_client(user, "organization", client_id) or find_client(
            user, "person", client_id
        )
        if found is not None:
            initial["client"] = forms.client_label(found)
    form = forms.QuickCallForm(data, actor=user, initial=initial)
    if data is not None and form.is_valid():
        values = form.cleaned_data
        record = values["client"]
        link = {"organization": record} if isinstance(record, Organization) else {"person": record}
        try:
            activity_services.activity_log_call(
                actor=user,
                subject=values["subject"],
                outcome=values["outcome"],
                result=values["result"],
                **link,
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(request, _("The call with %(name)s was logged.") % {"name": record})
            return redirect(client_url(record))
    return render(
        request,
        "crm/quick_form.html",
        {
            "form": form,
            "title": _("Log a call"),
            "submit": _("Log call"),
            "datalist": "client",
            "breadcrumbs": [(_("Log a call"), "")],
        },
    )


@require_safe
@login_required
def name_options(request: HttpRequest, *, kind: str) -> HttpResponse:
    """`<option>`s for the name datalists of the quick forms (htmx fills them while typing)."""
    text = request.GET.get("q", "").strip()[:100]
    options: list[str] = []
    if len(text) >= 2:
        name = text.rpartition(" · ")[0] or text
        if can(request.user, "view", Organization):
            organizations = (
                visible(request.user, Organization.objects.all())
                .filter(Q(legal_name__icontains=name) | Q(short_name__icontains=name))
                .order_by("legal_name")[:10]
            )
            options += [
                forms.client_label(o) if kind == "client" else o.legal_name for o in organizations
            ]
        if kind == "client" and can(request.user, "view", Person):
            words = name.split()
            persons = visible(request.user, Person.objects.all())
            for word in words[:3]:
                persons = persons.filter(
                    Q(first_name__icontains=word) | Q(last_name__icontains=word)
                )
            options += [forms.client_label(p) for p in persons.order_by("last_name")[:10]]
    return render(request, "crm/_name_options.html", {"options": options})
