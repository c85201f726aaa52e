"""Reads for the designer and monitoring pages.

Counts and durations are computed by the database (GROUP BY, window functions), never by
loading every row: a process may have run hundreds of thousands of steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Count
from django.utils.translation import gettext as _

from konvergo.processes.models import (
    HumanTask,
    Incident,
    IncidentStatus,
    InstanceStatus,
    MessageSubscription,
    ProcessDefinition,
    ProcessInstance,
    StepRecord,
    TaskStatus,
    Timer,
)
from konvergo.processes.registry import connector_names

TEMPLATE_SCHEMA = "https://unpkg.com/@camunda/element-templates-json-schema/resources/schema.json"


def connector_templates() -> list[dict[str, Any]]:
    """Each registered connector as a Camunda 7 element template for service tasks: choosing
    it in the properties panel sets `camunda:topic`, which names the connector."""
    return [
        {
            "$schema": TEMPLATE_SCHEMA,
            "name": name,
            "id": f"konvergo.connector.{name}",
            "version": 1,
            "appliesTo": ["bpmn:ServiceTask", "bpmn:SendTask"],
            "properties": [
                {
                    "type": "Hidden",
                    "value": "external",
                    "binding": {"type": "property", "name": "camunda:type"},
                },
                {
                    "label": "Connector",
                    "type": "String",
                    "editable": False,
                    "value": name,
                    "binding": {"type": "property", "name": "camunda:topic"},
                },
            ],
        }
        for name in sorted(connector_names())
    ]


# --- monitoring: per definition version -----------------------------------------------------


def running_counts(definition: ProcessDefinition) -> dict[str, dict[str, int]]:
    """element id -> {"tasks", "timers", "messages", "incidents"}: tokens waiting there in
    running instances of this version (four GROUP BY queries)."""
    counts: dict[str, dict[str, int]] = {}
    running = {"instance__definition": definition, "instance__status": InstanceStatus.RUNNING}
    sources: list[tuple[str, Any]] = [
        ("tasks", HumanTask.objects.filter(status=TaskStatus.OPEN, **running)),
        ("timers", Timer.objects.filter(**running)),
        ("messages", MessageSubscription.objects.filter(**running)),
        ("incidents", Incident.objects.filter(status=IncidentStatus.OPEN, **running)),
    ]
    for kind, queryset in sources:
        for row in queryset.values("element_id").annotate(n=Count("instance_id", distinct=True)):
            entry = counts.setdefault(
                row["element_id"], {"tasks": 0, "timers": 0, "messages": 0, "incidents": 0}
            )
            entry[kind] = row["n"]
    return counts


def _seconds_between(later: str, earlier: str) -> str:
    if connection.vendor == "postgresql":
        return f"EXTRACT(EPOCH FROM ({later} - {earlier}))"
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


def readable(seconds: float) -> str:
    """A duration as people read it: 45 s, 12 min, 3.5 h, 2.1 d."""
    if seconds < 90:
        return _("%(n)s s") % {"n": f"{seconds:.0f}"}
    if seconds < 90 * 60:
        return _("%(n)s min") % {"n": f"{seconds / 60:.0f}"}
    if seconds < 36 * 3600:
        return _("%(n)s h") % {"n": f"{seconds / 3600:.1f}"}
    return _("%(n)s d") % {"n": f"{seconds / 86400:.1f}"}


@dataclass(frozen=True)
class Duration:
    element_id: str
    name: str
    count: int
    mean: float  # seconds
    p90: float  # seconds, nearest rank

    @property
    def mean_text(self) -> str:
        return readable(self.mean)

    @property
    def p90_text(self) -> str:
        return readable(self.p90)


def durations(definition: ProcessDefinition) -> dict[str, Duration]:
    """Mean and 90th-percentile time spent on each element, in seconds, over all instances of
    this version: from the previous step of the same instance to this step's end (an element
    started when the one before it finished). One SQL statement with window functions."""
    step = StepRecord._meta.db_table
    instance = ProcessInstance._meta.db_table
    previous = "LAG(s.finished_at) OVER (PARTITION BY s.instance_id ORDER BY s.finished_at, s.id)"
    sql = f"""
        WITH spans AS (
            SELECT s.element_id AS element_id, s.name AS name,
                   {_seconds_between("s.finished_at", previous)} AS seconds
            FROM {step} s JOIN {instance} i ON i.id = s.instance_id
            WHERE i.definition_id = %s
        ),
        ranked AS (
            SELECT element_id, name, seconds,
                   ROW_NUMBER() OVER (PARTITION BY element_id ORDER BY seconds) AS position,
                   COUNT(*) OVER (PARTITION BY element_id) AS total
            FROM spans WHERE seconds IS NOT NULL
        )
        SELECT element_id, MAX(name), MAX(total), AVG(seconds),
               MAX(CASE WHEN position = (9 * total + 9) / 10 THEN seconds END)
        FROM ranked GROUP BY element_id
    """  # noqa: S608 - table names from the models, the only value is a parameter
    with connection.cursor() as cursor:
        cursor.execute(sql, [definition.pk])
        rows = cursor.fetchall()
    return {
        element_id: Duration(element_id, name or "", int(total), float(mean or 0), float(p90 or 0))
        for element_id, name, total, mean, p90 in rows
    }


def definition_stats(definition: ProcessDefinition) -> dict[str, Any]:
    """What the monitoring diagram shows: tokens per element, durations for the heat map,
    open incidents, and instance counts by status."""
    by_status = dict(
        ProcessInstance.objects.filter(definition=definition)
        .values_list("status")
        .annotate(n=Count("id"))
        .values_list("status", "n")
    )
    spans = durations(definition)
    slowest = max((d.mean for d in spans.values()), default=0.0)
    return {
        "counts": running_counts(definition),
        "durations": {
            element_id: {
                "count": d.count,
                "mean": round(d.mean, 3),
                "p90": round(d.p90, 3),
                # 0..1 for the heat map: this element's mean against the slowest element's
                "heat": round(d.mean / slowest, 3) if slowest else 0.0,
            }
            for element_id, d in spans.items()
        },
        "instances": {status: by_status.get(status, 0) for status in InstanceStatus.values},
    }


# --- monitoring: one instance ------------------------------------------------------------------


def instance_tokens(instance: ProcessInstance) -> dict[str, list[str]]:
    """Where the instance's tokens are now: element ids by kind of wait."""
    return {
        "tasks": list(
            instance.tasks.filter(status=TaskStatus.OPEN).values_list("element_id", flat=True)
        ),
        "timers": list(instance.timers.values_list("element_id", flat=True)),
        "messages": list(instance.subscriptions.values_list("element_id", flat=True)),
        "incidents": list(
            instance.incidents.filter(status=IncidentStatus.OPEN).values_list(
                "element_id", flat=True
            )
        ),
    }


def completed_path(instance: ProcessInstance) -> list[str]:
    """The element ids the instance has finished, first to last, each once."""
    seen: dict[str, None] = {}
    for element_id in instance.steps.order_by("finished_at", "pk").values_list(
        "element_id", flat=True
    ):
        seen.setdefault(element_id, None)
    return list(seen)
