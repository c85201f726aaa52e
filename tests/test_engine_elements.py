"""Every BPMN element the engine must run, one small Camunda Modeler model each (tests/models):
the path taken, the variables, and after every test no running instance waits for nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
import time_machine

from konvergo.core.jobs import Worker
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.engine.runtime import Runner
from konvergo.processes.models import (
    InstanceStatus,
    ProcessInstance,
    StartTrigger,
    StepRecord,
    TaskStatus,
    Timer,
)
from konvergo.processes.registry import BpmnError, _connectors, register_connector
from konvergo.processes.selectors import instances_in_black_hole
from konvergo.processes.services import (
    LIVE,
    DeployRefused,
    compiled_process,
    definition_deploy,
    incident_retry,
    message_correlate,
    process_start,
    start_timers_fire_due,
    task_complete,
    timers_fire_due,
)

MODELS = Path(__file__).parent / "models"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
pytestmark = pytest.mark.django_db


def model(name: str) -> bytes:
    return (MODELS / name).read_bytes()


@pytest.fixture(autouse=True)
def no_black_holes() -> Iterator[None]:
    LIVE.clear()
    yield
    assert list(instances_in_black_hole()) == []


def open_tasks(instance: ProcessInstance) -> list[str]:
    return sorted(
        instance.tasks.filter(status=TaskStatus.OPEN).values_list("element_id", flat=True)
    )


def complete(
    instance: ProcessInstance, element_id: str, actor: Any = None, **variables: Any
) -> ProcessInstance:
    task = instance.tasks.get(element_id=element_id, status=TaskStatus.OPEN)
    return task_complete(task=task, variables=variables, actor=actor)


def path(instance: ProcessInstance) -> list[str]:
    return list(StepRecord.objects.filter(instance=instance).values_list("element_id", flat=True))


def reloaded(instance: ProcessInstance) -> ProcessInstance:
    instance.refresh_from_db()
    return instance


# --- tasks ------------------------------------------------------------------------------------


def test_user_task_attributes() -> None:
    owner = UserFactory.create(username="jan")
    boss = UserFactory.create(username="boss")
    definition_deploy(xml=model("user_task_attributes.bpmn"))
    with time_machine.travel(T0, tick=False):
        instance = process_start(
            "user_task_attributes",
            variables={
                "owner": "jan",
                "followUp": "2026-11-03T08:00:00Z",
                "approverGroup": "managers",
                "deadline": "2026-11-30T17:00:00Z",
                "urgent": True,
            },
        )
    task = instance.tasks.get()
    assert task.element_id == "prepare_offer"
    assert task.assignee == owner
    assert task.candidate_users == ["anna", "ben"]
    assert task.candidate_groups == ["sales", "support"]
    assert task.due_at == T0 + timedelta(days=3)
    assert task.follow_up_at == datetime(2026, 11, 3, 8, 0, tzinfo=UTC)
    assert task.priority == 80
    assert task.form_key == "offer-form"

    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        instance = complete(instance, "prepare_offer", actor=owner, offer=1200)
    task = instance.tasks.get(status=TaskStatus.OPEN)
    assert task.element_id == "approve_offer"
    assert task.assignee == boss
    assert task.candidate_groups == ["managers"]
    assert task.due_at == datetime(2026, 11, 30, 17, 0, tzinfo=UTC)
    assert task.follow_up_at == T0 + timedelta(hours=5)
    assert task.priority == 90
    assert task.form_key == "approval-form"

    instance = reloaded(complete(instance, "approve_offer", actor=boss, approved=True))
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == ["start", "prepare_offer", "approve_offer", "end"]
    assert instance.variables["offer"] == 1200
    assert instance.variables["approved"] is True
    assert list(
        StepRecord.objects.filter(element_id="approve_offer").values_list("actor", flat=True)
    ) == [boss.pk]


def test_connector_service_task_with_mappings_and_result_variable_then_script() -> None:
    seen: list[dict[str, Any]] = []

    @register_connector("test.crm_lookup")
    def lookup(inputs: dict[str, Any]) -> dict[str, Any]:
        seen.append(inputs)
        return {"tier": "gold", "contact": {"manager": "anna"}, "internal": "not mapped"}

    @register_connector("test.crm_score")
    def score(inputs: dict[str, Any]) -> dict[str, Any]:
        return {"value": 70, "client": inputs["client"]["id"]}

    try:
        definition_deploy(xml=model("service_script.bpmn"))
        instance = process_start(
            "service_script",
            variables={
                "client": {"id": 7},
                "lines": [{"qty": 2, "price": "100.00"}, {"qty": 1, "price": "50.50"}],
            },
        )
    finally:
        _connectors.pop("test.crm_lookup", None)
        _connectors.pop("test.crm_score", None)

    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert list(instance.steps.values_list("element_id", "kind")) == [
        ("start", "StartEvent"),
        ("lookup_client", "ServiceTask"),
        ("score_client", "ServiceTask"),
        ("compute_discount", "ScriptTask"),
        ("end", "EndEvent"),
    ]
    assert seen == [{"clientId": 7, "source": "konvergo"}]
    variables = instance.variables
    assert variables["tier"] == "gold"
    assert variables["manager"] == "anna"
    assert "internal" not in variables and "contact" not in variables
    assert variables["score"] == {"value": 70, "client": 7}
    assert Decimal(variables["total"]) == Decimal("250.50")
    assert Decimal(variables["discount"]) == Decimal("0.10")
    assert Decimal(variables["net"]) == Decimal("225.45")


@pytest.mark.parametrize(
    ("tier", "amount", "country", "discount", "checks"),
    [
        ("gold", 20000, "DE", 0.15, ["board approval", "credit check"]),
        ("gold", 500, "FR", 0.1, ["export control", "credit check"]),
        ("silver", 2000, "AT", 0.05, ["credit check"]),
        ("none", 50, "US", 0, ["export control", "credit check"]),
    ],
)
def test_business_rule_tasks_unique_and_collect(
    tier: str, amount: int, country: str, discount: float, checks: list[str]
) -> None:
    definition_deploy(
        xml=model("business_rules.bpmn"), dmn=[model("discount.dmn"), model("checks.dmn")]
    )
    instance = reloaded(
        process_start(
            "business_rules", variables={"tier": tier, "amount": amount, "country": country}
        )
    )
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == ["start", "decide_discount", "decide_checks", "end"]
    assert instance.variables["discount"] == discount
    assert instance.variables["checks"] == checks


# --- gateways ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "size"), [(5000, "large"), (1000, "medium"), (101, "medium"), (100, "small")]
)
def test_exclusive_gateway_takes_the_first_true_condition_or_the_default(
    amount: int, size: str
) -> None:
    definition_deploy(xml=model("gateways.bpmn"))
    instance = reloaded(
        process_start(
            "gateways", variables={"amount": amount, "needsCredit": False, "contract": ""}
        )
    )
    assert instance.status == InstanceStatus.COMPLETED
    steps = path(instance)
    assert steps[:3] == ["start", "size", size]
    assert not {"large", "medium", "small"} - {size} & set(steps)
    assert instance.variables["size"] == size


def test_inclusive_gateway_runs_every_true_branch_and_merges_them() -> None:
    definition_deploy(xml=model("gateways.bpmn"))
    instance = process_start(
        "gateways", variables={"amount": 50, "needsCredit": True, "contract": "C-1"}
    )
    assert open_tasks(instance) == ["credit_check", "legal_check"]
    instance = complete(instance, "legal_check", legal="ok")
    assert open_tasks(instance) == ["credit_check"]  # the merge waits for the other branch
    assert "checks_done" not in path(instance)
    instance = reloaded(complete(instance, "credit_check", credit="ok"))
    assert instance.status == InstanceStatus.COMPLETED
    steps = path(instance)
    assert "standard_check" not in steps
    assert steps.count("checks_done") == 1
    assert steps.index("checks_done") > steps.index("credit_check")
    assert steps.index("fulfil") < steps.index("ship") < steps.index("fulfilled")
    assert steps.index("bill") < steps.index("fulfilled")
    assert steps[-1] == "end"
    variables = instance.variables
    assert [variables[k] for k in ("legal", "credit", "shipped", "billed")] == ["ok", "ok", 1, 1]


def test_inclusive_gateway_takes_the_default_when_no_condition_holds() -> None:
    definition_deploy(xml=model("gateways.bpmn"))
    instance = reloaded(
        process_start("gateways", variables={"amount": 50, "needsCredit": False, "contract": None})
    )
    assert instance.status == InstanceStatus.COMPLETED
    steps = path(instance)
    assert "standard_check" in steps
    assert not {"credit_check", "legal_check"} & set(steps)
    assert instance.variables["checked"] == "standard"


def test_event_based_gateway_message_wins() -> None:
    definition_deploy(xml=model("event_gateway.bpmn"))
    with time_machine.travel(T0, tick=False):
        instance = process_start("event_gateway", business_key="INV-1")
    assert sorted(instance.subscriptions.values_list("element_id", "kind", "name")) == [
        ("what_first", "message", "invoice_paid"),
        ("what_first", "signal", "orders_frozen"),
    ]
    assert list(Timer.objects.values_list("element_id", "due_at")) == [
        ("what_first", T0 + timedelta(days=7))
    ]
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        assert (
            message_correlate("invoice_paid", correlation_key="INV-1", variables={"amount": 12})
            == 1
        )
    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == ["start", "what_first", "paid", "book_payment", "end_paid"]
    assert instance.variables["outcome"] == "paid 12"
    assert not Timer.objects.exists() and not instance.subscriptions.exists()


def test_event_based_gateway_follows_only_the_first_event() -> None:
    # The week is over but the timer sweep has not fired yet when the payment arrives: only the
    # payment path runs (SpiffWorkflow's gateway took both paths).
    definition_deploy(xml=model("event_gateway.bpmn"))
    with time_machine.travel(T0, tick=False):
        instance = process_start("event_gateway", business_key="INV-9")
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        assert (
            message_correlate("invoice_paid", correlation_key="INV-9", variables={"amount": 1}) == 1
        )
    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == ["start", "what_first", "paid", "book_payment", "end_paid"]
    assert not Timer.objects.exists()


def test_event_based_gateway_timer_wins() -> None:
    definition_deploy(xml=model("event_gateway.bpmn"))
    with time_machine.travel(T0, tick=False):
        instance = process_start("event_gateway", business_key="INV-2")
    with time_machine.travel(T0 + timedelta(days=7, seconds=1), tick=False):
        assert timers_fire_due() == 1
    assert open_tasks(instance) == ["dun"]
    assert not instance.subscriptions.exists()
    assert message_correlate("invoice_paid", correlation_key="INV-2") == 0
    instance = reloaded(complete(instance, "dun"))
    assert path(instance) == ["start", "what_first", "one_week", "dun", "end_dunned"]


def test_event_based_gateway_signal_wins() -> None:
    definition_deploy(xml=model("event_gateway.bpmn"))
    instance = process_start("event_gateway", business_key="INV-3")
    assert message_correlate("orders_frozen", signal=True) == 1
    instance = reloaded(instance)
    assert path(instance) == ["start", "what_first", "frozen", "hold", "end_hold"]
    assert instance.variables["outcome"] == "on hold"


# --- intermediate timer events ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("process", "variables", "due"),
    [
        ("timer_duration", {}, T0 + timedelta(hours=2)),
        ("timer_date", {}, datetime(2027, 1, 31, 9, 0, tzinfo=UTC)),
        # Camunda fires an intermediate catch event with a cycle once, at the first occurrence
        ("timer_cycle", {}, T0 + timedelta(hours=1)),
        ("timer_expression", {"reminderDelay": "P1DT4H"}, T0 + timedelta(days=1, hours=4)),
    ],
)
def test_intermediate_timer_catch(process: str, variables: dict[str, Any], due: datetime) -> None:
    definition_deploy(xml=model("timer_catch.bpmn"))
    with time_machine.travel(T0, tick=False):
        instance = process_start(process, variables=variables)
    timer = Timer.objects.get()
    assert (timer.element_id, timer.due_at) == ("wait", due)

    with time_machine.travel(due - timedelta(seconds=1), tick=False):
        assert timers_fire_due() == 0
    with time_machine.travel(due + timedelta(seconds=1), tick=False):
        assert timers_fire_due() == 1
    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == ["start", "wait", "after", "end"]
    assert datetime.fromisoformat(instance.variables["woke"]) == due + timedelta(seconds=1)
    assert not Timer.objects.exists()


# --- messages and signals between instances ---------------------------------------------------


def test_message_throw_and_catch_between_two_pools() -> None:
    deployed = definition_deploy(xml=model("messages.bpmn"))
    assert sorted(d.key for d in deployed.definitions) == ["customer_order", "shop_order"]
    shop = process_start("shop_order", business_key="O-1")
    other_shop = process_start("shop_order", business_key="O-2")

    # The customer's throw event reaches the shop instance with the same business key.
    customer = process_start(
        "customer_order", business_key="O-1", variables={"item": "desk", "quantity": 2}
    )
    assert open_tasks(shop) == []  # the message travels through the outbox
    Worker().run_once()
    assert open_tasks(shop) == ["pack"]
    assert open_tasks(other_shop) == []
    assert [reloaded(shop).variables[k] for k in ("item", "quantity")] == ["desk", 2]
    assert list(customer.subscriptions.values_list("element_id", flat=True)) == ["wait_shipped"]

    # Shipping notifies the customer, whose message end event thanks the shop.
    complete(shop, "pack", tracking="TRK-9")
    Worker().run_once()
    customer, shop, other_shop = reloaded(customer), reloaded(shop), reloaded(other_shop)
    assert customer.status == InstanceStatus.COMPLETED
    assert customer.variables["tracking"] == "TRK-9"
    assert path(customer) == ["customer_start", "place_order", "wait_shipped", "thank_shop"]
    assert shop.status == InstanceStatus.COMPLETED
    assert path(shop) == [
        "shop_start",
        "order_placed",
        "pack",
        "notify_shipped",
        "wait_thanks",
        "shop_end",
    ]
    assert other_shop.status == InstanceStatus.RUNNING
    assert list(other_shop.subscriptions.values_list("name", flat=True)) == ["order_placed"]


def test_signal_is_broadcast_to_other_instances_and_its_own() -> None:
    definition_deploy(xml=model("signals.bpmn"))
    watchers = [process_start("price_watch", business_key=f"W-{n}") for n in (1, 2)]
    update = process_start("price_update", business_key="U-1")
    assert open_tasks(update) == ["approve_prices"]

    update = reloaded(complete(update, "approve_prices"))
    Worker().run_once()  # the signal reaches the other instances through the outbox
    assert update.status == InstanceStatus.COMPLETED
    steps = path(update)
    assert steps.index("announce") < steps.index("own_catch") < steps.index("update_join")
    for watcher in watchers:
        assert open_tasks(watcher) == ["requote"]
        assert "prices_changed" in path(watcher)
        complete(watcher, "requote")
        assert reloaded(watcher).status == InstanceStatus.COMPLETED


def test_signal_from_outside_reaches_every_waiting_instance() -> None:
    definition_deploy(xml=model("signals.bpmn"))
    watchers = [process_start("price_watch", business_key=f"W-{n}") for n in (1, 2)]
    assert message_correlate("prices_changed", signal=True, variables={"reason": "tax"}) == 2
    for watcher in watchers:
        assert open_tasks(watcher) == ["requote"]
        assert reloaded(watcher).variables["reason"] == "tax"


# --- boundary events --------------------------------------------------------------------------


def test_non_interrupting_daily_reminder_until_the_interrupting_escalation() -> None:
    reminders: list[str] = []

    @register_connector("test.remind")
    def remind(inputs: dict[str, Any]) -> dict[str, Any]:
        reminders.append(inputs["to"])
        return {}

    try:
        definition_deploy(xml=model("boundary_timers.bpmn"))
        with time_machine.travel(T0, tick=False):
            instance = process_start("boundary_timers", variables={"owner": "jan"})
        assert sorted(Timer.objects.values_list("element_id", "due_at")) == [
            ("daily_reminder", T0 + timedelta(days=1)),
            ("three_days", T0 + timedelta(days=3)),
        ]
        for day in (1, 2):
            with time_machine.travel(T0 + timedelta(days=day, minutes=1), tick=False):
                assert timers_fire_due() == 1
            assert reminders == ["jan"] * day
            assert open_tasks(instance) == ["handle_case"]  # the task goes on
            assert sorted(Timer.objects.values_list("element_id", "due_at")) == [
                ("daily_reminder", T0 + timedelta(days=day + 1)),
                ("three_days", T0 + timedelta(days=3)),
            ]
        with time_machine.travel(T0 + timedelta(days=3, minutes=1), tick=False):
            assert timers_fire_due() == 1
    finally:
        _connectors.pop("test.remind", None)
    assert open_tasks(instance) == ["escalation"]
    assert instance.tasks.get(element_id="handle_case").status == TaskStatus.CANCELLED
    assert not Timer.objects.exists()  # the reminders stop with the task
    # The third reminder was due at the same moment as the escalation: both happened, and the
    # reminder's path, already started, was not cut off by the interruption.
    assert reminders == ["jan"] * 3
    steps = path(instance)
    assert steps.count("send_reminder") == steps.count("reminded") == 3
    assert "three_days" in steps
    instance = reloaded(complete(instance, "escalation"))
    assert instance.status == InstanceStatus.COMPLETED
    assert "end_handled" not in path(instance)


def test_completing_the_task_stops_its_boundary_timers() -> None:
    register_connector("test.remind")(lambda inputs: {})
    definition_deploy(xml=model("boundary_timers.bpmn"))
    _connectors.pop("test.remind", None)
    with time_machine.travel(T0, tick=False):
        instance = process_start("boundary_timers", variables={"owner": "jan"})
    with time_machine.travel(T0 + timedelta(hours=5), tick=False):
        instance = reloaded(complete(instance, "handle_case"))
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == ["start", "handle_case", "end_handled"]
    assert not Timer.objects.exists()


def test_interrupting_message_boundary() -> None:
    definition_deploy(xml=model("boundary_message.bpmn"))
    instance = process_start("boundary_message", business_key="C-1")
    assert sorted(instance.subscriptions.values_list("element_id", "name")) == [
        ("question", "client_question"),
        ("withdrawn", "contract_withdrawn"),
    ]
    assert (
        message_correlate(
            "contract_withdrawn", correlation_key="C-1", variables={"reason": "too expensive"}
        )
        == 1
    )
    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.tasks.get().status == TaskStatus.CANCELLED
    assert path(instance) == ["start", "withdrawn", "archive", "end_withdrawn"]
    assert instance.variables["outcome"] == "withdrawn: too expensive"
    assert not instance.subscriptions.exists()


def test_non_interrupting_message_boundary() -> None:
    definition_deploy(xml=model("boundary_message.bpmn"))
    instance = process_start("boundary_message", business_key="C-2")
    assert message_correlate("client_question", correlation_key="C-2") == 1
    assert open_tasks(instance) == ["answer_question", "review_contract"]
    # The boundary still listens while the task is open: a second question, a second task.
    assert message_correlate("client_question", correlation_key="C-2") == 1
    assert open_tasks(instance) == ["answer_question", "answer_question", "review_contract"]
    for task in instance.tasks.filter(element_id="answer_question"):
        task_complete(task=task, variables={})
    instance = reloaded(complete(instance, "review_contract"))
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance).count("end_answered") == 2
    assert "end_reviewed" in path(instance)


@pytest.mark.parametrize(
    ("outcome", "amount", "tasks", "element_path"),
    [
        ("ok", 100, [], ["checkout_start", "is_big", "charge_card", "fraud_check"]),
        ("declined", 100, ["other_payment"], ["charge_merge", "declined"]),
        ("fraud", 100, ["investigate"], ["fraud_check", "fraud_end", "fraud"]),
        ("limit", 100, ["fix_payment"], ["charge_merge", "any_error"]),
        ("ok", 20000, ["inform_manager"], ["is_big", "charge_card", "checkout", "end_paid"]),
    ],
)
def test_error_and_escalation_boundaries(
    outcome: str, amount: int, tasks: list[str], element_path: list[str]
) -> None:
    @register_connector("test.charge")
    def charge(inputs: dict[str, Any]) -> dict[str, Any]:
        if outcome == "declined":
            raise BpmnError("CARD_DECLINED", "insufficient funds", {"declineReason": "funds"})
        if outcome == "limit":
            raise BpmnError("LIMIT")
        return {"risk": 95 if outcome == "fraud" else 10}

    try:
        definition_deploy(xml=model("boundary_error_escalation.bpmn"))
        instance = process_start("payment_errors", variables={"amount": amount})
    finally:
        _connectors.pop("test.charge", None)
    assert open_tasks(instance) == tasks
    steps = path(instance)
    assert [s for s in steps if s in element_path] == element_path
    for task in tasks:
        complete(instance, task)
    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    steps = path(instance)
    if outcome == "declined":
        assert instance.variables["declineReason"] == "funds"
        assert "charge_card" not in steps and "end_paid" in steps
    if outcome in ("fraud", "limit"):
        assert "end_paid" not in steps
    if amount > 10000:  # the escalation did not interrupt the checkout
        assert {"report_big", "big_order", "end_informed"} <= set(steps)


def test_uncaught_bpmn_error_is_an_incident() -> None:
    def fail(inputs: dict[str, Any]) -> dict[str, Any]:
        raise BpmnError("NOT_MODELLED", "nobody catches this")

    register_connector("test.flaky_sms")(fail)
    try:
        definition_deploy(xml=model("flaky_service.bpmn"))
        instance = process_start("flaky")
    finally:
        _connectors.pop("test.flaky_sms", None)
    incident = instance.incidents.get()
    assert incident.element_id == "send_sms"
    assert "BPMN error 'NOT_MODELLED': nobody catches this was not caught" in incident.message
    assert reloaded(instance).status == InstanceStatus.RUNNING


def test_open_reminder_task_survives_when_the_activity_completes() -> None:
    # A cycle's path with a user task: completing the activity ends the timer, not the path.
    xml = (
        model("boundary_timers.bpmn")
        .replace(
            b'<bpmn:serviceTask id="send_reminder" name="Send reminder" camunda:type="external"'
            b' camunda:topic="test.remind">',
            b'<bpmn:userTask id="send_reminder" name="Call the client">',
        )
        .replace(b"</bpmn:serviceTask>", b"</bpmn:userTask>")
    )
    definition_deploy(xml=xml)
    with time_machine.travel(T0, tick=False):
        instance = process_start("boundary_timers", variables={"owner": "jan"})
    with time_machine.travel(T0 + timedelta(days=1, minutes=1), tick=False):
        assert timers_fire_due() == 1
    assert open_tasks(instance) == ["handle_case", "send_reminder"]
    instance = complete(instance, "handle_case")
    assert open_tasks(instance) == ["send_reminder"]
    assert not Timer.objects.exists()
    assert reloaded(instance).status == InstanceStatus.RUNNING
    instance = reloaded(complete(instance, "send_reminder"))
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == [
        "start",
        "daily_reminder",
        "handle_case",
        "end_handled",
        "send_reminder",
        "reminded",
    ]


# --- sub-processes ----------------------------------------------------------------------------


def test_embedded_sub_process_and_call_activity_with_variable_mappings() -> None:
    deployed = definition_deploy(xml=model("subprocesses.bpmn"))
    assert sorted(d.key for d in deployed.definitions) == ["approval", "quote"]
    instance = process_start(
        "quote",
        variables={"lines": [{"qty": 2, "price": 10}], "customer": {"name": "ACME"}, "secret": 1},
    )
    assert open_tasks(instance) == ["check_draft"]
    instance = complete(instance, "check_draft", checked=True)

    # The called process sees only what camunda:in passes.
    approve = instance.tasks.get(status=TaskStatus.OPEN)
    assert approve.element_id == "approve"
    assert approve.candidate_groups == ["managers"]
    instance = reloaded(
        task_complete(task=approve, variables={"approved": True, "approver": "eva"})
    )
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance) == [
        "start",
        "prepare_start",
        "draft",
        "check_draft",
        "prepare_end",
        "prepare",
        "approval_start",
        "approve",
        "approval_end",
        "get_approval",
        "approved_gateway",
        "end_sent",
    ]
    variables = instance.variables
    assert variables["total"] == 20 and variables["checked"] is True and variables["secret"] == 1
    assert variables["approved"] is True
    assert variables["approvedBy"] == "eva (20)"
    assert "approver" not in variables and "amount" not in variables  # not mapped out


def test_called_process_sees_only_mapped_variables() -> None:
    definition_deploy(xml=model("subprocesses.bpmn"))
    instance = process_start(
        "quote",
        variables={"lines": [{"qty": 1, "price": 5}], "customer": {"name": "ACME"}, "secret": 1},
    )
    instance = reloaded(complete(instance, "check_draft"))
    assert instance.variables["secret"] == 1  # the caller's variables, while the call runs
    approve = instance.tasks.get(status=TaskStatus.OPEN)
    runner = Runner(compiled_process(instance.definition), state=json.loads(instance.state))
    assert runner.workflow.get_task_from_id(UUID(approve.task_id)).data == {
        "amount": 5,
        "customerName": "ACME",
    }


def test_non_interrupting_message_event_sub_process() -> None:
    definition_deploy(xml=model("subprocesses.bpmn"))
    instance = process_start(
        "quote",
        business_key="Q-7",
        variables={"lines": [], "customer": {"name": "ACME"}},
    )
    assert list(instance.subscriptions.values_list("element_id", "name")) == [
        ("question_received", "customer_question")
    ]
    for question in ("When?", "How much?"):
        assert (
            message_correlate(
                "customer_question", correlation_key="Q-7", variables={"question": question}
            )
            == 1
        )
    assert open_tasks(instance) == ["answer", "answer", "check_draft"]  # the quote goes on
    for task in instance.tasks.filter(element_id="answer"):
        task_complete(task=task, variables={})
    instance = complete(instance, "check_draft")
    instance = reloaded(complete(instance, "approve", approved=False, approver="eva"))
    assert instance.status == InstanceStatus.COMPLETED
    steps = path(instance)
    assert steps.count("question_received") == 2 and steps.count("question_answered") == 2
    assert steps[-1] == "end_rejected"
    assert not instance.subscriptions.exists()


def test_failing_out_mapping_is_an_incident_on_the_call_activity_and_retry_maps_again() -> None:
    definition_deploy(xml=model("subprocesses.bpmn"))
    instance = process_start("quote", variables={"lines": [], "customer": {"name": "ACME"}})
    instance = complete(instance, "check_draft")
    instance = complete(instance, "approve", approved=True)  # no approver: approvedBy fails
    incident = instance.incidents.get()
    assert incident.element_id == "get_approval"
    assert "name 'approver' is not defined" in incident.message
    assert reloaded(instance).status == InstanceStatus.RUNNING
    # A retry evaluates the mapping again (and here fails again: the cause is in the model).
    incident_retry(incident=incident)
    incident.refresh_from_db()
    assert incident.status == "open" and incident.attempts == 2
    assert "name 'approver' is not defined" in incident.message


# --- multi-instance ---------------------------------------------------------------------------


def test_parallel_and_sequential_multi_instance_user_tasks() -> None:
    users = {name: UserFactory.create(username=name) for name in ("ann", "bob", "cem", "dan")}
    definition_deploy(xml=model("multi_instance.bpmn"))
    instance = process_start(
        "multi_instance", variables={"reviewers": ["ann", "bob", "cem"], "signers": ["dan", "ann"]}
    )
    # Parallel: one task per reviewer, all open at once, each assigned by the element variable.
    reviews = instance.tasks.filter(status=TaskStatus.OPEN).order_by("assignee__username")
    assert [(t.element_id, t.assignee) for t in reviews] == [
        ("review", users["ann"]),
        ("review", users["bob"]),
        ("review", users["cem"]),
    ]
    for task in reviews:
        task_complete(task=task, variables={"verdict": "ok"}, actor=task.assignee)
    # Sequential: one sign-off at a time, in the order of the collection.
    for signer in ("dan", "ann"):
        task = instance.tasks.get(status=TaskStatus.OPEN)
        assert (task.element_id, task.assignee) == ("sign_off", users[signer])
        task_complete(task=task, variables={}, actor=task.assignee)
    instance = reloaded(instance)
    assert instance.status == InstanceStatus.COMPLETED
    # Each instance is a step, and so is the multi-instance as a whole when all are done.
    steps = list(instance.steps.values_list("element_id", "kind"))
    assert steps == [
        ("start", "StartEvent"),
        *[("review", "UserTask")] * 3,
        ("review", "ParallelMultiInstanceTask"),
        *[("sign_off", "UserTask")] * 2,
        ("sign_off", "SequentialMultiInstanceTask"),
        ("end", "EndEvent"),
    ]
    # Variables a task is completed with become process variables (the last one wins); the
    # element variable stays local to its instance.
    assert instance.variables["verdict"] == "ok"
    assert "reviewer" not in instance.variables and "signer" not in instance.variables
    assert instance.variables["reviewers"] == ["ann", "bob", "cem"]


# --- end events -------------------------------------------------------------------------------


def test_terminate_end_event_ends_every_path() -> None:
    definition_deploy(xml=model("end_events.bpmn"))
    instance = process_start("end_events", variables={"caseNo": 1})
    assert open_tasks(instance) == ["watch", "work"]
    instance = reloaded(complete(instance, "work", result="abort"))
    assert instance.status == InstanceStatus.COMPLETED
    assert instance.tasks.get(element_id="watch").status == TaskStatus.CANCELLED
    assert path(instance)[-2:] == ["outcome", "abort"]


def test_message_end_event_reaches_the_waiting_instance() -> None:
    definition_deploy(xml=model("end_events.bpmn"))
    archive = process_start("case_archive", business_key="CASE-1")
    other = process_start("case_archive", business_key="CASE-2")
    instance = process_start("end_events", business_key="CASE-1", variables={"caseNo": 1})
    complete(instance, "watch")
    instance = reloaded(complete(instance, "work", result="done"))
    assert instance.status == InstanceStatus.COMPLETED
    assert path(instance)[-1] == "closed"
    Worker().run_once()  # the end event's message goes out through the outbox
    archive = reloaded(archive)
    assert archive.status == InstanceStatus.COMPLETED
    assert archive.variables["case"] == 1
    assert path(archive) == ["archive_start", "wait_closed", "archived"]
    assert reloaded(other).status == InstanceStatus.RUNNING


def test_uncaught_error_end_event_acts_as_a_none_end_event() -> None:
    # Camunda: an error end event nothing catches ends its path like a none end event.
    definition_deploy(xml=model("end_events.bpmn"))
    instance = process_start("end_events", variables={"caseNo": 1})
    instance = complete(instance, "work", result="gone")
    assert open_tasks(instance) == ["watch"]
    instance = reloaded(complete(instance, "watch"))
    assert instance.status == InstanceStatus.COMPLETED
    assert "gone" in path(instance)


# --- start events -----------------------------------------------------------------------------
# A none start event is in every other model. Message, timer and signal start events deploy,
# but nothing yet starts an instance from them: message_correlate delivers only to waiting
# instances and the timer sweep fires only timers of running instances.


def test_start_event_models_deploy() -> None:
    deployed = definition_deploy(xml=model("start_events.bpmn"))
    assert sorted(d.key for d in deployed.definitions) == [
        "nightly_report",
        "order_by_message",
        "restock",
    ]


def test_message_start_event_starts_an_instance() -> None:
    definition_deploy(xml=model("start_events.bpmn"))
    assert message_correlate("order_received", correlation_key="O-9", variables={"qty": 3}) == 1
    instance = ProcessInstance.objects.get(definition__key="order_by_message")
    assert instance.business_key == "O-9"
    assert open_tasks(instance) == ["confirm_order"]
    assert instance.variables["qty"] == 3


def test_signal_start_event_starts_an_instance() -> None:
    definition_deploy(xml=model("start_events.bpmn"))
    assert message_correlate("stock_low", signal=True, variables={"sku": "A-1"}) == 1
    instance = ProcessInstance.objects.get(definition__key="restock")
    assert open_tasks(instance) == ["order_stock"]


def test_timer_start_event_starts_an_instance_each_night() -> None:
    with time_machine.travel(T0, tick=False):
        definition_deploy(xml=model("start_events.bpmn"))
    for night in (1, 2):
        with time_machine.travel(datetime(2026, 11, 2 + night, 2, 0, 1, tzinfo=UTC), tick=False):
            start_timers_fire_due()
        assert ProcessInstance.objects.filter(definition__key="nightly_report").count() == night


def test_nightly_start_after_a_week_of_downtime_starts_once_then_keeps_the_schedule() -> None:
    with time_machine.travel(T0, tick=False):
        definition_deploy(xml=model("start_events.bpmn"))
    with time_machine.travel(datetime(2026, 11, 10, 12, 0, tzinfo=UTC), tick=False):
        assert start_timers_fire_due() == 1
        assert start_timers_fire_due() == 0
    trigger = StartTrigger.objects.get(kind="timer")
    assert trigger.due_at == datetime(2026, 11, 11, 2, 0, tzinfo=UTC)


def test_a_new_version_replaces_the_start_events_of_the_old_one() -> None:
    definition_deploy(xml=model("start_events.bpmn"))
    definition_deploy(xml=model("start_events.bpmn").replace(b"Confirm", b"Check"))
    assert message_correlate("order_received", correlation_key="O-1") == 1
    instance = ProcessInstance.objects.get(definition__key="order_by_message")
    assert instance.definition.version == 2


# --- refused at deploy ------------------------------------------------------------------------

PROCESS = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"'
    ' xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs" targetNamespace="t">'
    '<bpmn:message id="m" name="question"/><bpmn:error id="e" errorCode="E"/>'
    '<bpmn:process id="refused" isExecutable="true">'
    '<bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>'
    "{body}"
    '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{first}"/>'
    "</bpmn:process>{more}</bpmn:definitions>"
)
EVENT_SUB_PROCESS = (
    '<bpmn:subProcess id="on_question" triggeredByEvent="true">'
    '<bpmn:startEvent id="asked" isInterrupting="false"><bpmn:{kind}EventDefinition {ref}/>'
    "</bpmn:startEvent></bpmn:subProcess>"
)


def process(body: str, first: str, more: str = "") -> bytes:
    return PROCESS.format(body=body, first=first, more=more).encode()


@pytest.mark.parametrize(
    ("xml", "message", "element"),
    [
        (
            process('<bpmn:complexGateway id="complex"/>', "complex"),
            "complex gateways are not supported",
            "complex",
        ),
        (
            process(
                '<bpmn:task id="ship"/><bpmn:boundaryEvent id="undo" attachedToRef="ship">'
                "<bpmn:compensateEventDefinition/></bpmn:boundaryEvent>",
                "ship",
            ),
            "compensation is not supported",
            "undo",
        ),
        (
            process(
                '<bpmn:intermediateThrowEvent id="go_to"><bpmn:linkEventDefinition name="a"/>'
                "</bpmn:intermediateThrowEvent>",
                "go_to",
            ),
            "link events are not supported",
            "go_to",
        ),
        (
            process('<bpmn:adHocSubProcess id="adhoc"/>', "adhoc"),
            "ad-hoc sub-processes are not supported",
            "adhoc",
        ),
        (
            process(
                '<bpmn:task id="work"/>'
                + EVENT_SUB_PROCESS.format(kind="error", ref='errorRef="e"'),
                "work",
            ),
            "event sub-processes started by error or escalation are not supported",
            "on_question",
        ),
        (
            process(
                '<bpmn:subProcess id="outer">'
                + EVENT_SUB_PROCESS.format(kind="message", ref='messageRef="m"')
                + "</bpmn:subProcess>",
                "outer",
            ),
            "must be at the top level of its process",
            "on_question",
        ),
        (
            process(
                '<bpmn:callActivity id="call" calledElement="listener"/>',
                "call",
                more='<bpmn:process id="listener" isExecutable="true">'
                '<bpmn:startEvent id="l_start"/>'
                + EVENT_SUB_PROCESS.format(kind="message", ref='messageRef="m"')
                + "</bpmn:process>",
            ),
            "has an event sub-process started by a message or signal",
            "call",
        ),
        (
            process(
                '<bpmn:task id="fork"/><bpmn:task id="a"/><bpmn:task id="b"/>'
                '<bpmn:sequenceFlow id="fa" sourceRef="fork" targetRef="a"/>'
                '<bpmn:sequenceFlow id="fb" sourceRef="fork" targetRef="b"/>',
                "fork",
            ),
            "several outgoing flows (an implicit split) is not supported",
            "fork",
        ),
        (
            process('<bpmn:callActivity id="call" calledElement="elsewhere"/>', "call"),
            "The process 'elsewhere' was not found",
            "",
        ),
        (
            process('<bpmn:userTask id="ask" camunda:assignee="${a ? b : c}"/>', "ask"),
            "the conditional 'a ? b : c' is not supported",
            "ask",
        ),
        (
            process(
                '<bpmn:serviceTask id="call_crm" camunda:type="external"'
                ' camunda:topic="konvergo.echo">'
                "<bpmn:extensionElements><camunda:inputOutput>"
                '<camunda:inputParameter name="x">${client.</camunda:inputParameter>'
                "</camunda:inputOutput></bpmn:extensionElements></bpmn:serviceTask>",
                "call_crm",
            ),
            "does not parse",
            "call_crm",
        ),
        (
            process(
                '<bpmn:userTask id="each"><bpmn:multiInstanceLoopCharacteristics'
                ' camunda:collection="${items[0]}" camunda:elementVariable="item"/>'
                "</bpmn:userTask>",
                "each",
            ),
            "camunda:collection '${items[0]}' must name a variable",
            "each",
        ),
    ],
)
def test_unsupported_bpmn_is_refused_naming_the_element(
    xml: bytes, message: str, element: str
) -> None:
    with pytest.raises(DeployRefused) as refused:
        definition_deploy(xml=xml)
    assert message in refused.value.message
    assert refused.value.details["element_id"] == element


DISCOUNT = model("discount.dmn")


@pytest.mark.parametrize(
    ("dmn", "message", "element"),
    [
        (
            DISCOUNT.replace(b'hitPolicy="UNIQUE"', b'hitPolicy="RULE ORDER"'),
            "hit policy RULE ORDER is not supported",
            "DecisionTable_discount",
        ),
        (
            DISCOUNT.replace(b'hitPolicy="UNIQUE"', b'hitPolicy="COLLECT" aggregation="SUM"'),
            "COLLECT with aggregation SUM is not supported",
            "DecisionTable_discount",
        ),
        (
            DISCOUNT.replace(
                b'<text>"gold"</text></inputEntry>\n        <inputEntry id="UnaryTests_2">',
                b'<text>not("gold")</text></inputEntry>\n        <inputEntry id="UnaryTests_2">',
            ),
            "is FEEL; write `!= value` or `? not in [...]`",
            "rule_gold_big",
        ),
        (
            DISCOUNT.replace(
                b'<text>? in ["silver", "bronze"]</text>', b'<text>"silver","bronze"</text>'
            ),
            "is a FEEL list; write `? in [...]`",
            "rule_silver",
        ),
        (
            DISCOUNT.replace(b"<text>100 &lt; ? &lt;= 5000</text>", b"<text>[100..5000]</text>"),
            "does not parse",
            "rule_silver",
        ),
        (
            DISCOUNT.replace(b"<text>0.05</text>", b"<text>0.05 +</text>"),
            "does not parse",
            "rule_silver",
        ),
        (
            DISCOUNT.replace(
                b"</definitions>", b'<decision id="second" name="Second"/></definitions>'
            ),
            "a DMN file must hold exactly one decision",
            "second",
        ),
    ],
)
def test_unsupported_dmn_is_refused_naming_the_element(
    dmn: bytes, message: str, element: str
) -> None:
    with pytest.raises(DeployRefused) as refused:
        definition_deploy(xml=model("business_rules.bpmn"), dmn=[dmn, model("checks.dmn")])
    assert message in refused.value.message
    assert refused.value.details["element_id"] == element


def test_business_rule_task_naming_an_unknown_decision_is_refused() -> None:
    with pytest.raises(DeployRefused) as refused:
        definition_deploy(xml=model("business_rules.bpmn"), dmn=[model("discount.dmn")])
    assert 'No DMN Diagram available with id "checks_decision"' in refused.value.message
    assert refused.value.details["element_id"] == "decide_checks"
