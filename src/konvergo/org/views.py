"""Pages of the organisation: administration of people and structure, the org chart, photos.

The administration pages are one set of generic views (list with search and pages, create,
edit, delete) driven by an `AdminPages` description per object type. Every view first checks
the action (`permissions.require`: 403 otherwise, before anything is read or written), then
looks the record up among those the user may see (`permissions.visible`: 404 otherwise), and
writes only through a service. Templates are the shared ones of `web`.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import reduce
from operator import or_
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Model, Prefetch, Q, QuerySet
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import URLPattern, path, reverse
from django.utils.functional import Promise
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_safe

from konvergo.core.errors import BusinessError, NotAllowed
from konvergo.core.models import BusinessCalendar
from konvergo.core.services import calendar_create, calendar_delete, calendar_update
from konvergo.org import forms as org_forms
from konvergo.org import services
from konvergo.org.models import Department, Deputy, Position, Role, Team, User
from konvergo.org.permissions import can, require, visible

PER_PAGE = 25


def require_page(request: HttpRequest, action: str, model: type[Model]) -> None:
    """`permissions.require` for pages: a refusal renders the 403 page."""
    try:
        require(request.user, action, model)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


# --- the generic administration pages -------------------------------------------------------


@dataclass(frozen=True)
class Column:
    label: str | Promise
    value: Callable[[Any], Any]
    kind: str = "text"  # text / number / date / datetime / bool


@dataclass(frozen=True)
class Cell:
    label: str | Promise  # the column's (phones show each row as a card of labelled values)
    value: Any
    kind: str


@dataclass(frozen=True)
class Row:
    record: Any
    cells: list[Cell]
    edit_url: str
    delete_url: str


@dataclass(frozen=True)
class AdminPages:
    """What the generic views need to know about one object type."""

    key: str  # URL names org:<key>_list / _add / _edit / _delete
    segment: str  # URL path segment under /manage/
    model: type[Model]
    form_class: type[Any]  # (data, files, *, instance, actor) -> a form
    columns: Sequence[Column]
    search_fields: Sequence[str]
    save: Callable[[Any, Any, Any], Model]  # (valid form, record or None, actor) -> record
    delete: Callable[[Any, Any], None]  # (record, actor)
    rows: Callable[[], QuerySet[Any]]  # the list's queryset (joins and counts for columns)
    description: str | Promise = ""
    extra_context: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return capfirst(str(self.model._meta.verbose_name_plural))

    @property
    def name(self) -> str:
        return str(self.model._meta.verbose_name)

    @property
    def list_url(self) -> str:
        return self.url("list")

    def url(self, action: str, record: Any = None) -> str:
        if record is None:
            return reverse(f"org:{self.key}_{action}")
        return reverse(f"org:{self.key}_{action}", args=[record.public_id])

    def urls(self) -> list[URLPattern]:
        pages = {"pages": self}
        return [
            path(f"{self.segment}/", object_list, pages, name=f"{self.key}_list"),
            path(f"{self.segment}/new/", object_edit, pages, name=f"{self.key}_add"),
            path(
                f"{self.segment}/<uuid:public_id>/edit/",
                object_edit,
                pages,
                name=f"{self.key}_edit",
            ),
            path(
                f"{self.segment}/<uuid:public_id>/delete/",
                object_delete,
                pages,
                name=f"{self.key}_delete",
            ),
        ]


def _crumbs(pages: AdminPages, last: str = "") -> list[tuple[str, str]]:
    crumbs = [(_("Administration"), reverse("org:admin_index"))]
    if last:
        crumbs += [(pages.title, pages.url("list")), (last, "")]
    else:
        crumbs.append((pages.title, ""))
    return crumbs


@require_safe
@login_required
def object_list(request: HttpRequest, *, pages: AdminPages) -> HttpResponse:
    require_page(request, "view", pages.model)
    query = request.GET.get("q", "").strip()
    records = visible(request.user, pages.rows())
    if query:
        records = records.filter(
            reduce(or_, (Q(**{f"{name}__icontains": query}) for name in pages.search_fields))
        )
    page = Paginator(records, PER_PAGE).get_page(request.GET.get("page"))
    may_change = can(request.user, "change", pages.model)
    may_delete = can(request.user, "delete", pages.model)
    rows = [
        Row(
            record=record,
            cells=[Cell(c.label, c.value(record), c.kind) for c in pages.columns],
            edit_url=pages.url("edit", record) if may_change else "",
            delete_url=pages.url("delete", record) if may_delete else "",
        )
        for record in page.object_list
    ]
    return render(
        request,
        "web/object_list.html",
        {
            "pages": pages,
            "title": pages.title,
            "columns": pages.columns,
            "rows": rows,
            "page": page,
            "query": query,
            "add_url": pages.url("add") if can(request.user, "add", pages.model) else "",
            "breadcrumbs": _crumbs(pages),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def object_edit(
    request: HttpRequest, *, pages: AdminPages, public_id: UUID | None = None
) -> HttpResponse:
    require_page(request, "add" if public_id is None else "change", pages.model)
    record = None
    if public_id is not None:
        record = get_object_or_404(
            visible(request.user, pages.model._default_manager.all()), public_id=public_id
        )
    data, files = (request.POST, request.FILES) if request.method == "POST" else (None, None)
    form = pages.form_class(data, files, instance=record, actor=request.user)
    if data is not None and form.is_valid():
        try:
            saved = pages.save(form, record, request.user)
        except (BusinessError, ValidationError) as exc:
            org_forms.add_service_error(form, exc)
        else:
            messages.success(
                request,
                _("%(type)s “%(name)s” was saved.") % {"type": capfirst(pages.name), "name": saved},
            )
            return redirect(pages.url("list"))
    if record is None:
        title = _("New %(type)s") % {"type": pages.name}
    else:
        title = _("Edit %(type)s “%(name)s”") % {"type": pages.name, "name": record}
    return render(
        request,
        "web/object_form.html",
        {
            "pages": pages,
            "form": form,
            "record": record,
            "title": title,
            "cancel_url": pages.url("list"),
            "breadcrumbs": _crumbs(pages, str(record) if record else _("New")),
        },
    )


@require_http_methods(["GET", "POST"])
@login_required
def object_delete(request: HttpRequest, *, pages: AdminPages, public_id: UUID) -> HttpResponse:
    require_page(request, "delete", pages.model)
    record = get_object_or_404(
        visible(request.user, pages.model._default_manager.all()), public_id=public_id
    )
    error = ""
    if request.method == "POST":
        name = str(record)
        try:
            pages.delete(record, request.user)
        except BusinessError as exc:
            error = exc.message
        else:
            messages.success(
                request,
                _("%(type)s “%(name)s” was deleted.")
                % {"type": capfirst(pages.name), "name": name},
            )
            return redirect(pages.url("list"))
    return render(
        request,
        "web/confirm_delete.html",
        {
            "pages": pages,
            "record": record,
            "error": error,
            "title": _("Delete %(type)s “%(name)s”") % {"type": pages.name, "name": record},
            "cancel_url": pages.url("list"),
            "breadcrumbs": _crumbs(pages, str(record)),
        },
    )


# --- what is administered -------------------------------------------------------------------


def _save_department(form: org_forms.DepartmentForm, record: Any, actor: User) -> Department:
    return services.department_save(department=form.instance, actor=actor)


def _save_position(form: org_forms.PositionForm, record: Any, actor: User) -> Position:
    return services.position_save(position=form.instance)


def _save_team(form: org_forms.TeamForm, record: Team | None, actor: User) -> Team:
    data = form.cleaned_data
    if record is None:
        return services.team_create(
            name=data["name"],
            description=data["description"],
            lead=data["lead"],
            members=list(data["members"]),
        )
    return services.team_update(
        team=record,
        changes={name: data[name] for name in ("name", "description", "lead")},
        members=list(data["members"]),
    )


def _save_user(form: org_forms.UserForm, record: User | None, actor: User) -> User:
    data = form.cleaned_data
    fields = {name: data[name] for name in services.USER_FIELDS if name in data}
    roles = list(data["roles"])
    if record is None:
        return services.user_create(actor=actor, roles=roles, **fields)
    return services.user_update(user=record, actor=actor, changes=fields, roles=roles)


def _save_role(form: org_forms.RoleForm, record: Role | None, actor: User) -> Role:
    data = form.cleaned_data
    if record is None:
        return services.role_create_as(
            actor=actor,
            name=data["name"],
            scope=data["scope"],
            permissions=data["permissions"],
            description=data["description"],
        )
    return services.role_update(
        role=record,
        actor=actor,
        changes={name: data[name] for name in ("name", "description", "scope")},
        permissions=data["permissions"],
    )


def _save_deputy(form: org_forms.DeputyForm, record: Deputy | None, actor: User) -> Deputy:
    data = form.cleaned_data
    period = {name: data[name] for name in ("user", "deputy", "starts_on", "ends_on", "note")}
    if record is None:
        return services.deputy_create(**period)
    return services.deputy_update(period=record, **period)


def _save_calendar(
    form: org_forms.CalendarForm, record: BusinessCalendar | None, actor: User
) -> BusinessCalendar:
    data = form.cleaned_data
    values = {
        "name": data["name"],
        "time_zone": data["time_zone"],
        "country": data["country"],
        "subdivision": data["subdivision"],
        "is_default": data["is_default"],
        "hours": form.cleaned_hours(),
        "days_off": form.cleaned_days_off(),
    }
    if record is None:
        return calendar_create(**values)
    return calendar_update(calendar=record, **values)


def _role_names(record: Any) -> str:
    return ", ".join(str(role) for role in record.roles.all())


USERS = AdminPages(
    key="user",
    segment="users",
    model=User,
    form_class=org_forms.UserForm,
    columns=[
        Column(gettext_lazy("Username"), lambda u: u.username),
        Column(gettext_lazy("Name"), lambda u: u.get_full_name()),
        Column(gettext_lazy("E-mail"), lambda u: u.email),
        Column(gettext_lazy("Department"), lambda u: u.department or ""),
        Column(gettext_lazy("Position"), lambda u: u.position or ""),
        Column(gettext_lazy("Roles"), _role_names),
        Column(gettext_lazy("Active"), lambda u: u.is_active, "bool"),
        Column(gettext_lazy("Last sign-in"), lambda u: u.last_login, "datetime"),
    ],
    search_fields=["username", "first_name", "last_name", "email"],
    save=_save_user,
    delete=lambda user, actor: services.user_delete(user=user, actor=actor),
    rows=lambda: (
        User.objects.select_related("department", "position")
        .prefetch_related(Prefetch("roles", queryset=Role.objects.only("pk", "name")))
        .order_by("username")
    ),
    description=gettext_lazy("People who sign in, their department, position and roles."),
)

DEPARTMENTS = AdminPages(
    key="department",
    segment="departments",
    model=Department,
    form_class=org_forms.DepartmentForm,
    columns=[
        Column(gettext_lazy("Name"), lambda d: d.name),
        Column(gettext_lazy("Parent department"), lambda d: d.parent or ""),
        Column(gettext_lazy("Head"), lambda d: d.head or ""),
        Column(gettext_lazy("Members"), lambda d: d.member_count, "number"),
        Column(gettext_lazy("Business calendar"), lambda d: d.calendar or ""),
    ],
    search_fields=["name"],
    save=_save_department,
    delete=lambda department, actor: services.department_delete(department=department),
    rows=lambda: (
        Department.objects.select_related("parent", "head", "calendar")
        .annotate(member_count=Count("members", distinct=True))
        .order_by("name", "pk")
    ),
    description=gettext_lazy("The units of the company as a tree, each with its head."),
)

TEAMS = AdminPages(
    key="team",
    segment="teams",
    model=Team,
    form_class=org_forms.TeamForm,
    columns=[
        Column(gettext_lazy("Name"), lambda t: t.name),
        Column(gettext_lazy("Team lead"), lambda t: t.lead or ""),
        Column(gettext_lazy("Members"), lambda t: t.member_count, "number"),
        Column(gettext_lazy("Description"), lambda t: t.description),
    ],
    search_fields=["name"],
    save=_save_team,
    delete=lambda team, actor: services.team_delete(team=team),
    rows=lambda: (
        Team.objects.select_related("lead")
        .annotate(member_count=Count("members", distinct=True))
        .order_by("name")
    ),
    description=gettext_lazy("People working together across departments."),
)

ROLES = AdminPages(
    key="role",
    segment="roles",
    model=Role,
    form_class=org_forms.RoleForm,
    columns=[
        Column(gettext_lazy("Name"), lambda r: r.name),
        Column(gettext_lazy("Visibility"), lambda r: r.get_scope_display()),
        Column(gettext_lazy("Permissions"), lambda r: r.permission_count, "number"),
        Column(gettext_lazy("Holders"), lambda r: r.holder_count, "number"),
    ],
    search_fields=["name"],
    save=_save_role,
    delete=lambda role, actor: services.role_delete(role=role),
    rows=lambda: Role.objects.annotate(
        permission_count=Count("permissions", distinct=True),
        holder_count=Count("users", distinct=True),
    ).order_by("name"),
    description=gettext_lazy("What their holders may do, and which records they see."),
)

DEPUTIES = AdminPages(
    key="deputy",
    segment="deputies",
    model=Deputy,
    form_class=org_forms.DeputyForm,
    columns=[
        Column(gettext_lazy("Absent user"), lambda d: d.user),
        Column(gettext_lazy("Deputy"), lambda d: d.deputy),
        Column(gettext_lazy("From"), lambda d: d.starts_on, "date"),
        Column(gettext_lazy("Until"), lambda d: d.ends_on, "date"),
        Column(gettext_lazy("Note"), lambda d: d.note),
    ],
    search_fields=[
        "user__username",
        "user__first_name",
        "user__last_name",
        "deputy__username",
        "deputy__first_name",
        "deputy__last_name",
    ],
    save=_save_deputy,
    delete=lambda period, actor: services.deputy_delete(period=period),
    rows=lambda: Deputy.objects.select_related("user", "deputy").order_by("-starts_on", "pk"),
    description=gettext_lazy("Who stands in for whom while they are away."),
)

POSITIONS = AdminPages(
    key="position",
    segment="positions",
    model=Position,
    form_class=org_forms.PositionForm,
    columns=[
        Column(gettext_lazy("Name"), lambda p: p.name),
        Column(gettext_lazy("Holders"), lambda p: p.holder_count, "number"),
    ],
    search_fields=["name"],
    save=_save_position,
    delete=lambda position, actor: services.position_delete(position=position),
    rows=lambda: Position.objects.annotate(holder_count=Count("holders")).order_by("name"),
    description=gettext_lazy("Job titles; each person holds at most one."),
)

CALENDARS = AdminPages(
    key="calendar",
    segment="calendars",
    model=BusinessCalendar,
    form_class=org_forms.CalendarForm,
    columns=[
        Column(gettext_lazy("Name"), lambda c: c.name),
        Column(gettext_lazy("Time zone"), lambda c: c.time_zone),
        Column(gettext_lazy("Holiday country"), lambda c: c.country),
        Column(gettext_lazy("Default calendar"), lambda c: c.is_default, "bool"),
        Column(gettext_lazy("Departments"), lambda c: c.department_count, "number"),
    ],
    search_fields=["name"],
    save=_save_calendar,
    delete=lambda calendar, actor: calendar_delete(calendar=calendar),
    rows=lambda: BusinessCalendar.objects.annotate(department_count=Count("departments")).order_by(
        "name"
    ),
    description=gettext_lazy("Working hours, public holidays and days off for deadlines."),
)

ADMIN_PAGES = [USERS, DEPARTMENTS, TEAMS, ROLES, DEPUTIES, POSITIONS, CALENDARS]


def admin_pages_for(user: Any) -> list[AdminPages]:
    """The administration sections the user may open."""
    return [pages for pages in ADMIN_PAGES if can(user, "view", pages.model)]


@require_safe
@login_required
def admin_index(request: HttpRequest) -> HttpResponse:
    sections = admin_pages_for(request.user)
    if not sections:
        raise PermissionDenied(_("You may not open any administration page."))
    return render(
        request,
        "org/admin_index.html",
        {"sections": sections, "breadcrumbs": [(_("Administration"), "")]},
    )


# --- the org chart --------------------------------------------------------------------------


@dataclass
class ChartNode:
    department: Department
    members: list[User] = field(default_factory=list)
    children: list[ChartNode] = field(default_factory=list)


def org_chart_tree(user: Any) -> list[ChartNode]:
    """The departments the user may see as a forest, with the members the user may see.
    Two queries whatever the size (departments with heads and counts, then the people)."""
    departments = visible(
        user,
        Department.objects.select_related("head", "head__position").annotate(
            member_count=Count("members", filter=Q(members__is_active=True), distinct=True)
        ),
    ).order_by("name", "pk")
    nodes = {department.pk: ChartNode(department) for department in departments}
    people = visible(
        user,
        User.objects.filter(is_active=True, department_id__in=list(nodes)).select_related(
            "position"
        ),
    ).order_by("last_name", "first_name", "username")
    for person in people:
        if person.department_id is not None:
            nodes[person.department_id].members.append(person)
    roots: list[ChartNode] = []
    for node in nodes.values():
        parent = nodes.get(node.department.parent_id or 0)
        # department_save refuses cycles; a parent the user cannot see makes a root
        (parent.children if parent is not None else roots).append(node)
    return roots


@require_safe
@login_required
def org_chart(request: HttpRequest) -> HttpResponse:
    require_page(request, "view", Department)
    return render(
        request,
        "org/org_chart.html",
        {
            "roots": org_chart_tree(request.user),
            "may_manage": can(request.user, "change", Department),
            "breadcrumbs": [(_("Org chart"), "")],
        },
    )


# --- photos ---------------------------------------------------------------------------------


@require_safe
@login_required
def person_photo(request: HttpRequest, public_id: UUID) -> FileResponse:
    """A user's photo, for themselves and for whoever may see them; never a public URL."""
    person = get_object_or_404(User, public_id=public_id)
    if person.pk != request.user.pk and not (
        visible(request.user, User.objects.filter(pk=person.pk)).exists()
    ):
        raise Http404
    if not person.photo:
        raise Http404
    try:
        handle = person.photo.open("rb")
    except FileNotFoundError as exc:
        raise Http404 from exc
    content_type = mimetypes.guess_type(person.photo.name or "")[0] or "application/octet-stream"
    response = FileResponse(handle, content_type=content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, max-age=3600"
    response["Content-Security-Policy"] = "default-src 'none'"
    return response
