"""Administration of custom fields: the fields of organisations, persons and deals (one tab
per target), their creation, change and deletion.

Pages need `crm.view|add|change|delete_customfield`; writes go through
`services.custom_fields`, whose FieldErrors land under the form field of the same name. Key,
target and type are fixed once a field exists (stored values were validated against them), so
the edit form shows them without letting them change.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_safe

from konvergo.core.errors import BusinessError
from konvergo.crm.choices import CustomFieldTarget, CustomFieldType
from konvergo.crm.models import CustomField
from konvergo.crm.services import custom_fields as field_services
from konvergo.crm.views.common import add_service_error, require_page, visible_or_404
from konvergo.org.permissions import can, visible
from konvergo.org.views import admin_pages_for

PER_PAGE = 50


def list_url(target: str) -> str:
    return f"{reverse('crm:customfield_list')}?{urlencode({'target': target})}"


def _fields(user: Any) -> QuerySet[CustomField]:
    return visible(user, CustomField.objects.all())


def _target(value: str) -> str:
    return value if value in CustomFieldTarget.values else CustomFieldTarget.ORGANIZATION


def _crumbs(request: HttpRequest, *rest: tuple[str, str]) -> list[tuple[str, str]]:
    index = reverse("org:admin_index") if admin_pages_for(request.user) else ""
    crumbs = [(_("Administration"), index)] if index else []
    return [*crumbs, (_("Custom fields"), reverse("crm:customfield_list")), *rest]


class CustomFieldForm(forms.Form):
    target = forms.ChoiceField(label=gettext_lazy("Applies to"), choices=CustomFieldTarget.choices)
    key = forms.CharField(
        label=gettext_lazy("Key"),
        max_length=60,
        help_text=gettext_lazy(
            "Lower-case letters, digits and underscores, e.g. contract_size; the name in the "
            "API and in filters. It cannot be changed later."
        ),
    )
    label = forms.CharField(label=gettext_lazy("Label"), max_length=120)
    field_type = forms.ChoiceField(label=gettext_lazy("Type"), choices=CustomFieldType.choices)
    options = forms.CharField(
        label=gettext_lazy("Options"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=gettext_lazy(
            "For a choice: one option per line. For a link: the record types it may point at, "
            "one per line (crm.organization, crm.person, crm.deal; none = any). Other types "
            "have no options."
        ),
    )
    required = forms.BooleanField(label=gettext_lazy("Required"), required=False)
    order = forms.IntegerField(
        label=gettext_lazy("Order"),
        min_value=0,
        max_value=32767,
        initial=0,
        help_text=gettext_lazy("Fields are shown in this order (smallest first)."),
    )

    FIXED = ("target", "key", "field_type")

    def __init__(
        self, data: Any = None, *, instance: CustomField | None = None, target: str = ""
    ) -> None:
        super().__init__(data)
        self.instance = instance
        if instance is not None:
            self.initial.update(
                {
                    "target": instance.target,
                    "key": instance.key,
                    "label": instance.label,
                    "field_type": instance.field_type,
                    "options": "\n".join(str(option) for option in instance.options or []),
                    "required": instance.required,
                    "order": instance.order,
                }
            )
            for name in self.FIXED:
                self.fields[name].disabled = True
                self.fields[name].help_text = _("Fixed once the field exists.")
        elif target:
            self.initial["target"] = target

    def clean_options(self) -> list[str]:
        text = str(self.cleaned_data.get("options") or "")
        return [line.strip() for line in text.splitlines() if line.strip()]

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        names: tuple[str, ...] = ("label", "options", "required", "order")
        if self.instance is None:
            names = ("target", "key", "field_type", *names)
        return {name: data[name] for name in names}


# --- the list -------------------------------------------------------------------------------


@require_safe
@login_required
def custom_field_list(request: HttpRequest) -> HttpResponse:
    require_page(request, "view", CustomField)
    target = _target(request.GET.get("target", ""))
    fields = _fields(request.user).filter(target=target).order_by("order", "label", "pk")
    page = Paginator(fields, PER_PAGE).get_page(request.GET.get("page"))
    labels = dict(CustomFieldTarget.choices)
    return render(
        request,
        "crm/custom_fields/list.html",
        {
            "title": _("Custom fields"),
            "target": target,
            "target_label": labels[target],
            "tabs": [
                (value, label, list_url(value), value == target)
                for value, label in CustomFieldTarget.choices
            ],
            "page": page,
            "add_url": f"{reverse('crm:customfield_add')}?{urlencode({'target': target})}"
            if can(request.user, "add", CustomField)
            else "",
            "may_change": can(request.user, "change", CustomField),
            "may_delete": can(request.user, "delete", CustomField),
            "breadcrumbs": _crumbs(request),
        },
    )


# --- create, edit, delete -------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def custom_field_edit(request: HttpRequest, public_id: UUID | None = None) -> HttpResponse:
    require_page(request, "add" if public_id is None else "change", CustomField)
    record = None
    if public_id is not None:
        record = visible_or_404(request, _fields(request.user), public_id)
    data = request.POST if request.method == "POST" else None
    form = CustomFieldForm(
        data, instance=record, target=_target(request.GET.get("target", "")) if data is None else ""
    )
    if data is not None and form.is_valid():
        try:
            if record is None:
                saved = field_services.custom_field_create(**form.values())
            else:
                saved = field_services.custom_field_update(field=record, **form.values())
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            messages.success(
                request, _("The custom field “%(label)s” was saved.") % {"label": saved}
            )
            return redirect(list_url(saved.target))
    if record is None:
        title = _("New custom field")
        crumb = _("New")
    else:
        title = _("Edit custom field “%(label)s”") % {"label": record}
        crumb = str(record)
    back = list_url(record.target if record else _target(request.GET.get("target", "")))
    return render(
        request,
        "crm/custom_fields/form.html",
        {
            "form": form,
            "record": record,
            "title": title,
            "cancel_url": back,
            "breadcrumbs": _crumbs(request, (crumb, "")),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def custom_field_delete(request: HttpRequest, public_id: UUID) -> HttpResponse:
    require_page(request, "delete", CustomField)
    record = visible_or_404(request, _fields(request.user), public_id)
    error = ""
    if request.method == "POST":
        label, target = str(record), record.target
        try:
            changed = field_services.custom_field_delete(field=record)
        except BusinessError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                ngettext(
                    "The custom field “%(label)s” was deleted; %(count)d record lost its value.",
                    "The custom field “%(label)s” was deleted; %(count)d records lost their value.",
                    changed,
                )
                % {"label": label, "count": changed},
            )
            return redirect(list_url(target))
    return render(
        request,
        "crm/custom_fields/confirm_delete.html",
        {
            "record": record,
            "error": error,
            "title": _("Delete custom field “%(label)s”") % {"label": record},
            "cancel_url": list_url(record.target),
            "breadcrumbs": _crumbs(request, (str(record), "")),
        },
    )
