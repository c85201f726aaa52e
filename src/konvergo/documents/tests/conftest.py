from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings


@pytest.fixture(autouse=True)
def _media(tmp_path: Path):
    """Each test stores its files in its own folder."""
    with override_settings(MEDIA_ROOT=str(tmp_path / "media")):
        from django.core.files.storage import storages

        storages._storages.pop("default", None)  # type: ignore[attr-defined]  # re-read MEDIA_ROOT
        yield
        storages._storages.pop("default", None)  # type: ignore[attr-defined]
