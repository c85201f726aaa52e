"""Trigger pages: the list, a rule created and changed through the form (service errors shown
on their fields), delete, the firing log; users without the permission get 403."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.test import Client

from konvergo.core.events import emit
from konvergo.core.jobs import Worker
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.services import definition_deploy
from konvergo.triggers.models import TriggerRule
from konvergo.triggers.views import parse_variables

pytestmark = pytest.mark.django_db
LIBRARY = Path(__file__).resolve().parent.parent / "library"


@pytest.fixture
def admin_client() -> Client:
    definition_deploy(xml=(LIBRARY / "missed_call_callback.bpmn").read_bytes())
    client = Client()
    client.force_login(UserFactory.create(is_superuser=True))
    return client


FORM = {
    "name": "Call back",
    "event": "integrations.call.missed",
    "condition": 'owner != ""',
    "action": "start_process",
    "process_key": "missed_call_callback",
    "variables": "owner = owner\ncaller = caller",
    "is_active": "on",
}


def test_a_rule_is_created_edited_and_its_firings_shown(admin_client):
    page = admin_client.get("/triggers/new/")
    assert page.status_code == 200
    assert "missed_call_callback" in page.content.decode()

    response = admin_client.post("/triggers/new/", FORM)
    assert response.status_code == 302
    rule = TriggerRule.objects.get()
    assert rule.variables == {"owner": "owner", "caller": "caller"}
    assert "Call back" in admin_client.get("/triggers/").content.decode()

    changed = admin_client.post(f"/triggers/{rule.public_id}/", {**FORM, "name": "Ring back"})
    assert changed.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "Ring back"

    emit("integrations.call.missed", payload={"owner": "anna", "caller": "+49301"})
    Worker().run_once()
    log = admin_client.get("/triggers/log/").content.decode()
    assert "Ring back" in log
    assert "integrations.call.missed" in log
    assert "Missed call call-back" in log

    assert admin_client.post(f"/triggers/{rule.public_id}/delete/").status_code == 302
    assert not TriggerRule.objects.exists()


def test_a_bad_condition_is_shown_on_its_field_and_nothing_is_saved(admin_client):
    response = admin_client.post(
        "/triggers/new/", {**FORM, "condition": "owner ==", "variables": "x"}
    )
    assert response.status_code == 200
    form = response.context["form"]
    assert "variables" in form.errors
    response = admin_client.post("/triggers/new/", {**FORM, "condition": "owner =="})
    assert "condition" in response.context["form"].errors
    assert not TriggerRule.objects.exists()


def test_users_without_the_permission_are_refused():
    client = Client()
    client.force_login(UserFactory.create())
    assert client.get("/triggers/").status_code == 403
    assert client.post("/triggers/new/", FORM).status_code == 403
    assert client.get("/triggers/log/").status_code == 403
    assert not TriggerRule.objects.exists()


def test_variables_are_read_one_per_line():
    assert parse_variables("a = b + 1\n\n c=payload.x ") == {"a": "b + 1", "c": "payload.x"}
