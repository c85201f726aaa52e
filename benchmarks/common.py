"""Shared set-up for benchmarks: a throw-away database, timing, and the result line."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent


def setup_django() -> None:
    """Konvergo's settings on a fresh SQLite file (or KONVERGO_BENCH_DATABASE_URL), migrated."""
    scratch = Path(tempfile.mkdtemp(prefix="konvergo-bench-"))
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)  # a 100k run leaves 0.5 GB
    os.environ.setdefault("KONVERGO_VAR_DIR", str(scratch))
    os.environ["KONVERGO_DATABASE_URL"] = os.environ.get(
        "KONVERGO_BENCH_DATABASE_URL", f"sqlite:///{scratch / 'bench.sqlite3'}"
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "konvergo.config.settings")
    os.environ.setdefault("KONVERGO_LOG_LEVEL", "ERROR")
    sys.path.insert(0, str(HERE))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def seconds(run: Callable[[], None]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def report(**fields: object) -> None:
    """The last line a benchmark prints: one JSON object (see STYLE.md, Benchmarks)."""
    print(json.dumps(fields))
