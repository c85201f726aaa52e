"""Fixtures for every test of the project (tests/ and the apps' own tests)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def english_unless_asked() -> Iterator[None]:
    """Each test starts in the default language: a request through the test client leaves the
    language it activated (the user's) on the thread, and the next test would inherit it."""
    yield
    translation.deactivate()
