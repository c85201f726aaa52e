"""The demo's documents: types with their approval routes and retention, the template gallery
(a commercial proposal in Word, a contract and an order confirmation in HTML to PDF), and a
proposal made from the gallery for a deal and sent for approval."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import Permission

from konvergo.core.audit import acting_as
from konvergo.core.demo import register_demo_step
from konvergo.crm.models import Deal
from konvergo.documents import library, samples
from konvergo.documents.models import DocumentType, NewVersionRule, TemplateKind
from konvergo.documents.services.approvals import approval_send
from konvergo.documents.services.templates import document_from_template, template_create
from konvergo.org.models import Role, User

WORK = [
    f"documents.{action}_{model}"
    for model in ("document", "documentversion", "documenttemplate", "folder", "approval")
    for action in ("view", "add", "change")
]
AMOUNT = {"key": "amount", "label": "Amount", "type": "number"}


@register_demo_step(60, "documents")
def demo_documents(say: Callable[[str], None]) -> None:
    library.deploy_all()
    proposal = DocumentType.objects.create(
        name="Commercial proposal",
        code="proposal",
        fields=[AMOUNT, {"key": "valid_until", "label": "Valid until", "type": "date"}],
        approval_process_key="document_approval",
        approval_variables={"approver_group": "Management"},
        on_new_version=NewVersionRule.RESTART,
    )
    contract = DocumentType.objects.create(
        name="Contract",
        code="contract",
        fields=[AMOUNT],
        approval_process_key="document_approval_sequential",
        approval_variables={"approvers": ["jan.kowalski", "katharina.vogel"]},
        on_new_version=NewVersionRule.CONTINUE,
    )
    order = DocumentType.objects.create(
        name="Order", code="order", fields=[AMOUNT], archive_after_days=365
    )
    DocumentType.objects.create(name="Scan", code="scan", archive_after_days=3650)
    template_create(
        name="Commercial proposal",
        kind=TemplateKind.DOCX,
        document_type=proposal,
        docx=samples.proposal_docx(),
        description="Word template filled from a deal and its quote.",
        actor=None,
    )
    template_create(
        name="Service contract",
        kind=TemplateKind.HTML,
        document_type=contract,
        body=samples.CONTRACT_HTML,
        description="HTML rendered to PDF, filled from a deal and its client.",
        actor=None,
    )
    template_create(
        name="Order confirmation",
        kind=TemplateKind.HTML,
        document_type=order,
        body=samples.ORDER_HTML,
        description="HTML rendered to PDF, filled from a quote.",
        actor=None,
    )
    # Every role of the demo works with documents; visibility follows each role's scope.
    for role in Role.objects.all():
        role.permissions.add(*_permissions())
    sent = 0
    deal = Deal.objects.filter(quotes__isnull=False).select_related("owner").first()
    if deal is not None:
        quote = deal.quotes.first()
        owner: User = deal.owner
        with acting_as(owner):
            version = document_from_template(
                template=proposal.templates.get(), actor=owner, deal=deal, quote=quote
            )
            approval_send(document=version.document, actor=owner)
        sent = 1
    say(f"4 document types, 3 templates, {sent} proposal in approval")


def _permissions() -> list[Permission]:
    codenames = [name.split(".", 1)[1] for name in WORK]
    return list(
        Permission.objects.filter(content_type__app_label="documents", codename__in=codenames)
    )
