"""The pages and the API: upload with a clear refusal, the permission-checked download, the
409 of a stale check-in, sending from the deal page, the global search, the API."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from konvergo.crm.tests.factories import DealFactory, OrganizationFactory
from konvergo.documents import library
from konvergo.documents.models import Document, DocumentStatus, DocumentVersion
from konvergo.documents.services.documents import document_create, version_add
from konvergo.documents.tests.factories import (
    ALL_DOCUMENT_PERMISSIONS,
    DocumentTypeFactory,
    grant,
    pdf_bytes,
)
from konvergo.org.models import Scope
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def member():
    return grant(
        UserFactory.create(),
        *ALL_DOCUMENT_PERMISSIONS,
        "crm.view_organization",
        "crm.view_deal",
    )


def test_upload_stores_the_document_and_a_lying_file_is_refused_on_the_form():
    user = member()
    doc_type = DocumentTypeFactory.create(code="proposal", name="Proposal")
    client = signed_in(user)
    bad = client.post(
        "/documents/new/",
        {
            "title": "Fake",
            "document_type": "proposal",
            "file": SimpleUploadedFile("fake.pdf", b"just text, not a PDF"),
        },
    )
    assert bad.status_code == 422
    assert "The file is named fake.pdf but its content is text/plain." in bad.content.decode()
    assert Document.objects.count() == 0
    good = client.post(
        "/documents/new/",
        {
            "title": "Offer",
            "document_type": doc_type.code,
            "file": SimpleUploadedFile("offer.pdf", pdf_bytes("Hello Zebra")),
        },
    )
    document = Document.objects.get()
    assert good.status_code == 302 and good["Location"] == document.get_absolute_url()
    page = client.get(document.get_absolute_url()).content.decode()
    assert "offer.pdf" in page and "Draft" in page


def test_files_are_served_only_to_users_who_may_see_the_document():
    owner = member()
    outsider = grant(UserFactory.create(), "documents.view_document", scope=Scope.OWN)
    document = document_create(
        title="Secret",
        document_type=DocumentTypeFactory.create(),
        file_name="s.txt",
        data=b"top secret",
        actor=owner,
    )
    url = f"/documents/{document.public_id}/versions/1/download/"
    response = signed_in(owner).get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"top secret"  # type: ignore[attr-defined]
    assert response["Content-Disposition"].startswith("attachment")
    assert signed_in(outsider).get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page
    api = signed_in(outsider).get(f"/api/v1/documents/{document.public_id}/versions/1/file")
    assert api.status_code == 404


def test_a_stale_check_in_is_409_on_the_page_and_in_the_api():
    alice, bob = member(), member()
    document = document_create(
        title="Contract",
        document_type=DocumentTypeFactory.create(),
        file_name="c.txt",
        data=b"v1",
        actor=alice,
    )
    version_add(document=document, file_name="c.txt", data=b"v2", actor=bob)
    page = signed_in(alice).post(
        f"/documents/{document.public_id}/versions/",
        {"based_on": 1, "file": SimpleUploadedFile("c.txt", b"mine")},
    )
    assert page.status_code == 409
    assert "Version 2 was added since you took version 1" in page.content.decode()
    api = signed_in(alice).post(
        f"/api/v1/documents/{document.public_id}/checkin",
        {"based_on": 1, "file": SimpleUploadedFile("c.txt", b"mine")},
    )
    assert api.status_code == 409
    assert api.json()["error"]["code"] == "conflict"
    assert DocumentVersion.objects.filter(document=document).count() == 2


def test_the_api_creates_lists_by_full_text_and_checks_out():
    user = member()
    DocumentTypeFactory.create(code="contract")
    client = signed_in(user)
    created = client.post(
        "/api/v1/documents/",
        {"title": "Lease", "type": "contract", "file": SimpleUploadedFile("l.txt", b"ocelot")},
    )
    assert created.status_code == 201, created.content
    document_id = created.json()["id"]
    assert [d["id"] for d in client.get("/api/v1/documents/?q=ocelot").json()] == [document_id]
    assert client.post(f"/api/v1/documents/{document_id}/checkout").json()["checked_out_by"] == (
        user.username
    )
    bomb = client.post(
        "/api/v1/documents/",
        {"title": "X", "type": "contract", "file": SimpleUploadedFile("x.pdf", b"%PDF-1.4 bad")},
    )
    assert bomb.status_code == 422
    assert bomb.json()["error"]["message"] == "The PDF file is damaged and cannot be read."


def test_a_deal_sends_its_proposal_for_approval_from_the_deal_page():
    user = member()
    head = UserFactory.create()
    from konvergo.org.tests.factories import DepartmentFactory

    user.department = DepartmentFactory.create(head=head)
    user.save()
    library.deploy("document_approval")
    doc_type = DocumentTypeFactory.create(approval_process_key="document_approval")
    deal = DealFactory.create(owner=user, organization=OrganizationFactory.create(owner=user))
    document = document_create(
        title="Proposal",
        document_type=doc_type,
        file_name="p.txt",
        data=b"x",
        actor=user,
        deal=deal,
        organization=deal.organization,
    )
    client = signed_in(user)
    panel = client.get(f"/documents/deals/{deal.public_id}/panel/")
    assert "Send for approval" in panel.content.decode()
    sent = client.post(
        f"/documents/deals/{deal.public_id}/panel/",
        {"document": str(document.public_id)},
        HTTP_HX_REQUEST="true",
    )
    assert sent.status_code == 200
    assert "In approval" in sent.content.decode()
    document.refresh_from_db()
    assert document.status == DocumentStatus.IN_APPROVAL
    assert document.process_instance is not None
    assert document.process_instance.tasks.get().assignee == head


def test_documents_appear_in_the_global_search_by_their_contents():
    user = member()
    document = document_create(
        title="Scan 17",
        document_type=DocumentTypeFactory.create(),
        file_name="scan.pdf",
        data=pdf_bytes("Invoice for Aardvark Logistics"),
        actor=user,
    )
    page = signed_in(user).get("/search", {"q": "aardvark"}).content.decode()
    assert "Scan 17" in page and document.get_absolute_url() in page
    stranger = signed_in(UserFactory.create()).get("/search", {"q": "aardvark"})
    assert "Scan 17" not in stranger.content.decode()


def test_the_list_page_and_api_read_in_a_fixed_number_of_queries():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user = member()
    client = signed_in(user)
    doc_type = DocumentTypeFactory.create()

    def add(n):
        for i in range(n):
            document_create(
                title=f"Doc {i}",
                document_type=doc_type,
                file_name="a.txt",
                data=b"x",
                actor=user,
                organization=OrganizationFactory.create(owner=user),
            )

    add(2)
    with CaptureQueriesContext(connection) as few_page:
        assert client.get("/documents/").status_code == 200
    with CaptureQueriesContext(connection) as few_api:
        assert client.get("/api/v1/documents/").status_code == 200
    add(8)
    with CaptureQueriesContext(connection) as many_page:
        client.get("/documents/")
    with CaptureQueriesContext(connection) as many_api:
        assert len(client.get("/api/v1/documents/").json()) == 10
    assert len(many_page) == len(few_page)
    assert len(many_api) == len(few_api)


def test_the_api_adds_folders_and_templates_and_renders_a_template_for_a_deal():
    user = grant(member(), "documents.add_folder", "documents.add_documenttemplate")
    DocumentTypeFactory.create(code="contract")
    deal = DealFactory.create(owner=user, organization=OrganizationFactory.create(owner=user))
    client = signed_in(user)
    folder = client.post(
        "/api/v1/documents/folders", {"name": "Contracts 2026"}, content_type="application/json"
    )
    assert folder.status_code == 201
    template = client.post(
        "/api/v1/documents/templates/",
        {"name": "Mini", "kind": "html", "type": "contract", "body": "<p>{{ deal.title }}</p>"},
    )
    assert template.status_code == 201, template.content
    again = client.post(
        "/api/v1/documents/templates/",
        {"name": "Mini", "kind": "html", "type": "contract", "body": "<p>x</p>"},
    )
    assert again.status_code == 422
    rendered = client.post(
        f"/api/v1/documents/templates/{template.json()['id']}/render",
        {"deal": str(deal.public_id)},
        content_type="application/json",
    )
    assert rendered.status_code == 201, rendered.content
    assert rendered.json()["content_type"] == "application/pdf"
    document = Document.objects.get()
    assert document.deal == deal and deal.title in document.content_text


def test_the_document_page_shows_who_the_approval_waits_for():
    user = member()
    head = UserFactory.create(first_name="Hana", last_name="Kraus")
    from konvergo.org.tests.factories import DepartmentFactory

    user.department = DepartmentFactory.create(head=head)
    user.save()
    library.deploy("document_approval")
    document = document_create(
        title="Proposal",
        document_type=DocumentTypeFactory.create(approval_process_key="document_approval"),
        file_name="p.txt",
        data=b"x",
        actor=user,
    )
    client = signed_in(user)
    sent = client.post(f"/documents/{document.public_id}/send/", {"approvers": ""})
    assert sent.status_code == 302
    page = client.get(document.get_absolute_url()).content.decode()
    assert "In approval" in page
    assert "Waiting for: Hana Kraus" in page
    again = client.post(f"/documents/{document.public_id}/send/", {})
    assert again.status_code == 409
    assert "cannot be sent for approval" in again.content.decode()
