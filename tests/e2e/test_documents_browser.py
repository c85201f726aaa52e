"""Documents in a real browser: a sales rep sends the proposal of a deal for approval from the
deal page (the documents panel swaps in place), the head of her department opens the task in
his inbox, reads the decision form, approves with a comment, and the document page shows it
approved with the approval sheet. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from konvergo.crm.tests.factories import DealFactory, OrganizationFactory
from konvergo.documents import library, samples
from konvergo.documents.models import Document, DocumentStatus, DocumentType, TemplateKind
from konvergo.documents.services.documents import document_create
from konvergo.documents.services.templates import template_create
from konvergo.documents.tests.factories import pdf_bytes
from konvergo.org.models import Department, Scope, User
from konvergo.org.services import role_create
from tests.e2e.support import PASSWORD, require_browser

require_browser()

from playwright.sync_api import Browser, Page, expect  # noqa: E402

pytestmark = pytest.mark.django_db(transaction=True)

PERMISSIONS = [
    "documents.view_document",
    "documents.add_document",
    "documents.change_document",
    "documents.view_documenttemplate",
    "crm.view_organization",
    "crm.view_deal",
    "crm.change_deal",
]


@pytest.fixture
def scene() -> dict[str, Any]:
    role = role_create(name="Sales", scope=Scope.DEPARTMENT, permissions=PERMISSIONS)
    head = User.objects.create_user(
        username="hana", password=PASSWORD, first_name="Hana", last_name="Kraus"
    )
    sales = Department.objects.create(name="Sales", head=head)
    rep = User.objects.create_user(
        username="sam", password=PASSWORD, first_name="Sam", last_name="Lis", department=sales
    )
    for user in (head, rep):
        user.roles.add(role)
    head.department = sales
    head.save()
    library.deploy("document_approval")
    proposal_type = DocumentType.objects.create(
        name="Commercial proposal",
        code="proposal",
        fields=[{"key": "amount", "label": "Amount", "type": "number"}],
        approval_process_key="document_approval",
        approval_variables={"approver_group": "Management"},
    )
    client = OrganizationFactory.create(legal_name="ACME Logistics", owner=rep)
    deal = DealFactory.create(title="Racks for ACME", organization=client, owner=rep)
    document = document_create(
        title="Proposal ACME racks",
        document_type=proposal_type,
        file_name="proposal.pdf",
        data=pdf_bytes("Commercial proposal: 40 pallet racks"),
        actor=rep,
        custom_data={"amount": "12000"},
        organization=client,
        deal=deal,
    )
    template_create(
        name="Service contract",
        kind=TemplateKind.HTML,
        document_type=proposal_type,
        body=samples.CONTRACT_HTML,
        description="HTML rendered to PDF, filled from a deal and its client.",
        actor=rep,
    )
    return {"head": head, "rep": rep, "deal": deal, "document": document, "client": client}


def sign_in(page: Page, base_url: str, username: str) -> None:
    page.goto(f"{base_url}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("h1")).to_have_text("Overview")


def shot(page: Page, name: str) -> None:
    from tests.e2e.support import SCREENSHOTS

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_proposal_sent_from_the_deal_is_approved_from_the_inbox(
    live_server: Any,
    browser: Browser,
    page: Page,
    scene: dict[str, Any],
    screenshot: Callable[[str], None],
) -> None:
    base = live_server.url
    deal = scene["deal"]
    document: Document = scene["document"]

    # Sam sends the proposal for approval without leaving the deal page.
    sign_in(page, base, "sam")
    page.goto(f"{base}/crm/deals/{deal.public_id}/")
    panel = page.locator("#kv-deal-documents")
    expect(panel).to_contain_text("Proposal ACME racks")
    expect(panel.get_by_test_id("deal-document-status")).to_have_text("Draft")
    screenshot("documents-deal-panel")
    panel.get_by_role("button", name="Send for approval").click()
    expect(page.get_by_test_id("deal-document-status")).to_have_text("In approval")
    assert page.url.rstrip("/").endswith(str(deal.public_id))
    screenshot("documents-deal-sent")

    # Hana, the head of Sales, finds the task in her inbox and approves.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    other = context.new_page()
    other.set_default_timeout(15_000)
    try:
        sign_in(other, base, "hana")
        other.goto(f"{base}/inbox/?section=mine")
        other.get_by_role("link", name="Approve as head of department").click()
        expect(other.locator("#kv-form[data-ready=true]")).to_be_visible()
        expect(other.locator("#kv-form")).to_contain_text("Proposal ACME racks")
        shot(other, "documents-inbox-task")
        other.locator("#kv-form").get_by_label("Approve", exact=True).click()
        expect(other.locator("#kv-form").get_by_label("Approve", exact=True)).to_be_checked()
        other.locator("#kv-form").get_by_label("Comment").fill("Good margin, send it.")
        other.get_by_role("button", name="Submit decision").click()
        expect(other.locator("h1")).to_have_text("Inbox")

        other.goto(f"{base}{document.get_absolute_url()}")
        expect(other.get_by_test_id("document-status")).to_have_text("Approved")
        sheet = other.get_by_test_id("approval-sheet")
        expect(sheet).to_contain_text("Hana Kraus")
        expect(sheet).to_contain_text("Good margin, send it.")
        shot(other, "documents-approved")
    finally:
        context.close()

    document.refresh_from_db()
    assert document.status == DocumentStatus.APPROVED

    # Sam makes a contract from the template gallery for the same deal; the client's dossier
    # lists both documents by type.
    page.goto(f"{base}/documents/templates/?deal={deal.public_id}")
    screenshot("documents-template-gallery")
    page.get_by_role("button", name="Create").click()
    expect(page.get_by_test_id("versions")).to_contain_text("Generated from the template")
    screenshot("documents-from-template")
    page.goto(f"{base}/documents/clients/{scene['client'].public_id}/")
    expect(page.locator("main")).to_contain_text("Proposal ACME racks")
    expect(page.locator("main")).to_contain_text("Approved")
    screenshot("documents-dossier")
