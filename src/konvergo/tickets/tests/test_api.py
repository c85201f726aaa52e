"""The tickets API (/api/v1/tickets/...): permission first, 404 out of sight, 409 on a stale
version, 422 on bad input with nothing saved."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from konvergo.org.models import User
from konvergo.org.services import api_token_create
from konvergo.org.tests.factories import UserFactory
from konvergo.tickets.models import SlaPolicy, Ticket
from konvergo.tickets.tests.factories import agent, desk

pytestmark = pytest.mark.django_db
BASE = "/api/v1/tickets"


class Api:
    def __init__(self, user: User) -> None:
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            BASE + path, body, content_type="application/json", headers=self.headers
        )


def test_an_agent_opens_works_and_resolves_a_ticket_through_the_api() -> None:
    d = desk()
    api = Api(d.agents[0])

    created = api.post(
        "/",
        {
            "subject": "VPN down",
            "queue": str(d.queue.public_id),
            "priority": "P2",
            "description": "<b>urgent</b><script>x</script>",
            "assignee": str(d.agents[0].public_id),
            "tags": ["vpn"],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["status"], body["priority"], body["description"], body["version"]) == (
        "new",
        "P2",
        "<b>urgent</b>",
        1,
    )
    ticket_id = body["id"]

    replied = api.post(f"/{ticket_id}/comments", {"body": "Restarting it", "public": True})
    assert replied.status_code == 201
    resolved = api.post(f"/{ticket_id}/transition", {"status": "resolved"})
    assert resolved.status_code == 200
    assert resolved.json()["status"] == "resolved"
    assert [c["body"] for c in api.get(f"/{ticket_id}/comments").json()] == ["<p>Restarting it</p>"]
    listed = api.get("/", mine="true")
    assert [row["id"] for row in listed.json()["items"]] == [ticket_id]


def test_a_stale_version_answers_409_and_changes_nothing() -> None:
    d = desk()
    api = Api(d.agents[0])
    ticket_id = api.post("/", {"subject": "A", "queue": str(d.queue.public_id)}).json()["id"]
    assert api.patch(f"/{ticket_id}", {"version": 1, "subject": "B"}).status_code == 200

    stale = api.patch(f"/{ticket_id}", {"version": 1, "subject": "C"})

    assert stale.status_code == 409
    assert stale.json()["error"]["code"] == "conflict"
    assert Ticket.objects.get().subject == "B"


def test_an_invalid_transition_answers_400_with_its_reason() -> None:
    d = desk()
    api = Api(d.agents[0])
    ticket_id = api.post("/", {"subject": "A", "queue": str(d.queue.public_id)}).json()["id"]

    refused = api.post(f"/{ticket_id}/transition", {"status": "reopened"})

    assert refused.status_code == 400
    assert refused.json()["error"]["message"] == "A ticket that is New cannot become Reopened."


def test_sla_policies_with_zero_targets_are_refused() -> None:
    d = desk(policies=False)
    api = Api(d.head)

    refused = api.post(
        "/sla-policies",
        {
            "name": "Broken",
            "priority": "P1",
            "first_response_minutes": 0,
            "next_response_minutes": 30,
            "resolution_minutes": -1,
        },
    )

    assert refused.status_code == 422
    assert set(refused.json()["error"]["details"]) == {
        "first_response_minutes",
        "resolution_minutes",
    }
    assert SlaPolicy.objects.count() == 0
    ok = api.post(
        "/sla-policies",
        {
            "name": "P1",
            "priority": "P1",
            "first_response_minutes": 30,
            "next_response_minutes": 30,
            "resolution_minutes": 120,
        },
    )
    assert ok.status_code == 201
    assert [p["name"] for p in api.get("/sla-policies").json()] == ["P1"]
    assert [q["name"] for q in api.get("/queues").json()] == ["Support"]


def test_without_permission_403_and_out_of_sight_404() -> None:
    d = desk()
    ticket_id = Api(d.agents[0]).post("/", {"subject": "A", "queue": str(d.queue.public_id)})
    ticket_id = ticket_id.json()["id"]
    nobody = Api(UserFactory.create())
    outsider = Api(agent("outsider"))  # an agent, but not in the queue's team

    assert nobody.get("/").status_code == 403
    assert nobody.post("/", {"subject": "x", "queue": str(d.queue.public_id)}).status_code == 403
    assert outsider.get(f"/{ticket_id}").status_code == 404
    assert outsider.patch(f"/{ticket_id}", {"version": 1, "subject": "mine"}).status_code == 404
    assert Ticket.objects.count() == 1
    assert Ticket.objects.get().subject == "A"


def test_unknown_references_are_field_errors() -> None:
    d = desk()
    api = Api(d.agents[0])

    refused = api.post("/", {"subject": "A", "queue": str(d.queue.public_id), "priority": "P9"})

    assert refused.status_code == 422
    assert refused.json()["error"]["details"] == {"priority": ["No such priority: P9"]}
    assert Ticket.objects.count() == 0


def test_split_and_link_through_the_api() -> None:
    d = desk()
    api = Api(d.agents[0])
    first = api.post("/", {"subject": "Laptop and phone", "queue": str(d.queue.public_id)})
    first_id = first.json()["id"]
    api.post(f"/{first_id}/comments", {"body": "Laptop is slow", "public": True})
    phone = api.post(f"/{first_id}/comments", {"body": "Phone broken", "public": True}).json()

    split = api.post(f"/{first_id}/split", {"subject": "Phone broken", "comments": [phone["id"]]})

    assert split.status_code == 201
    new_id = split.json()["id"]
    assert [c["body"] for c in api.get(f"/{new_id}/comments").json()] == ["<p>Phone broken</p>"]
    linked = api.post(f"/{first_id}/links", {"target": new_id, "kind": "blocks"})
    assert linked.status_code == 201
    assert linked.json()["kind"] == "blocks"
    bad = api.post(f"/{first_id}/links", {"target": first_id, "kind": "relates"})
    assert bad.status_code == 422
    assert [lvl["name"] for lvl in api.get("/escalation-levels").json()] == [
        "Warning",
        "Level 1",
        "Level 2",
    ]


def test_tags_and_parent_through_the_api() -> None:
    d = desk()
    api = Api(d.agents[0])
    parent = api.post("/", {"subject": "Office move", "queue": str(d.queue.public_id)}).json()
    child = api.post(
        "/",
        {"subject": "Move printers", "queue": str(d.queue.public_id), "parent": parent["id"],
         "tags": ["move", "printers"]},
    )  # fmt: skip
    assert child.status_code == 201, child.content
    body = child.json()
    assert (body["parent"]["id"], sorted(body["tags"])) == (parent["id"], ["move", "printers"])

    changed = api.patch(f"/{body['id']}", {"version": 1, "tags": ["move"], "parent": None})

    assert changed.status_code == 200
    assert (changed.json()["tags"], changed.json()["parent"]) == (["move"], None)
    loop = api.patch(f"/{parent['id']}", {"version": 1, "parent": parent["id"]})
    assert loop.status_code == 422
