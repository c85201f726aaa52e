"""Trigger rules: an event that meets a rule starts its process with variables mapped from the
event, once, and the firing is logged; conditions are the engine's safe expressions; a failing
rule is logged as failed and does not stop the others; the API validates and guards rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from konvergo.core.events import emit
from konvergo.core.jobs import Worker
from konvergo.org.models import User
from konvergo.org.services import api_token_create
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import ProcessInstance
from konvergo.processes.services import definition_deploy
from konvergo.triggers.models import FiringStatus, TriggerFiring, TriggerRule
from konvergo.triggers.services import rule_create

pytestmark = pytest.mark.django_db

LIBRARY = Path(__file__).resolve().parent.parent / "library"


@pytest.fixture
def callback_process() -> None:
    definition_deploy(xml=(LIBRARY / "missed_call_callback.bpmn").read_bytes())


def _rule(**fields: Any) -> TriggerRule:
    values = {
        "name": "Call back",
        "event": "integrations.call.missed",
        "process_key": "missed_call_callback",
        "variables": {"owner": "owner", "caller": "caller"},
        "correlation_key": "call",
    }
    return rule_create(actor=None, **{**values, **fields})


def test_a_matching_event_starts_the_process_once_with_mapped_variables(callback_process):
    rule = _rule(condition="len(caller) > 5")
    emit(
        "integrations.call.missed",
        payload={"caller": "+4930123456", "owner": "anna", "call": "C-1"},
    )
    Worker().run_once()
    Worker().run_once()  # delivered once: a second run changes nothing

    firing = TriggerFiring.objects.get()
    assert firing.rule == rule
    assert firing.status == FiringStatus.DONE
    assert firing.event_name == "integrations.call.missed"
    assert firing.variables == {"owner": "anna", "caller": "+4930123456"}
    instance = ProcessInstance.objects.get()
    assert firing.instance == instance
    assert instance.definition.key == "missed_call_callback"
    assert instance.business_key == "C-1"


def test_a_condition_that_does_not_hold_is_logged_as_skipped(callback_process):
    _rule(condition='caller == "+100"')
    emit("integrations.call.missed", payload={"caller": "+4930123456", "owner": "a", "call": "x"})
    Worker().run_once()

    assert TriggerFiring.objects.get().status == FiringStatus.SKIPPED
    assert not ProcessInstance.objects.exists()


def test_other_events_and_inactive_rules_do_not_fire(callback_process):
    _rule(event="crm.*.created")
    _rule(name="off", is_active=False)
    emit("integrations.call.missed", payload={"caller": "1", "owner": "a", "call": "x"})
    emit("crm.deal.won", payload={})
    Worker().run_once()

    assert not TriggerFiring.objects.exists()


def test_a_glob_matches_every_created_record(callback_process):
    _rule(event="crm.*.created", variables={"owner": "'anna'", "caller": "event.name"})
    emit("crm.person.created", payload={"call": "p1"})
    Worker().run_once()

    assert TriggerFiring.objects.get().variables == {
        "owner": "anna",
        "caller": "crm.person.created",
    }


def test_a_failing_rule_is_logged_and_the_next_rule_still_fires(callback_process):
    broken = _rule(name="broken", variables={"owner": "missing_name"})
    good = _rule(name="good")
    emit("integrations.call.missed", payload={"caller": "+4930", "owner": "a", "call": "k"})
    Worker().run_once()

    failed = TriggerFiring.objects.get(rule=broken)
    assert failed.status == FiringStatus.FAILED
    assert "missing_name" in failed.error
    assert failed.instance is None
    assert TriggerFiring.objects.get(rule=good).status == FiringStatus.DONE
    assert ProcessInstance.objects.count() == 1


def test_a_rule_never_fires_for_events_older_than_itself(callback_process):
    emit("integrations.call.missed", payload={"caller": "+4930", "owner": "a", "call": "k"})
    _rule()
    Worker().run_once()

    assert not TriggerFiring.objects.exists()


def test_rules_are_validated_before_they_are_saved(callback_process):
    from konvergo.core.errors import FieldErrors

    with pytest.raises(FieldErrors) as refused:
        _rule(condition="__import__('os')", process_key="nope", variables={"1x": "a"})
    assert set(refused.value.errors) == {"condition", "process_key", "variables"}
    assert not TriggerRule.objects.exists()


class Api:
    def __init__(self, user: User) -> None:
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def call(self, method: str, path: str, body: Any = None) -> Any:
        send = getattr(self.client, method)
        if body is None:
            return send("/api/v1/triggers" + path, headers=self.headers)
        return send(
            "/api/v1/triggers" + path, body, content_type="application/json", headers=self.headers
        )


def test_the_api_creates_lists_changes_and_deletes_rules(callback_process):
    api = Api(UserFactory.create(is_superuser=True))
    body = {
        "name": "Call back",
        "event": "integrations.call.missed",
        "process_key": "missed_call_callback",
        "variables": {"owner": "owner"},
        "webhook_secret": "s3cret",
    }
    created = api.call("post", "/rules", body)
    assert created.status_code == 201, created.content
    rule_id = created.json()["id"]
    assert created.json()["has_webhook_secret"] is True
    assert "webhook_secret" not in created.json()

    assert [r["name"] for r in api.call("get", "/rules").json()["items"]] == ["Call back"]
    changed = api.call("patch", f"/rules/{rule_id}", {"condition": "owner != ''"})
    assert changed.json()["condition"] == "owner != ''"

    emit("integrations.call.missed", payload={"owner": "anna"})
    Worker().run_once()
    log = api.call("get", "/firings").json()["items"]
    assert [(f["rule_name"], f["status"]) for f in log] == [("Call back", "done")]
    assert log[0]["instance"] is not None

    assert api.call("delete", f"/rules/{rule_id}").status_code == 204
    assert not TriggerRule.objects.exists()


def test_the_api_refuses_bad_rules_and_users_without_permission(callback_process):
    admin = Api(UserFactory.create(is_superuser=True))
    bad = admin.call("post", "/rules", {"name": "x", "event": "a b", "process_key": "nope"})
    assert bad.status_code == 422
    assert set(bad.json()["error"]["details"]) >= {"event", "process_key"}

    clerk = Api(UserFactory.create())
    body = {"name": "x", "event": "crm.deal.won", "process_key": "missed_call_callback"}
    assert clerk.call("post", "/rules", body).status_code == 403
    assert clerk.call("get", "/rules").status_code == 403
    assert not TriggerRule.objects.exists()


def test_a_rule_correlates_a_message_to_the_instance_waiting_with_that_key():
    from konvergo.processes.services import process_start

    definition_deploy(
        xml=(Path(__file__).resolve().parents[4] / "tests/models/payment.bpmn").read_bytes()
    )
    waiting = process_start("invoice_payment", business_key="INV-1")
    other = process_start("invoice_payment", business_key="INV-2")
    rule_create(
        actor=None,
        name="Paid by mail",
        event="integrations.email.received",
        action="correlate",
        message_name="payment_received",
        correlation_key="invoice",
        variables={"amount": "amount"},
    )
    emit("integrations.email.received", payload={"invoice": "INV-1", "amount": 120})
    Worker().run_once()

    firing = TriggerFiring.objects.get()
    assert (firing.status, firing.matched) == (FiringStatus.DONE, 1)
    waiting.refresh_from_db()
    other.refresh_from_db()
    assert waiting.status == "completed"
    assert other.status == "running"
