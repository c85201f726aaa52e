"""API: list my tasks with filters, claim, unclaim, delegate, return, complete with variables;
403 / 422 / 409 leave everything unchanged."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.inbox.tests.test_forms import GOOD, SCHEMA
from konvergo.org.models import Role, User
from konvergo.org.services import api_token_create
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import HumanTask, HumanTaskLog, InstanceStatus, TaskStatus
from konvergo.processes.services import definition_deploy, process_start

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def client_for(user: User) -> Client:
    return Client(headers={"Authorization": f"Bearer {api_token_create(user=user).raw}"})


@pytest.fixture
def people() -> dict[str, Any]:
    sales = Role.objects.create(name="Sales")
    anna, ben, carl = (UserFactory.create(username=n) for n in ("anna", "ben", "carl"))
    anna.roles.add(sales)
    ben.roles.add(sales)
    definition_deploy(
        xml=user_tasks_xml(
            "offer",
            [
                {
                    "id": "prepare",
                    "attrs": {
                        "candidateGroups": "Sales",
                        "dueDate": "PT2H",
                        "formKey": "camunda-forms:deployment:offer.form",
                    },
                },
                {"id": "approve", "attrs": {"assignee": "carl", "priority": "80"}},
            ],
        ),
        forms={"offer.form": json.dumps(SCHEMA)},
    )
    definition_deploy(xml=user_tasks_xml("memo", [{"id": "read", "attrs": {"assignee": "anna"}}]))
    with time_machine.travel(T0, tick=False):
        process_start("offer", variables={"customer": "ACME"})
        process_start("memo")
    return {"anna": anna, "ben": ben, "carl": carl}


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.content
    return [t["element_id"] for t in response.json()]


def test_list_filters(people: dict[str, Any]) -> None:
    anna = client_for(people["anna"])
    assert names(anna.get("/api/v1/tasks?assignee=me")) == ["read"]
    assert names(anna.get("/api/v1/tasks?candidate=me")) == ["prepare"]
    # Everything that concerns Anna, due first.
    assert names(anna.get("/api/v1/tasks")) == ["prepare", "read"]
    assert names(anna.get("/api/v1/tasks?process=memo")) == ["read"]
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        assert names(anna.get("/api/v1/tasks?overdue=true")) == ["prepare"]
        assert names(anna.get("/api/v1/tasks?overdue=false")) == ["read"]
    # Carl is not in Sales and has nothing yet.
    assert names(client_for(people["carl"]).get("/api/v1/tasks")) == []
    body = anna.get("/api/v1/tasks?candidate=me").json()[0]
    assert body["candidate_groups"] == ["Sales"]
    assert body["process"] == "offer"
    assert body["due_at"].startswith("2026-11-02T11:00:00")


def task_id(element_id: str) -> str:
    return str(HumanTask.objects.get(element_id=element_id, status=TaskStatus.OPEN).public_id)


def test_claim_delegate_return_unclaim(people: dict[str, Any]) -> None:
    anna, ben, carl = (client_for(people[n]) for n in ("anna", "ben", "carl"))
    prepare = task_id("prepare")

    assert carl.post(f"/api/v1/tasks/{prepare}/claim").status_code == 403
    claimed = anna.post(f"/api/v1/tasks/{prepare}/claim")
    assert claimed.status_code == 200
    assert claimed.json()["assignee"] == "anna"
    assert ben.post(f"/api/v1/tasks/{prepare}/claim").status_code == 403  # no longer his to see

    delegated = anna.post(
        f"/api/v1/tasks/{prepare}/delegate",
        {"to_user": "ben", "note": "Numbers please"},
        content_type="application/json",
    )
    assert delegated.status_code == 200
    assert (delegated.json()["assignee"], delegated.json()["delegated_by"]) == ("ben", "anna")
    assert names(anna.get("/api/v1/tasks?delegated_by=me")) == ["prepare"]

    unknown = anna.post(
        f"/api/v1/tasks/{prepare}/delegate", {"to_user": "nobody"}, content_type="application/json"
    )
    assert unknown.status_code == 403  # Anna is no longer the assignee
    wrong = ben.post(
        f"/api/v1/tasks/{prepare}/delegate", {"to_user": "nobody"}, content_type="application/json"
    )
    assert wrong.status_code == 422
    assert wrong.json()["error"]["details"] == {"to_user": ["There is no user with this name."]}

    back = ben.post(
        f"/api/v1/tasks/{prepare}/return", {"note": "done"}, content_type="application/json"
    )
    assert back.json()["assignee"] == "anna"
    assert anna.post(f"/api/v1/tasks/{prepare}/unclaim").json()["assignee"] is None
    assert list(HumanTaskLog.objects.values_list("action", flat=True)) == [
        "claimed",
        "delegated",
        "returned",
        "unclaimed",
    ]


def test_complete_403_422_200_409(people: dict[str, Any]) -> None:
    anna, carl = client_for(people["anna"]), client_for(people["carl"])
    prepare = task_id("prepare")
    instance = HumanTask.objects.get(public_id=prepare).instance

    denied = carl.post(
        f"/api/v1/tasks/{prepare}/complete", {"variables": GOOD}, content_type="application/json"
    )
    assert denied.status_code == 403
    instance.refresh_from_db()
    assert (instance.version, instance.variables) == (1, {"customer": "ACME"})

    invalid = anna.post(
        f"/api/v1/tasks/{prepare}/complete",
        {"variables": {**GOOD, "amount": 0, "code": "x"}},
        content_type="application/json",
    )
    assert invalid.status_code == 422
    assert invalid.json()["error"]["details"] == {
        "code": ["Does not have the expected format."],
        "amount": ["Must be at least 1."],
    }
    instance.refresh_from_db()
    assert (instance.version, instance.variables) == (1, {"customer": "ACME"})

    done = anna.post(
        f"/api/v1/tasks/{prepare}/complete", {"variables": GOOD}, content_type="application/json"
    )
    assert done.status_code == 200
    assert done.json()["active_elements"] == ["approve"]
    assert done.json()["variables"]["code"] == "ABC-12"

    again = anna.post(
        f"/api/v1/tasks/{prepare}/complete", {"variables": GOOD}, content_type="application/json"
    )
    assert again.status_code == 409
    instance.refresh_from_db()
    assert instance.version == 2

    approve = task_id("approve")
    assert (
        anna.post(
            f"/api/v1/tasks/{approve}/complete", {}, content_type="application/json"
        ).status_code
        == 403
    )
    finished = carl.post(f"/api/v1/tasks/{approve}/complete", {}, content_type="application/json")
    assert finished.json()["status"] == InstanceStatus.COMPLETED


def test_inbox_endpoint_counts_sections(people: dict[str, Any]) -> None:
    anna = client_for(people["anna"])
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        body = anna.get("/api/v1/inbox?section=overdue").json()
    assert body["counts"] == {"mine": 1, "groups": 1, "overdue": 1, "today": 0, "delegated": 0}
    assert [(i["kind"], i["title"], i["claimable"]) for i in body["items"]] == [
        ("task", "prepare", True)
    ]


def test_deploy_with_form_files_through_the_api(people: dict[str, Any]) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    admin = UserFactory.create(is_superuser=True)
    xml = user_tasks_xml("other", [{"id": "t", "attrs": {"formKey": "offer"}}])
    response = client_for(admin).post(
        "/api/v1/processes/definitions",
        {
            "file": SimpleUploadedFile("other.bpmn", xml.encode()),
            "forms": [SimpleUploadedFile("offer.form", json.dumps(SCHEMA).encode())],
        },
    )
    assert response.status_code == 201, response.content
    bad = client_for(admin).post(
        "/api/v1/processes/definitions",
        {
            "file": SimpleUploadedFile("other.bpmn", xml.encode()),
            "forms": [SimpleUploadedFile("bad.form", b"[1, 2]")],
        },
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == {"file": "bad.form"}
