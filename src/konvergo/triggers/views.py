"""Trigger pages: the rules (list, create, edit, delete) and the firing log. The model
permissions on trigger rules decide who may see and change them; the service validates."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import FieldErrors, NotAllowed
from konvergo.org.permissions import can, require
from konvergo.processes.models import ProcessDefinition
from konvergo.triggers.models import Action, FiringStatus, TriggerFiring, TriggerRule
from konvergo.triggers.services import KNOWN_EVENTS, rule_create, rule_delete, rule_update

PER_PAGE = 50


def _require(request: HttpRequest, action: str) -> None:
    try:
        require(request.user, action, TriggerRule)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


def _rule_or_404(public_id: UUID) -> TriggerRule:
    rule = TriggerRule.objects.filter(public_id=public_id).first()
    if rule is None:
        raise Http404
    return rule


def parse_variables(text: str) -> dict[str, str]:
    """`name = expression` lines (blank lines ignored)."""
    result = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        name, sep, expression = line.partition("=")
        if not sep:
            raise forms.ValidationError(_("Line %(n)s: write name = expression.") % {"n": number})
        result[name.strip()] = expression.strip()
    return result


class RuleForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=200)
    event = forms.CharField(
        label=gettext_lazy("When this event happens"),
        max_length=120,
        help_text=gettext_lazy("e.g. integrations.call.missed; * matches any part."),
        widget=forms.TextInput(attrs={"list": "kv-trigger-events"}),
    )
    condition = forms.CharField(
        label=gettext_lazy("And this condition holds"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=gettext_lazy('Optional, e.g. amount > 1000 and status == "won".'),
    )
    action = forms.ChoiceField(label=gettext_lazy("Then"), choices=Action.choices)
    process_key = forms.ChoiceField(label=gettext_lazy("Process to start"), required=False)
    message_name = forms.CharField(label=gettext_lazy("Message"), max_length=200, required=False)
    correlation_key = forms.CharField(
        label=gettext_lazy("Business key"),
        required=False,
        help_text=gettext_lazy("Expression, e.g. number; it names the instance."),
    )
    webhook_url = forms.URLField(
        label=gettext_lazy("Webhook URL"), required=False, assume_scheme="https"
    )
    webhook_secret = forms.CharField(
        label=gettext_lazy("Webhook secret"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text=gettext_lazy("Signs the payload (HMAC-SHA256). Leave empty to keep it."),
    )
    variables = forms.CharField(
        label=gettext_lazy("Variables"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=gettext_lazy("One per line: name = expression on the event (caller, payload.x)."),
    )
    is_active = forms.BooleanField(label=gettext_lazy("Active"), required=False, initial=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keys = ProcessDefinition.objects.order_by("key").values_list("key", flat=True).distinct()
        field: Any = self.fields["process_key"]
        field.choices = [("", "—"), *((key, key) for key in keys)]

    def clean_variables(self) -> dict[str, str]:
        return parse_variables(self.cleaned_data.get("variables") or "")


def _initial(rule: TriggerRule) -> dict[str, Any]:
    return {
        "name": rule.name,
        "event": rule.event,
        "condition": rule.condition,
        "action": rule.action,
        "process_key": rule.process_key,
        "message_name": rule.message_name,
        "correlation_key": rule.correlation_key,
        "webhook_url": rule.webhook_url,
        "variables": "\n".join(f"{k} = {v}" for k, v in rule.variables.items()),
        "is_active": rule.is_active,
    }


@login_required
@require_safe
def rule_list(request: HttpRequest) -> HttpResponse:
    _require(request, "view")
    rules = TriggerRule.objects.order_by("name", "pk")
    return render(
        request,
        "triggers/rule_list.html",
        {
            "title": _("Trigger rules"),
            "rules": rules,
            "may_add": can(request.user, "add", TriggerRule),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def rule_edit(request: HttpRequest, public_id: UUID | None = None) -> HttpResponse:
    rule = _rule_or_404(public_id) if public_id else None
    _require(request, "change" if rule else "add")
    form = RuleForm(request.POST or None, initial=_initial(rule) if rule else None)
    if request.method == "POST" and form.is_valid():
        values = dict(form.cleaned_data)
        if rule is not None and not values["webhook_secret"]:
            values.pop("webhook_secret")  # an empty password field keeps the secret
        try:
            if rule is None:
                rule = rule_create(actor=request.user, **values)
            else:
                rule = rule_update(actor=request.user, rule=rule, **values)
        except FieldErrors as exc:
            for field, problems in exc.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        else:
            messages.success(request, _("The rule %(name)s is saved.") % {"name": rule.name})
            return redirect("triggers:rule_list")
    title = _("Edit trigger rule") if rule else _("New trigger rule")
    return render(
        request,
        "triggers/rule_form.html",
        {"title": title, "form": form, "rule": rule, "events": KNOWN_EVENTS},
    )


@login_required
@require_POST
def rule_remove(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _require(request, "delete")
    rule = _rule_or_404(public_id)
    rule_delete(actor=request.user, rule=rule)
    messages.success(request, _("The rule %(name)s is deleted.") % {"name": rule.name})
    return redirect("triggers:rule_list")


@login_required
@require_safe
def firing_log(request: HttpRequest) -> HttpResponse:
    _require(request, "view")
    rows = TriggerFiring.objects.select_related("rule", "instance__definition").order_by(
        "-created_at", "-pk"
    )
    rule_id = request.GET.get("rule") or ""
    if rule_id:
        try:
            rows = rows.filter(rule__public_id=UUID(rule_id))
        except ValueError:
            raise Http404 from None
    status = request.GET.get("status") or ""
    if status in FiringStatus.values:
        rows = rows.filter(status=status)
    page = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "triggers/firing_log.html",
        {
            "title": _("Trigger firing log"),
            "page": page,
            "statuses": FiringStatus.choices,
            "status": status,
        },
    )
