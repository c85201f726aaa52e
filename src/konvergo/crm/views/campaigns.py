"""Campaign pages: the list, the create/edit form with its segment (a small form turned into
the segment JSON of `services.campaigns`), the campaign page with its members, "Fill from
segment", a member's status and response (htmx: the row again), and the members as CSV/XLSX.

Campaigns belong to their owner (`visible()`); a campaign the user may not see is a 404.
Filling a campaign and changing a member count as changing the campaign; the members (names,
e-mails, phones) and their export also need the permission to view persons, like the API.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import BusinessError
from konvergo.crm import choices
from konvergo.crm.forms import DateInput, TagsField, tag_names
from konvergo.crm.models import Campaign, CampaignMember, Person, Tag
from konvergo.crm.services import campaigns as campaign_services
from konvergo.crm.views.common import (
    actor,
    add_service_error,
    error_messages,
    is_htmx,
    require_page,
    safe_next,
    visible_or_404,
)
from konvergo.org.permissions import can, visible

PER_PAGE = 25
MEMBERS_PER_PAGE = 50
EXPORT_FORMATS = (campaign_services.CSV, campaign_services.XLSX)


def campaign_url(campaign: Campaign) -> str:
    return reverse("crm:campaign_detail", args=[campaign.public_id])


def _campaigns(user: Any) -> QuerySet[Campaign]:
    """The campaigns `user` may see, with their owner and number of members."""
    return visible(
        user, Campaign.objects.select_related("owner").annotate(member_count=Count("members"))
    )


def _crumbs(*rest: tuple[str, str]) -> list[tuple[str, str]]:
    return [(_("Campaigns"), reverse("crm:campaign_list")), *rest]


# --- the segment form -------------------------------------------------------------------------

# Form field -> segment key. `status` is the service's short form of `organization_status`;
# the form shows both as one field and saves `organization_status`.
SEGMENT_FIELDS = {
    "segment_q": "q",
    "segment_tags": "tags",
    "segment_organization_status": "organization_status",
    "segment_organization_tags": "organization_tags",
    "segment_countries": "countries",
    "segment_has_email": "has_email",
}
FORM_KEYS = frozenset({*SEGMENT_FIELDS.values(), "status"})
# Where a service error about a segment key goes on the form.
SEGMENT_ERRORS = {
    **{f"segment.{key}": name for name, key in SEGMENT_FIELDS.items()},
    "segment.status": "segment_organization_status",
}


class CountriesField(forms.CharField):
    """ISO country codes separated by commas or spaces ("DE, PL")."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return ", ".join(str(code) for code in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        codes = [part.upper() for part in re.split(r"[\s,;]+", str(text or "")) if part]
        return list(dict.fromkeys(codes))


class CampaignForm(forms.Form):
    """The campaign and its segment; `segment()` is the JSON the service expects."""

    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    description = forms.CharField(
        label=gettext_lazy("Description"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    starts_on = forms.DateField(label=gettext_lazy("Starts"), required=False, widget=DateInput())
    ends_on = forms.DateField(label=gettext_lazy("Ends"), required=False, widget=DateInput())
    segment_q = forms.CharField(
        label=gettext_lazy("Text"),
        max_length=200,
        required=False,
        help_text=gettext_lazy("Every word occurs in the person's name or e-mail address."),
    )
    segment_tags = TagsField(
        label=gettext_lazy("Tags"),
        help_text=gettext_lazy("Persons carrying any of these tags; separate them with commas."),
    )
    segment_organization_status = forms.MultipleChoiceField(
        label=gettext_lazy("Organisation statuses"),
        choices=choices.OrganizationStatus.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("Persons working at an organisation with any of these statuses."),
    )
    segment_organization_tags = TagsField(
        label=gettext_lazy("Organisation tags"),
        help_text=gettext_lazy(
            "Persons working at an organisation carrying any of these tags; separate them with "
            "commas."
        ),
    )
    segment_countries = CountriesField(
        label=gettext_lazy("Countries"),
        max_length=300,
        required=False,
        help_text=gettext_lazy(
            "Two-letter codes, e.g. DE, PL: an address of the person or their organisation."
        ),
    )
    segment_has_email = forms.BooleanField(
        label=gettext_lazy("Only persons with an e-mail address"), required=False
    )

    def __init__(self, data: Any = None, *, instance: Campaign | None = None) -> None:
        super().__init__(data)
        self.instance = instance
        stored: Mapping[str, Any] = (instance.segment or {}) if instance is not None else {}
        self.kept = {key: value for key, value in stored.items() if key not in FORM_KEYS}
        if self.kept:
            self.fields["segment_drop_kept"] = forms.BooleanField(
                label=gettext_lazy("Remove these further filters"), required=False
            )
        if instance is not None:
            self.initial.update(
                {
                    "name": instance.name,
                    "description": instance.description,
                    "starts_on": instance.starts_on,
                    "ends_on": instance.ends_on,
                }
            )
            for name, key in SEGMENT_FIELDS.items():
                if key in stored:
                    self.initial[name] = stored[key]
            statuses = [*stored.get("organization_status", []), *stored.get("status", [])]
            if statuses:
                self.initial["segment_organization_status"] = list(dict.fromkeys(statuses))

    @property
    def segment_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in SEGMENT_FIELDS]

    @property
    def campaign_fields(self) -> list[forms.BoundField]:
        return [
            self[name]
            for name in self.fields
            if name not in SEGMENT_FIELDS and name != "segment_drop_kept"
        ]

    def segment(self) -> dict[str, Any]:
        """The segment JSON: what the form shows, plus the filters it does not show (set
        through the API: languages, custom fields, …), kept as they were unless the user
        removes them."""
        data = self.cleaned_data
        segment: dict[str, Any] = {} if data.get("segment_drop_kept") else dict(self.kept)
        if data.get("segment_q"):
            segment["q"] = data["segment_q"]
        for name in ("segment_tags", "segment_organization_tags"):
            if data.get(name):
                segment[SEGMENT_FIELDS[name]] = tag_names(data[name])
        for name in ("segment_organization_status", "segment_countries"):
            if data.get(name):
                segment[SEGMENT_FIELDS[name]] = list(data[name])
        if data.get("segment_has_email"):
            segment["has_email"] = True
        return segment

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "description": data["description"],
            "starts_on": data.get("starts_on"),
            "ends_on": data.get("ends_on"),
            "segment": self.segment(),
        }


SEGMENT_LABELS = {
    "q": gettext_lazy("Text"),
    "tags": gettext_lazy("Tags"),
    "organization_status": gettext_lazy("Organisation statuses"),
    "status": gettext_lazy("Organisation statuses"),
    "organization_tags": gettext_lazy("Organisation tags"),
    "languages": gettext_lazy("Languages"),
    "countries": gettext_lazy("Countries"),
    "has_email": gettext_lazy("Only persons with an e-mail address"),
    "custom": gettext_lazy("Custom fields"),
    "include_opted_out": gettext_lazy("Including persons who opted out"),
}


def segment_summary(segment: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The segment as (label, value) lines for people to read."""
    statuses = dict(choices.OrganizationStatus.choices)
    lines: list[tuple[str, str]] = []
    for key, value in segment.items():
        label = str(SEGMENT_LABELS.get(key, key))
        if isinstance(value, bool):
            text = _("yes") if value else _("no")
        elif key in ("organization_status", "status") and isinstance(value, list):
            text = ", ".join(str(statuses.get(item, item)) for item in value)
        elif isinstance(value, list):
            text = ", ".join(str(item) for item in value)
        elif isinstance(value, Mapping):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        else:
            text = str(value)
        lines.append((label, text))
    return lines


# --- the list -------------------------------------------------------------------------------


@require_safe
@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    require_page(request, "view", Campaign)
    query = request.GET.get("q", "").strip()[:100]
    campaigns = _campaigns(request.user)
    if query:
        campaigns = campaigns.filter(Q(name__icontains=query) | Q(description__icontains=query))
    page = Paginator(campaigns.order_by("-created_at", "-pk"), PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "crm/campaigns/list.html",
        {
            "title": _("Campaigns"),
            "page": page,
            "query": query,
            "may_add": can(request.user, "add", Campaign),
            "breadcrumbs": [(_("Campaigns"), "")],
        },
    )


# --- create, edit, delete -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def campaign_edit(request: HttpRequest, public_id: UUID | None = None) -> HttpResponse:
    require_page(request, "add" if public_id is None else "change", Campaign)
    user = actor(request)
    record = None
    if public_id is not None:
        record = visible_or_404(request, _campaigns(user), public_id)
    data = request.POST if request.method == "POST" else None
    form = CampaignForm(data, instance=record)
    if data is not None and form.is_valid():
        try:
            if record is None:
                saved = campaign_services.campaign_create(actor=user, **form.values())
            else:
                saved = campaign_services.campaign_update(
                    actor=user, campaign=record, **form.values()
                )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc, aliases=SEGMENT_ERRORS)
        else:
            messages.success(request, _("The campaign “%(name)s” was saved.") % {"name": saved})
            return redirect(campaign_url(saved))
    if record is None:
        title = _("New campaign")
        cancel = reverse("crm:campaign_list")
        crumbs = _crumbs((_("New"), ""))
    else:
        title = _("Edit campaign “%(name)s”") % {"name": record}
        cancel = campaign_url(record)
        crumbs = _crumbs((str(record), cancel), (_("Edit"), ""))
    return render(
        request,
        "crm/campaigns/form.html",
        {
            "form": form,
            "record": record,
            "title": title,
            "kept": segment_summary(form.kept),
            "tag_names": Tag.objects.order_by("name").values_list("name", flat=True)[:200],
            "cancel_url": cancel,
            "breadcrumbs": crumbs,
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def campaign_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "delete", Campaign)
    campaign = visible_or_404(request, _campaigns(request.user), public_id)
    error = ""
    if request.method == "POST":
        name = str(campaign)
        try:
            campaign_services.campaign_delete(actor=actor(request), campaign=campaign)
        except BusinessError as exc:
            error = exc.message
        else:
            messages.success(request, _("The campaign “%(name)s” was deleted.") % {"name": name})
            return redirect(reverse("crm:campaign_list"))
    return render(
        request,
        "crm/campaigns/confirm_delete.html",
        {
            "record": campaign,
            "error": error,
            "title": _("Delete campaign “%(name)s”") % {"name": campaign},
            "cancel_url": campaign_url(campaign),
            "breadcrumbs": _crumbs((str(campaign), campaign_url(campaign)), (_("Delete"), "")),
        },
    )


# --- the campaign page and its members -------------------------------------------------------


class MemberStatusForm(forms.Form):
    status = forms.ChoiceField(
        label=gettext_lazy("Status"), choices=choices.CampaignMemberStatus.choices
    )
    response = forms.CharField(
        label=gettext_lazy("Response"), max_length=10_000, required=False, strip=True
    )


@dataclass(frozen=True)
class MemberRow:
    member: CampaignMember
    organization: str
    email: str
    person_url: str  # "" when the reader may not open the person's dossier
    form: MemberStatusForm | None  # None when the reader may not change the campaign
    status_url: str
    error: str = ""


def _member_rows(
    request: HttpRequest,
    campaign: Campaign,
    members: list[CampaignMember],
    *,
    bound: tuple[CampaignMember, MemberStatusForm, str] | None = None,
) -> list[MemberRow]:
    """One row per member; the persons the reader may open link to their dossier (one query
    for the whole page)."""
    user = request.user
    may_change = can(user, "change", Campaign)
    openable = set(
        visible(user, Person.objects.filter(pk__in=[m.person_id for m in members])).values_list(
            "pk", flat=True
        )
    )
    rows = []
    for member in members:
        person = member.person
        employments = list(person.employments.all())
        emails = list(person.emails.all())
        form: MemberStatusForm | None = None
        error = ""
        if bound is not None and bound[0].pk == member.pk:
            form, error = bound[1], bound[2]
        elif may_change:
            form = MemberStatusForm(
                initial={"status": member.status, "response": member.response},
                prefix=f"m{member.public_id.hex[:12]}",
            )
        rows.append(
            MemberRow(
                member=member,
                organization=str(employments[0].organization) if employments else "",
                email=emails[0].address if emails else "",
                person_url=reverse("crm:person_detail", args=[person.public_id])
                if person.pk in openable
                else "",
                form=form,
                status_url=reverse(
                    "crm:campaign_member_status", args=[campaign.public_id, member.public_id]
                ),
                error=error,
            )
        )
    return rows


@require_safe
@login_required
def campaign_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "view", Campaign)
    user = actor(request)
    campaign = visible_or_404(request, _campaigns(user), public_id)
    may_see_members = can(user, "view", Person)
    context: dict[str, Any] = {
        "campaign": campaign,
        "title": str(campaign),
        "segment": segment_summary(campaign.segment or {}),
        "may_change": can(user, "change", Campaign),
        "may_delete": can(user, "delete", Campaign),
        "may_see_members": may_see_members,
        "back_url": request.get_full_path(),
        "breadcrumbs": _crumbs((str(campaign), "")),
    }
    if may_see_members:
        status = request.GET.get("status", "")
        if status not in choices.CampaignMemberStatus.values:
            status = ""
        counts = dict(
            CampaignMember.objects.filter(campaign=campaign)
            .values_list("status")
            .annotate(n=Count("pk"))
            .values_list("status", "n")
        )
        members = campaign_services.campaign_members(campaign)
        if status:
            members = members.filter(status=status)
        page = Paginator(members, MEMBERS_PER_PAGE).get_page(request.GET.get("page"))
        context.update(
            {
                "status": status,
                "status_counts": [
                    (value, label, counts.get(value, 0))
                    for value, label in choices.CampaignMemberStatus.choices
                ],
                "page": page,
                "rows": _member_rows(request, campaign, list(page.object_list)),
            }
        )
    return render(request, "crm/campaigns/detail.html", context)


@require_POST
@login_required
def campaign_fill(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """Add the persons of the segment who are not members yet."""
    require_page(request, "change", Campaign)
    campaign = visible_or_404(request, _campaigns(request.user), public_id)
    try:
        added = campaign_services.campaign_fill_from_segment(campaign=campaign)
    except (BusinessError, ValidationError) as exc:
        for message in error_messages(exc):
            messages.error(request, message)
    else:
        messages.success(
            request,
            ngettext(
                "%(count)d person was added to the campaign.",
                "%(count)d persons were added to the campaign.",
                added,
            )
            % {"count": added},
        )
    return redirect(campaign_url(campaign))


@require_POST
@login_required
def member_status(request: HttpRequest, public_id: UUID, member_id: UUID) -> HttpResponse:
    """A member's status and response. To htmx: the member's row again (with the error when
    refused); without htmx: back to the campaign page with a message."""
    require_page(request, "change", Campaign)
    require_page(request, "view", Person)
    campaign = visible_or_404(request, _campaigns(request.user), public_id)
    member = campaign_services.campaign_members(campaign).filter(public_id=member_id).first()
    if member is None:
        raise Http404
    prefix = f"m{member.public_id.hex[:12]}"
    form = MemberStatusForm(request.POST, prefix=prefix)
    problem = ""
    if form.is_valid():
        try:
            campaign_services.campaign_member_set_status(
                member=member,
                status=form.cleaned_data["status"],
                response=form.cleaned_data["response"],
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
            problem = " ".join(error_messages(exc))
    else:
        problem = " ".join(str(m) for errors in form.errors.values() for m in errors)
    if is_htmx(request):
        if not problem:
            member = campaign_services.campaign_members(campaign).get(pk=member.pk)
            form = MemberStatusForm(
                initial={"status": member.status, "response": member.response}, prefix=prefix
            )
        row = _member_rows(request, campaign, [member], bound=(member, form, problem))[0]
        return render(
            request,
            "crm/campaigns/_member_row.html",
            {
                "row": row,
                "saved": not problem,
                "back_url": safe_next(request, campaign_url(campaign)),
            },
        )
    if problem:
        messages.error(request, problem)
    else:
        messages.success(
            request,
            _("%(person)s: %(status)s.")
            % {"person": member.person, "status": member.get_status_display()},
        )
    return redirect(safe_next(request, campaign_url(campaign)))


@require_safe
@login_required
def campaign_export(request: HttpRequest, public_id: UUID, fmt: str) -> HttpResponse:
    """The members as a CSV or XLSX file (the service writes it)."""
    require_page(request, "view", Campaign)
    require_page(request, "view", Person)  # the file holds names, e-mails and phones
    campaign = visible_or_404(request, _campaigns(request.user), public_id)
    if fmt not in EXPORT_FORMATS:
        raise Http404
    content = campaign_services.campaign_members_export(campaign=campaign, file_format=fmt)
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", campaign.name).strip("-.") or "campaign"
    response = HttpResponse(content, content_type=campaign_services.EXPORT_CONTENT_TYPES[fmt])
    response["Content-Disposition"] = f'attachment; filename="{stem[:80]}-members.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response
