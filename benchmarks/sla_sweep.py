"""The escalation sweep over 100,000 open tickets against the bare indexed query, same data,
same run.

Seeds 100,000 open P1 tickets on a Berlin business calendar in bulk; 0.5 % of them are due for
escalation at the sweep's moment (first-response warning and level 1, resolution warning: three
levels each), the rest are due later. Then times, as medians of several rounds (the fired
escalations are removed and the due times restored between rounds):

- the sweep, `escalations_fire_due(now)`: find the due tickets, lock them, record, notify and
  emit each level, recompute the next moment;
- the baseline: the bare indexed query the sweep starts from
  (`next_escalation_at <= now`, the ids of the due tickets);
- an idle sweep (nothing due), to show the cost of a worker loop does not grow with the number
  of open tickets.

Ratio = sweep / bare query.

    python benchmarks/sla_sweep.py [--quick]     (SQLite; PostgreSQL with
                                                  KONVERGO_BENCH_DATABASE_URL=postgres://...)
"""

from __future__ import annotations

import argparse
import statistics
import time
import zoneinfo
from datetime import datetime, timedelta

from common import report, seconds, setup_django

BATCH = 5000
ROUNDS = 3
DUE_SHARE = 0.005
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
# A Wednesday afternoon: the sweep's moment; the due tickets came in at 10:30.
NOW = datetime(2026, 3, 4, 14, 0, tzinfo=BERLIN)
DUE_START = datetime(2026, 3, 4, 10, 30, tzinfo=BERLIN)


def seed(count: int) -> tuple[list[int], datetime]:
    """`count` open tickets; returns the ids of the due ones and their next escalation time."""
    from datetime import time as wall

    from konvergo.core.services import calendar_create
    from konvergo.org.models import Department, Team, User
    from konvergo.tickets.models import Ticket
    from konvergo.tickets.services import sla
    from konvergo.tickets.services.setup import (
        escalation_ladder_ensure_default,
        priorities_ensure_defaults,
        queue_create,
        sla_policy_create,
    )

    calendar = calendar_create(
        name="Berlin",
        time_zone="Europe/Berlin",
        country="DE",
        subdivision="BE",
        hours={day: [(wall(9), wall(17))] for day in range(5)},
    )
    lead = User.objects.create(username="lead")
    head = User.objects.create(username="head")
    agents = [User.objects.create(username=f"agent{n}") for n in range(10)]
    team = Team.objects.create(name="Desk", lead=lead)
    team.members.add(*agents)
    department = Department.objects.create(name="Support", head=head)
    queue = queue_create(name="Support", team=team, department=department, calendar=calendar)
    priority = priorities_ensure_defaults()[0]
    policy = sla_policy_create(
        name="P1", priority=priority, first_response_minutes=60, next_response_minutes=120,
        resolution_minutes=240,
    )  # fmt: skip
    escalation_ladder_ensure_default()

    # The due tickets' next moment, computed as the services would.
    probe = Ticket(
        queue=queue, priority=priority, sla_policy=policy, sla_started_at=DUE_START,
        status="new",
    )  # fmt: skip
    sla.sla_refresh(probe, fired=set())
    due_at = probe.next_escalation_at
    assert due_at is not None and due_at <= NOW
    due_count = max(1, int(count * DUE_SHARE))
    step = max(1, count // due_count)
    rows: list[Ticket] = []
    for n in range(count):
        is_due = n % step == 0 and n // step < due_count
        started = DUE_START if is_due else NOW - timedelta(minutes=n % 30)
        later = NOW + timedelta(hours=1 + n % 48)
        rows.append(
            Ticket(
                number=n + 1,
                subject=f"Ticket {n + 1}",
                queue=queue,
                priority=priority,
                sla_policy=policy,
                status="open",
                assignee=agents[n % len(agents)],
                sla_started_at=started,
                first_response_due_at=later,
                resolution_due_at=later,
                next_escalation_at=due_at if is_due else later,
            )
        )
        if len(rows) == BATCH:
            Ticket.objects.bulk_create(rows)
            rows = []
    if rows:
        Ticket.objects.bulk_create(rows)
    due_ids = list(Ticket.objects.filter(next_escalation_at__lte=NOW).values_list("pk", flat=True))
    return due_ids, due_at


def reset(due_ids: list[int], due_at: datetime) -> None:
    """Undo a sweep: the same tickets due again, no escalations, events or notifications."""
    from django_tasks_db.models import DBTaskResult

    from konvergo.core.models import Event
    from konvergo.org.models import Notification
    from konvergo.tickets.models import Escalation, Ticket

    Escalation.objects.all().delete()
    Notification.objects.all().delete()
    Event.objects.all().delete()
    DBTaskResult.objects.all().delete()
    for start in range(0, len(due_ids), 500):
        Ticket.objects.filter(pk__in=due_ids[start : start + 500]).update(next_escalation_at=due_at)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="5,000 tickets for CI smoke runs")
    args = parser.parse_args()
    count = 5_000 if args.quick else 100_000

    setup_django()
    from django.db import connection

    from konvergo.tickets.models import Escalation, Ticket
    from konvergo.tickets.services.escalations import escalations_fire_due

    started = time.perf_counter()
    due_ids, due_at = seed(count)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    seeded_s = time.perf_counter() - started

    def bare() -> None:
        list(Ticket.objects.filter(next_escalation_at__lte=NOW).values_list("pk", flat=True))

    sweeps: list[float] = []
    fired = 0
    for _ in range(ROUNDS):
        reset(due_ids, due_at)
        begin = time.perf_counter()
        fired = escalations_fire_due(now=NOW)
        sweeps.append(time.perf_counter() - begin)
        assert escalations_fire_due(now=NOW) == 0  # idempotent: a second sweep fires nothing
    assert fired == Escalation.objects.count() == 3 * len(due_ids), fired
    reset(due_ids, due_at)
    baseline = [seconds(bare) for _ in range(ROUNDS * 5)]

    def idle_sweep() -> None:
        escalations_fire_due(now=DUE_START)  # before anything is due

    idle = [seconds(idle_sweep) for _ in range(ROUNDS * 5)]

    sweep_ms, bare_ms, idle_ms = median_ms(sweeps), median_ms(baseline), median_ms(idle)
    print(
        f"{connection.vendor}: {count} open tickets seeded in {seeded_s:.1f} s, {len(due_ids)} due"
    )
    print(
        f"sweep {sweep_ms:.1f} ms for {fired} escalations ({sweep_ms / max(fired, 1):.2f} ms "
        f"each); bare indexed query {bare_ms:.2f} ms; idle sweep {idle_ms:.2f} ms"
    )
    report(
        benchmark="sla_sweep",
        metric="sweep_ms",
        value=round(sweep_ms, 1),
        unit="ms",
        baseline="bare_indexed_query",
        baseline_value=round(bare_ms, 3),
        ratio=round(sweep_ms / bare_ms, 1),
    )


if __name__ == "__main__":
    main()
