"""The /api/v1/imports part of the API: the same engine as the pages and `konvergo import`.

Upload a file (multipart), look at the detected sheet, header row and suggested columns, change
them, dry run, start the import (a background job; poll the batch for progress), cancel, undo,
download the error report. Every endpoint checks the caller's permission first; a batch belongs
to whoever uploaded it (`visible()`), so another user's batch is a 404.
"""

# No `from __future__ import annotations`: ninja reads the annotations at import time.

from typing import Any
from uuid import UUID

from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Router, Schema, Status
from ninja.files import UploadedFile

from konvergo.imports import mapping as m
from konvergo.imports import services
from konvergo.imports.models import ImportBatch, ImportMapping
from konvergo.imports.reading import check_size
from konvergo.org.api import allowed, caller, get_visible
from konvergo.org.permissions import require, visible

router = Router(tags=["imports"])
ERRORS_SHOWN = 200


class TargetOut(Schema):
    key: str
    label: str
    entity: str


class BatchOut(Schema):
    id: UUID
    filename: str
    file_format: str
    encoding: str
    delimiter: str
    sheet: str
    sheet_names: list[str]
    header_row: int
    headers: list[str]
    columns: dict[str, str]
    options: dict[str, Any]
    mapping: str | None
    status: str
    total_rows: int
    processed_rows: int
    progress_percent: int
    created: int
    updated: int
    skipped: int
    failed: int
    row_errors: list[list[Any]] = Field(description=f"The first {ERRORS_SHOWN}: [row, message]")
    log: list[dict[str, Any]]


class BatchPatch(Schema):
    sheet: str | None = None
    header_row: int | None = None
    encoding: str | None = None
    columns: dict[str, str] | None = Field(
        None, description='{"header": "organization.legal_name", ...}; "" ignores a column'
    )
    options: dict[str, Any] | None = Field(
        None,
        description="duplicates (skip, update, create), match_by (tax_id, email, phone, name), "
        "default_country, date_order (DMY, MDY), decimal_separator (auto , .), currency",
    )


class MappingIn(Schema):
    name: str


class MappingOut(Schema):
    id: UUID
    name: str
    headers: list[str]
    columns: dict[str, str]
    options: dict[str, Any]

    @staticmethod
    def resolve_id(obj: ImportMapping) -> UUID:
        return obj.public_id


def _out(batch: ImportBatch, *, layout: bool = True) -> dict[str, Any]:
    sheet_names: list[str] = []
    headers: list[str] = []
    if layout:
        workbook = services.batch_workbook(batch)
        sheet_names = workbook.sheet_names
        headers = services.batch_layout(batch, workbook).headers
    return {
        "id": batch.public_id,
        "filename": batch.filename,
        "file_format": batch.file_format,
        "encoding": batch.encoding,
        "delimiter": batch.delimiter,
        "sheet": batch.sheet,
        "sheet_names": sheet_names,
        "header_row": batch.header_row,
        "headers": headers,
        "columns": batch.columns,
        "options": batch.options,
        "mapping": batch.mapping.name if batch.mapping else None,
        "status": batch.status,
        "total_rows": batch.total_rows,
        "processed_rows": batch.processed_rows,
        "progress_percent": batch.progress_percent,
        "created": batch.created_count,
        "updated": batch.updated_count,
        "skipped": batch.skipped_count,
        "failed": batch.failed_count,
        "row_errors": batch.row_errors[:ERRORS_SHOWN],
        "log": batch.log,
    }


def _batch(request: HttpRequest, batch_id: UUID, action: str = "view") -> ImportBatch:
    user = allowed(request, action, ImportBatch)
    return get_visible(user, ImportBatch.objects.select_related("mapping"), batch_id)


@router.get("/targets", response=list[TargetOut], summary="The fields a column can fill")
def targets_list(request: HttpRequest) -> list[dict[str, str]]:
    allowed(request, "add", ImportBatch)
    return [
        {"key": t.key, "label": str(t.label), "entity": t.entity} for t in m.all_targets().values()
    ]


@router.post("/batches", response={201: BatchOut}, summary="Upload a file to import")
def batches_create(request: HttpRequest, file: File[UploadedFile]) -> Status[dict[str, Any]]:
    user = allowed(request, "add", ImportBatch)
    check_size(file.size or 0)  # before reading it into memory
    batch = services.batch_upload(actor=user, data=file.read(), filename=file.name or "upload")
    return Status(201, _out(batch))


@router.get("/batches", response=list[BatchOut], summary="My imports")
def batches_list(request: HttpRequest) -> list[dict[str, Any]]:
    user = allowed(request, "view", ImportBatch)
    rows = visible(user, ImportBatch.objects.select_related("mapping"))[:100]
    return [_out(batch, layout=False) for batch in rows]


@router.get("/batches/{batch_id}", response=BatchOut, summary="An import with its progress")
def batches_get(request: HttpRequest, batch_id: UUID) -> dict[str, Any]:
    return _out(_batch(request, batch_id))


@router.patch("/batches/{batch_id}", response=BatchOut, summary="Sheet, header row, columns")
def batches_update(request: HttpRequest, batch_id: UUID, payload: BatchPatch) -> dict[str, Any]:
    batch = _batch(request, batch_id, "add")
    batch = services.batch_configure(
        actor=caller(request), batch=batch, **payload.dict(exclude_unset=True)
    )
    return _out(batch)


@router.post("/batches/{batch_id}/dry-run", response=BatchOut, summary="Check without writing")
def batches_dry_run(request: HttpRequest, batch_id: UUID) -> dict[str, Any]:
    batch = _batch(request, batch_id, "add")
    return _out(services.batch_dry_run(actor=caller(request), batch=batch))


@router.post("/batches/{batch_id}/run", response={202: BatchOut}, summary="Import (background)")
def batches_run(request: HttpRequest, batch_id: UUID) -> Status[dict[str, Any]]:
    batch = _batch(request, batch_id, "add")
    return Status(202, _out(services.batch_start(actor=caller(request), batch=batch)))


@router.post("/batches/{batch_id}/cancel", response=BatchOut, summary="Stop a running import")
def batches_cancel(request: HttpRequest, batch_id: UUID) -> dict[str, Any]:
    batch = _batch(request, batch_id, "add")
    return _out(services.batch_cancel(actor=caller(request), batch=batch))


@router.post("/batches/{batch_id}/undo", response=BatchOut, summary="Undo the whole import")
def batches_undo(request: HttpRequest, batch_id: UUID) -> dict[str, Any]:
    batch = _batch(request, batch_id, "add")
    return _out(services.batch_undo(actor=caller(request), batch=batch))


@router.get("/batches/{batch_id}/errors.xlsx", summary="The failed rows with an Error column")
def batches_errors(request: HttpRequest, batch_id: UUID) -> HttpResponse:
    batch = _batch(request, batch_id)
    response = HttpResponse(
        services.error_report(batch),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="errors-{batch.public_id}.xlsx"'
    return response


@router.post("/batches/{batch_id}/mapping", response={201: MappingOut}, summary="Save mapping")
def batches_save_mapping(
    request: HttpRequest, batch_id: UUID, payload: MappingIn
) -> Status[ImportMapping]:
    batch = _batch(request, batch_id, "add")
    mapping = services.mapping_save(actor=caller(request), batch=batch, name=payload.name)
    return Status(201, mapping)


@router.get("/mappings", response=list[MappingOut], summary="Saved mappings")
def mappings_list(request: HttpRequest) -> list[ImportMapping]:
    user = caller(request)
    require(user, "add", ImportBatch)
    return list(ImportMapping.objects.order_by("name"))
