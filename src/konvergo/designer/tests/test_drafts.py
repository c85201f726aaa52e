"""Drafts: save, check and deploy in the API; bad diagrams get their error on the element and
nothing is deployed."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from konvergo.designer.models import ProcessDraft
from konvergo.designer.services import draft_create, draft_deploy, draft_save, versions_diff
from konvergo.designer.tests.conftest import VALID, VALID_BODY, bpmn
from konvergo.org.models import User
from konvergo.processes.models import ProcessDefinition

pytestmark = pytest.mark.django_db
API = "/api/v1/designer"


def put(client: Client, draft: ProcessDraft, xml: str, **extra: Any) -> Any:
    body = {"revision": draft.revision, "bpmn_xml": xml, **extra}
    return client.put(
        f"{API}/drafts/{draft.public_id}", json.dumps(body), content_type="application/json"
    )


def problems(response: Any) -> list[tuple[str, str]]:
    return [(p["element_id"], p["message"]) for p in response.json()["problems"]]


def test_a_new_blank_draft_has_a_start_event_and_no_problems(designer_client: Client) -> None:
    response = designer_client.post(
        f"{API}/drafts", {"name": "Returns"}, content_type="application/json"
    )

    assert response.status_code == 201
    data = response.json()
    assert data["name"] == "Returns"
    assert data["problems"] == []
    assert 'name="Returns"' in data["bpmn_xml"]
    assert "<bpmn:startEvent" in data["bpmn_xml"]


def test_saving_a_valid_diagram_stores_it_and_raises_the_revision(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer)

    response = put(designer_client, draft, VALID)

    assert response.status_code == 200
    assert response.json()["revision"] == 2
    assert problems(response) == []
    draft.refresh_from_db()
    assert (draft.key, draft.name, draft.bpmn_xml) == ("small", "Small process", VALID)
    assert draft.history.count() == 2  # every revision is kept


def test_saving_text_that_is_not_xml_is_refused_and_loses_nothing(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer, bpmn_xml=VALID)

    response = put(designer_client, draft, "<bpmn:definitions>oops")

    assert response.status_code == 422
    assert "not well-formed XML" in response.json()["error"]["message"]
    draft.refresh_from_db()
    assert (draft.revision, draft.bpmn_xml) == (1, VALID)


def test_an_unknown_connector_is_a_problem_on_its_service_task_and_blocks_deploy(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer)
    xml = bpmn(
        '<bpmn:startEvent id="start"/>'
        '<bpmn:serviceTask id="send_fax" name="Send a fax" camunda:type="external" '
        'camunda:topic="fax.send"/>'
        '<bpmn:endEvent id="done"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="send_fax"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="send_fax" targetRef="done"/>'
    )

    saved = put(designer_client, draft, xml)
    deployed = designer_client.post(f"{API}/drafts/{draft.public_id}/deploy")

    assert saved.status_code == 200  # the draft keeps the work
    assert problems(saved) == [("send_fax", "There is no connector named fax.send.")]
    assert deployed.status_code == 422
    assert deployed.json()["error"]["details"]["problems"] == [
        {"element_id": "send_fax", "message": "There is no connector named fax.send."}
    ]
    assert not ProcessDefinition.objects.exists()


def test_a_form_the_draft_does_not_have_is_a_problem_on_the_user_task(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer)
    xml = VALID.replace(
        'camunda:assignee="${reviewer}"',
        'camunda:formKey="camunda-forms:deployment:review.form"',
    )

    without = put(designer_client, draft, xml)
    draft.refresh_from_db()
    form = {"type": "default", "id": "review", "components": [{"type": "textfield", "key": "note"}]}
    with_form = put(designer_client, draft, xml, forms={"review.form": json.dumps(form)})

    assert problems(without) == [("review", "The form review.form does not exist in this draft.")]
    assert problems(with_form) == []


def test_an_element_no_flow_reaches_is_a_problem_on_that_element(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer)
    xml = VALID.replace(
        '<bpmn:endEvent id="done"/>',
        '<bpmn:endEvent id="done"/><bpmn:userTask id="forgotten" name="Forgotten"/>'
        '<bpmn:endEvent id="forgotten_end"/>'
        '<bpmn:sequenceFlow id="f3" sourceRef="forgotten" targetRef="forgotten_end"/>',
    )

    response = put(designer_client, draft, xml)

    assert problems(response) == [
        ("forgotten", "No path leads to this element."),
        ("forgotten_end", "No path leads to this element."),
    ]


def test_an_element_the_engine_refuses_is_named(designer_client: Client, designer: User) -> None:
    draft = draft_create(name="Small", actor=designer)
    xml = bpmn(
        '<bpmn:startEvent id="start"/><bpmn:complexGateway id="odd"/><bpmn:endEvent id="done"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="odd"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="odd" targetRef="done"/>'
    )

    response = put(designer_client, draft, xml)

    assert problems(response) == [("odd", "complex gateways are not supported")]


def test_a_save_based_on_an_old_revision_is_a_conflict(designer: User) -> None:
    draft = draft_create(name="Small", actor=designer)
    draft_save(draft=draft, revision=1, bpmn_xml=VALID, actor=designer)
    from konvergo.core.errors import Conflict

    with pytest.raises(Conflict):
        draft_save(
            draft=draft, revision=1, bpmn_xml=VALID.replace("Review", "Check"), actor=designer
        )
    draft.refresh_from_db()
    assert 'name="Review"' in draft.bpmn_xml


def test_deploying_makes_versions_and_the_history_says_what_changed(
    designer_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer, bpmn_xml=VALID)

    first = designer_client.post(f"{API}/drafts/{draft.public_id}/deploy")
    draft.refresh_from_db()
    changed = (
        VALID.replace('name="Review"', 'name="Review the case"')
        .replace(
            '<bpmn:endEvent id="done"/>',
            '<bpmn:userTask id="archive" name="Archive"/><bpmn:endEvent id="done"/>',
        )
        .replace('sourceRef="review" targetRef="done"', 'sourceRef="review" targetRef="archive"')
        .replace(
            "</bpmn:process>",
            '<bpmn:sequenceFlow id="f3" sourceRef="archive" targetRef="done"/></bpmn:process>',
        )
    )
    put(designer_client, draft, changed)
    second = designer_client.post(f"{API}/drafts/{draft.public_id}/deploy")

    assert (first.status_code, first.json()["version"]) == (200, 1)
    assert (second.status_code, second.json()["version"]) == (200, 2)
    v1, v2 = ProcessDefinition.objects.filter(key="small").order_by("version")
    diff = versions_diff(v1, v2)
    assert diff.added == [("archive", "userTask Archive"), ("f3", "sequenceFlow f3")]
    assert diff.changed == [
        ("review", "userTask Review the case", ["name"]),
        ("f2", "sequenceFlow f2", ["targetRef"]),
    ]
    assert diff.removed == []
    page = designer_client.get(f"/processes/drafts/{draft.public_id}/history/")
    assert page.status_code == 200
    assert "Review the case" in page.content.decode()


def test_without_the_permission_nothing_is_saved_or_deployed(
    outsider_client: Client, designer: User
) -> None:
    draft = draft_create(name="Small", actor=designer, bpmn_xml=VALID)

    saved = put(outsider_client, draft, VALID.replace("Review", "Hacked"))
    deployed = outsider_client.post(f"{API}/drafts/{draft.public_id}/deploy")
    page = outsider_client.get(f"/processes/drafts/{draft.public_id}/")

    assert (saved.status_code, deployed.status_code, page.status_code) == (403, 403, 403)
    draft.refresh_from_db()
    assert draft.revision == 1
    assert "Hacked" not in draft.bpmn_xml
    assert not ProcessDefinition.objects.exists()


def test_the_designer_page_loads_the_modeler(designer_client: Client, designer: User) -> None:
    draft = draft_create(name="Small", actor=designer, bpmn_xml=VALID)

    page = designer_client.get(f"/processes/drafts/{draft.public_id}/").content.decode()

    assert "designer/vendor/bpmn/bpmn-modeler.js" in page
    assert f'data-draft-id="{draft.public_id}"' in page


def test_importing_a_file_makes_a_draft_with_its_process(designer_client: Client) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("small.bpmn", VALID.encode(), content_type="application/xml")

    response = designer_client.post("/processes/drafts/new/", {"file": upload})

    draft = ProcessDraft.objects.get()
    assert response.status_code == 302
    assert (draft.key, draft.name, draft.problems) == ("small", "Small process", [])


def test_connectors_are_offered_as_element_templates(designer_client: Client) -> None:
    templates = designer_client.get(f"{API}/connectors").json()

    notify = next(t for t in templates if t["name"] == "konvergo.notify")
    assert notify["appliesTo"] == ["bpmn:ServiceTask", "bpmn:SendTask"]
    assert {"type": "property", "name": "camunda:topic"} in [
        p["binding"] for p in notify["properties"]
    ]


def test_a_deployed_version_can_be_edited_as_a_new_draft(designer: User) -> None:
    from konvergo.designer.services import draft_from_definition

    definition = draft_deploy(
        draft=draft_create(name="x", actor=designer, bpmn_xml=VALID), actor=designer
    )

    draft = draft_from_definition(definition=definition, actor=designer)

    assert (draft.key, draft.bpmn_xml, draft.deployed_version) == ("small", VALID, 1)


def test_the_processes_page_lists_latest_versions_in_a_fixed_number_of_queries(
    designer_client: Client, designer: User, django_assert_max_num_queries: Any
) -> None:
    from konvergo.processes.services import definition_deploy

    for pid in ("alpha", "beta", "gamma"):
        definition_deploy(xml=bpmn(VALID_BODY, pid=pid))
        definition_deploy(xml=bpmn(VALID_BODY.replace("Review", "Check"), pid=pid))
        draft_create(name=f"Draft {pid}", actor=designer)

    with django_assert_max_num_queries(12):
        page = designer_client.get("/processes/").content.decode()

    assert page.count("v2</td>") == 3
    assert "v1</td>" not in page
    assert page.count("Draft ") == 3
