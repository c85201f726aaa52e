"""The CRM lists: one set of views (page, export, bulk action) driven by a `ListPage`
description per record type, like the administration pages of org.

A list filters through its FilterSet (crm/filters.py, the same the API uses), sorts by the
column the user clicked (`?sort=name`, `?sort=-name`), pages, and offers the user's saved
views. Export writes every filtered row (not only the page) as CSV or XLSX. Bulk actions post
the chosen rows with the CSRF token and call a service per row; each row is its own
transaction, so one refused row does not undo the others and the page says which were refused.
A page with a `custom_target` adds a column per custom field (also exported) and applies the
`cf_<key>` filters with `custom_field_filter`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST, require_safe

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.crm.choices import CustomFieldType
from konvergo.crm.models import CustomField, SavedView
from konvergo.crm.services.custom_fields import (
    LINK_TYPES,
    PARAMETER_PREFIX,
    custom_fields_for,
    custom_params_filter,
)
from konvergo.crm.services.saved_views import saved_view_delete, saved_view_query, saved_view_save
from konvergo.crm.views.common import actor, error_messages, require_page, safe_next
from konvergo.org.models import User
from konvergo.org.permissions import can, visible

PER_PAGE = 25
MAX_BULK = 500  # rows one bulk action may touch
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# A cell starting with one of these is read as a formula by spreadsheets (CSV injection);
# a phone number (+49 30 …) or a negative number is left alone.
FORMULA_START = ("=", "@", "\t", "\r")
SIGNED_NUMBER = re.compile(r"^[+-][\d\s().\-/]*$")


@dataclass(frozen=True)
class ListColumn:
    key: str  # the `sort` parameter value
    label: str | Promise
    value: Callable[[Any], Any]  # what the page shows
    sort: tuple[str, ...] = ()  # ORM ordering (ascending); empty: not sortable
    kind: str = "text"  # text / number / money / date / datetime / bool / badge / tags
    export: Callable[[Any], Any] | None = None  # plain value for CSV/XLSX (default: value)
    link: bool = False  # the record's own page

    def export_value(self, record: Any) -> Any:
        return (self.export or self.value)(record)


@dataclass(frozen=True)
class BulkAction:
    key: str
    label: str | Promise
    action: str  # the permission needed on the list's model (view/add/change/delete)
    inputs: tuple[str, ...]  # which of the bulk form's inputs it needs: owner, tag, reason
    run: Callable[[User, Any, Mapping[str, Any]], None]  # (actor, record, inputs)


@dataclass(frozen=True)
class ListPage:
    key: str  # organization / person / deal / activity
    model: type[Model]
    filterset: type[Any]
    rows: Callable[[Any], QuerySet[Any]]  # (user) -> visible rows with their joins
    columns: Sequence[ListColumn]
    default_sort: str
    detail_url: Callable[[Any], str]
    title: str | Promise = ""
    add_url_name: str = ""
    bulk_actions: Sequence[BulkAction] = ()
    hidden_filters: tuple[str, ...] = ("ordering",)  # filters left out of the panel
    customize_filters: Callable[[forms.Form], None] | None = None
    description: str | Promise = ""
    custom_target: str = ""  # the CustomField target whose fields become columns and filters
    extra_links: Callable[[Any], list[tuple[str, str]]] = field(default=lambda user: [])

    @property
    def heading(self) -> str:
        return str(self.title or capfirst(str(self.model._meta.verbose_name_plural)))

    def url(self, action: str) -> str:
        return reverse(f"crm:{self.key}_{action}")


# --- custom fields as columns ---------------------------------------------------------------


class CustomColumns:
    """The custom fields of a list's records as extra columns (not sortable).

    Link fields show the linked record's name: `prepare(records)` looks the names up for a
    page (or an export batch) in one query per linked record type, among the records the user
    may see.
    """

    def __init__(self, user: Any, fields: Sequence[CustomField]) -> None:
        self.user = user
        self.fields = list(fields)
        self.names: dict[tuple[str, str], str] = {}

    def columns(self) -> list[ListColumn]:
        return [
            ListColumn(
                f"{PARAMETER_PREFIX}{field.key}",
                field.label,
                self._value(field),
                kind={CustomFieldType.NUMBER: "number", CustomFieldType.DATE: "date"}.get(
                    CustomFieldType(field.field_type), "text"
                ),
            )
            for field in self.fields
        ]

    def prepare(self, records: Iterable[Any]) -> None:
        links = [f.key for f in self.fields if f.field_type == CustomFieldType.LINK]
        if not links:
            return
        wanted: dict[str, set[str]] = {}
        for record in records:
            data = getattr(record, "custom_data", None) or {}
            for key in links:
                value = data.get(key)
                if isinstance(value, Mapping) and value.get("type") in LINK_TYPES:
                    wanted.setdefault(str(value["type"]), set()).add(str(value.get("id")))
        self.names = {}
        for kind, ids in sorted(wanted.items()):
            rows = LINK_TYPES[kind]._default_manager.filter(public_id__in=_uuids(ids))
            for linked in visible(self.user, rows):
                self.names[(kind, str(getattr(linked, "public_id", "")))] = str(linked)

    def _value(self, field: CustomField) -> Callable[[Any], Any]:
        kind = CustomFieldType(field.field_type)

        def value(record: Any) -> Any:
            stored = (getattr(record, "custom_data", None) or {}).get(field.key)
            if stored is None or stored == "":
                return ""
            try:
                return self._format(kind, stored)
            except (TypeError, ValueError, ArithmeticError, KeyError):
                return str(stored)  # a value stored before its field's rules: shown as is

        return value

    def _format(self, kind: CustomFieldType, stored: Any) -> Any:
        if kind == CustomFieldType.NUMBER:
            return Decimal(str(stored))
        if kind == CustomFieldType.DATE:
            return date.fromisoformat(str(stored))
        if kind == CustomFieldType.MULTI_CHOICE:
            return ", ".join(map(str, stored)) if isinstance(stored, list) else str(stored)
        if kind == CustomFieldType.BOOLEAN:
            return _("Yes") if stored is True else _("No")
        if kind == CustomFieldType.MONEY:
            return f"{stored['amount']} {stored['currency']}"
        if kind == CustomFieldType.LINK:
            return self.names.get((str(stored["type"]), str(stored["id"])), "")
        return str(stored)


def _uuids(values: Iterable[str]) -> list[UUID]:
    found = []
    for value in values:
        try:
            found.append(UUID(value))
        except ValueError:
            continue
    return found


def _custom_fields(request: HttpRequest, page: ListPage) -> list[CustomField]:
    """The page's custom field definitions, read once per request."""
    if not page.custom_target:
        return []
    cache: dict[str, list[CustomField]] = request.__dict__.setdefault("_crm_custom_fields", {})
    if page.custom_target not in cache:
        cache[page.custom_target] = custom_fields_for(page.custom_target)
    return cache[page.custom_target]


def _custom_columns(request: HttpRequest, page: ListPage) -> CustomColumns:
    return CustomColumns(request.user, _custom_fields(request, page))


# --- reading the request ----------------------------------------------------------------------


def _sort(page: ListPage, value: str) -> tuple[str, list[str]]:
    """The effective sort key and the ORM ordering for `?sort=`."""
    columns = {column.key: column for column in page.columns if column.sort}
    key = value if value.lstrip("-") in columns else page.default_sort
    column = columns[key.lstrip("-")]
    descending = key.startswith("-")
    ordering = [
        f"-{name.lstrip('-')}" if descending != name.startswith("-") else name.lstrip("-")
        for name in column.sort
    ]
    return key, [*ordering, "-pk" if descending else "pk"]


def filtered(page: ListPage, request: HttpRequest) -> tuple[Any, QuerySet[Any], str]:
    """The bound FilterSet, its rows in the requested order, and the sort key."""
    filterset = page.filterset(
        request.GET or None, queryset=page.rows(request.user), request=request
    )
    rows = filterset.qs if filterset.is_bound and filterset.is_valid() else filterset.queryset
    if filterset.is_bound and not filterset.is_valid():
        rows = rows.none()
    filterset.custom_errors = {}
    known = {f"{PARAMETER_PREFIX}{field.key}" for field in _custom_fields(request, page)}
    # Parameters of fields since deleted (e.g. in a saved view) are left out, not refused.
    wanted = {name: request.GET.getlist(name) for name in request.GET if name in known}
    if wanted:
        try:
            rows = custom_params_filter(rows, page.custom_target, wanted)
        except FieldErrors as exc:
            filterset.custom_errors = exc.errors
            rows = rows.none()
    sort, ordering = _sort(page, request.GET.get("sort", ""))
    return filterset, rows.order_by(*ordering), sort


def _parameters(request: HttpRequest, *leave_out: str) -> list[tuple[str, str]]:
    """The query's parameters (every value of repeated ones), without `leave_out` and blanks."""
    return [
        (name, value)
        for name, values in request.GET.lists()
        if name not in leave_out
        for value in values
        if value != ""
    ]


def _query_without(request: HttpRequest, *names: str) -> str:
    return urlencode(_parameters(request, *names))


# --- the page -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HeaderCell:
    column: ListColumn
    sort_query: str  # the query string that sorts by this column (toggling the direction)
    direction: str  # "asc" / "desc" / "" (not sorted by it)


def _headers(columns: Sequence[ListColumn], request: HttpRequest, sort: str) -> list[HeaderCell]:
    base = _parameters(request, "sort", "page")
    cells = []
    for column in columns:
        if not column.sort:
            cells.append(HeaderCell(column, "", ""))
            continue
        current = sort.lstrip("-") == column.key
        descending = sort.startswith("-")
        target = f"-{column.key}" if current and not descending else column.key
        direction = ("desc" if descending else "asc") if current else ""
        cells.append(HeaderCell(column, urlencode([*base, ("sort", target)]), direction))
    return cells


@dataclass(frozen=True)
class ListRow:
    record: Any
    url: str
    cells: list[tuple[ListColumn, Any]]


def _hide_filters(page: ListPage, form: forms.Form) -> None:
    for name in page.hidden_filters:
        form.fields.pop(name, None)  # the list sorts by its column heads instead
    if page.customize_filters is not None:
        page.customize_filters(form)


@require_safe
@login_required
def list_page(request: HttpRequest, *, page: ListPage) -> HttpResponse:
    require_page(request, "view", page.model)
    filterset, rows, sort = filtered(page, request)
    paginated = Paginator(rows, PER_PAGE).get_page(request.GET.get("page"))
    records = list(paginated.object_list)
    custom = _custom_columns(request, page)
    custom.prepare(records)
    columns = [*page.columns, *custom.columns()]
    form = filterset.form
    _hide_filters(page, form)
    for name, problems in filterset.custom_errors.items():
        form.add_error(name if name in form.fields else None, problems)
    user = actor(request)
    actions = [action for action in page.bulk_actions if can(user, action.action, page.model)]
    query = _query_without(request, "page")
    return render(
        request,
        "crm/list.html",
        {
            "page_def": page,
            "title": page.heading,
            "type_name": page.model._meta.verbose_name,
            "filter_form": form,
            "filter_errors": bool(filterset.custom_errors)
            or (filterset.is_bound and not filterset.is_valid()),
            "filtered": any(
                value for name, value in request.GET.items() if name not in ("q", "sort", "page")
            ),
            "headers": _headers(columns, request, sort),
            "rows": [
                ListRow(
                    record,
                    page.detail_url(record),
                    [(column, column.value(record)) for column in columns],
                )
                for record in records
            ],
            "page": paginated,
            "query": query,
            "sort": sort,
            "bulk_actions": actions,
            "bulk_inputs": sorted({name for action in actions for name in action.inputs}),
            "owners": _owner_choices() if any("owner" in a.inputs for a in actions) else [],
            "saved_views": SavedView.objects.filter(user=user, list_name=page.key),
            "add_url": reverse(page.add_url_name)
            if page.add_url_name and can(user, "add", page.model)
            else "",
            "extra_links": page.extra_links(user),
            "bulk_url": page.url("bulk"),
            "export_csv": f"{page.url('export_csv')}?{query}",
            "export_xlsx": f"{page.url('export_xlsx')}?{query}",
            "breadcrumbs": [(page.heading, "")],
        },
    )


def _owner_choices() -> QuerySet[User]:
    return User.objects.filter(is_active=True).order_by("last_name", "first_name", "username")


# --- export ---------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A cell value for a file: text, number, date or empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, int | Decimal | date):
        return value
    if isinstance(value, list | tuple | set):
        return ", ".join(str(item) for item in value)
    return str(value)


def spreadsheet_safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if (
        isinstance(value, str)
        and value
        and (
            value.startswith(FORMULA_START) or (value[0] in "+-" and not SIGNED_NUMBER.match(value))
        )
    ):
        return f"'{value}"
    return value


EXPORT_BATCH = 1000


def _export_rows(page: ListPage, rows: QuerySet[Any], custom: CustomColumns) -> Iterator[list[Any]]:
    columns = [*page.columns, *custom.columns()]
    batch: list[Any] = []
    for record in rows.iterator(chunk_size=EXPORT_BATCH):
        batch.append(record)
        if len(batch) == EXPORT_BATCH:
            yield from _export_batch(columns, batch, custom)
            batch = []
    yield from _export_batch(columns, batch, custom)


def _export_batch(
    columns: Sequence[ListColumn], records: list[Any], custom: CustomColumns
) -> Iterator[list[Any]]:
    custom.prepare(records)  # the linked records' names, one query per type and batch
    for record in records:
        yield [_plain(column.export_value(record)) for column in columns]


def _filename(page: ListPage, extension: str) -> str:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return f"{page.key}s-{stamp}.{extension}"


@require_safe
@login_required
def export(request: HttpRequest, *, page: ListPage, fmt: str) -> HttpResponseBase:
    require_page(request, "view", page.model)
    _filterset, rows, _sort_key = filtered(page, request)
    custom = _custom_columns(request, page)
    header = [str(column.label) for column in [*page.columns, *custom.columns()]]
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")  # the BOM tells spreadsheet programs the file is UTF-8
        writer = csv.writer(buffer)
        writer.writerow(header)
        for values in _export_rows(page, rows, custom):
            writer.writerow([spreadsheet_safe(value) for value in values])
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    else:
        content = _xlsx(page, header, _export_rows(page, rows, custom))
        response = HttpResponse(content, content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{_filename(page, fmt)}"'
    response["Cache-Control"] = "private, no-store"
    return response


def _xlsx(page: ListPage, header: list[str], rows: Iterable[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=page.heading[:31])
    bold = Font(bold=True)
    heads = []
    for text in header:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        heads.append(cell)
    sheet.append(heads)
    for values in rows:
        cells = []
        for value in values:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif isinstance(value, date | datetime):
                cell.number_format = (
                    "yyyy-mm-dd hh:mm" if isinstance(value, datetime) else ("yyyy-mm-dd")
                )
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


# --- bulk actions ---------------------------------------------------------------------------


@require_POST
@login_required
def bulk(request: HttpRequest, *, page: ListPage) -> HttpResponse:
    back = safe_next(request, page.url("list"))
    actions = {action.key: action for action in page.bulk_actions}
    action = actions.get(request.POST.get("action", ""))
    require_page(request, "view", page.model)
    if action is None:
        messages.error(request, _("Choose what to do with the selected rows."))
        return redirect(back)
    require_page(request, action.action, page.model)
    ids = request.POST.getlist("ids")[:MAX_BULK]
    if not ids:
        messages.error(request, _("Select at least one row."))
        return redirect(back)
    try:
        records = list(page.rows(request.user).filter(public_id__in=ids))
    except ValidationError:
        records = []
    inputs, problem = _bulk_inputs(request, action)
    if problem:
        messages.error(request, problem)
        return redirect(back)
    user = actor(request)
    done = 0
    refused: list[str] = []
    for record in records:
        try:
            action.run(user, record, inputs)
        except (BusinessError, ValidationError) as exc:
            refused.append(f"{record}: {' '.join(error_messages(exc))}")
        else:
            done += 1
    if done:
        messages.success(
            request,
            ngettext("%(count)d row was changed.", "%(count)d rows were changed.", done)
            % {"count": done},
        )
    for line in refused[:10]:
        messages.error(request, line)
    missing = len(ids) - len(records)
    if missing:
        messages.warning(
            request,
            ngettext(
                "%(count)d selected row was not found.",
                "%(count)d selected rows were not found.",
                missing,
            )
            % {"count": missing},
        )
    return redirect(back)


def _bulk_inputs(request: HttpRequest, action: BulkAction) -> tuple[dict[str, Any], str]:
    values: dict[str, Any] = {}
    if "owner" in action.inputs:
        chosen = request.POST.get("owner", "")
        owner = _owner_choices().filter(public_id=chosen).first() if _is_uuid(chosen) else None
        if owner is None:
            return values, _("Choose the new owner.")
        values["owner"] = owner
    if "tag" in action.inputs:
        tag = request.POST.get("tag", "").strip()
        if not tag:
            return values, _("Enter the tag to add.")
        values["tag"] = tag
    if "reason" in action.inputs:
        values["reason"] = request.POST.get("reason", "").strip()
        if not values["reason"]:
            return values, _("Give a reason.")
    return values, ""


def _is_uuid(text: str) -> bool:
    try:
        UUID(text)
    except ValueError:
        return False
    return True


# --- saved views ----------------------------------------------------------------------------


@require_POST
@login_required
def saved_view_create(request: HttpRequest) -> HttpResponse:
    list_name = request.POST.get("list_name", "")
    try:
        back = reverse(f"crm:{list_name}_list")
    except NoReverseMatch:  # an unknown list (the service refuses it below)
        back = "/"
    query = saved_view_query(request.POST.get("query", ""))
    try:
        view = saved_view_save(
            user=actor(request),
            list_name=list_name,
            name=request.POST.get("name", ""),
            query=query,
        )
    except BusinessError as exc:
        for message in error_messages(exc):
            messages.error(request, message)
        return redirect(f"{back}?{query}" if query else back)
    messages.success(request, _("The view “%(name)s” was saved.") % {"name": view.name})
    return redirect(f"{back}?{view.query}" if view.query else back)


@require_POST
@login_required
def saved_view_remove(request: HttpRequest, public_id: Any) -> HttpResponse:
    view = get_object_or_404(SavedView, public_id=public_id, user=actor(request))
    back = reverse(f"crm:{view.list_name}_list")
    name = view.name
    saved_view_delete(view=view)
    messages.success(request, _("The view “%(name)s” was deleted.") % {"name": name})
    return redirect(safe_next(request, back))
