"""Every benchmark still runs: `python benchmarks/NAME.py --quick` ends with its JSON result line
(STYLE.md, Benchmarks). The figures themselves are `make bench`'s business, not the tests'."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = sorted(
    p.name
    for p in BENCHMARKS.glob("*.py")
    if p.name not in {"run_all.py", "common.py", "bench_tasks.py"}
)


@pytest.mark.parametrize("script", SCRIPTS)
def test_benchmark_runs_and_reports_its_ratio(script: str, tmp_path: Path) -> None:
    if connection.vendor != "sqlite":
        pytest.skip("the benchmarks make their own database; once per suite is enough")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("KONVERGO_") and k != "DJANGO_SETTINGS_MODULE"
    }
    env["KONVERGO_VAR_DIR"] = str(tmp_path)
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), "--quick"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["benchmark"] and result["metric"] and result["baseline"]
    assert result["value"] > 0
    assert result["baseline_value"] > 0
    assert result["ratio"] == pytest.approx(result["value"] / result["baseline_value"], rel=0.01)
