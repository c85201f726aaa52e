"""Writes of the import: upload, configure (sheet, header row, columns, options), dry run, run
as a background job (progress, cancel), undo, saved mappings, the XLSX error report.

Pages, the API and `konvergo import` call these; each checks what the actor may do.
"""

from __future__ import annotations

import contextlib
import gc
import io
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.files.base import ContentFile
from django.db import DatabaseError, connection, transaction
from django.db.models import F, ProtectedError
from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook as XlsxWorkbook
from simple_history.utils import bulk_update_with_history

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError, Conflict, FieldErrors
from konvergo.core.events import emit
from konvergo.crm.models import Activity, Deal, Organization, Person
from konvergo.imports import mapping as m
from konvergo.imports.engine import (
    CHUNK,
    Counts,
    Importer,
    Options,
    Row,
    data_rows,
    restore_value,
)
from konvergo.imports.models import (
    BatchStatus,
    DuplicatePolicy,
    ImportBatch,
    ImportedRecord,
    ImportMapping,
)
from konvergo.imports.parallel import CheckedChunks, write_behind
from konvergo.imports.reading import (
    Sheet,
    Workbook,
    detect_header_row,
    headers_of,
    open_workbook,
)
from konvergo.org.models import User
from konvergo.org.permissions import can, require

MODELS = {"organization": Organization, "person": Person, "deal": Deal, "activity": Activity}
MAX_KEPT_ERRORS = 100_000  # row errors kept on a batch (the report lists them all up to this)


def _log(batch: ImportBatch, text: str) -> None:
    batch.log = [*batch.log, {"at": timezone.now().isoformat(), "text": text}]


# --- permissions ----------------------------------------------------------------------------


def require_import(actor: User, columns: Mapping[str, str], options: Options) -> None:
    """The actor may add what the columns create (and change it, to update duplicates)."""
    require(actor, "add", ImportBatch)
    for entity in m.mapped_entities(columns):
        require(actor, "add", MODELS[entity])
        if options.duplicates == DuplicatePolicy.UPDATE and entity in ("organization", "person"):
            require(actor, "change", MODELS[entity])


def may_import(user: Any) -> bool:
    return can(user, "add", ImportBatch)


# --- reading a batch's file -----------------------------------------------------------------


def batch_workbook(batch: ImportBatch) -> Workbook:
    with batch.file.open("rb") as handle:
        data = handle.read()
    return open_workbook(data, batch.filename, encoding=batch.encoding)


@dataclass
class Layout:
    sheet: Sheet
    headers: list[str]


def batch_layout(batch: ImportBatch, workbook: Workbook | None = None) -> Layout:
    sheet = (workbook or batch_workbook(batch)).sheet(batch.sheet)
    return Layout(sheet, headers_of(sheet, batch.header_row))


# --- upload and configuration ---------------------------------------------------------------


def batch_upload(*, actor: User, data: bytes, filename: str) -> ImportBatch:
    """A new batch from an uploaded file: format, encoding, delimiter, first sheet and header
    row detected; columns from a saved mapping with the same headers, else suggested."""
    require(actor, "add", ImportBatch)
    workbook = open_workbook(data, filename)
    sheet = workbook.sheet()
    if not any(any(str(v).strip() for v in row) for row in sheet.rows):
        raise BusinessError(_("The file is empty."), details={"field": "file"})
    header_row = detect_header_row(sheet.rows)
    headers = headers_of(sheet, header_row)
    batch = ImportBatch(
        filename=filename[:255] or "upload",
        file_format=workbook.file_format,
        encoding=workbook.encoding,
        delimiter=workbook.delimiter,
        sheet=sheet.name if workbook.file_format != "csv" else "",
        header_row=header_row,
        created_by=actor,
    )
    _apply_columns(batch, headers)
    _log(
        batch,
        _("Uploaded %(file)s (%(format)s).") % {"file": filename, "format": batch.file_format},
    )
    with transaction.atomic():
        batch.file.save(filename or "upload", ContentFile(data), save=False)
        batch.save()
    return batch


def _apply_columns(batch: ImportBatch, headers: Sequence[str]) -> None:
    saved = mapping_for_headers(headers)
    if saved is not None:
        batch.mapping = saved
        batch.columns = _columns_for(saved, headers)
        batch.options = {**Options().to_dict(), **saved.options}
        _log(batch, _("The saved mapping %(name)s fits these headers.") % {"name": saved.name})
    else:
        batch.mapping = None
        batch.columns = {h: t for h, t in m.suggest(headers).items() if t}
        batch.options = batch.options or Options().to_dict()


def _columns_for(mapping: ImportMapping, headers: Sequence[str]) -> dict[str, str]:
    """The mapping's targets for this sheet's columns, headers compared as suggestions compare
    them (case, spaces and punctuation aside)."""
    by_key = {m.header_key(header): target for header, target in mapping.columns.items()}
    return {h: by_key[m.header_key(h)] for h in headers if by_key.get(m.header_key(h))}


def _editable(batch: ImportBatch) -> None:
    if batch.status not in (BatchStatus.UPLOADED, BatchStatus.CHECKED):
        raise Conflict(
            _("This import is %(status)s; upload the file again to import it anew.")
            % {"status": batch.get_status_display()}
        )


def batch_configure(
    *,
    actor: User,
    batch: ImportBatch,
    sheet: str | None = None,
    header_row: int | None = None,
    encoding: str | None = None,
    columns: Mapping[str, str] | None = None,
    options: Mapping[str, Any] | None = None,
) -> ImportBatch:
    """Choose the sheet, header row, encoding, the column targets and the options. A new sheet
    or header row suggests the columns again (or applies a saved mapping that fits)."""
    _editable(batch)
    errors: dict[str, list[str]] = {}
    layout_changed = False
    if encoding is not None and encoding != batch.encoding and batch.file_format == "csv":
        batch.encoding = encoding
        layout_changed = True
    workbook = batch_workbook(batch)
    if sheet is not None and batch.file_format != "csv" and sheet != batch.sheet:
        if sheet not in workbook.sheet_names:
            errors["sheet"] = [_("The file has no sheet named %(name)s.") % {"name": sheet}]
        else:
            batch.sheet = sheet
            batch.header_row = detect_header_row(workbook.sheet(sheet).rows)
            layout_changed = True
    if header_row is not None and header_row != batch.header_row and not errors:
        rows = len(workbook.sheet(batch.sheet).rows)
        if not 1 <= header_row <= max(rows, 1):
            errors["header_row"] = [_("Choose a row between 1 and %(n)d.") % {"n": max(rows, 1)}]
        else:
            batch.header_row = header_row
            layout_changed = True
    if errors:
        raise FieldErrors(errors)
    headers = batch_layout(batch, workbook).headers
    if layout_changed and columns is None:
        _apply_columns(batch, headers)
    if columns is not None:
        targets = m.all_targets()
        cleaned: dict[str, str] = {}
        used: dict[str, str] = {}
        for header, target in columns.items():
            if not target:
                continue
            if header not in headers:
                errors.setdefault("columns", []).append(
                    _("The sheet has no column %(name)s.") % {"name": header}
                )
            elif target not in targets:
                errors.setdefault(f"columns.{header}", []).append(
                    _("%(target)s is not a field an import can fill.") % {"target": target}
                )
            elif target in used:
                errors.setdefault(f"columns.{header}", []).append(
                    _("%(field)s is already filled from the column %(other)s.")
                    % {"field": targets[target].label, "other": used[target]}
                )
            else:
                used[target] = header
                cleaned[header] = target
        batch.columns = cleaned
    if options is not None:
        merged = Options.from_dict({**batch.options, **options})
        try:
            merged.check()
        except FieldErrors as exc:
            errors.update({f"options.{k}": v for k, v in exc.errors.items()})
        batch.options = merged.to_dict()
    if errors:
        raise FieldErrors(errors)
    if batch.status == BatchStatus.CHECKED:
        batch.status = BatchStatus.UPLOADED  # the dry run no longer describes the settings
    batch.save()
    return batch


# --- dry run and run ------------------------------------------------------------------------

IMPORT_CACHE_KIB = 256 * 1024  # SQLite page cache of the connection while it imports


@contextlib.contextmanager
def _large_page_cache() -> Iterator[None]:
    """A larger SQLite page cache for the import's connection (the default is 2 MiB): a chunk
    touches more index pages than that, and what spills out is written and read again. Only
    memory; durability is as before. Put back when the import ends."""
    if connection.vendor != "sqlite":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        (before,) = cursor.fetchone()
        cursor.execute(f"PRAGMA cache_size = -{IMPORT_CACHE_KIB:d}")
    try:
        yield
    finally:
        with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {int(before):d}")


@contextlib.contextmanager
def _young_collections_only() -> Iterator[None]:
    """No full garbage collections while a sheet is checked or imported.

    The sheet's cells and the clients seen so far stay alive from chunk to chunk (hundreds of
    thousands of objects), and each chunk's short-lived objects outlive enough young
    collections to set off full ones, each going over all of them: a fifth of a 30,000-row
    import. The young generations are still collected; the next full collection after the
    import (thresholds back as they were) takes what is left.
    """
    young, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, max(old, 1_000_000))
    try:
        yield
    finally:
        gc.set_threshold(young, middle, old)


def _importer(batch: ImportBatch, layout: Layout, actor: User) -> Importer:
    options = Options.from_dict(batch.options)
    return Importer(
        sheet=layout.sheet,
        headers=layout.headers,
        columns=batch.columns,
        options=options,
        actor=actor,
    )


def _check_ready(batch: ImportBatch, actor: User) -> Options:
    options = Options.from_dict(batch.options)
    if not any(batch.columns.values()):
        raise BusinessError(
            _("Map at least one column to a field first."), details={"field": "columns"}
        )
    require_import(actor, batch.columns, options)
    return options


def batch_dry_run(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Check every row as the import would, write nothing but the counts and the row errors."""
    _editable(batch)
    _check_ready(batch, actor)
    layout = batch_layout(batch)
    importer = _importer(batch, layout, actor)
    counts = Counts()
    errors: list[list[Any]] = []
    total = 0
    rows = list(data_rows(layout.sheet, batch.header_row))
    chunks = [rows[start : start + CHUNK] for start in range(0, len(rows), CHUNK)]
    with _young_collections_only(), CheckedChunks(importer, chunks) as checked:
        for parsed in checked:
            for row in importer.settle(parsed):
                counts.add(row)
                total += 1
                if row.errors and len(errors) < MAX_KEPT_ERRORS:
                    errors.append([row.number, row.message])
    batch.total_rows = total
    batch.processed_rows = 0
    batch.created_count, batch.updated_count = counts.created, counts.updated
    batch.skipped_count, batch.failed_count = counts.skipped, counts.failed
    batch.row_errors = errors
    batch.status = BatchStatus.CHECKED
    batch.checked_at = timezone.now()
    _log(
        batch,
        _("Dry run: %(created)d new, %(updated)d updated, %(skipped)d skipped, %(failed)d failed.")
        % counts.__dict__,
    )
    batch.save()
    return batch


def batch_start(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Queue the import as a background job (after a dry run of the current settings)."""
    from konvergo.imports.tasks import run_import

    if batch.status != BatchStatus.CHECKED:
        if batch.status == BatchStatus.UPLOADED:
            raise BusinessError(_("Run the dry run first, then import."))
        _editable(batch)
    _check_ready(batch, actor)
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status != BatchStatus.CHECKED:
            raise Conflict(_("This import has already been started."))
        locked.status = BatchStatus.QUEUED
        locked.processed_rows = 0
        locked.created_count = locked.updated_count = 0
        locked.skipped_count = locked.failed_count = 0
        locked.row_errors = []
        locked.cancel_requested = False
        _log(locked, _("Import started by %(user)s.") % {"user": actor})
        locked.save()
        run_import.enqueue(str(locked.public_id))
    return locked


def batch_run(*, batch_id: Any) -> ImportBatch | None:
    """The job: import the rows chunk by chunk; each chunk, its records, their ImportedRecord
    rows and the batch's progress commit together. Safe to run again after a crash: it goes on
    after the last committed chunk."""
    batch = ImportBatch.objects.filter(public_id=batch_id).select_related("created_by").first()
    if batch is None or batch.status not in (BatchStatus.QUEUED, BatchStatus.RUNNING):
        return batch
    actor = batch.created_by
    if batch.status == BatchStatus.QUEUED:
        batch.status = BatchStatus.RUNNING
        batch.started_at = timezone.now()
        batch.save(update_fields=["status", "started_at", "updated_at"])
    try:
        with _young_collections_only(), _large_page_cache():
            layout = batch_layout(batch)
            _check_ready(batch, actor)
            importer = _importer(batch, layout, actor)
            rows = list(data_rows(layout.sheet, batch.header_row))
            ImportBatch.objects.filter(pk=batch.pk).update(total_rows=len(rows))
            starts = range(batch.processed_rows, len(rows), CHUNK)
            chunks = [rows[start : start + CHUNK] for start in starts]
            cancelled: list[int] = []

            def write(item: tuple[int, list[Row]]) -> bool:
                start, checked_rows = item
                if ImportBatch.objects.filter(pk=batch.pk, cancel_requested=True).exists():
                    cancelled.append(start)
                    return False
                _run_chunk(batch, importer, checked_rows, actor)
                return True

            behind = len(chunks) > 1 and importer.checks_without_database()
            with CheckedChunks(importer, chunks, check_ahead=not behind) as checked:
                items = zip(starts, checked, strict=True)
                if behind:
                    write_behind(items, write)  # the next chunk checked while one is written
                else:
                    for item in items:
                        if not write(item):
                            break
            if cancelled:
                return _finish(
                    batch,
                    BatchStatus.CANCELLED,
                    _("Cancelled after %(n)d rows.") % {"n": cancelled[0]},
                )
    except Exception as exc:
        reason = exc.message if isinstance(exc, BusinessError) else f"{type(exc).__name__}: {exc}"
        batch.refresh_from_db()
        return _finish(
            batch,
            BatchStatus.FAILED,
            _("The import stopped after %(n)d rows: %(reason)s. Undo removes what it wrote.")
            % {"n": batch.processed_rows, "reason": reason},
        )
    return _finish(batch, BatchStatus.DONE, "")


def _run_chunk(batch: ImportBatch, importer: Importer, rows: list[Row], actor: User) -> None:
    """Write one chunk of checked rows."""
    planned = importer.settle(rows)
    counts = Counts()
    for row in planned:
        counts.add(row)
    errors = [[row.number, row.message] for row in planned if row.errors]
    with acting_as(actor), transaction.atomic():
        importer.write(batch, planned)
        ImportBatch.objects.filter(pk=batch.pk).update(
            processed_rows=F("processed_rows") + len(rows),
            created_count=F("created_count") + counts.created,
            updated_count=F("updated_count") + counts.updated,
            skipped_count=F("skipped_count") + counts.skipped,
            failed_count=F("failed_count") + counts.failed,
            updated_at=timezone.now(),
        )
        if errors:
            current = ImportBatch.objects.select_for_update().get(pk=batch.pk)
            current.row_errors = [*current.row_errors, *errors][:MAX_KEPT_ERRORS]
            current.save(update_fields=["row_errors"])


def _finish(batch: ImportBatch, status: str, text: str) -> ImportBatch:
    with transaction.atomic():
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        batch.status = status
        batch.finished_at = timezone.now()
        summary = _(
            "%(created)d new, %(updated)d updated, %(skipped)d skipped, %(failed)d failed."
        ) % {
            "created": batch.created_count,
            "updated": batch.updated_count,
            "skipped": batch.skipped_count,
            "failed": batch.failed_count,
        }
        _log(batch, f"{text} {summary}".strip() if text else _("Imported: %(s)s") % {"s": summary})
        batch.save()
        emit(
            f"imports.batch.{status}",
            subject=batch,
            payload={
                "batch": str(batch.public_id),
                "file": batch.filename,
                "created": batch.created_count,
                "updated": batch.updated_count,
                "skipped": batch.skipped_count,
                "failed": batch.failed_count,
            },
            actor=batch.created_by,
        )
    return batch


def batch_cancel(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Ask the running import to stop after its current chunk (one still queued stops now)."""
    require(actor, "add", ImportBatch)
    with transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status not in (BatchStatus.QUEUED, BatchStatus.RUNNING):
            raise Conflict(_("Only a waiting or running import can be cancelled."))
        locked.cancel_requested = True
        _log(locked, _("Cancel asked by %(user)s.") % {"user": actor})
        locked.save()
    if locked.status == BatchStatus.QUEUED:
        return _finish(locked, BatchStatus.CANCELLED, _("Cancelled before it started."))
    return locked


# --- undo -----------------------------------------------------------------------------------

UNDO_ORDER = ("activity", "deal", "email", "phone", "taxid", "address", "person", "organization")


def batch_undo(*, actor: User, batch: ImportBatch) -> ImportBatch:
    """Remove everything the batch created and put back what it changed, in one transaction."""
    if batch.status not in (BatchStatus.DONE, BatchStatus.FAILED, BatchStatus.CANCELLED):
        raise Conflict(_("Only a finished, failed or cancelled import can be undone."))
    created_types = set(
        batch.records.filter(action=ImportedRecord.Action.CREATED).values_list(
            "content_type__model", flat=True
        )
    )
    for model in MODELS.values():
        if model._meta.model_name in created_types:
            require(actor, "delete", model)
    records = ImportedRecord.objects.filter(batch=batch).select_related("content_type")
    with acting_as(actor), transaction.atomic():
        locked = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        if locked.status == BatchStatus.UNDONE:
            raise Conflict(_("This import has already been undone."))
        removed = restored = 0
        by_type: dict[str, list[ImportedRecord]] = {}
        for record in records:
            by_type.setdefault(record.content_type.model, []).append(record)
        for model_name in UNDO_ORDER:
            entries = by_type.get(model_name, [])
            if not entries:
                continue
            record_model = entries[0].content_type.model_class()
            assert record_model is not None  # noqa: S101
            updated = [e for e in entries if e.action == ImportedRecord.Action.UPDATED]
            restored += _restore(record_model, updated, actor, locked)
            created = [e.object_id for e in entries if e.action == ImportedRecord.Action.CREATED]
            for start in range(0, len(created), 500):
                try:
                    record_model._default_manager.filter(
                        pk__in=created[start : start + 500]
                    ).delete()
                except ProtectedError as exc:
                    blocker = next(iter(exc.protected_objects), None)
                    raise BusinessError(
                        _(
                            "The import cannot be undone: %(record)s, added since, still points "
                            "at a record it created. Remove or move it first."
                        )
                        % {"record": blocker}
                    ) from None
                removed += len(created[start : start + 500])
        locked.status = BatchStatus.UNDONE
        _log(
            locked,
            _("Undone by %(user)s: %(removed)d records removed, %(restored)d restored.")
            % {"user": actor, "removed": removed, "restored": restored},
        )
        locked.save()
        emit(
            "imports.batch.undone",
            subject=locked,
            payload={"batch": str(locked.public_id), "removed": removed, "restored": restored},
            actor=actor,
        )
    return locked


def _restore(model: Any, entries: list[ImportedRecord], actor: User, batch: ImportBatch) -> int:
    entries = [e for e in entries if e.previous]
    if not entries:
        return 0
    objs = model._default_manager.in_bulk([e.object_id for e in entries])
    changed = []
    names: set[str] = set()
    for entry in entries:
        obj = objs.get(entry.object_id)
        if obj is None:
            continue  # deleted since; nothing to put back
        for name, value in entry.previous.items():
            setattr(obj, name, restore_value(model, name, value))
            names.add(name)
        obj.updated_at = timezone.now()
        changed.append(obj)
    if changed:
        bulk_update_with_history(
            changed,
            model,
            [*sorted(names), "updated_at"],
            default_user=actor,
            default_change_reason=(_("Undo of import %(file)s") % {"file": batch.filename})[:100],
        )
    return len(changed)


# --- saved mappings -------------------------------------------------------------------------


def mapping_for_headers(headers: Sequence[str]) -> ImportMapping | None:
    if not headers:
        return None
    return (
        ImportMapping.objects.filter(headers_key=m.headers_signature(headers))
        .order_by("-updated_at")
        .first()
    )


def mapping_save(*, actor: User, batch: ImportBatch, name: str) -> ImportMapping:
    """Save the batch's columns and options under `name` (replacing a mapping of that name);
    files with the same headers get it applied on upload."""
    require(actor, "add", ImportMapping)
    name = " ".join(str(name).split())
    if not name:
        raise FieldErrors({"name": [_("This field is required.")]})
    if len(name) > 120:
        raise FieldErrors({"name": [_("At most %(n)d characters.") % {"n": 120}]})
    headers = batch_layout(batch).headers
    with acting_as(actor), transaction.atomic():
        mapping = ImportMapping.objects.filter(name=name).first() or ImportMapping(
            name=name, created_by=actor
        )
        mapping.headers = headers
        mapping.headers_key = m.headers_signature(headers)
        mapping.columns = dict(batch.columns)
        mapping.options = dict(batch.options)
        mapping.save()
        batch.mapping = mapping
        batch.save(update_fields=["mapping", "updated_at"])
    return mapping


def mapping_apply(*, batch: ImportBatch, mapping: ImportMapping) -> ImportBatch:
    """Use a saved mapping's columns (those the sheet has) and options."""
    _editable(batch)
    headers = batch_layout(batch).headers
    batch.mapping = mapping
    batch.columns = _columns_for(mapping, headers)
    batch.options = Options.from_dict({**batch.options, **mapping.options}).to_dict()
    batch.status = BatchStatus.UPLOADED
    batch.save()
    return batch


# --- error report ---------------------------------------------------------------------------


def error_report(batch: ImportBatch) -> bytes:
    """The failed rows as XLSX: the sheet's columns plus an Error column, ready to fix and
    upload again (the header is the original one, so the same mapping applies)."""
    layout = batch_layout(batch)
    messages = {int(number): text for number, text in batch.row_errors}
    book = XlsxWorkbook(write_only=True)
    sheet = book.create_sheet(_("Errors")[:31])
    sheet.append([*layout.headers, _("Error")])
    width = len(layout.headers)
    for index, cells in enumerate(layout.sheet.rows):
        message = messages.get(index + 1)
        if message is None or index < batch.header_row:
            continue
        values = [_cell(v) for v in cells[:width]]
        sheet.append([*values, *([None] * (width - len(values))), message])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value == "":
        return None
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@") and not _numeric(value):
        return "'" + value  # never hand a formula back to a spreadsheet program
    return value


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
