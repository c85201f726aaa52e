"""The demo company's triggers and integrations: the three demo rules exist, and the demo's
missed call is logged on the client and starts the call-back process once the worker runs."""

from __future__ import annotations

import pytest

from konvergo.core.demo import demo_steps
from konvergo.core.jobs import Worker
from konvergo.integrations.models import Call, EmailTemplate, InboundChannel, WebForm
from konvergo.processes.models import ProcessInstance
from konvergo.triggers.models import FiringStatus, TriggerFiring, TriggerRule

pytestmark = pytest.mark.django_db


def test_the_demo_has_its_triggers_and_a_missed_call_that_starts_the_call_back():
    for _order, _name, step in demo_steps():
        step(lambda _text: None)
    Worker().run_once()

    assert set(TriggerRule.objects.values_list("process_key", flat=True)) == {
        "missed_call_callback",
        "customer_onboarding",
        "proforma_approval",
    }
    assert InboundChannel.objects.count() == 2
    assert WebForm.objects.filter(name="Website contact form").exists()
    assert set(EmailTemplate.objects.values_list("language", flat=True)) == {
        "en",
        "de",
        "pl",
        "ru",
        "fa",
    }
    call = Call.objects.get(call_id="demo-missed-1")
    assert call.status == "missed"
    assert call.activity is not None
    firing = TriggerFiring.objects.get(rule__process_key="missed_call_callback")
    assert firing.status == FiringStatus.DONE
    assert firing.instance == ProcessInstance.objects.get(definition__key="missed_call_callback")
    # The demo's own organisations and pro-formas came before the rules: no onboarding for them
    assert not TriggerFiring.objects.filter(rule__process_key="customer_onboarding").exists()
