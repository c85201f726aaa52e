"""E-mail and documents: a document goes out as an attachment (compose page and the process
connector), and a file that comes in by e-mail becomes a document of the client it came from."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage

import pytest
from django.core import mail
from django.test import Client

from konvergo.core.jobs import Worker
from konvergo.crm.tests.factories import EmailFactory, PersonFactory
from konvergo.documents.models import Document
from konvergo.documents.services.documents import EMAIL_ATTACHMENT_TYPE, document_create
from konvergo.documents.tests.factories import DocumentTypeFactory, pdf_bytes
from konvergo.integrations.models import EmailMessage, Mailbox
from konvergo.integrations.services.inbound_mail import email_receive
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.registry import call_connector

pytestmark = pytest.mark.django_db


def proposal(owner: object) -> Document:
    return document_create(
        title="Proposal ACME",
        document_type=DocumentTypeFactory.create(),
        file_name="proposal.pdf",
        data=pdf_bytes("Proposal for ACME"),
        actor=owner,
    )


def test_a_document_goes_out_with_an_email_from_the_compose_page() -> None:
    user = UserFactory.create(is_superuser=True)
    document = proposal(user)
    client = Client()
    client.force_login(user)

    form = client.get(f"/integrations/emails/new/?document={document.public_id}").content
    assert b"Proposal ACME" in form
    sent = client.post(
        "/integrations/emails/new/",
        {
            "to": "erika@customer.test",
            "subject": "Our proposal",
            "body": "Attached.",
            "documents": [str(document.public_id)],
        },
    )
    assert sent.status_code == 302
    Worker().run_once()
    name, content, content_type = mail.outbox[0].attachments[0]
    assert (name, content_type) == ("proposal.pdf", "application/pdf")
    assert content == pdf_bytes("Proposal for ACME")


def test_the_connector_attaches_documents_named_by_the_process() -> None:
    user = UserFactory.create(is_superuser=True)
    document = proposal(user)

    call_connector(
        "integrations.send_email",
        {
            "to": "erika@customer.test",
            "subject": "Approved proposal",
            "body": "Here it is.",
            "documents": [str(document.public_id)],
        },
        "send_proposal",
    )
    Worker().run_once()

    assert [a[0] for a in mail.outbox[0].attachments] == ["proposal.pdf"]
    message = EmailMessage.objects.get()
    assert [a.name for a in message.attachments.all()] == ["proposal.pdf"]


def test_an_attachment_received_by_email_becomes_a_document_of_the_client() -> None:
    owner = UserFactory.create()
    person = PersonFactory.create(owner=owner)
    EmailFactory.create(person=person, address="erika@customer.test")
    mailbox = Mailbox.objects.create(
        name="Sales", host="imap.example.test", username="sales", owner=owner
    )
    message = MimeMessage()
    message["From"] = "Erika Muster <erika@customer.test>"
    message["To"] = "sales@example.test"
    message["Subject"] = "Signed order"
    message["Message-ID"] = "<order-1@customer.test>"
    message.set_content("The signed order is attached.")
    message.add_attachment(
        pdf_bytes("Order 4711"), maintype="application", subtype="pdf", filename="order.pdf"
    )
    message.add_attachment(  # says PDF, is not: refused as a document, kept on the e-mail
        b"MZ\x90\x00not a pdf", maintype="application", subtype="pdf", filename="fake.pdf"
    )

    logged = email_receive(mailbox=mailbox, raw=message.as_bytes(), uid=1)

    assert logged is not None and logged.person == person
    assert sorted(a.name for a in logged.attachments.all()) == ["fake.pdf", "order.pdf"]
    document = Document.objects.get()
    assert (document.title, document.person, document.owner) == ("order.pdf", person, owner)
    assert document.document_type.code == EMAIL_ATTACHMENT_TYPE
    version = document.versions.get()
    assert version.comment == "Received by e-mail: Signed order"
    assert "Order 4711" in version.text
