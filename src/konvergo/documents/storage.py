"""Where document files live: Django's storage API.

The storage alias "documents" is used when settings define one (e.g. S3 through
django-storages: `STORAGES["documents"] = {"BACKEND": "storages.backends.s3.S3Storage", ...}`);
otherwise the default storage, a folder under the var directory. Files are never served from a
media URL: only `views.version_download` streams them, after the permission check.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction

ALIAS = "documents"


def documents_storage() -> Storage:
    return storages[ALIAS if ALIAS in settings.STORAGES else "default"]


def new_name(prefix: str, file_name: str) -> str:
    # Never the user's name on disk: a random name cannot collide or climb directories.
    suffix = "".join(c for c in file_name.rsplit(".", 1)[-1][:10] if c.isalnum()).lower()
    return f"documents/{prefix}/{uuid.uuid4().hex}" + (f".{suffix}" if suffix else "")


@contextmanager
def stored_file(prefix: str, file_name: str, data: bytes) -> Iterator[str]:
    """Write the file, then run the block (which writes the record in a transaction). If the
    block fails, the file is deleted: no file without a record, no record without a file."""
    storage = documents_storage()
    name = storage.save(new_name(prefix, file_name), ContentFile(data))
    try:
        with transaction.atomic():
            yield name
    except BaseException:
        storage.delete(name)
        raise


def open_file(name: str):  # type: ignore[no-untyped-def]
    return documents_storage().open(name, "rb")


def read_file(name: str) -> bytes:
    with documents_storage().open(name, "rb") as handle:
        data: bytes = handle.read()
    return data
