from __future__ import annotations

import importlib

import pytest


@pytest.fixture(autouse=True)
def _fresh_engine_cache() -> None:
    """Live workflows are cached by instance pk and version; test databases reuse pks."""
    # Looked up at run time: the engine's cache is being moved between modules.
    importlib.import_module("konvergo.processes.services").LIVE.clear()
