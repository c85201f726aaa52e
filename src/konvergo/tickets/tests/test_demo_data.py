"""The service desk part of the demo company (`konvergo demo`)."""

from __future__ import annotations

import pytest

from konvergo.core.demo import demo_steps
from konvergo.processes.models import ProcessInstance
from konvergo.tickets import choices
from konvergo.tickets.models import Escalation, Queue, SlaPolicy, Ticket

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo() -> list[str]:
    said: list[str] = []
    for order, _name, step in demo_steps():
        if order <= 45 and _name != "processes":
            step(said.append)
    return said


def test_the_step_runs_after_the_crm() -> None:
    names = [name for _order, name, _step in demo_steps()]
    assert names.index("crm") < names.index("tickets")


def test_queues_policies_and_tickets_in_every_state(demo) -> None:
    assert set(Queue.objects.values_list("name", flat=True)) == {
        "Customer service",
        "Finance desk",
        "Internal IT",
        "HR desk",
    }
    assert SlaPolicy.objects.count() == 6
    assert set(Ticket.objects.values_list("status", flat=True)) == set(choices.Status.values)
    # The customer service queue assigns round-robin within the service desk team.
    assigned = Ticket.objects.filter(queue__name="Customer service").values_list(
        "assignee__username", flat=True
    )
    assert set(assigned) == {"reza.karimi", "olga.ivanova"}
    hardware = Ticket.objects.get(category__name="Hardware")
    assert ProcessInstance.objects.filter(public_id=hardware.process_instance).exists()
    assert Escalation.objects.exists()
    assert demo[-1].endswith("escalations")
