"""Fixtures shared by every test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from konvergo.core.jobs import Worker

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def worker() -> Worker:
    """A job worker run in the test process (`worker.run_once()` = `konvergo worker --once`)."""
    return Worker()


def database_url() -> str:
    """The URL of the test database, for `konvergo` processes started by a test."""
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{cfg['NAME']}"
    user = cfg.get("USER") or ""
    password = f":{cfg['PASSWORD']}" if cfg.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return (
        f"postgres://{auth}{cfg.get('HOST') or 'localhost'}:{cfg.get('PORT') or 5432}/{cfg['NAME']}"
    )


@pytest.fixture
def konvergo_env(tmp_path: Path) -> dict[str, str]:
    """Environment for a `konvergo` child process on the test database and test settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KONVERGO_")}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.settings",
        PYTHONPATH=os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "src")]),
        KONVERGO_VAR_DIR=str(tmp_path / "var"),
        KONVERGO_SECRET_KEY="test-secret-key-for-child-processes",
        KONVERGO_WORKER_POLL_SECONDS="0",
    )
    return env


@pytest.fixture
def run_konvergo(konvergo_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run `konvergo ARGS` as a user would, on the test database."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 120):
        full_env = {**konvergo_env, "KONVERGO_DATABASE_URL": database_url(), **(env or {})}
        return subprocess.run(
            [sys.executable, "-m", "konvergo", *args],
            env=full_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    return run
