"""The triggers of the demo company: a missed call starts a call-back, a new organisation an
onboarding, a pro-forma invoice its approval."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from konvergo.core.demo import register_demo_step
from konvergo.org.models import User
from konvergo.processes.services import definition_deploy
from konvergo.triggers.models import TriggerRule
from konvergo.triggers.services import rule_create

LIBRARY = Path(__file__).resolve().parent / "library"

DEMO_RULES = [
    {
        "name": "Missed call: call the client back",
        "event": "integrations.call.missed",
        "condition": 'owner != ""',
        "process_key": "missed_call_callback",
        "correlation_key": "call",
        "variables": {"owner": "owner", "caller": "caller", "contact": "contact_name"},
    },
    {
        "name": "New customer: onboarding",
        "event": "crm.organization.created",
        "process_key": "customer_onboarding",
        "correlation_key": "organization",
        "variables": {"owner": "'anna.nowak'", "customer": "legal_name"},
    },
    {
        "name": "Pro-forma invoice: approval",
        "event": "crm.proforma.created",
        "process_key": "proforma_approval",
        "correlation_key": "number",
        "variables": {"approver": "'jan.kowalski'", "number": "number", "gross": "gross"},
    },
]


@register_demo_step(50, "triggers")
def demo_triggers(say: Callable[[str], None]) -> None:
    for name in ("missed_call_callback", "customer_onboarding", "proforma_approval"):
        definition_deploy(xml=(LIBRARY / f"{name}.bpmn").read_bytes())
    admin = User.objects.filter(is_superuser=True).order_by("pk").first()
    created = 0
    for rule in DEMO_RULES:
        if not TriggerRule.objects.filter(name=rule["name"]).exists():
            rule_create(actor=admin, **rule)
            created += 1
    say(f"{created} trigger rules (missed-call call-back, onboarding, pro-forma approval)")
