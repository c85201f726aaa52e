"""Reads of processes: instances and the black-hole invariant."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet

from konvergo.processes.models import (
    HumanTask,
    Incident,
    IncidentStatus,
    InstanceStatus,
    MessageSubscription,
    ProcessInstance,
    TaskStatus,
    Timer,
)


def instances_in_black_hole() -> QuerySet[ProcessInstance]:
    """Running instances that wait for nothing: no open human task, pending timer, message
    subscription or open incident. Each one is a process that would silently never finish."""
    # Advances are synchronous (no instance waits on a queued job), so a queued job never
    # excuses an instance here.
    return ProcessInstance.objects.filter(status=InstanceStatus.RUNNING).filter(
        ~Exists(HumanTask.objects.filter(instance=OuterRef("pk"), status=TaskStatus.OPEN)),
        ~Exists(Timer.objects.filter(instance=OuterRef("pk"))),
        ~Exists(MessageSubscription.objects.filter(instance=OuterRef("pk"))),
        ~Exists(Incident.objects.filter(instance=OuterRef("pk"), status=IncidentStatus.OPEN)),
    )
