"""The process designer in a real browser: draw a small process (append a user task to the
start event, make it a user task, set its assignee in the properties panel, end it), deploy it,
start an instance and see its token on the monitoring diagram; a diagram with an unknown
connector shows the error on that element and is not deployed.

Screenshots go to test-artifacts/screenshots/ (git-ignored)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from konvergo.designer.models import ProcessDraft
from konvergo.org.models import Scope, User
from konvergo.org.services import role_create
from konvergo.processes.models import HumanTask, ProcessDefinition, ProcessInstance
from konvergo.processes.services import LIVE, task_complete
from tests.e2e.support import PASSWORD, SCREENSHOTS, assert_fits_a_phone, require_browser

require_browser()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

PERMISSIONS = [
    "designer.view_processdraft",
    "designer.add_processdraft",
    "designer.change_processdraft",
    "processes.view_processdefinition",
    "processes.view_processinstance",
    "processes.add_processinstance",
    "processes.change_processinstance",
]


@pytest.fixture
def process_owner() -> User:
    LIVE.clear()
    user = User.objects.create_user(
        username="petra", password=PASSWORD, first_name="Petra", last_name="Lange"
    )
    user.roles.add(role_create(name="Process owners", scope=Scope.ALL, permissions=PERMISSIONS))
    return user


@pytest.fixture
def wide_page(browser: Browser) -> Iterator[Page]:
    """A desktop-sized page: the modeler needs room for the canvas and the properties panel."""
    context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-US")
    page = context.new_page()
    page.set_default_timeout(30_000)  # the shared machines are slow under load
    yield page
    context.close()


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def element(page: Page, element_id: str) -> str:
    return f'#kv-canvas .djs-element[data-element-id="{element_id}"]'


def test_draw_deploy_start_and_see_the_token(
    live_server, wide_page: Page, process_owner: User, screenshot: Callable[[str], None]
) -> None:
    page = wide_page
    sign_in(page, live_server.url, process_owner.username)
    page.get_by_role("button", name="Processes").click()
    page.get_by_role("link", name="Designer").click()
    page.get_by_placeholder("Name of the new process").fill("Expense check")
    page.get_by_test_id("new-draft").click()
    expect(page.locator("#kv-designer")).to_have_attribute("data-ready", "true", timeout=30_000)

    # Every registered connector is offered as an element template for service tasks.
    templates = page.evaluate(
        "window.kvDesigner.modeler.get('elementTemplates').getAll().map(t => t.name)"
    )
    assert "konvergo.notify" in templates

    # Draw: start event -> (append) task -> change it into a user task -> assignee -> end.
    page.click(element(page, "start"))
    page.click('.djs-context-pad [data-action="append.append-task"]')
    page.click('.djs-context-pad [data-action="replace"]')
    page.click('.djs-popup [data-id="replace-with-user-task"]')
    task_id = page.evaluate("window.kvDesigner.modeler.get('selection').get()[0].id")
    assignment = '[data-group-id="group-CamundaPlatform__UserAssignment"]'
    page.locator(f"{assignment} .bio-properties-panel-group-header").click()
    page.locator("#bio-properties-panel-assignee").fill("petra")
    page.locator("#kv-canvas").click(position={"x": 700, "y": 450})  # blur the panel
    page.click(element(page, task_id))
    page.click('.djs-context-pad [data-action="append.end-event"]')
    shot(page, "designer-drawn")

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("designer-status")).to_contain_text(
        "Saved. No problems found.", timeout=30_000
    )
    draft = ProcessDraft.objects.get()
    assert 'camunda:assignee="petra"' in draft.bpmn_xml

    page.get_by_test_id("deploy").click()
    expect(page.get_by_test_id("deployed")).to_contain_text("Deployed as version 1", timeout=30_000)
    definition = ProcessDefinition.objects.get(key=draft.key)

    page.get_by_test_id("monitor-link").click()
    page.get_by_text("Start an instance").click()
    page.get_by_label("Business key").fill("EXP-1")
    page.get_by_test_id("start-instance").click()
    expect(page.get_by_test_id("instance-status")).to_have_text("Running")
    instance = ProcessInstance.objects.get(definition=definition)
    task = HumanTask.objects.get(instance=instance)
    assert (task.element_id, task.assignee) == (task_id, process_owner)
    expect(page.locator("#kv-monitor")).to_have_attribute("data-ready", "true", timeout=30_000)
    current = f'#kv-monitor .djs-element.kv-current[data-element-id="{task_id}"]'
    expect(page.locator(current)).to_have_count(1)
    shot(page, "designer-instance-token")

    page.goto(f"{live_server.url}/processes/versions/{definition.public_id}/")
    expect(page.locator("#kv-monitor")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator(".kv-token")).to_have_text("1")
    shot(page, "designer-monitor-version")

    # Once the task is done, the token leaves and the step's time shows on the heat map.
    task_complete(task=task, variables={})
    page.reload()
    expect(page.locator("#kv-monitor")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator(".kv-token")).to_have_count(0)
    expect(page.get_by_test_id("count-completed")).to_have_text("1")
    expect(page.locator(".kv-heat").first).to_contain_text("p90")
    shot(page, "designer-monitor-heatmap")


def test_library_and_monitoring_fit_a_phone(
    live_server, page: Page, process_owner: User, screenshot: Callable[[str], None]
) -> None:
    from konvergo.designer import library
    from konvergo.processes.services import process_start

    definition = library.deploy(library.BY_KEY["vacation_request"])
    instance = process_start(
        "vacation_request",
        business_key="VAC-1",
        variables={"manager": "petra", "employee": "petra", "first_day": "2026-12-21"},
    )
    sign_in(page, live_server.url, process_owner.username)

    page.goto(f"{live_server.url}/processes/library/")
    expect(page.get_by_test_id("library-vacation_request")).to_contain_text("deployed, v1")
    assert_fits_a_phone(page)
    screenshot("designer-library-phone")
    page.goto(f"{live_server.url}/processes/instances/{instance.public_id}/")
    expect(page.locator("#kv-monitor")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.get_by_test_id("tokens")).to_contain_text("Decide on the vacation request")
    assert_fits_a_phone(page)
    screenshot("designer-instance-phone")
    assert definition.version == 1


def test_an_unknown_connector_is_shown_on_its_element_and_not_deployed(
    live_server, wide_page: Page, process_owner: User
) -> None:
    from konvergo.designer.services import draft_create

    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="d" targetNamespace="x">'
        '<bpmn:process id="faxing" name="Faxing" isExecutable="true">'
        '<bpmn:startEvent id="start"/>'
        '<bpmn:serviceTask id="send_fax" name="Send a fax" camunda:type="external" '
        'camunda:topic="fax.send"/><bpmn:endEvent id="done"/>'
        '<bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="send_fax"/>'
        '<bpmn:sequenceFlow id="f2" sourceRef="send_fax" targetRef="done"/>'
        "</bpmn:process></bpmn:definitions>"
    )
    draft = draft_create(name="Faxing", actor=process_owner, bpmn_xml=xml)
    page = wide_page
    sign_in(page, live_server.url, process_owner.username)
    page.goto(f"{live_server.url}/processes/drafts/{draft.public_id}/")
    expect(page.locator("#kv-designer")).to_have_attribute("data-ready", "true", timeout=30_000)

    page.get_by_test_id("deploy").click()

    expect(page.get_by_test_id("problems")).to_contain_text("There is no connector named fax.send.")
    expect(page.locator(".kv-problem-badge")).to_have_text("There is no connector named fax.send.")
    expect(page.locator(element(page, "send_fax") + ".kv-problem")).to_have_count(1)
    shot(page, "designer-problem-on-element")
    assert not ProcessDefinition.objects.exists()


def test_library_process_forms_decisions_and_a_test_run(
    live_server, wide_page: Page, process_owner: User
) -> None:
    from konvergo.designer import library
    from konvergo.designer.services import draft_from_definition

    definition = library.deploy(library.BY_KEY["supplier_invoice_approval"])
    draft = draft_from_definition(definition=definition, actor=process_owner)
    page = wide_page
    sign_in(page, live_server.url, process_owner.username)
    page.goto(f"{live_server.url}/processes/drafts/{draft.public_id}/")
    expect(page.locator("#kv-designer")).to_have_attribute("data-ready", "true", timeout=30_000)
    expect(page.locator(element(page, "check_invoice"))).to_have_count(1)

    page.get_by_role("tab", name="Forms").click()
    expect(page.locator("#kv-form-editor .fjs-form-field-radio").first).to_be_visible()
    expect(page.locator("#kv-form-select")).to_have_value("invoice_approval.form")
    shot(page, "designer-form-editor")

    page.get_by_role("tab", name="Decision tables").click()
    expect(page.locator("#kv-dmn-editor .tjs-table")).to_be_visible()
    expect(page.locator("#kv-dmn-editor")).to_contain_text("Who approves a supplier invoice")
    shot(page, "designer-decision-table")

    page.get_by_role("tab", name="Test run").click()
    page.locator("#kv-sandbox-vars").fill('{"manager": "m", "cfo": "c"}')
    page.get_by_test_id("sandbox-start").click()
    task = page.get_by_test_id("sandbox-task")
    expect(task).to_contain_text("Check the invoice")
    task.locator("textarea").fill(
        '{"invoice_number": "FV/1", "amount": 9000, "matches_order": true}'
    )
    task.get_by_role("button", name="Complete").click()
    expect(page.get_by_test_id("sandbox-task")).to_contain_text("Approve the invoice (CFO)")
    expect(page.get_by_test_id("sandbox-path")).to_contain_text("Decide who approves")
    expect(
        page.locator('#kv-sandbox-canvas .djs-element.kv-done[data-element-id="decide_approver"]')
    ).to_have_count(1)
    shot(page, "designer-test-run")
    assert ProcessInstance.objects.count() == 0
