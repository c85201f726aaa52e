"""The processes part of the demo company: lead follow-ups running on their timers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from konvergo.core.demo import register_demo_step
from konvergo.org.models import User
from konvergo.org.selectors import manager_of
from konvergo.processes.forms import form_files_beside
from konvergo.processes.services import definition_deploy, process_start, timer_reschedule

LIBRARY = Path(__file__).resolve().parent / "library"
# (owner, lead, days since the lead came in): after three days the owner must call.
LEADS = [
    ("anna.nowak", "Baltic Logistics Sp. z o.o.", 0),
    ("lukas.becker", "Rheinmetallbau GmbH", 4),
    ("anna.nowak", "Mazur & Syn", 5),
]

# (owner, amount, discount %): the decision table picks who approves
QUOTES = [("anna.nowak", 24000, 5), ("lukas.becker", 180000, 8), ("anna.nowak", 4200, 0)]


@register_demo_step(40, "processes")
def demo_processes(say: Callable[[str], None]) -> None:
    definition_deploy(xml=(LIBRARY / "lead_followup.bpmn").read_bytes())
    for number, (owner_name, lead, days_ago) in enumerate(LEADS, start=1):
        owner = User.objects.get(username=owner_name)
        manager = manager_of(owner)
        instance = process_start(
            "lead_followup",
            business_key=f"LEAD-{number:03d}",
            variables={
                "owner": owner.username,
                "lead": lead,
                "manager": manager.username if manager else "",
            },
        )
        # As if the lead came in `days_ago` days ago: timers already due fire (late, in due
        # order) as soon as the worker runs; the timer row is what the engine obeys.
        timer_reschedule(
            instance=instance,
            element_id="wait_three_days",
            due_at=timezone.now() + timedelta(days=3 - days_ago),
        )
    definition_deploy(  # with its forms, as the process library deploys it
        xml=(LIBRARY / "quote_approval.bpmn").read_bytes(),
        dmn=[(LIBRARY / "quote_approval.dmn").read_bytes()],
        forms=form_files_beside(LIBRARY / "quote_approval.bpmn"),
    )
    head_of_sales = User.objects.get(username="jan.kowalski")
    director = User.objects.get(username="katharina.vogel")
    for number, (owner_name, amount, discount) in enumerate(QUOTES, start=1):
        process_start(
            "quote_approval",
            business_key=f"Q-DEMO-{number:03d}",
            variables={
                "amount": amount,
                "discount": discount,
                "owner": owner_name,
                "head_of_sales": head_of_sales.username,
                "director": director.username,
            },
        )
    say(
        f"{len(LEADS)} lead follow-ups waiting on their timers, {len(QUOTES)} quotes in "
        "approval (decision table by amount and discount)"
    )
