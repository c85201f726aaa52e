"""Due timers fired per second by one worker, against the engine goal of 100,000 in 60 s.

Seeds N instances of tests/models/lead-like "wait, then a user task" waiting on a timer that is
already due (the instance rows are cloned from one started instance, so seeding is fast), then
runs the worker's timer sweep until none is left. Each fire is a full durable advance: lock,
load state, step, save state and projections.

    python benchmarks/engine_timers.py [--quick]   (KONVERGO_BENCH_DATABASE_URL for PostgreSQL)
"""

from __future__ import annotations

import argparse
import gc
from datetime import timedelta

from common import report, seconds, setup_django

GOAL_PER_S = 100_000 / 60
MODEL = b"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="bench_timer" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:intermediateCatchEvent id="wait"><bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing><bpmn:timerEventDefinition>
      <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">P30D</bpmn:timeDuration>
      </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
    <bpmn:userTask id="follow_up" name="Follow up"><bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
    <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="follow_up"/>
    <bpmn:sequenceFlow id="f3" sourceRef="follow_up" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    count = 500 if args.quick else 100_000

    setup_django()
    from django.db import connection, transaction
    from django.utils import timezone

    from konvergo.processes.models import HumanTask, ProcessInstance, Timer
    from konvergo.processes.services import (
        LIVE,
        definition_deploy,
        process_start,
        timer_reschedule,
        timers_fire_due,
    )

    def seed() -> None:
        template = process_start("bench_timer")
        past = timezone.now() - timedelta(days=1)
        timer_reschedule(instance=template, element_id="wait", due_at=past)
        template.refresh_from_db()
        timer = Timer.objects.get(instance=template)
        with transaction.atomic():
            clones = ProcessInstance.objects.bulk_create(
                ProcessInstance(definition=template.definition, state=template.state,
                                version=template.version, waits=template.waits, variables={},
                                business_key=f"B-{n}")
                for n in range(count - 1)
            )
            Timer.objects.bulk_create(
                Timer(instance=c, task_id=timer.task_id, element_id=timer.element_id,
                      due_at=past)
                for c in clones
            )
        if connection.vendor == "postgresql":
            # These rows came in one burst; in a real database they come over days, and
            # autovacuum keeps the planner's statistics of both tables current. Without them
            # PostgreSQL guesses few running instances and hashes them all on every sweep.
            with connection.cursor() as cursor:
                cursor.execute(
                    f"ANALYZE {Timer._meta.db_table}, {ProcessInstance._meta.db_table}"
                )

    definition_deploy(xml=MODEL)
    seed()  # in a function: the seeding's objects are gone before the sweep, as in a worker
    LIVE.clear()  # a restarted worker: nothing cached
    gc.collect()
    gc.freeze()  # as the worker does when it starts (core.jobs.Worker.run_forever)

    def fire_all() -> None:
        while timers_fire_due():
            pass

    elapsed = seconds(fire_all)
    assert not Timer.objects.exists()
    assert HumanTask.objects.filter(element_id="follow_up").count() == count
    rate = count / elapsed
    print(f"{connection.vendor}: {count} due timers fired in {elapsed:.1f} s = "
          f"{rate:.0f}/s; 100,000 would take {100_000 / rate:.0f} s (goal 60 s)")
    report(benchmark="engine_timers", metric="timers_per_s", value=round(rate, 1), unit="1/s",
           baseline="goal_100k_in_60s", baseline_value=round(GOAL_PER_S, 1),
           ratio=round(rate / GOAL_PER_S, 3), database=connection.vendor)


if __name__ == "__main__":
    main()
