"""`make bench`: run every benchmark at full size and write benchmarks/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
SKIP = {"run_all.py", "common.py", "bench_tasks.py"}


def machine() -> str:
    memory = ""
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        kib = int(meminfo.read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    cores = os.cpu_count()
    return f"{platform.machine()}, {cores} cores{memory}, Python {platform.python_version()}"


def database_versions() -> str:
    import sqlite3

    versions = [f"SQLite {sqlite3.sqlite_version}"]
    url = os.environ.get("KONVERGO_BENCH_DATABASE_URL", "")
    if url.startswith("postgres"):
        versions.append("PostgreSQL (KONVERGO_BENCH_DATABASE_URL)")
    return ", ".join(versions)


def main() -> int:
    rows = []
    failed = False
    for script in sorted(HERE.glob("*.py")):
        if script.name in SKIP:
            continue
        print(f"== {script.name}", flush=True)
        done = subprocess.run(  # noqa: S603  (our own scripts)
            [sys.executable, str(script)], capture_output=True, text=True, check=False
        )
        print(done.stdout + done.stderr, flush=True)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            failed = True
            continue
        rows.append(json.loads(lines[-1]))
    table = [
        f"# Benchmark results\n\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC · {machine()} · "
        f"{database_versions()}\n",
        "| benchmark | metric | value | unit | baseline | baseline value | ratio |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    table += [
        f"| {r['benchmark']} | {r['metric']} | {r['value']} | {r['unit']} | {r['baseline']} "
        f"| {r['baseline_value']} | {r['ratio']} |"
        for r in rows
    ]
    (HERE / "RESULTS.md").write_text("\n".join(table) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
