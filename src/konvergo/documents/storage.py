"""Where document files live: Django's storage API.

S3-compatible storage when `KONVERGO_DOCUMENTS_S3_BUCKET` is set (django-storages, the
optional extra `konvergo[s3]`; endpoint, region and keys from `KONVERGO_DOCUMENTS_S3_*`); else
the storage alias "documents" when settings define one; otherwise the default storage, a folder
under the var directory. Files are never served from a
media URL: only `views.version_download` streams them, after the permission check.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction

ALIAS = "documents"


@lru_cache(maxsize=1)
def _s3(bucket: str) -> Storage:
    try:
        from storages.backends.s3 import S3Storage
    except ImportError:  # pragma: no cover  (the extra is not installed)
        raise ImproperlyConfigured(
            "KONVERGO_DOCUMENTS_S3_BUCKET is set but django-storages is not installed: "
            "pip install 'konvergo[s3]'"
        ) from None
    env = os.environ
    storage: Storage = S3Storage(
        bucket_name=bucket,
        endpoint_url=env.get("KONVERGO_DOCUMENTS_S3_ENDPOINT") or None,
        region_name=env.get("KONVERGO_DOCUMENTS_S3_REGION") or None,
        access_key=env.get("KONVERGO_DOCUMENTS_S3_ACCESS_KEY") or None,
        secret_key=env.get("KONVERGO_DOCUMENTS_S3_SECRET_KEY") or None,
        default_acl="private",
        querystring_auth=True,  # never public URLs; we stream files ourselves anyway
        file_overwrite=False,
    )
    return storage


def documents_storage() -> Storage:
    bucket = os.environ.get("KONVERGO_DOCUMENTS_S3_BUCKET", "")
    if bucket:
        return _s3(bucket)
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
