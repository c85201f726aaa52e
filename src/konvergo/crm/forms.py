"""Forms of the CRM pages: they parse and validate input; services do the writing.

The organisation and person forms carry their repeatable rows (e-mails, phones, tax ids,
addresses) as formsets and the administrators' custom fields as `cf_<key>` fields. What a
service refuses comes back as FieldErrors keyed like `phones.0.number` and is put under that
row's field by `views.common.add_service_error`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.forms import BaseFormSet, formset_factory
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from konvergo.crm import choices
from konvergo.crm.currencies import currency_choices
from konvergo.crm.models import (
    CustomField,
    Deal,
    Organization,
    Person,
    Pipeline,
    Stage,
    Tag,
)
from konvergo.org.models import User
from konvergo.org.permissions import visible

BLANK = [("", "—")]


def active_users() -> QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("last_name", "first_name", "username")


class UserChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """An active user, chosen by name; submitted as the public id."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("queryset", active_users())
        kwargs.setdefault("to_field_name", "public_id")
        super().__init__(**kwargs)

    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_full_name() or obj.get_username())


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


class LocalDateTimeField(forms.DateTimeField):
    """A date and time typed in the reader's time zone (`datetime-local`), returned aware."""

    widget = DateTimeInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("input_formats", ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"])
        super().__init__(**kwargs)

    def to_python(self, value: Any) -> datetime | None:
        result = super().to_python(value)
        if result is not None and timezone.is_naive(result):
            result = timezone.make_aware(result)
        return result


class TagsField(forms.CharField):
    """Tags as comma-separated names; new names become new tags."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("label", _("Tags"))
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 1000)
        kwargs.setdefault("help_text", _("Separate tags with commas."))
        super().__init__(**kwargs)
        self.widget.attrs.setdefault("list", "kv-tag-names")
        self.widget.attrs.setdefault("autocomplete", "off")

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list | tuple | QuerySet):
            return ", ".join(str(tag) for tag in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value)
        names: list[str] = []
        for part in str(text or "").split(","):
            name = part.strip()
            if name and name.casefold() not in {n.casefold() for n in names}:
                names.append(name)
        return names


def tag_names(names: Iterable[str]) -> list[str]:
    """The names as tags spell them when a tag of that name (in any case) exists."""
    wanted = list(names)
    existing = {
        tag.name.casefold(): tag.name
        for tag in Tag.objects.filter(
            Q(*[Q(name__iexact=n) for n in wanted], _connector=Q.OR) if wanted else Q(pk=None)
        )
    }
    return [existing.get(name.casefold(), name) for name in wanted]


# --- the repeatable rows --------------------------------------------------------------------


class RowForm(forms.Form):
    """A row of a formset; `values()` is what the service gets for it."""

    def values(self) -> dict[str, Any]:
        return {name: self.cleaned_data.get(name) for name in self.fields if name != "DELETE"}


class EmailRow(RowForm):
    address = forms.EmailField(
        label=_("E-mail"), max_length=254, widget=forms.EmailInput(attrs={"data-kv-dup": "1"})
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=choices.ContactKind.choices, initial=choices.ContactKind.WORK
    )
    is_primary = forms.BooleanField(label=_("Primary"), required=False)


class PhoneRow(RowForm):
    number = forms.CharField(
        label=_("Phone"),
        max_length=40,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel", "data-kv-dup": "1"}),
    )
    kind = forms.ChoiceField(
        label=_("Kind"), choices=choices.ContactKind.choices, initial=choices.ContactKind.WORK
    )
    is_primary = forms.BooleanField(label=_("Primary"), required=False)


class TaxIdRow(RowForm):
    country = forms.CharField(
        label=_("Country"),
        max_length=2,
        widget=forms.TextInput(attrs={"size": 3, "placeholder": "PL"}),
    )
    kind = forms.CharField(
        label=_("Kind"), max_length=20, widget=forms.TextInput(attrs={"placeholder": "NIP"})
    )
    value = forms.CharField(
        label=_("Number"), max_length=60, widget=forms.TextInput(attrs={"data-kv-dup": "1"})
    )


class AddressRow(RowForm):
    kind = forms.ChoiceField(
        label=_("Kind"), choices=choices.AddressKind.choices, initial=choices.AddressKind.OFFICE
    )
    street = forms.CharField(label=_("Street"), max_length=255, required=False)
    postal_code = forms.CharField(label=_("Postal code"), max_length=20, required=False)
    city = forms.CharField(label=_("City"), max_length=120, required=False)
    region = forms.CharField(label=_("Region"), max_length=120, required=False)
    country = forms.CharField(
        label=_("Country"), max_length=2, required=False, widget=forms.TextInput(attrs={"size": 3})
    )


def _formset(form: type[forms.Form]) -> type[BaseFormSet[Any]]:
    return formset_factory(form, extra=1, can_delete=True, max_num=20, absolute_max=50)


EmailFormSet = _formset(EmailRow)
PhoneFormSet = _formset(PhoneRow)
TaxIdFormSet = _formset(TaxIdRow)
AddressFormSet = _formset(AddressRow)


def kept_rows(formset: BaseFormSet[Any]) -> list[dict[str, Any]]:
    """The values of the valid, filled-in rows that are not marked for deletion (in order:
    the services number them from 0 in their error keys)."""
    rows = []
    for form in formset.forms:
        data = getattr(form, "cleaned_data", None)
        if form.errors or not data:
            continue
        if formset.can_delete and data.get("DELETE"):
            continue
        rows.append(form.values() if isinstance(form, RowForm) else dict(data))
    return rows


# --- custom fields --------------------------------------------------------------------------


def custom_field_definitions(target: str) -> list[CustomField]:
    return list(CustomField.objects.filter(target=target).order_by("order", "label", "pk"))


def _custom_form_field(definition: CustomField) -> forms.Field:
    kind = definition.field_type
    common: dict[str, Any] = {"label": definition.label, "required": definition.required}
    options = [(str(option), str(option)) for option in definition.options or []]
    if kind == choices.CustomFieldType.NUMBER:
        return forms.DecimalField(**common)
    if kind == choices.CustomFieldType.DATE:
        return forms.DateField(widget=DateInput(), **common)
    if kind == choices.CustomFieldType.CHOICE:
        return forms.ChoiceField(choices=BLANK + options, **common)
    if kind == choices.CustomFieldType.MULTI_CHOICE:
        return forms.MultipleChoiceField(
            choices=options, widget=forms.CheckboxSelectMultiple, **common
        )
    if kind == choices.CustomFieldType.BOOLEAN:
        return forms.NullBooleanField(
            widget=forms.Select(choices=[("", "—"), ("true", _("Yes")), ("false", _("No"))]),
            **{**common, "required": False},
        )
    if kind == choices.CustomFieldType.MONEY:
        return forms.DecimalField(
            decimal_places=2, help_text=_("Amount; the currency is next to it."), **common
        )
    if kind == choices.CustomFieldType.LINK:
        return forms.UUIDField(
            help_text=_("The public id of the record (from its address)."), **common
        )
    return forms.CharField(max_length=2000, **common)


class CustomFieldsMixin:
    """Adds the administrators' custom fields of `target` as `cf_<key>` (a money field also has
    `cf_<key>__currency`) and turns them back into the `custom_data` a service expects."""

    fields: dict[str, forms.Field]
    cleaned_data: dict[str, Any]
    initial: Any
    definitions: list[CustomField]

    def add_custom_fields(self, target: str, stored: Mapping[str, Any] | None) -> None:
        self.definitions = custom_field_definitions(target)
        stored = stored or {}
        for definition in self.definitions:
            name = f"cf_{definition.key}"
            self.fields[name] = _custom_form_field(definition)
            value = stored.get(definition.key)
            if definition.field_type == choices.CustomFieldType.MONEY:
                self.fields[f"{name}__currency"] = forms.ChoiceField(
                    label=_("Currency of %(field)s") % {"field": definition.label},
                    choices=currency_choices(),
                    initial="EUR",
                    required=False,
                )
                if isinstance(value, Mapping):
                    self.initial[name] = value.get("amount")
                    self.initial[f"{name}__currency"] = value.get("currency")
            elif definition.field_type == choices.CustomFieldType.LINK:
                if isinstance(value, Mapping):
                    self.initial[name] = value.get("id")
            elif definition.field_type == choices.CustomFieldType.BOOLEAN:
                if isinstance(value, bool):
                    self.initial[name] = "true" if value else "false"
            elif value is not None:
                self.initial[name] = value

    @property
    def custom_field_names(self) -> list[str]:
        return [name for name in self.fields if name.startswith("cf_")]

    def custom_data(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for definition in self.definitions:
            name = f"cf_{definition.key}"
            value = self.cleaned_data.get(name)
            kind = definition.field_type
            if value in (None, "", []):
                continue
            if kind == choices.CustomFieldType.MONEY:
                value = {
                    "amount": str(value),
                    "currency": self.cleaned_data.get(f"{name}__currency") or "EUR",
                }
            elif kind == choices.CustomFieldType.LINK:
                targets = list(definition.options or []) or ["crm.organization"]
                value = {"type": _link_type(value, targets), "id": str(value)}
            elif isinstance(value, Decimal):
                value = str(value)
            elif isinstance(value, date):
                value = value.isoformat()
            data[definition.key] = value
        return data


def _link_type(public_id: UUID, types: Sequence[str]) -> str:
    """The first of `types` that has a record with this public id (else the first type)."""
    models: dict[str, type[Model]] = {
        "crm.organization": Organization,
        "crm.person": Person,
        "crm.deal": Deal,
    }
    for kind in types:
        model = models.get(kind)
        if model is not None and model._default_manager.filter(public_id=public_id).exists():
            return kind
    return types[0]


# --- organisations and persons --------------------------------------------------------------


class ContactFormBase(CustomFieldsMixin, forms.Form):
    """Shared by the organisation and person forms: owner, tags, notes and the rows."""

    row_sets: tuple[tuple[str, Any, type[BaseFormSet[Any]]], ...] = ()

    def __init__(
        self, data: Any = None, *, instance: Organization | Person | None, actor: User
    ) -> None:
        super().__init__(data)
        self.instance = instance
        self.fields["owner"] = UserChoiceField(label=_("Owner"), initial=actor.public_id)
        self.fields["tags"] = TagsField()
        self.fields["notes"] = forms.CharField(
            label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
        )
        if instance is not None:
            self.initial["owner"] = instance.owner.public_id
            self.initial["tags"] = [tag.name for tag in instance.tags.all()]
            self.initial["notes"] = instance.notes
        self.formsets: dict[str, BaseFormSet[Any]] = {}
        for key, _label, formset_class in self.row_sets:
            initial = self._rows(key) if instance is not None else []
            self.formsets[key] = formset_class(data, prefix=key, initial=initial)

    def _rows(self, key: str) -> list[dict[str, Any]]:
        if self.instance is None:
            return []
        if key == "emails":
            return [
                {"address": e.address, "kind": e.kind, "is_primary": e.is_primary}
                for e in self.instance.emails.all()
            ]
        if key == "phones":
            return [
                {"number": p.number, "kind": p.kind, "is_primary": p.is_primary}
                for p in self.instance.phones.all()
            ]
        if key == "tax_ids" and isinstance(self.instance, Organization):
            return [
                {"country": t.country, "kind": t.kind, "value": t.value}
                for t in self.instance.tax_ids.all()
            ]
        if key == "addresses":
            return [
                {
                    "kind": a.kind,
                    "street": a.street,
                    "postal_code": a.postal_code,
                    "city": a.city,
                    "region": a.region,
                    "country": a.country,
                }
                for a in self.instance.addresses.all()
            ]
        return []

    @property
    def row_formsets(self) -> list[tuple[str, Any, BaseFormSet[Any]]]:
        return [(key, label, self.formsets[key]) for key, label, _cls in self.row_sets]

    def is_valid(self) -> bool:
        valid = super().is_valid()
        return all([formset.is_valid() for formset in self.formsets.values()]) and valid

    @property
    def row_errors(self) -> bool:
        """Whether a row of the formsets has errors (shown on the row)."""
        return any(
            formset.is_bound and formset.total_error_count() for formset in self.formsets.values()
        )

    def rows(self) -> dict[str, list[dict[str, Any]]]:
        return {key: kept_rows(formset) for key, formset in self.formsets.items()}

    def common_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "owner": data["owner"],
            "tags": tag_names(data["tags"]),
            "notes": data["notes"],
            "custom_data": self.custom_data(),
            **self.rows(),
        }


class OrganizationForm(ContactFormBase):
    legal_name = forms.CharField(
        label=_("Legal name"),
        max_length=255,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-kv-dup": "1"}),
    )
    short_name = forms.CharField(label=_("Short name"), max_length=120, required=False)
    legal_form = forms.CharField(
        label=_("Legal form"),
        max_length=60,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "GmbH, Sp. z o.o., LLC"}),
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=choices.OrganizationStatus.choices,
        initial=choices.OrganizationStatus.LEAD,
    )
    industry = forms.CharField(label=_("Industry"), max_length=120, required=False)
    size = forms.ChoiceField(
        label=_("Size"), choices=BLANK + list(choices.CompanySize.choices), required=False
    )
    website = forms.CharField(
        label=_("Website"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "url", "placeholder": "example.com"}),
    )
    row_sets = (
        ("emails", _("E-mail addresses"), EmailFormSet),
        ("phones", _("Phones"), PhoneFormSet),
        ("tax_ids", _("Tax and registration numbers"), TaxIdFormSet),
        ("addresses", _("Addresses"), AddressFormSet),
    )
    MAIN = ("legal_name", "short_name", "legal_form", "status", "industry", "size", "website")

    def __init__(self, data: Any = None, *, instance: Organization | None, actor: User) -> None:
        super().__init__(data, instance=instance, actor=actor)
        if instance is not None:
            for name in self.MAIN:
                self.initial[name] = getattr(instance, name)
        self.add_custom_fields(
            choices.CustomFieldTarget.ORGANIZATION, instance.custom_data if instance else None
        )

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {**{name: data[name] for name in self.MAIN}, **self.common_values()}


class OrganizationChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    """An organisation the user may see, typed by name (a datalist helps) or given by its
    public id (when the page came from the organisation)."""

    widget = forms.TextInput

    def __init__(self, *, user: Any, **kwargs: Any) -> None:
        self.user = user
        kwargs.setdefault("queryset", visible(user, Organization.objects.all()))
        super().__init__(**kwargs)
        self.widget.attrs.update({"list": "kv-organization-names", "autocomplete": "off"})

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Organization):
            return value.legal_name
        if isinstance(value, UUID | str) and value:
            found = self._visible().filter(public_id=value).first() if _uuid(value) else None
            return found.legal_name if found is not None else value
        return super().prepare_value(value)

    def to_python(self, value: Any) -> Organization | None:
        text = str(value or "").strip()
        if not text:
            return None
        queryset = self._visible()
        if _uuid(text):
            found = queryset.filter(public_id=text).first()
            if found is not None:
                return found
        matches = list(queryset.filter(Q(legal_name__iexact=text) | Q(short_name__iexact=text))[:2])
        if not matches:
            raise ValidationError(
                _("There is no organisation called “%(name)s”; create it first."),
                code="invalid_choice",
                params={"name": text},
            )
        if len(matches) > 1:
            raise ValidationError(
                _(
                    "Several organisations are called “%(name)s”; add the person from the "
                    "organisation's page."
                ),
                code="ambiguous",
                params={"name": text},
            )
        return matches[0]

    def validate(self, value: Any) -> None:
        forms.Field.validate(self, value)

    def _visible(self) -> QuerySet[Organization]:
        return visible(self.user, Organization.objects.all())


def _uuid(value: Any) -> bool:
    try:
        UUID(str(value))
    except ValueError:
        return False
    return True


class PersonForm(ContactFormBase):
    first_name = forms.CharField(
        label=_("First name"),
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-kv-dup": "1"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "off", "data-kv-dup": "1"}),
    )
    position = forms.CharField(label=_("Position"), max_length=120, required=False)
    birthday = forms.DateField(label=_("Birthday"), required=False, widget=DateInput())
    language = forms.ChoiceField(label=_("Language"), required=False)
    role = forms.CharField(label=_("Role at the organisation"), max_length=120, required=False)

    row_sets = (
        ("emails", _("E-mail addresses"), EmailFormSet),
        ("phones", _("Phones"), PhoneFormSet),
        ("addresses", _("Addresses"), AddressFormSet),
    )
    MAIN = ("first_name", "last_name", "position", "birthday", "language")

    def __init__(
        self,
        data: Any = None,
        *,
        instance: Person | None,
        actor: User,
        organization: Organization | None = None,
    ) -> None:
        super().__init__(data, instance=instance, actor=actor)
        languages = BLANK + [(code, str(name)) for code, name in settings.LANGUAGES]
        if instance is not None and instance.language not in {code for code, _n in languages}:
            languages.append((instance.language, instance.language))  # set elsewhere (API)
        self.fields["language"].choices = languages  # type: ignore[attr-defined]
        self.fields["organization"] = OrganizationChoiceField(
            user=actor, label=_("Organisation"), required=False
        )
        # the organisation comes right before the role
        self.order_fields([*self.MAIN, "organization", "role"])
        if instance is not None:
            for name in self.MAIN:
                self.initial[name] = getattr(instance, name)
            employment = next((e for e in instance.employments.all() if e.is_primary), None)
            if employment is not None:
                self.initial["organization"] = employment.organization
                self.initial["role"] = employment.role
        elif organization is not None:
            self.initial["organization"] = organization
        self.add_custom_fields(
            choices.CustomFieldTarget.PERSON, instance.custom_data if instance else None
        )

    def values(self) -> dict[str, Any]:
        data = self.cleaned_data
        values = {name: data[name] for name in self.MAIN}
        values.update(self.common_values())
        if data.get("organization") is not None:
            values["organization"] = data["organization"]
            values["role"] = data["role"]
        elif self.instance is None:
            values["role"] = ""
        return values


# --- quick actions on the dossier -----------------------------------------------------------


class LogCallForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=255)
    outcome = forms.CharField(
        label=_("Outcome"),
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. reached, voicemail, call back")}),
    )
    result = forms.CharField(
        label=_("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )


class PlanForm(forms.Form):
    """A meeting or task: what, when, who is responsible, a reminder."""

    subject = forms.CharField(label=_("Subject"), max_length=255)
    due_at = LocalDateTimeField(label=_("When"))
    ends_at = LocalDateTimeField(label=_("Until"), required=False)
    owner = UserChoiceField(label=_("Responsible"), required=False)
    reminder_at = LocalDateTimeField(label=_("Remind me at"), required=False)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args: Any, kind: str, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind
        self.fields["owner"].initial = actor.public_id
        if kind == choices.ActivityKind.TASK:
            del self.fields["ends_at"]
            self.fields["due_at"].label = _("Due")
            self.fields["recurrence"] = forms.ChoiceField(
                label=_("Repeats"),
                required=False,
                choices=[
                    ("", _("Does not repeat")),
                    ("FREQ=DAILY", _("Every day")),
                    ("FREQ=WEEKLY", _("Every week")),
                    ("FREQ=MONTHLY", _("Every month")),
                ],
            )


class DealForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=255)
    pipeline = forms.ModelChoiceField(
        label=_("Pipeline"),
        queryset=Pipeline.objects.order_by("-is_default", "name"),
        to_field_name="public_id",
        required=False,
        empty_label=None,
    )
    amount = forms.DecimalField(
        label=_("Amount"), min_value=Decimal(0), max_digits=14, decimal_places=2, initial=0
    )
    currency = forms.ChoiceField(label=_("Currency"), initial="EUR")
    expected_close = forms.DateField(label=_("Expected close"), required=False, widget=DateInput())
    owner = UserChoiceField(label=_("Owner"), required=False)

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["currency"].choices = currency_choices()  # type: ignore[attr-defined]
        self.fields["owner"].initial = actor.public_id


class StageMoveForm(forms.Form):
    stage = forms.ModelChoiceField(queryset=Stage.objects.all(), to_field_name="public_id")


class LostForm(forms.Form):
    reason = forms.CharField(label=_("Why was it lost?"), max_length=255)


class TransferForm(forms.Form):
    to_user = UserChoiceField(label=_("New owner"))
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )
    include_deals = forms.BooleanField(
        label=_("Hand over the open deals too"), required=False, initial=True
    )
    include_activities = forms.BooleanField(
        label=_("Hand over the open tasks and planned activities too"),
        required=False,
        initial=True,
    )

    def __init__(self, *args: Any, current_owner: User | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if current_owner is not None:
            field = self.fields["to_user"]
            if isinstance(field, forms.ModelChoiceField):
                field.queryset = active_users().exclude(pk=current_owner.pk)


class BulkTransferForm(forms.Form):
    from_user = UserChoiceField(
        label=_("Leaving employee"), queryset=User.objects.order_by("last_name", "first_name")
    )
    to_user = UserChoiceField(label=_("New owner"))
    reason = forms.CharField(
        label=_("Reason"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("from_user") and data.get("from_user") == data.get("to_user"):
            self.add_error("to_user", _("Choose someone else than the leaving employee."))
        return data


class StartProcessForm(forms.Form):
    definition = forms.ChoiceField(label=_("Process"))

    def __init__(self, *args: Any, definitions: Sequence[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["definition"].choices = list(definitions)  # type: ignore[attr-defined]


# --- quick entry on a phone -----------------------------------------------------------------


class QuickContactForm(forms.Form):
    first_name = forms.CharField(
        label=_("First name"),
        max_length=120,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "words"}),
    )
    last_name = forms.CharField(
        label=_("Last name"),
        max_length=120,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "words"}),
    )
    phone = forms.CharField(
        label=_("Phone"),
        max_length=40,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "inputmode": "tel", "autocomplete": "off"}),
        help_text=_("With the country code, e.g. +48 601 234 567."),
    )
    email = forms.EmailField(
        label=_("E-mail"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "off", "inputmode": "email"}),
    )

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["organization"] = OrganizationChoiceField(
            user=actor, label=_("Organisation"), required=False
        )


class QuickCallForm(LogCallForm):
    client = forms.CharField(label=_("Client"), max_length=200)
    field_order = ["client", "subject", "outcome", "result"]

    def __init__(self, *args: Any, actor: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.fields["client"].widget.attrs.update(
            {"list": "kv-client-names", "autocomplete": "off"}
        )
        self.fields["client"].help_text = _("Type a name and choose from the list.")

    def clean_client(self) -> Organization | Person:
        text = str(self.cleaned_data.get("client", "")).strip()
        record = resolve_client(self.actor, text)
        if record is None:
            raise ValidationError(
                _("No client matches “%(name)s”; choose one from the list."),
                code="invalid_choice",
                params={"name": text},
            )
        return record


def client_label(record: Organization | Person) -> str:
    """How a client appears in the quick-entry list (unique enough to pick it again)."""
    if isinstance(record, Organization):
        return f"{record.legal_name} · {record.public_id.hex[:6]}"
    return f"{record} · {record.public_id.hex[:6]}"


def resolve_client(user: Any, text: str) -> Organization | Person | None:
    """The client a quick-entry label names (`Name · abc123`), or the one client of that exact
    name the user may see."""
    name, _sep, short = text.rpartition(" · ")
    if not name:
        name, short = text, ""
    name = name.strip()
    organizations = visible(user, Organization.objects.all()).filter(
        Q(legal_name__iexact=name) | Q(short_name__iexact=name)
    )
    persons = visible(user, Person.objects.all())
    parts = name.split()
    if len(parts) >= 2:
        persons = persons.filter(
            first_name__iexact=" ".join(parts[:-1]), last_name__iexact=parts[-1]
        )
    else:
        persons = persons.filter(last_name__iexact=name)
    found: list[Organization | Person] = [*organizations[:5], *persons[:5]]
    if short:
        found = [record for record in found if record.public_id.hex.startswith(short.lower())]
    return found[0] if len(found) == 1 else None
