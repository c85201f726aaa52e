"""Import pages: upload, the batch page (sheet, header row, column mapping, options, dry run,
import with a progress bar polled by htmx, cancel, undo, error report) and saved mappings.

Every view checks `imports.add_importbatch` (or view) first and finds the batch among those
the user may see (their own); writes go through `imports.services`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import BusinessError, FieldErrors, NotAllowed
from konvergo.crm.views.common import actor, is_htmx, require_page
from konvergo.imports import mapping as m
from konvergo.imports import services
from konvergo.imports.engine import MATCH_KEYS, Options
from konvergo.imports.models import BatchStatus, DuplicatePolicy, ImportBatch, ImportMapping
from konvergo.imports.reading import check_size, column_letter
from konvergo.org.models import User
from konvergo.org.permissions import visible

SAMPLE_ROWS = 3
ERRORS_SHOWN = 50


def _actor(request: HttpRequest, action: str = "add") -> User:
    """The signed-in user, once they may `action` import batches (403 otherwise)."""
    require_page(request, action, ImportBatch)
    return actor(request)


def _batch(request: HttpRequest, public_id: UUID) -> ImportBatch:
    try:
        return visible(request.user, ImportBatch.objects.select_related("mapping")).get(
            public_id=public_id
        )
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        raise Http404 from exc


class UploadForm(forms.Form):
    file = forms.FileField(
        label=gettext_lazy("Spreadsheet"),
        help_text=gettext_lazy(".xlsx, .xls, .ods or .csv; the first row of titles is found."),
    )


MATCH_LABELS = {
    "tax_id": gettext_lazy("tax id"),
    "email": gettext_lazy("e-mail"),
    "phone": gettext_lazy("phone"),
    "name": gettext_lazy("name"),
}


class SettingsForm(forms.Form):
    sheet = forms.ChoiceField(label=gettext_lazy("Sheet"), required=False)
    header_row = forms.IntegerField(label=gettext_lazy("Header row"), min_value=1)
    encoding = forms.CharField(
        label=gettext_lazy("Encoding"),
        required=False,
        max_length=40,
        help_text=gettext_lazy("Detected; change it when letters look wrong (e.g. cp1251)."),
    )
    duplicates = forms.ChoiceField(
        label=gettext_lazy("When a client already exists"), choices=DuplicatePolicy.choices
    )
    match_by = forms.MultipleChoiceField(
        label=gettext_lazy("Same client when the same"),
        choices=[(k, MATCH_LABELS[k]) for k in MATCH_KEYS],
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    default_country = forms.CharField(
        label=gettext_lazy("Default country"),
        required=False,
        max_length=2,
        help_text=gettext_lazy("For phones without +country code and tax ids, e.g. DE, PL."),
    )
    date_order = forms.ChoiceField(
        label=gettext_lazy("Dates like 01/02/2024 are"),
        choices=[("DMY", gettext_lazy("day/month/year")), ("MDY", gettext_lazy("month/day/year"))],
    )
    decimal_separator = forms.ChoiceField(
        label=gettext_lazy("Decimal separator"),
        choices=[
            ("auto", gettext_lazy("detect")),
            (",", gettext_lazy("comma (1.234,56)")),
            (".", gettext_lazy("point (1,234.56)")),
        ],
    )
    currency = forms.CharField(label=gettext_lazy("Currency of amounts"), max_length=3)

    def __init__(self, *args: Any, batch: ImportBatch, sheet_names: list[str], **kw: Any) -> None:
        super().__init__(*args, **kw)
        sheet = self.fields["sheet"]
        assert isinstance(sheet, forms.ChoiceField)  # noqa: S101
        sheet.choices = [(n, n) for n in sheet_names]
        if batch.file_format == "csv":
            del self.fields["sheet"]
        else:
            del self.fields["encoding"]
        options = Options.from_dict(batch.options)
        self.initial.update(
            {
                "sheet": batch.sheet,
                "header_row": batch.header_row,
                "encoding": batch.encoding,
                **options.to_dict(),
            }
        )


def _target_groups() -> list[tuple[str, list[tuple[str, str]]]]:
    groups: dict[str, list[tuple[str, str]]] = {}
    for target in m.all_targets().values():
        groups.setdefault(target.entity, []).append((target.key, str(target.label)))
    return [(str(m.ENTITY_LABELS[e]), groups[e]) for e in m.ENTITIES if e in groups]


@require_http_methods(["GET", "POST"])
@login_required
def batch_list(request: HttpRequest) -> HttpResponse:
    actor = _actor(request)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            check_size(upload.size or 0)
            batch = services.batch_upload(
                actor=actor, data=upload.read(), filename=upload.name or "upload"
            )
        except BusinessError as exc:
            form.add_error("file", exc.message)
        else:
            return redirect("imports:batch_detail", batch.public_id)
    batches = visible(actor, ImportBatch.objects.all())[:50]
    return render(
        request,
        "imports/list.html",
        {"title": _("Import"), "form": form, "batches": batches},
        status=400 if form.errors else 200,
    )


def _context(request: HttpRequest, batch: ImportBatch, **extra: Any) -> dict[str, Any]:
    context: dict[str, Any] = {"batch": batch, "title": batch.filename, **extra}
    if batch.status in (BatchStatus.UPLOADED, BatchStatus.CHECKED):
        try:
            workbook = services.batch_workbook(batch)
            layout = services.batch_layout(batch, workbook)
        except BusinessError as exc:
            context["read_error"] = exc.message
            return context
        start = batch.header_row
        samples = [
            r for r in layout.sheet.rows[start : start + 20] if any(str(v).strip() for v in r)
        ]
        samples = samples[:SAMPLE_ROWS]
        context["columns"] = [
            {
                "index": index,
                "letter": column_letter(index),
                "header": header,
                "target": batch.columns.get(header, ""),
                "samples": [m.as_text(r[index]) if index < len(r) else "" for r in samples],
            }
            for index, header in enumerate(layout.headers)
        ]
        context["groups"] = _target_groups()
        context.setdefault(
            "settings_form", SettingsForm(batch=batch, sheet_names=workbook.sheet_names)
        )
        context["mappings"] = ImportMapping.objects.order_by("name")
        context["may_save_mapping"] = request.user.has_perm("imports.add_importmapping")
    context["errors_shown"] = batch.row_errors[:ERRORS_SHOWN]
    context["log"] = [(datetime.fromisoformat(e["at"]), e["text"]) for e in batch.log]
    return context


@require_safe
@login_required
def batch_detail(request: HttpRequest, public_id: UUID) -> HttpResponse:
    """The batch page; to htmx polling, only its progress panel."""
    _actor(request, "view")
    batch = _batch(request, public_id)
    if is_htmx(request):
        return render(request, "imports/_progress.html", {"batch": batch})
    return render(request, "imports/detail.html", _context(request, batch))


@require_POST
@login_required
def batch_settings(request: HttpRequest, public_id: UUID) -> HttpResponse:
    actor = _actor(request)
    batch = _batch(request, public_id)
    try:
        sheet_names = services.batch_workbook(batch).sheet_names
    except BusinessError as exc:
        messages.error(request, exc.message)
        return redirect("imports:batch_detail", batch.public_id)
    form = SettingsForm(request.POST, batch=batch, sheet_names=sheet_names)
    if form.is_valid():
        data = form.cleaned_data
        columns = {
            str(c["header"]): request.POST.get(f"column-{c['index']}", "")
            for c in _context(request, batch).get("columns", [])
        }
        layout_fields = {"sheet": data.get("sheet"), "header_row": data["header_row"]}
        if "encoding" in data:
            layout_fields["encoding"] = data["encoding"] or batch.encoding
        layout_changed = any(
            value is not None and value != getattr(batch, name)
            for name, value in layout_fields.items()
        )
        try:
            services.batch_configure(
                actor=actor,
                batch=batch,
                **layout_fields,
                columns=None if layout_changed else columns,
                options={
                    "duplicates": data["duplicates"],
                    "match_by": data["match_by"],
                    "default_country": data["default_country"].upper(),
                    "date_order": data["date_order"],
                    "decimal_separator": data["decimal_separator"],
                    "currency": data["currency"].upper(),
                },
            )
        except BusinessError as exc:
            _form_errors(form, exc)
        else:
            if "dry_run" in request.POST:
                return _dry_run(request, actor, batch)
            messages.success(request, _("Settings saved."))
            return redirect("imports:batch_detail", batch.public_id)
    batch.refresh_from_db()
    return render(
        request, "imports/detail.html", _context(request, batch, settings_form=form), status=400
    )


def _form_errors(form: forms.Form, exc: BusinessError) -> None:
    if isinstance(exc, FieldErrors):
        for key, problems in exc.errors.items():
            name = key.removeprefix("options.")
            for problem in problems:
                form.add_error(name if name in form.fields else None, problem)
    else:
        form.add_error(None, exc.message)


def _dry_run(request: HttpRequest, actor: User, batch: ImportBatch) -> HttpResponse:
    try:
        services.batch_dry_run(actor=actor, batch=batch)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except BusinessError as exc:
        messages.error(request, exc.message)
    return redirect("imports:batch_detail", batch.public_id)


def _act(request: HttpRequest, public_id: UUID, action: str) -> HttpResponse:
    actor = _actor(request)
    batch = _batch(request, public_id)
    try:
        if action == "run":
            services.batch_start(actor=actor, batch=batch)
        elif action == "cancel":
            services.batch_cancel(actor=actor, batch=batch)
            messages.info(request, _("The import stops after the rows it is writing now."))
        elif action == "undo":
            services.batch_undo(actor=actor, batch=batch)
            messages.success(request, _("The import has been undone."))
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except BusinessError as exc:
        messages.error(request, exc.message)
    return redirect("imports:batch_detail", batch.public_id)


@require_POST
@login_required
def batch_run(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(request, public_id, "run")


@require_POST
@login_required
def batch_cancel(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(request, public_id, "cancel")


@require_POST
@login_required
def batch_undo(request: HttpRequest, public_id: UUID) -> HttpResponse:
    return _act(request, public_id, "undo")


@require_POST
@login_required
def batch_save_mapping(request: HttpRequest, public_id: UUID) -> HttpResponse:
    actor = _actor(request)
    batch = _batch(request, public_id)
    try:
        mapping = services.mapping_save(actor=actor, batch=batch, name=request.POST.get("name", ""))
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except BusinessError as exc:
        detail = exc.errors.get("name", []) if isinstance(exc, FieldErrors) else []
        messages.error(request, " ".join([_("The mapping was not saved:"), *detail]))
    else:
        messages.success(request, _("Mapping %(name)s saved.") % {"name": mapping.name})
    return redirect("imports:batch_detail", batch.public_id)


@require_POST
@login_required
def batch_apply_mapping(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _actor(request)
    batch = _batch(request, public_id)
    try:
        chosen = UUID(request.POST.get("mapping", ""))
    except ValueError:
        chosen = None
    mapping = ImportMapping.objects.filter(public_id=chosen).first() if chosen else None
    if mapping is None:
        messages.error(request, _("Choose a saved mapping."))
    else:
        try:
            services.mapping_apply(batch=batch, mapping=mapping)
        except BusinessError as exc:
            messages.error(request, exc.message)
    return redirect("imports:batch_detail", batch.public_id)


@require_safe
@login_required
def batch_errors(request: HttpRequest, public_id: UUID) -> HttpResponse:
    _actor(request, "view")
    batch = _batch(request, public_id)
    response = HttpResponse(
        services.error_report(batch),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    stem = batch.filename.rsplit(".", 1)[0] or "import"
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{stem}-errors.xlsx"
    )
    return response
