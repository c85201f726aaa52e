"""The inbox pages: sections and counts, the htmx partial, the badge, the task page and its
actions; people who may not see a task get 404, those who may not complete it 403."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.urls import reverse

from konvergo.crm.tests.factories import OrganizationFactory
from konvergo.inbox.models import Comment, Preference
from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.inbox.tests.test_forms import GOOD, SCHEMA
from konvergo.org.models import Role, User
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import HumanTask, InstanceStatus, TaskStatus
from konvergo.processes.services import definition_deploy, process_start

pytestmark = pytest.mark.django_db
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def setup() -> dict[str, Any]:
    sales = Role.objects.create(name="Sales")
    anna = UserFactory.create(username="anna")
    anna.roles.add(sales)
    carl = UserFactory.create(username="carl")
    client = OrganizationFactory.create(legal_name="ACME GmbH", owner=anna)
    definition_deploy(
        xml=user_tasks_xml(
            "offer",
            [
                {
                    "id": "prepare",
                    "name": "Prepare offer",
                    "attrs": {"candidateGroups": "Sales", "dueDate": "PT2H", "formKey": "offer"},
                },
                {"id": "approve", "name": "Approve offer", "attrs": {"assignee": "carl"}},
            ],
        ),
        forms={"offer.form": json.dumps(SCHEMA)},
    )
    with time_machine.travel(T0, tick=False):
        instance = process_start("offer", subject=client, variables={"customer": "ACME"})
    return {"anna": anna, "carl": carl, "instance": instance}


def test_sections_counts_and_htmx_partial(setup: dict[str, Any]) -> None:
    anna = signed_in(setup["anna"])
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        page = anna.get(reverse("inbox:index") + "?section=groups")
        partial = anna.get(reverse("inbox:index") + "?section=overdue", HTTP_HX_REQUEST="true")
        badge = anna.get(reverse("inbox:badge"))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Prepare offer" in html and 'hx-trigger="every 30s"' in html
    assert 'data-testid="count-groups">1<' in html
    assert 'data-testid="count-overdue">1<' in html
    assert "<html" not in partial.content.decode()
    assert "order=due" in partial.content.decode()  # the poll keeps the chosen order
    assert "Prepare offer" in partial.content.decode()
    assert 'data-testid="inbox-badge">1<' in badge.content.decode()
    assert "text-bg-danger" in badge.content.decode()  # overdue


def test_task_page_shows_form_subject_diagram_and_history(setup: dict[str, Any]) -> None:
    anna = signed_in(setup["anna"])
    task = HumanTask.objects.get(element_id="prepare")
    page = anna.get(reverse("inbox:task", args=[task.public_id]))
    html = page.content.decode()
    assert page.status_code == 200
    assert 'id="kv-form-schema"' in html
    assert "ACME GmbH" in html  # the subject record
    data = json.loads(html.split('id="kv-form-data" type="application/json">')[1].split("<")[0])
    assert data["client"]["name"] == "ACME GmbH"
    assert data["customer"] == "ACME"
    assert ">Claim<" in html
    diagram = anna.get(reverse("inbox:task_diagram", args=[task.public_id]))
    assert diagram["Content-Type"] == "application/xml"
    assert b'id="prepare"' in diagram.content


def test_outsiders_get_404_and_cannot_complete(setup: dict[str, Any]) -> None:
    outsider = signed_in(UserFactory.create())
    task = HumanTask.objects.get(element_id="prepare")
    assert outsider.get(reverse("inbox:task", args=[task.public_id])).status_code == 404
    response = outsider.post(
        reverse("inbox:task_complete", args=[task.public_id]),
        json.dumps({"variables": GOOD}),
        content_type="application/json",
    )
    assert response.status_code == 404
    carl = signed_in(setup["carl"])  # sees nothing of this group task
    assert (
        carl.post(reverse("inbox:task_action", args=[task.public_id, "claim"])).status_code == 404
    )
    task.refresh_from_db()
    assert (task.status, task.assignee) == (TaskStatus.OPEN, None)


def test_claim_comment_complete_with_form_json(setup: dict[str, Any]) -> None:
    anna = signed_in(setup["anna"])
    task = HumanTask.objects.get(element_id="prepare")
    url = reverse("inbox:task_action", args=[task.public_id, "claim"])
    assert anna.post(url).status_code == 302
    anna.post(
        reverse("inbox:task_action", args=[task.public_id, "comment"]), {"text": "Looks fine"}
    )
    assert Comment.objects.get().text == "Looks fine"
    complete = reverse("inbox:task_complete", args=[task.public_id])
    bad = anna.post(
        complete, json.dumps({"variables": {"code": "x"}}), content_type="application/json"
    )
    assert bad.status_code == 422
    assert set(bad.json()["errors"]) == {"code", "region", "contact.name"}
    good = anna.post(complete, json.dumps({"variables": GOOD}), content_type="application/json")
    assert good.json() == {"redirect": reverse("inbox:index")}
    again = anna.post(complete, json.dumps({"variables": GOOD}), content_type="application/json")
    assert again.status_code == 409

    # The second step is Carl's; Anna may look at nothing of it, Carl completes without a form.
    approve = HumanTask.objects.get(element_id="approve")
    carl = signed_in(setup["carl"])
    page = carl.get(reverse("inbox:task", args=[approve.public_id])).content.decode()
    assert "Looks fine" in page  # comments belong to the instance
    done = carl.post(reverse("inbox:task_complete", args=[approve.public_id]))
    assert done.status_code == 302
    setup["instance"].refresh_from_db()
    assert setup["instance"].status == InstanceStatus.COMPLETED


def test_digest_preference(setup: dict[str, Any]) -> None:
    anna = signed_in(setup["anna"])
    anna.post(reverse("inbox:preferences"), {"daily_digest": "on"})
    assert Preference.objects.get(user=setup["anna"]).daily_digest is True
    anna.post(reverse("inbox:preferences"), {})
    assert Preference.objects.get(user=setup["anna"]).daily_digest is False


def test_a_ticket_as_subject_is_linked_and_given_to_the_form() -> None:
    from konvergo.tickets.services.tickets import ticket_create
    from konvergo.tickets.tests.factories import desk

    service = desk(agents=1)
    jan = service.agents[0]
    ticket = ticket_create(actor=None, subject="Printer down", queue=service.queue, assignee=jan)
    definition_deploy(
        xml=user_tasks_xml("fix", [{"id": "fix", "attrs": {"assignee": jan.username}}])
    )
    task = process_start("fix", subject=ticket).tasks.get()
    html = signed_in(jan).get(reverse("inbox:task", args=[task.public_id])).content.decode()
    assert f'href="/tickets/{ticket.public_id}/"' in html
    assert 'id="kv-form-data"' not in html  # no form: a plain "Complete task" button
    assert ">Complete task<" in html
    from konvergo.inbox.selectors import subject_data

    assert subject_data(ticket)["ticket"]["subject"] == "Printer down"
