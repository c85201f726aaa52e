"""What the four CRM lists show: columns, sorting, filters and bulk actions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from django import forms as django_forms
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from konvergo.crm import selectors
from konvergo.crm.choices import CustomFieldTarget, CustomFieldType
from konvergo.crm.filters import OrganizationFilter, PersonFilter
from konvergo.crm.filters_deals import ActivityFilter, DealFilter
from konvergo.crm.forms import active_users
from konvergo.crm.models import Activity, Deal, Organization, Person, Pipeline
from konvergo.crm.services import activities as activity_services
from konvergo.crm.services import contacts as contact_services
from konvergo.crm.services import custom_fields as custom_field_services
from konvergo.crm.services import deals as deal_services
from konvergo.crm.services import transfer as transfer_services
from konvergo.crm.views.lists import BulkAction, ListColumn, ListPage
from konvergo.org.models import User
from konvergo.org.permissions import visible


def _person_name(user: Any) -> str:
    return str(user.get_full_name() or user.get_username()) if user else ""


def _tags(record: Any) -> list[str]:
    return [tag.name for tag in record.tags.all()]


def _first(items: Any) -> Any:
    return next(iter(items), None)


def _emails(record: Any) -> str:
    return ", ".join(e.address for e in record.emails.all())


def _phones(record: Any) -> str:
    return ", ".join(p.number for p in record.phones.all())


def _city(record: Any) -> str:
    address = next((a for a in record.addresses.all() if a.city or a.country), None)
    if address is None:
        return ""
    return ", ".join(part for part in (address.city, address.country) if part)


def _employer(person: Person) -> Organization | None:
    employment = _first(person.employments.all())
    return employment.organization if employment else None


def _client(record: Any) -> Any:
    return record.organization or record.person or ""


# --- filters' widgets -----------------------------------------------------------------------


def _user_select(form: django_forms.Form, name: str, label: Any = None) -> None:
    """A filter by user as a select of the active users (by name, submitted as public id).
    Only the widget changes: the form may already be validated and its fields bound."""
    field = form.fields.get(name)
    if field is None:
        return
    if label:
        field.label = label
    if isinstance(field, django_forms.ModelChoiceField):
        field.queryset = active_users()
        field.empty_label = str(_("Anyone"))
        return
    choices = [("", _("Anyone"))] + [(str(u.public_id), _person_name(u)) for u in active_users()]
    field.widget = django_forms.Select(choices=choices)


def _checkboxes(form: django_forms.Form, name: str) -> None:
    field = form.fields.get(name)
    if isinstance(field, django_forms.ChoiceField):
        widget = django_forms.CheckboxSelectMultiple()
        widget.choices = field.widget.choices
        field.widget = widget


def _hidden_unless_set(form: django_forms.Form, *names: str) -> None:
    for name in names:
        if name in form.fields and not (form.data or {}).get(name):
            del form.fields[name]
        elif name in form.fields:
            form.fields[name].widget = django_forms.HiddenInput()


def _contact_filters(form: django_forms.Form) -> None:
    _user_select(form, "owner")
    _checkboxes(form, "status")
    _hidden_unless_set(form, "organization")
    created = form.fields.get("created")
    for widget in getattr(created.widget, "widgets", []) if created is not None else []:
        widget.input_type = "date"  # a calendar for "from" and "to"


def _deal_filters(form: django_forms.Form) -> None:
    _user_select(form, "owner")
    _hidden_unless_set(form, "organization", "person", "stage")
    if "pipeline" in form.fields:
        form.fields["pipeline"].widget = django_forms.Select(
            choices=[("", _("All pipelines"))]
            + [(str(p.public_id), p.name) for p in Pipeline.objects.order_by("name")]
        )
    for name in ("close_from", "close_to"):
        if name in form.fields:
            form.fields[name].widget = django_forms.DateInput(attrs={"type": "date"})


def _activity_filters(form: django_forms.Form) -> None:
    _user_select(form, "owner", _("Responsible"))
    _hidden_unless_set(form, "organization", "person", "deal", "due_from", "due_to")
    for name in ("done", "overdue", "archived"):
        if name in form.fields:
            form.fields[name].widget = django_forms.Select(
                choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))]
            )


def _custom_filter_field(field: Any) -> django_forms.Field | None:
    """The filter panel's input for a custom field (links have none on the page; the API
    filters them by public id). Values are checked by `custom_field_filter` when applied."""
    kind = CustomFieldType(field.field_type)
    label = field.label
    if kind in (CustomFieldType.CHOICE, CustomFieldType.MULTI_CHOICE):
        options = [("", _("Any")), *((option, option) for option in field.options)]
        return django_forms.ChoiceField(label=label, required=False, choices=options)
    if kind == CustomFieldType.BOOLEAN:
        options = [("", _("Any")), ("true", _("Yes")), ("false", _("No"))]
        return django_forms.ChoiceField(label=label, required=False, choices=options)
    if kind == CustomFieldType.DATE:
        date_input = django_forms.DateInput(attrs={"type": "date"})
        return django_forms.CharField(label=label, required=False, widget=date_input)
    if kind == CustomFieldType.NUMBER:
        widget = django_forms.TextInput(attrs={"inputmode": "decimal"})
        return django_forms.CharField(label=label, required=False, widget=widget)
    if kind == CustomFieldType.TEXT:
        return django_forms.CharField(label=label, required=False, max_length=100)
    if kind == CustomFieldType.MONEY:  # by currency code
        widget = django_forms.TextInput(attrs={"maxlength": 3, "placeholder": "EUR"})
        return django_forms.CharField(label=label, required=False, widget=widget)
    return None


def _with_custom_filters(
    target: str, customize: Callable[[django_forms.Form], None]
) -> Callable[[django_forms.Form], None]:
    """`customize`, then one filter per custom field of `target` (`cf_<key>`); the list
    applies them with `custom_field_filter` (crm/views/lists.py)."""

    def hook(form: django_forms.Form) -> None:
        customize(form)
        for field in custom_field_services.custom_fields_for(target):
            form_field = _custom_filter_field(field)
            if form_field is not None:
                form.fields[f"{custom_field_services.PARAMETER_PREFIX}{field.key}"] = form_field

    return hook


# --- bulk actions ---------------------------------------------------------------------------


def _transfer(actor: User, record: Any, inputs: Mapping[str, Any]) -> None:
    key = "organization" if isinstance(record, Organization) else "person"
    if record.owner_id == inputs["owner"].pk:
        return
    transfer_services.client_transfer(
        actor=actor, to_user=inputs["owner"], reason=inputs["reason"], **{key: record}
    )


def _add_tag(actor: User, record: Any, inputs: Mapping[str, Any]) -> None:
    names = _tags(record)
    if inputs["tag"].casefold() in {name.casefold() for name in names}:
        return
    tags = [*names, inputs["tag"]]
    if isinstance(record, Organization):
        contact_services.organization_update(actor=actor, organization=record, tags=tags)
    else:
        contact_services.person_update(actor=actor, person=record, tags=tags)


def _deal_owner(actor: User, deal: Deal, inputs: Mapping[str, Any]) -> None:
    deal_services.deal_update(actor=actor, deal=deal, owner=inputs["owner"])


def _activity_done(actor: User, activity: Activity, inputs: Mapping[str, Any]) -> None:
    if activity.done_at is None:
        activity_services.activity_complete(actor=actor, activity=activity)


def _activity_owner(actor: User, activity: Activity, inputs: Mapping[str, Any]) -> None:
    activity_services.activity_update(actor=actor, activity=activity, owner=inputs["owner"])


CLIENT_BULK = (
    BulkAction("transfer", _("Hand over to"), "change", ("owner", "reason"), _transfer),
    BulkAction("tag", _("Add the tag"), "change", ("tag",), _add_tag),
)


# --- the lists ------------------------------------------------------------------------------


def _organization_rows(user: Any) -> QuerySet[Organization]:
    return visible(user, selectors.organization_rows())


def _person_rows(user: Any) -> QuerySet[Person]:
    return visible(user, selectors.person_rows())


def _deal_rows(user: Any) -> QuerySet[Deal]:
    return visible(user, Deal.objects.all()).select_related(
        "organization", "person", "owner", "pipeline", "stage"
    )


def _activity_rows(user: Any) -> QuerySet[Activity]:
    return visible(user, Activity.objects.all()).select_related(
        "organization", "person", "owner", "deal"
    )


def _detail(name: str) -> Any:
    return lambda record: reverse(f"crm:{name}_detail", args=[record.public_id])


def _quick_links(user: Any) -> list[tuple[str, str]]:
    links = []
    if user.has_perm("crm.add_person"):
        links.append((str(_("New contact (quick)")), reverse("crm:quick_contact")))
    if user.has_perm("crm.add_activity"):
        links.append((str(_("Log a call")), reverse("crm:quick_call")))
    return links


ORGANIZATION_LIST = ListPage(
    key="organization",
    model=Organization,
    filterset=OrganizationFilter,
    rows=_organization_rows,
    columns=[
        ListColumn("name", _("Name"), lambda o: o.legal_name, ("legal_name",), link=True),
        ListColumn("status", _("Status"), lambda o: o.get_status_display(), ("status",), "badge"),
        ListColumn(
            "owner",
            _("Owner"),
            lambda o: _person_name(o.owner),
            ("owner__last_name", "owner__first_name"),
        ),
        ListColumn(
            "email",
            _("E-mail"),
            lambda o: getattr(_first(o.emails.all()), "address", ""),
            export=_emails,
        ),
        ListColumn(
            "phone",
            _("Phone"),
            lambda o: getattr(_first(o.phones.all()), "number", ""),
            export=_phones,
        ),
        ListColumn("city", _("City"), _city),
        ListColumn(
            "tax_ids",
            _("Tax ids"),
            lambda o: ", ".join(f"{t.country} {t.kind} {t.value}" for t in o.tax_ids.all()),
        ),
        ListColumn("tags", _("Tags"), _tags, kind="tags"),
        ListColumn("created", _("Created"), lambda o: o.created_at, ("created_at",), "date"),
    ],
    default_sort="name",
    detail_url=_detail("organization"),
    add_url_name="crm:organization_add",
    bulk_actions=CLIENT_BULK,
    customize_filters=_with_custom_filters(CustomFieldTarget.ORGANIZATION, _contact_filters),
    extra_links=_quick_links,
    custom_target=CustomFieldTarget.ORGANIZATION,
)

PERSON_LIST = ListPage(
    key="person",
    model=Person,
    filterset=PersonFilter,
    rows=_person_rows,
    columns=[
        ListColumn("name", _("Name"), str, ("last_name", "first_name"), link=True),
        ListColumn("organization", _("Organisation"), lambda p: _employer(p) or ""),
        ListColumn("position", _("Position"), lambda p: p.position, ("position",)),
        ListColumn(
            "owner",
            _("Owner"),
            lambda p: _person_name(p.owner),
            ("owner__last_name", "owner__first_name"),
        ),
        ListColumn(
            "email",
            _("E-mail"),
            lambda p: getattr(_first(p.emails.all()), "address", ""),
            export=_emails,
        ),
        ListColumn(
            "phone",
            _("Phone"),
            lambda p: getattr(_first(p.phones.all()), "number", ""),
            export=_phones,
        ),
        ListColumn("tags", _("Tags"), _tags, kind="tags"),
        ListColumn("created", _("Created"), lambda p: p.created_at, ("created_at",), "date"),
    ],
    default_sort="name",
    detail_url=_detail("person"),
    add_url_name="crm:person_add",
    bulk_actions=CLIENT_BULK,
    customize_filters=_with_custom_filters(CustomFieldTarget.PERSON, _contact_filters),
    extra_links=_quick_links,
    custom_target=CustomFieldTarget.PERSON,
)

DEAL_LIST = ListPage(
    key="deal",
    model=Deal,
    filterset=DealFilter,
    rows=_deal_rows,
    columns=[
        ListColumn("title", _("Title"), lambda d: d.title, ("title",), link=True),
        ListColumn(
            "client", _("Client"), _client, ("organization__legal_name", "person__last_name")
        ),
        ListColumn("pipeline", _("Pipeline"), lambda d: d.pipeline.name, ("pipeline__name",)),
        ListColumn("stage", _("Stage"), lambda d: d.stage.name, ("pipeline__name", "stage__order")),
        ListColumn("amount", _("Amount"), lambda d: d.amount, ("amount",), "money"),
        ListColumn("currency", _("Currency"), lambda d: d.currency, ("currency",)),
        ListColumn(
            "expected_close",
            _("Expected close"),
            lambda d: d.expected_close,
            ("expected_close",),
            "date",
        ),
        ListColumn("status", _("Status"), lambda d: d.get_status_display(), ("status",), "badge"),
        ListColumn(
            "owner",
            _("Owner"),
            lambda d: _person_name(d.owner),
            ("owner__last_name", "owner__first_name"),
        ),
        ListColumn("created", _("Created"), lambda d: d.created_at, ("created_at",), "date"),
    ],
    default_sort="-created",
    detail_url=_detail("deal"),
    add_url_name="crm:deal_add",
    bulk_actions=(BulkAction("owner", _("Give to"), "change", ("owner",), _deal_owner),),
    customize_filters=_with_custom_filters(CustomFieldTarget.DEAL, _deal_filters),
    extra_links=lambda user: [(str(_("Board")), reverse("crm:board"))],
    custom_target=CustomFieldTarget.DEAL,
)
ACTIVITY_LIST = ListPage(
    key="activity",
    model=Activity,
    filterset=ActivityFilter,
    rows=_activity_rows,
    columns=[
        ListColumn("subject", _("Subject"), lambda a: a.subject, ("subject",), link=True),
        ListColumn("kind", _("Kind"), lambda a: a.get_kind_display(), ("kind",)),
        ListColumn(
            "client", _("Client"), _client, ("organization__legal_name", "person__last_name")
        ),
        ListColumn("due", _("Due"), lambda a: a.due_at, ("due_at",), "datetime"),
        ListColumn("done", _("Done"), lambda a: a.done_at, ("done_at",), "datetime"),
        ListColumn("outcome", _("Outcome"), lambda a: a.outcome),
        ListColumn(
            "owner",
            _("Responsible"),
            lambda a: _person_name(a.owner),
            ("owner__last_name", "owner__first_name"),
        ),
        ListColumn("deal", _("Deal"), lambda a: a.deal or ""),
    ],
    default_sort="-due",
    detail_url=_detail("activity"),
    bulk_actions=(
        BulkAction("done", _("Mark done"), "change", (), _activity_done),
        BulkAction("owner", _("Give to"), "change", ("owner",), _activity_owner),
    ),
    customize_filters=_activity_filters,
    extra_links=_quick_links,
)

LIST_PAGES = [ORGANIZATION_LIST, PERSON_LIST, DEAL_LIST, ACTIVITY_LIST]
