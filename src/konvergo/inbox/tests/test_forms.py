"""form-js schemas deployed with a process, and the server checking submitted data."""

from __future__ import annotations

import json
from typing import Any

import pytest

from konvergo.core.errors import Conflict, FieldErrors
from konvergo.inbox.tests.bpmn import user_tasks_xml
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.forms import FormRefused, validate_data
from konvergo.processes.models import FormSchema, InstanceStatus, TaskStatus
from konvergo.processes.services import (
    DeployRefused,
    definition_deploy,
    process_start,
    task_complete,
)

pytestmark = pytest.mark.django_db

SCHEMA: dict[str, Any] = {
    "id": "offer",
    "type": "default",
    "components": [
        {"type": "text", "text": "Client: {{client.name}}"},
        {"type": "textfield", "key": "customer", "label": "Customer", "readonly": True},
        {
            "type": "textfield",
            "key": "code",
            "label": "Code",
            "validate": {"required": True, "pattern": "[A-Z]{3}-\\d+", "maxLength": 10},
        },
        {"type": "number", "key": "amount", "validate": {"min": 1, "max": 1000}},
        {
            "type": "select",
            "key": "region",
            "values": [{"label": "North", "value": "n"}, {"label": "South", "value": "s"}],
            "validate": {"required": True},
        },
        {"type": "checkbox", "key": "urgent"},
        {"type": "textfield", "key": "email", "validate": {"validationType": "email"}},
        {"type": "datetime", "key": "deliver_on", "subtype": "date"},
        {
            "type": "group",
            "path": "contact",
            "components": [{"type": "textfield", "key": "name", "validate": {"required": True}}],
        },
        {"type": "checklist", "key": "extras", "valuesKey": "extra_options"},
    ],
}


def errors_of(data: dict[str, Any], variables: dict[str, Any] | None = None) -> dict[str, Any]:
    with pytest.raises(FieldErrors) as caught:
        validate_data(SCHEMA, data, variables=variables or {})
    return caught.value.errors


GOOD = {
    "code": "ABC-12",
    "amount": 500,
    "region": "n",
    "urgent": True,
    "email": "a@example.com",
    "deliver_on": "2026-12-01",
    "contact": {"name": "Ada"},
}


def test_valid_data_are_cleaned_and_readonly_or_unknown_fields_dropped() -> None:
    cleaned = validate_data(
        SCHEMA,
        {**GOOD, "amount": "12.5", "customer": "Evil Corp", "is_admin": True},
        variables={},
    )
    assert cleaned == {**GOOD, "amount": 12.5}


def test_each_rule_names_its_field() -> None:
    errors = errors_of(
        {
            "code": "abc",
            "amount": 5000,
            "region": "west",
            "urgent": "yes",
            "email": "not-an-address",
            "deliver_on": "31.12.2026",
            "contact": {},
            "extras": ["gold"],
        },
        variables={"extra_options": [{"label": "Silver", "value": "silver"}]},
    )
    assert errors == {
        "code": ["Does not have the expected format."],
        "amount": ["Must be at most 1000."],
        "region": ["Choose one of the offered values."],
        "urgent": ["Must be true or false."],
        "email": ["Enter a valid e-mail address."],
        "deliver_on": ["Not a valid date or time."],
        "contact.name": ["This field is required."],
        "extras": ["Contains a value that is not one of the choices."],
    }


def test_required_and_types() -> None:
    errors = errors_of({"code": "", "amount": "many", "contact": {"name": "x"}})
    assert errors == {
        "code": ["This field is required."],
        "amount": ["Must be a number."],
        "region": ["This field is required."],
    }
    assert errors_of({**GOOD, "code": 17}) == {"code": ["Must be text."]}
    assert errors_of({**GOOD, "code": "ABC-1234567890"}) == {
        "code": ["Must be at most 10 characters long."]
    }


def deploy_with_form() -> None:
    xml = user_tasks_xml(
        "offer",
        [{"id": "prepare", "attrs": {"formKey": "camunda-forms:deployment:offer.form"}}],
    )
    definition_deploy(xml=xml, forms={"offer.form": json.dumps(SCHEMA)})


def test_form_deployed_with_the_version_and_checked_on_complete() -> None:
    deploy_with_form()
    user = UserFactory.create()
    instance = process_start("offer", variables={"customer": "ACME"})
    task = instance.tasks.get()
    assert FormSchema.objects.get(definition=instance.definition).form_id == "offer"

    with pytest.raises(FieldErrors) as caught:
        task_complete(task=task, variables={"code": "nope"}, actor=user)
    assert caught.value.status == 422
    assert set(caught.value.errors) == {"code", "region", "contact.name"}
    instance.refresh_from_db()
    assert (instance.status, instance.version) == (InstanceStatus.RUNNING, 1)
    task.refresh_from_db()
    assert task.status == TaskStatus.OPEN

    done = task_complete(task=task, variables={**GOOD, "customer": "Changed"}, actor=user)
    done.refresh_from_db()
    assert done.status == InstanceStatus.COMPLETED
    assert done.variables["code"] == "ABC-12"
    assert done.variables["contact"] == {"name": "Ada"}
    assert done.variables["customer"] == "ACME"  # read-only on the form: unchanged
    task.refresh_from_db()
    with pytest.raises(Conflict):
        task_complete(task=task, variables=GOOD, actor=user)


def test_a_changed_form_is_a_new_version() -> None:
    deploy_with_form()
    xml = user_tasks_xml(
        "offer", [{"id": "prepare", "attrs": {"formKey": "camunda-forms:deployment:offer.form"}}]
    )
    changed = {**SCHEMA, "components": SCHEMA["components"][:3]}
    again = definition_deploy(xml=xml, forms={"offer.form": json.dumps(changed)})
    assert again.created
    assert again.definitions[0].version == 2
    same = definition_deploy(xml=xml, forms={"offer.form": json.dumps(changed)})
    assert not same.created


def test_bad_form_files_are_refused_with_their_name() -> None:
    xml = user_tasks_xml("p", [{"id": "t"}])
    with pytest.raises(FormRefused) as caught:
        definition_deploy(xml=xml, forms={"broken.form": "{not json"})
    assert "broken.form" in caught.value.message
    with pytest.raises(FormRefused):
        definition_deploy(xml=xml, forms={"x.form": json.dumps({"type": "default"})})
    bad_pattern = {"components": [{"type": "textfield", "key": "a", "validate": {"pattern": "("}}]}
    with pytest.raises(FormRefused) as caught:
        definition_deploy(xml=xml, forms={"p.form": json.dumps(bad_pattern)})
    assert caught.value.details == {"file": "p.form", "field": "a"}
    assert not FormSchema.objects.exists()
    assert DeployRefused.status == 422
