"""The process API at the paths outside tools rely on."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from konvergo.org.services import api_token_create, role_create
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import ProcessDefinition, ProcessInstance
from konvergo.processes.services import LIVE

MODELS = Path(__file__).parent / "models"
pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_cache():
    LIVE.clear()


@pytest.fixture
def admin_client() -> Client:
    user = UserFactory.create(username="boss", is_superuser=True, is_staff=True)
    issued = api_token_create(user=user)
    return Client(headers={"Authorization": f"Bearer {issued.raw}"})


def deploy(client: Client, name: str = "standard.bpmn"):
    return client.post(
        "/api/v1/processes/definitions",
        (MODELS / name).read_bytes(),
        content_type="application/xml",
    )


def test_deploy_raw_then_same_content_again(admin_client: Client) -> None:
    first = deploy(admin_client)
    again = deploy(admin_client)

    assert first.status_code == 201
    body = first.json()[0]
    assert (body["key"], body["version"], len(body["hash"])) == ("standard", 1, 64)
    assert again.status_code == 200
    assert again.json()[0]["id"] == body["id"]
    listed = admin_client.get("/api/v1/processes/definitions?key=standard").json()
    assert [d["version"] for d in listed] == [1]
    xml = admin_client.get(f"/api/v1/processes/definitions/{body['id']}/xml")
    assert xml.status_code == 200
    assert b'id="standard"' in xml.content


def test_deploy_as_multipart_file(admin_client: Client) -> None:
    upload = SimpleUploadedFile("payment.bpmn", (MODELS / "payment.bpmn").read_bytes())
    response = admin_client.post("/api/v1/processes/definitions", {"file": upload})
    assert response.status_code == 201
    assert response.json()[0]["key"] == "invoice_payment"


def test_invalid_model_is_422_naming_the_element(admin_client: Client) -> None:
    bad = (MODELS / "standard.bpmn").read_bytes().replace(b"amount * 2", b"amount * * 2")
    response = admin_client.post(
        "/api/v1/processes/definitions", bad, content_type="application/xml"
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_model"
    assert error["details"]["element_id"] == "total"
    assert ProcessDefinition.objects.count() == 0


def test_start_list_complete_and_read_an_instance(admin_client: Client) -> None:
    deploy(admin_client)

    started = admin_client.post(
        "/api/v1/processes/instances",
        {
            "definition_key": "standard",
            "business_key": "Q-7",
            "variables": {"owner": "boss", "amount": 10},
        },
        content_type="application/json",
    )
    assert started.status_code == 201
    instance = started.json()
    assert instance["status"] == "running"
    assert instance["active_elements"] == ["review"]

    tasks = admin_client.get(f"/api/v1/tasks?instance={instance['id']}&assignee=me").json()
    assert [(t["element_id"], t["assignee"], t["form"]) for t in tasks] == [
        ("review", "boss", "review-form")
    ]
    done = admin_client.post(
        f"/api/v1/tasks/{tasks[0]['id']}/complete",
        {"variables": {"approved": False}},
        content_type="application/json",
    )
    assert done.status_code == 200
    assert done.json()["status"] == "completed"

    twice = admin_client.post(
        f"/api/v1/tasks/{tasks[0]['id']}/complete",
        {"variables": {}},
        content_type="application/json",
    )
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "conflict"

    detail = admin_client.get(f"/api/v1/processes/instances/{instance['id']}").json()
    assert [s["element_id"] for s in detail["history"]][:2] == ["start", "review"]
    filtered = admin_client.get("/api/v1/processes/instances?business_key=Q-7").json()
    assert [i["id"] for i in filtered] == [instance["id"]]


def test_non_json_or_unknown_definition_refused(admin_client: Client) -> None:
    response = admin_client.post(
        "/api/v1/processes/instances", {"definition_key": "nope"}, content_type="application/json"
    )
    assert response.status_code == 400
    assert "nope" in response.json()["error"]["message"]
    assert ProcessInstance.objects.count() == 0


def test_message_that_matches_nothing_reports_zero(admin_client: Client) -> None:
    deploy(admin_client, "payment.bpmn")
    admin_client.post(
        "/api/v1/processes/instances",
        {"definition_key": "invoice_payment", "business_key": "INV-1"},
        content_type="application/json",
    )

    none = admin_client.post(
        "/api/v1/processes/messages",
        {"name": "payment_received", "correlation_key": "INV-2"},
        content_type="application/json",
    )
    one = admin_client.post(
        "/api/v1/processes/messages",
        {"name": "payment_received", "correlation_key": "INV-1", "variables": {"amount": 5}},
        content_type="application/json",
    )

    assert none.json() == {"matched": 0}
    assert one.json() == {"matched": 1}


def test_cancel_suspend_resume(admin_client: Client) -> None:
    deploy(admin_client, "payment.bpmn")
    created = admin_client.post(
        "/api/v1/processes/instances",
        {"definition_key": "invoice_payment"},
        content_type="application/json",
    ).json()
    base = f"/api/v1/processes/instances/{created['id']}"

    assert admin_client.post(f"{base}/suspend").json()["status"] == "suspended"
    assert admin_client.post(f"{base}/suspend").status_code == 409
    assert admin_client.post(f"{base}/resume").json()["status"] == "running"
    cancelled = admin_client.post(
        f"{base}/cancel", {"reason": "duplicate"}, content_type="application/json"
    )
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["timers"] == []


def test_user_without_permission_cannot_deploy_or_start_and_nothing_changes() -> None:
    user = UserFactory.create()
    issued = api_token_create(user=user)
    client = Client(headers={"Authorization": f"Bearer {issued.raw}"})

    denied = deploy(client)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    assert ProcessDefinition.objects.count() == 0

    user.roles.add(role_create(name="Designer", permissions=["processes.add_processdefinition"]))
    client_again = Client(headers={"Authorization": f"Bearer {issued.raw}"})
    assert deploy(client_again).status_code == 201
    start = client_again.post(
        "/api/v1/processes/instances",
        {"definition_key": "standard"},
        content_type="application/json",
    )
    assert start.status_code == 403
    assert ProcessInstance.objects.count() == 0


def test_someone_elses_task_cannot_be_completed() -> None:
    owner = UserFactory.create(username="anna")
    intruder = UserFactory.create(username="eve")
    admin = UserFactory.create(is_superuser=True)
    admin_client = Client(headers={"Authorization": f"Bearer {api_token_create(user=admin).raw}"})
    deploy(admin_client)
    admin_client.post(
        "/api/v1/processes/instances",
        {"definition_key": "standard", "variables": {"owner": "anna", "amount": 1}},
        content_type="application/json",
    )
    task = admin_client.get("/api/v1/tasks").json()[0]
    eve = Client(headers={"Authorization": f"Bearer {api_token_create(user=intruder).raw}"})

    response = eve.post(
        f"/api/v1/tasks/{task['id']}/complete", {"variables": {}}, content_type="application/json"
    )

    assert response.status_code == 403
    assert admin_client.get("/api/v1/tasks").json()[0]["id"] == task["id"]  # still open
    assert owner.process_tasks.get().status == "open"


def test_migrate_through_the_api_and_refusal_shape(admin_client: Client) -> None:
    deploy(admin_client)
    created = admin_client.post(
        "/api/v1/processes/instances",
        {"definition_key": "standard", "variables": {"owner": "", "amount": 1}},
        content_type="application/json",
    ).json()
    v2 = (MODELS / "standard.bpmn").read_bytes().replace(b'"review"', b'"assess"')
    admin_client.post("/api/v1/processes/definitions", v2, content_type="application/xml")
    url = f"/api/v1/processes/instances/{created['id']}/migrate"

    refused = admin_client.post(url, {"version": 2}, content_type="application/json")
    moved = admin_client.post(
        url, {"version": 2, "mapping": {"review": "assess"}}, content_type="application/json"
    )

    assert refused.status_code == 400
    assert refused.json()["error"]["details"] == {"element_ids": ["review"]}
    assert moved.status_code == 200
    assert moved.json()["version"] == 2


def test_move_a_token_through_the_api(admin_client: Client) -> None:
    deploy(admin_client)
    created = admin_client.post(
        "/api/v1/processes/instances",
        {"definition_key": "standard", "variables": {"owner": "", "amount": 1}},
        content_type="application/json",
    ).json()
    url = f"/api/v1/processes/instances/{created['id']}/move"

    moved = admin_client.post(
        url,
        {"from_element": "review", "to_element": "check_credit"},
        content_type="application/json",
    )
    refused = admin_client.post(
        url,
        {"from_element": "review", "to_element": "check_credit"},
        content_type="application/json",
    )

    assert moved.status_code == 200
    assert moved.json()["active_elements"] == ["check_credit"]
    assert refused.status_code == 400
    assert "no token waits at 'review'" in refused.json()["error"]["message"]
