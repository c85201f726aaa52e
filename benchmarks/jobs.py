"""Job throughput of Konvergo's worker against django-tasks-db's own worker, same jobs, same DB.

Our worker adds heartbeats, retry bookkeeping and crash recovery on top of the library's
claim-and-run loop; this measures what that costs. Ratio = ours / library (1.0 = no overhead).

    python benchmarks/jobs.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Callable

from common import report, seconds, setup_django


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="small size for CI smoke runs")
    args = parser.parse_args()
    jobs, repeat = (100, 3) if args.quick else (2000, 5)

    setup_django()
    from bench_tasks import noop
    from django.db import connection, transaction
    from django_tasks_db.management.commands.db_worker import Worker as LibraryWorker
    from django_tasks_db.models import DBTaskResult

    from konvergo.core.jobs import Worker

    def enqueue() -> None:
        DBTaskResult.objects.all().delete()
        with transaction.atomic():
            for n in range(jobs):
                noop.enqueue(n)

    def library_worker() -> None:
        LibraryWorker(
            queue_names=["default"], interval=0, batch=True, backend_name="default",
            startup_delay=False, max_tasks=None, worker_id="bench-library",
            excluded_queue_names=[],
        ).run()

    def konvergo_worker() -> None:
        Worker(worker_id="bench-konvergo").run_once()

    def timed(run_worker: Callable[[], None]) -> float:
        timings = []
        for _ in range(repeat):
            enqueue()
            timings.append(seconds(run_worker))
            assert DBTaskResult.objects.filter(status="SUCCESSFUL").count() == jobs
        return float(statistics.median(timings))

    baseline_s = timed(library_worker)
    ours_s = timed(konvergo_worker)
    baseline, ours = jobs / baseline_s, jobs / ours_s
    print(f"{connection.vendor}: {jobs} no-op jobs; library {baseline:.0f}/s, "
          f"konvergo {ours:.0f}/s")
    report(benchmark="jobs", metric="jobs_per_s", value=round(ours, 1), unit="1/s",
           baseline="django_tasks_db_worker", baseline_value=round(baseline, 1),
           ratio=round(ours / baseline, 3))


if __name__ == "__main__":
    main()
