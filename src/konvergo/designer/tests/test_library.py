"""Every process of the shipped library deploys with its forms and runs to its end."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from konvergo.designer import library
from konvergo.designer.validation import validate
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import (
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
    TaskStatus,
    Timer,
)
from konvergo.processes.selectors import instances_in_black_hole
from konvergo.processes.services import LIVE, process_start, task_complete, timers_fire_due

pytestmark = pytest.mark.django_db

PEOPLE = ["owner", "manager", "director", "legal", "cfo", "head_of_sales", "employee"]

# process -> (start variables, answers by user task: the form data a person would enter)
SCENARIOS: dict[str, tuple[dict[str, Any], dict[str, dict[str, Any]]]] = {
    "lead_qualification": (
        {"owner": "owner", "lead": "Baltic Logistics"},
        {
            "qualify_lead": {
                "budget": 12000,
                "need": "A CRM for 20 people",
                "timeline": "quarter",
                "qualified": "yes",
            },
            "follow_up_call": {"call_outcome": "meeting", "call_notes": "Demo on Monday"},
        },
    ),
    "quote_approval": (
        {
            "owner": "owner",
            "amount": 50000,
            "discount": 0,
            "head_of_sales": "head_of_sales",
            "director": "director",
        },
        {
            "approve_head": {"approval_comment": "Fine"},
            "send_quote": {"sent_on": "2026-11-30"},
        },
    ),
    "contract_approval": (
        {"owner": "owner", "contract": "Framework 2027", "legal": "legal", "director": "director"},
        {
            "legal_review": {"legal_notes": "Liability capped", "legal_ok": "yes"},
            "director_approval": {"contract_decision": "approve"},
            "sign_contract": {"signed_on": "2026-12-01"},
        },
    ),
    "client_onboarding": (
        {"owner": "owner", "client": "Mazur & Syn"},
        {
            "setup_account": {"customer_number": "C-1001", "portal_access": True},
            "kickoff_meeting": {"kickoff_on": "2026-12-03"},
            "satisfaction_check": {"satisfaction": 5},
        },
    ),
    "complaint_handling": (
        {"owner": "owner", "manager": "manager"},
        {
            "triage": {"severity": "high", "complaint_category": "Delivery"},
            "escalate": {"manager_instructions": "Replace the device"},
            "resolve": {"resolution": "Device replaced", "compensation": 50},
            "confirm": {"client_satisfied": "yes"},
        },
    ),
    "missed_call_callback": (
        {"owner": "owner", "caller": "+48 22 123 45 67"},
        {
            "call_back": {"reached": "no"},
            "call_back_again": {"reached": "no", "callback_notes": "Voicemail"},
        },
    ),
    "employee_onboarding": (
        {"manager": "manager"},
        {
            "prepare_workplace": {"laptop_serial": "SN-42", "accounts_created": True},
            "hr_paperwork": {"first_day": "2027-01-04", "contract_filed": True},
            "welcome_employee": {"buddy": "Anna"},
            "probation_review": {"probation_passed": "yes"},
        },
    ),
    "supplier_invoice_approval": (
        {"manager": "manager", "cfo": "cfo"},
        {
            "check_invoice": {
                "invoice_number": "FV/2026/11/7",
                "amount": 8200,
                "matches_order": True,
            },
            "approve_cfo": {"invoice_decision": "approve"},
            "schedule_payment": {"pay_on": "2026-12-10"},
        },
    ),
    "vacation_request": (
        {
            "manager": "manager",
            "employee": "employee",
            "first_day": "2026-12-21",
            "last_day": "2027-01-01",
        },
        {
            "manager_decision": {"vacation_decision": "approve"},
            "record_vacation": {"recorded": True},
        },
    ),
}


def test_every_library_process_has_a_scenario() -> None:
    assert sorted(SCENARIOS) == sorted(p.key for p in library.PROCESSES)


def run_to_end(instance: ProcessInstance, answers: dict[str, dict[str, Any]]) -> list[str]:
    """Complete each open task with its answers and fire due timers until nothing waits."""
    done: list[str] = []
    now = timezone.now()
    for _round in range(30):
        instance.refresh_from_db()
        if instance.status != InstanceStatus.RUNNING:
            return done
        tasks = list(instance.tasks.filter(status=TaskStatus.OPEN))
        for task in tasks:
            task_complete(task=task, variables=answers[task.element_id])
            done.append(task.element_id)
        if tasks:
            continue
        timer = Timer.objects.filter(instance=instance).order_by("due_at").first()
        assert timer is not None, f"{instance} waits for nothing: {instances_in_black_hole()}"
        now = max(now, timer.due_at) + timedelta(seconds=1)
        with time_machine.travel(now, tick=False):
            assert timers_fire_due(now) >= 1
        done.append(timer.element_id)
    raise AssertionError("the process did not end in 30 rounds")


@pytest.mark.parametrize("key", sorted(SCENARIOS))
def test_library_process_deploys_and_runs_to_its_end(key: str) -> None:
    LIVE.clear()
    for name in PEOPLE:
        UserFactory(username=name)
    process = library.entry(key)
    assert process is not None
    definition = library.deploy(process)
    assert definition.key == key
    forms = set(definition.forms.values_list("file_name", flat=True))
    assert forms == set(process.form_files())
    variables, answers = SCENARIOS[key]

    instance = process_start(key, variables=variables)
    done = run_to_end(instance, answers)

    instance.refresh_from_db()
    assert instance.status == InstanceStatus.COMPLETED
    assert set(answers) <= set(done)
    assert list(instances_in_black_hole()) == []


def test_deploying_a_library_process_twice_keeps_one_version() -> None:
    process = library.entry("vacation_request")
    assert process is not None
    first = library.deploy(process)
    second = library.deploy(process)
    assert (first.pk, first.version) == (second.pk, 1)


@pytest.mark.parametrize("key", sorted(SCENARIOS))
def test_library_processes_pass_the_designers_checks_and_have_a_diagram(key: str) -> None:
    process = library.entry(key)
    assert process is not None
    xml = process.bpmn().decode()

    problems = validate(
        bpmn_xml=xml,
        dmn={name: (library.LIBRARY / name).read_text() for name in process.dmn},
        forms={name: content.decode() for name, content in process.form_files().items()},
    )

    assert problems == []
    assert "bpmndi:BPMNDiagram" in xml


def test_the_library_page_deploys_in_one_click(designer_client: Client) -> None:
    page = designer_client.get("/processes/library/")
    deployed = designer_client.post("/processes/library/vacation_request/deploy/", follow=True)

    assert "Supplier invoice approval" in page.content.decode()
    assert "Vacation request is deployed as version 1." in deployed.content.decode()
    definition = ProcessDefinition.objects.get(key="vacation_request")
    assert set(definition.forms.values_list("file_name", flat=True)) == {
        "vacation_decision.form",
        "vacation_record.form",
    }


def test_without_the_permission_the_library_deploys_nothing(outsider_client: Client) -> None:
    response = outsider_client.post("/processes/library/vacation_request/deploy/")

    assert response.status_code == 403
    assert not ProcessDefinition.objects.exists()


def test_the_library_in_the_api_is_in_the_users_language(designer_client: Client) -> None:
    designer_client.post("/api/v1/designer/library/vacation_request/deploy")

    listed = designer_client.get("/api/v1/designer/library").json()

    vacation = next(p for p in listed if p["key"] == "vacation_request")
    assert (vacation["title"], vacation["deployed_version"]) == ("Vacation request", 1)
    assert len(listed) == len(library.PROCESSES) == 9
