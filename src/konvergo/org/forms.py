"""Forms of the organisation pages: they parse and validate input; services do the writing.

Every administration form takes `(data, files, *, instance, actor)`, so one set of generic
views (org/views.py) drives them all. `add_service_error` puts what a service refused onto the
field it concerns (`BusinessError.details["field"]`) or on top of the form.
"""

from __future__ import annotations

import itertools
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from datetime import date, time
from functools import cache
from typing import Any

from django import forms
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.forms import BaseFormSet, formset_factory
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalChanges

from konvergo.core.errors import BusinessError
from konvergo.core.models import BusinessCalendar, Weekday
from konvergo.org.models import (
    CalendarSystem,
    Department,
    Deputy,
    Position,
    Role,
    Scope,
    Team,
    User,
)
from konvergo.org.permissions import ACTIONS, visible

MAX_PHOTO_BYTES = 2 * 1024 * 1024
MAX_PHOTO_PIXELS = 40_000_000  # a 2 MB file can still unpack into a huge bitmap
PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}
TIME_ZONE_REGIONS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)
E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def add_service_error(form: forms.BaseForm, exc: BusinessError | ValidationError) -> None:
    """Show a service's refusal on the form: on its field when it names one, else on top."""
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return
    details = exc.details if isinstance(exc.details, Mapping) else {}
    field = details.get("field")
    form.add_error(field if field in form.fields else None, exc.message)


# --- fields ---------------------------------------------------------------------------------


@cache
def _canonical_time_zones() -> tuple[str, ...]:
    zones = zoneinfo.available_timezones()
    return ("UTC", *sorted(z for z in zones if z.startswith(TIME_ZONE_REGIONS)))


class TimeZoneField(forms.ChoiceField):
    """A select of the IANA time zones (region/city names, plus UTC)."""

    def __init__(self, *, current: str = "", **kwargs: Any) -> None:
        zones = _canonical_time_zones()
        if current and current not in zones:
            zones = (current, *zones)  # a legacy name already stored stays selectable
        kwargs.setdefault("label", _("Time zone"))
        super().__init__(choices=[(zone, zone.replace("_", " ")) for zone in zones], **kwargs)


class PhoneField(forms.CharField):
    """A phone number in international (E.164) form: spaces, dots, dashes and brackets are
    dropped and a leading 00 becomes +."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("label", _("Phone"))
        kwargs.setdefault("help_text", _("International format, e.g. +49 30 1234567."))
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("autocomplete", "tel")
        self.widget.input_type = "tel"

    def to_python(self, value: Any) -> str:
        text = super().to_python(value)
        if not text:
            return ""
        number = re.sub(r"[\s().\-/]", "", text)
        if number.startswith("00"):
            number = "+" + number[2:]
        if not E164.match(number):
            raise ValidationError(
                _("Enter the number in international format, e.g. +49 30 1234567."),
                code="invalid_phone",
            )
        return number


class PhotoField(forms.ImageField):
    """A real JPEG, PNG or WebP image (checked by Pillow, not by its name) of at most 2 MB."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault(
            "widget", forms.FileInput(attrs={"accept": "image/jpeg,image/png,image/webp"})
        )
        super().__init__(**kwargs)

    def to_python(self, data: Any) -> Any:
        if data in self.empty_values:
            return None
        if getattr(data, "size", 0) > MAX_PHOTO_BYTES:  # before Pillow reads anything
            raise ValidationError(_("The photo is larger than 2 MB."), code="too_large")
        uploaded = super().to_python(data)  # Pillow opens and verifies it, or refuses
        image = getattr(uploaded, "image", None)
        if image is None or image.format not in PHOTO_FORMATS:
            raise ValidationError(
                _("The photo must be a JPEG, PNG or WebP image."), code="invalid_format"
            )
        width, height = image.size
        if width * height > MAX_PHOTO_PIXELS:
            raise ValidationError(_("The photo has too many pixels."), code="too_many_pixels")
        return uploaded


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%Y-%m-%d")


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs=attrs, format="%H:%M")


def people_choices(actor: Any, *current: int | None) -> QuerySet[User]:
    """Active users the actor may see, plus those already chosen (so an edit keeps them)."""
    seen = visible(actor, User.objects.filter(is_active=True)).values("pk")
    chosen = [pk for pk in current if pk is not None]
    return User.objects.filter(Q(pk__in=seen) | Q(pk__in=chosen)).order_by(
        "last_name", "first_name", "username"
    )


def set_queryset(form: forms.BaseForm, name: str, queryset: QuerySet[Any]) -> None:
    field = form.fields[name]
    if not isinstance(field, forms.ModelChoiceField):
        raise TypeError(f"{name} is not a model choice field")
    field.queryset = queryset


# --- the profile ----------------------------------------------------------------------------


class ProfileForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES)
    time_zone = TimeZoneField()
    calendar_system = forms.ChoiceField(
        label=_("Calendar"),
        choices=CalendarSystem.choices,
        help_text=_("How dates are shown to you."),
    )
    phone = PhoneField(required=False)
    photo = PhotoField(
        label=_("Photo"), required=False, help_text=_("JPEG, PNG or WebP, at most 2 MB.")
    )
    remove_photo = forms.BooleanField(label=_("Remove my photo"), required=False)

    def __init__(self, data: Any = None, files: Any = None, *, user: User) -> None:
        super().__init__(
            data,
            files,
            initial={
                "language": user.language,
                "time_zone": user.time_zone,
                "calendar_system": user.calendar_system,
                "phone": user.phone,
            },
        )
        self.fields["time_zone"] = TimeZoneField(current=user.time_zone)
        if not user.photo:
            del self.fields["remove_photo"]


# --- administration -------------------------------------------------------------------------


class DepartmentForm(forms.ModelForm[Department]):
    class Meta:
        model = Department
        fields = ["name", "parent", "head", "calendar"]

    def __init__(
        self, data: Any = None, files: Any = None, *, instance: Department | None, actor: Any
    ) -> None:
        super().__init__(data, files, instance=instance)
        set_queryset(self, "head", people_choices(actor, instance.head_id if instance else None))


class PositionForm(forms.ModelForm[Position]):
    class Meta:
        model = Position
        fields = ["name"]

    def __init__(
        self, data: Any = None, files: Any = None, *, instance: Position | None, actor: Any
    ) -> None:
        super().__init__(data, files, instance=instance)


class TeamForm(forms.ModelForm[Team]):
    class Meta:
        model = Team
        fields = ["name", "description", "lead", "members"]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "members": forms.SelectMultiple(attrs={"size": 8}),
        }

    def __init__(
        self, data: Any = None, files: Any = None, *, instance: Team | None, actor: Any
    ) -> None:
        super().__init__(data, files, instance=instance)
        current = list(instance.members.values_list("pk", flat=True)) if instance else []
        set_queryset(self, "lead", people_choices(actor, instance.lead_id if instance else None))
        set_queryset(self, "members", people_choices(actor, *current))


class UserForm(forms.ModelForm[User]):
    time_zone = TimeZoneField()
    phone = PhoneField(required=False)

    class Meta:
        model = User
        fields = [
            "username",
            "first_name",
            "last_name",
            "email",
            "department",
            "position",
            "roles",
            "language",
            "time_zone",
            "calendar_system",
            "phone",
            "is_active",
        ]
        widgets = {"roles": forms.CheckboxSelectMultiple}

    def __init__(
        self, data: Any = None, files: Any = None, *, instance: User | None, actor: Any
    ) -> None:
        super().__init__(data, files, instance=instance)
        self.fields["time_zone"] = TimeZoneField(current=instance.time_zone if instance else "")
        self.fields["calendar_system"].help_text = _("How dates are shown to this user.")
        if instance is None:
            self.fields["username"].help_text = _(
                'The new user sets a password through "Forgot your password?" on the '
                "sign-in page (the account needs an e-mail address for that)."
            )


ACTION_LABELS = {
    "view": _("View"),
    "add": _("Add"),
    "change": _("Change"),
    "delete": _("Delete"),
}
PERMISSION_APPS = ("org", "core")


def permission_models() -> list[type[Model]]:
    """The object types a role can grant rights on: the models of org and core (without the
    history tables simple-history adds)."""
    return [
        model
        for label in PERMISSION_APPS
        for model in apps.get_app_config(label).get_models()
        if not issubclass(model, HistoricalChanges)
    ]


def permission_code(model: type[Model], action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def permission_choices() -> list[tuple[str, str]]:
    return [
        (permission_code(model, action), permission_code(model, action))
        for model in permission_models()
        for action in ACTIONS
    ]


class PermissionMatrix(forms.CheckboxSelectMultiple):
    """Checkboxes as a table: one row per object type, one column per action."""

    template_name = "org/widgets/permission_matrix.html"

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        selected = {str(code) for code in (value or [])}
        base_id = (attrs or {}).get("id") or f"id_{name}"
        rows = []
        for model in permission_models():
            meta = model._meta
            cells = []
            for action in ACTIONS:
                code = permission_code(model, action)
                cells.append(
                    {
                        "value": code,
                        "checked": code in selected,
                        "id": f"{base_id}_{meta.app_label}_{meta.model_name}_{action}",
                        "action": ACTION_LABELS[action],
                    }
                )
            rows.append(
                {
                    "label": capfirst(str(meta.verbose_name_plural)),
                    "app": apps.get_app_config(meta.app_label).verbose_name,
                    "cells": cells,
                }
            )
        context["widget"]["rows"] = rows
        context["widget"]["actions"] = [ACTION_LABELS[action] for action in ACTIONS]
        return context


class RoleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    scope = forms.ChoiceField(
        label=_("Visibility"),
        choices=Scope.choices,
        initial=Scope.OWN,
        help_text=_("Which records of each type its holders see."),
    )
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), required=False, choices=permission_choices, widget=PermissionMatrix
    )

    def __init__(
        self, data: Any = None, files: Any = None, *, instance: Role | None, actor: Any
    ) -> None:
        initial: dict[str, Any] = {}
        if instance is not None:
            initial = {
                "name": instance.name,
                "description": instance.description,
                "scope": instance.scope,
                "permissions": [
                    f"{permission.content_type.app_label}.{permission.codename}"
                    for permission in instance.permissions.select_related("content_type")
                ],
            }
        super().__init__(data, files, initial=initial)


class DeputyForm(forms.Form):
    user = forms.ModelChoiceField(label=_("Absent user"), queryset=User.objects.none())
    deputy = forms.ModelChoiceField(label=_("Deputy"), queryset=User.objects.none())
    starts_on = forms.DateField(label=_("From"), widget=DateInput())
    ends_on = forms.DateField(label=_("Until"), widget=DateInput())
    note = forms.CharField(label=_("Note"), max_length=255, required=False)

    def __init__(
        self, data: Any = None, files: Any = None, *, instance: Deputy | None, actor: Any
    ) -> None:
        initial: dict[str, Any] = {}
        if instance is not None:
            initial = {
                "user": instance.user_id,
                "deputy": instance.deputy_id,
                "starts_on": instance.starts_on,
                "ends_on": instance.ends_on,
                "note": instance.note,
            }
        super().__init__(data, files, initial=initial)
        for name in ("user", "deputy"):
            set_queryset(self, name, people_choices(actor, initial.get(name)))


class WorkingHoursForm(forms.Form):
    # the blank choice keeps an unused extra row blank (a select always sends a value)
    weekday = forms.TypedChoiceField(
        label=_("Weekday"), choices=[("", "---------"), *Weekday.choices], coerce=int
    )
    start = forms.TimeField(label=_("From"), widget=TimeInput())
    end = forms.TimeField(label=_("Until"), widget=TimeInput())

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        if start is not None and end is not None and end <= start:
            self.add_error("end", _("The interval must end after it starts."))
        return data


class BaseWorkingHoursFormSet(BaseFormSet[WorkingHoursForm]):
    def clean(self) -> None:
        intervals: dict[int, list[tuple[time, time]]] = {}
        for form in kept_forms(self):
            data = form.cleaned_data
            intervals.setdefault(data["weekday"], []).append((data["start"], data["end"]))
        for weekday, spans in intervals.items():
            spans.sort()
            for (_start, end), (next_start, _end) in itertools.pairwise(spans):
                if next_start < end:
                    raise ValidationError(
                        _("Working hours on %(day)s overlap."),
                        params={"day": Weekday(weekday).label},
                        code="overlap",
                    )


class DayOffForm(forms.Form):
    date = forms.DateField(label=_("Date"), widget=DateInput())
    name = forms.CharField(label=_("Name"), max_length=120, required=False)


class BaseDayOffFormSet(BaseFormSet[DayOffForm]):
    def clean(self) -> None:
        days = [form.cleaned_data["date"] for form in kept_forms(self)]
        if len(days) != len(set(days)):
            raise ValidationError(_("Each day off may be listed once."), code="duplicate")


WorkingHoursFormSet = formset_factory(
    WorkingHoursForm, formset=BaseWorkingHoursFormSet, extra=2, can_delete=True
)
DayOffFormSet = formset_factory(DayOffForm, formset=BaseDayOffFormSet, extra=2, can_delete=True)


def kept_forms(formset: BaseFormSet[Any]) -> Iterable[forms.Form]:
    """The valid, filled-in rows of a formset that are not marked for deletion."""
    for form in formset.forms:
        if form.errors or not getattr(form, "cleaned_data", None):
            continue  # a row with errors (shown on it), or an extra row left empty
        if formset.can_delete and form.cleaned_data.get("DELETE"):
            continue
        yield form


class CalendarForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    time_zone = TimeZoneField()
    country = forms.CharField(
        label=_("Holiday country"),
        max_length=2,
        required=False,
        help_text=_("ISO 3166 code whose public holidays are days off, e.g. DE, PL, IR."),
    )
    subdivision = forms.CharField(label=_("Region"), max_length=10, required=False)
    is_default = forms.BooleanField(label=_("Default calendar"), required=False)

    def __init__(
        self,
        data: Any = None,
        files: Any = None,
        *,
        instance: BusinessCalendar | None,
        actor: Any,
    ) -> None:
        if instance is None:
            initial: dict[str, Any] = {"time_zone": "UTC"}
            hours = [{"weekday": day, "start": time(9), "end": time(17)} for day in range(5)]
            days_off: list[dict[str, Any]] = []
        else:
            initial = {
                "name": instance.name,
                "time_zone": instance.time_zone,
                "country": instance.country,
                "subdivision": instance.subdivision,
                "is_default": instance.is_default,
            }
            hours = [
                {"weekday": row.weekday, "start": row.start, "end": row.end}
                for row in instance.working_hours.all()
            ]
            days_off = [{"date": row.date, "name": row.name} for row in instance.days_off.all()]
        super().__init__(data, files, initial=initial)
        self.fields["time_zone"] = TimeZoneField(current=instance.time_zone if instance else "")
        self.hours = WorkingHoursFormSet(data, prefix="hours", initial=hours)
        self.days_off = DayOffFormSet(data, prefix="days_off", initial=days_off)

    @property
    def formsets(self) -> list[tuple[Any, BaseFormSet[Any]]]:
        return [(_("Working hours"), self.hours), (_("Own days off"), self.days_off)]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([self.hours.is_valid(), self.days_off.is_valid()]) and valid

    def clean_country(self) -> str:
        return str(self.cleaned_data.get("country", "")).strip().upper()

    def cleaned_hours(self) -> dict[int, list[tuple[time, time]]]:
        hours: dict[int, list[tuple[time, time]]] = {}
        for form in kept_forms(self.hours):
            data = form.cleaned_data
            hours.setdefault(data["weekday"], []).append((data["start"], data["end"]))
        return hours

    def cleaned_days_off(self) -> list[tuple[date, str]]:
        return [
            (form.cleaned_data["date"], form.cleaned_data.get("name", ""))
            for form in kept_forms(self.days_off)
        ]
