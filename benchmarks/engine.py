"""Engine throughput on the standard model, persisted, against two same-run baselines.

Model: start -> user task -> exclusive gateway -> parallel split into two user tasks -> join ->
script task -> end (tests/models/standard.bpmn).

- value: completed instances/s through Konvergo's services (every step one transaction with
  state, projections, history and events), on the configured database;
- baseline: the same model on SpiffWorkflow in memory (our parser and safe script engine, no
  database); the ratio value/baseline is the figure the engine issue sets a goal for (>= 0.5);
- also printed: the database's rate of single-row update+insert transactions, and the durable
  floor: the in-memory run plus, after every advance, its state written in a transaction that
  locks, updates and appends one row, the least a durable engine with one transaction per
  advance does. floor/in-memory is a ceiling on the ratio no persisted run can pass.

    python benchmarks/engine.py [--quick]      (KONVERGO_BENCH_DATABASE_URL selects PostgreSQL)
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import orjson
from common import report, seconds, setup_django

MODEL = Path(__file__).resolve().parent.parent / "tests" / "models" / "standard.bpmn"
STEPS_PER_INSTANCE = 4  # start + three task completions, each an advance


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count, repeat = (30, 3) if args.quick else (300, 5)

    setup_django()
    from django.db import connection, transaction
    from django.utils.timezone import now as _now

    from konvergo.core.models import WorkerHeartbeat
    from konvergo.processes.engine.parser import parse_bpmn
    from konvergo.processes.engine.runtime import CompiledProcess, Runner, Snapshot
    from konvergo.processes.models import TaskStatus
    from konvergo.processes.services import definition_deploy, process_start, task_complete

    xml = MODEL.read_bytes()
    compiled = CompiledProcess.from_model(parse_bpmn(xml), "standard")
    variables = {"owner": "", "amount": 21}

    def in_memory() -> None:
        for _ in range(count):
            runner = Runner(compiled)
            snapshot = runner.start(variables)
            answers = {"review": {"approved": True}}
            while snapshot.open_tasks:
                task = snapshot.open_tasks[0]
                snapshot = runner.complete_task(task.task_id, answers.get(task.element_id, {}))
            assert snapshot.completed

    definition_deploy(xml=xml)

    def persisted() -> None:
        for _ in range(count):
            instance = process_start("standard", variables=variables)
            answers = {"review": {"approved": True}}
            # As a client would: read the open tasks, complete each; again until none is left
            # (the two parallel tasks come back from one read).
            while instance.status != "completed":
                tasks = list(instance.tasks.filter(status=TaskStatus.OPEN).order_by("pk"))
                assert tasks, f"instance {instance.pk} waits on no task"
                for task in tasks:
                    instance = task_complete(task=task, variables=answers.get(task.element_id, {}))

    def durable_floor() -> None:
        # The least a durable advance can cost on top of the in-memory run: a start inserts the
        # instance row with its state as JSON; every later advance locks and reads that row,
        # updates it, and each appends one history row, in one transaction. No projections,
        # events, assignment or ORM.
        lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
        select = f"SELECT state, version FROM bench_floor WHERE id = %s{lock}"  # noqa: S608

        def persist(snapshot: Snapshot, row_id: int | None) -> int:
            state = orjson.dumps(snapshot.state).decode()
            with transaction.atomic(), connection.cursor() as cursor:
                if row_id is None:
                    cursor.execute(
                        "INSERT INTO bench_floor (state, version) VALUES (%s, 0) RETURNING id",
                        [state],
                    )
                    row_id = int(cursor.fetchone()[0])
                else:
                    cursor.execute(select, [row_id])
                    version = cursor.fetchone()[1]
                    cursor.execute(
                        "UPDATE bench_floor SET state = %s, version = %s WHERE id = %s",
                        [state, version + 1, row_id],
                    )
                cursor.execute("INSERT INTO bench_floor_steps (floor_id) VALUES (%s)", [row_id])
            return row_id

        for _ in range(count):
            runner = Runner(compiled)
            snapshot = runner.start(variables)
            row_id = persist(snapshot, None)
            answers = {"review": {"approved": True}}
            while snapshot.open_tasks:
                task = snapshot.open_tasks[0]
                snapshot = runner.complete_task(task.task_id, answers.get(task.element_id, {}))
                persist(snapshot, row_id)
            assert snapshot.completed

    def database_transactions() -> None:
        beat = WorkerHeartbeat.objects.create(
            worker_id="bench", hostname="b", pid=1, started_at=_now(), last_seen_at=_now()
        )
        for n in range(count * 5):
            with transaction.atomic():
                WorkerHeartbeat.objects.filter(pk=beat.pk).update(jobs_done=n)
                WorkerHeartbeat.objects.create(
                    worker_id=f"b{n}", hostname="b", pid=1, started_at=_now(), last_seen_at=_now()
                )
        WorkerHeartbeat.objects.all().delete()

    key = "integer PRIMARY KEY" if connection.vendor == "sqlite" else "serial PRIMARY KEY"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE bench_floor (id {key}, state text, version integer)")
        cursor.execute(f"CREATE TABLE bench_floor_steps (id {key}, floor_id integer, at integer)")
    memory_rate = count / statistics.median(seconds(in_memory) for _ in range(repeat))
    floor_rate = count / statistics.median(seconds(durable_floor) for _ in range(repeat))
    persisted_rate = count / statistics.median(seconds(persisted) for _ in range(repeat))
    db_rate = count * 5 / statistics.median(seconds(database_transactions) for _ in range(repeat))
    print(
        f"{connection.vendor}: in memory {memory_rate:.0f} instances/s; persisted "
        f"{persisted_rate:.0f} instances/s ({persisted_rate * STEPS_PER_INSTANCE:.0f} steps/s); "
        f"database {db_rate:.0f} update+insert transactions/s; durable floor "
        f"{floor_rate:.0f} instances/s, so no persisted run can beat the ratio "
        f"{floor_rate / memory_rate:.2f}"
    )
    report(
        benchmark="engine",
        metric="instances_per_s",
        value=round(persisted_rate, 1),
        unit="1/s",
        baseline="spiff_in_memory",
        baseline_value=round(memory_rate, 1),
        ratio=round(persisted_rate / memory_rate, 3),
        database=connection.vendor,
        steps_per_s=round(persisted_rate * STEPS_PER_INSTANCE, 1),
        db_transactions_per_s=round(db_rate, 1),
        durable_floor_per_s=round(floor_rate, 1),
        ratio_ceiling=round(floor_rate / memory_rate, 3),
    )


if __name__ == "__main__":
    main()
