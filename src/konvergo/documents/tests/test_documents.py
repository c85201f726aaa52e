"""Documents: versions, locking, content checks, nothing half-stored, search, retention."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from unittest import mock

import pytest
from django.core.files.storage import storages
from django.test import override_settings
from django.utils import timezone

from konvergo.core.errors import Conflict, NotAllowed
from konvergo.core.models import Event
from konvergo.crm.tests.factories import OrganizationFactory
from konvergo.documents import selectors
from konvergo.documents.models import Document, DocumentStatus, DocumentVersion
from konvergo.documents.search import search_index_rebuild, search_index_repair
from konvergo.documents.services.content import ContentRefused
from konvergo.documents.services.documents import (
    document_archive,
    document_checkin,
    document_checkout,
    document_create,
    version_add,
)
from konvergo.documents.services.retention import retention_sweep
from konvergo.documents.tests.factories import (
    ALL_DOCUMENT_PERMISSIONS,
    DocumentTypeFactory,
    docx_bytes,
    grant,
    pdf_bytes,
    zip_bomb,
)
from konvergo.org.models import Scope
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def stored_names() -> list[str]:
    storage = storages["default"]
    if not storage.exists("documents"):
        return []
    names = []
    for folder in storage.listdir("documents")[0]:
        names += [f"{folder}/{f}" for f in storage.listdir(f"documents/{folder}")[1]]
    return names


def test_versions_are_immutable_with_hash_author_and_comment():
    alice, bob = UserFactory.create(), UserFactory.create()
    doc_type = DocumentTypeFactory.create()
    document = document_create(
        title="Offer",
        document_type=doc_type,
        file_name="offer.txt",
        data=b"first draft",
        actor=alice,
        comment="draft",
    )
    version = version_add(
        document=document, file_name="offer.txt", data=b"second", actor=bob, comment="fixed"
    )
    assert document.version_number == 2
    rows = list(
        DocumentVersion.objects.filter(document=document).values_list(
            "number", "sha256", "author__username", "comment", "content_type"
        )
    )
    assert rows == [
        (1, hashlib.sha256(b"first draft").hexdigest(), alice.username, "draft", "text/plain"),
        (2, hashlib.sha256(b"second").hexdigest(), bob.username, "fixed", "text/plain"),
    ]
    assert storages["default"].open(version.storage_name).read() == b"second"
    assert Event.objects.filter(name="documents.document.created").count() == 1


def test_checkin_against_a_changed_version_is_a_conflict_and_stores_nothing():
    alice, bob = UserFactory.create(), UserFactory.create()
    document = document_create(
        title="Contract",
        document_type=DocumentTypeFactory.create(),
        file_name="c.txt",
        data=b"v1",
        actor=alice,
    )
    # Alice took version 1; Bob adds version 2 meanwhile.
    version_add(document=document, file_name="c.txt", data=b"v2 by bob", actor=bob)
    files_before = stored_names()
    with pytest.raises(Conflict) as caught:
        document_checkin(document=document, actor=alice, file_name="c.txt", data=b"x", based_on=1)
    assert "Version 2 was added since you took version 1" in caught.value.message
    assert DocumentVersion.objects.filter(document=document).count() == 2
    assert stored_names() == files_before  # the refused file was deleted again


def test_checkout_locks_the_document_for_others():
    alice, bob = UserFactory.create(), UserFactory.create()
    document = document_create(
        title="Contract",
        document_type=DocumentTypeFactory.create(),
        file_name="c.txt",
        data=b"v1",
        actor=alice,
    )
    document_checkout(document=document, actor=alice)
    with pytest.raises(Conflict, match="checked out by"):
        document_checkout(document=document, actor=bob)
    with pytest.raises(Conflict, match="checked out by"):
        version_add(document=document, file_name="c.txt", data=b"bob", actor=bob)
    document_checkin(document=document, actor=alice, file_name="c.txt", data=b"v2", based_on=1)
    document.refresh_from_db()
    assert (document.version_number, document.checked_out_by) == (2, None)
    document_checkout(document=document, actor=bob)  # free again


def test_a_failing_record_write_deletes_the_stored_file():
    alice = UserFactory.create()
    doc_type = DocumentTypeFactory.create()
    with (
        mock.patch.object(DocumentVersion.objects, "create", side_effect=RuntimeError("disk")),
        pytest.raises(RuntimeError),
    ):
        document_create(
            title="X", document_type=doc_type, file_name="x.txt", data=b"data", actor=alice
        )
    assert Document.objects.count() == 0
    assert stored_names() == []


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("scan.pdf", b"MZ\x90\x00 this is an exe", "but its content is"),
        ("offer.docx", b"%PDF-1.4 fake", "but its content is application/pdf"),
        ("broken.pdf", b"%PDF-1.4\n1 0 obj garbage\n%%EOF", "The PDF file is damaged"),
        ("bomb.docx", zip_bomb(), "would expand to"),
        ("empty.txt", b"", "The file is empty"),
    ],
)
def test_bad_files_are_refused_with_a_sentence(name, data, message):
    alice = UserFactory.create()
    with pytest.raises(ContentRefused) as caught:
        document_create(
            title="Bad",
            document_type=DocumentTypeFactory.create(),
            file_name=name,
            data=data,
            actor=alice,
        )
    assert message in caught.value.message
    assert Document.objects.count() == 0
    assert stored_names() == []


@override_settings(KONVERGO_DOCUMENTS_MAX_BYTES=10)
def test_files_over_the_size_limit_are_refused():
    with pytest.raises(ContentRefused, match="the limit is 10 bytes"):
        document_create(
            title="Big",
            document_type=DocumentTypeFactory.create(),
            file_name="big.txt",
            data=b"x" * 11,
            actor=UserFactory.create(),
        )


def test_search_finds_a_word_inside_an_uploaded_pdf_and_docx():
    alice = grant(UserFactory.create(), *ALL_DOCUMENT_PERMISSIONS)
    doc_type = DocumentTypeFactory.create()
    pdf = document_create(
        title="Scan",
        document_type=doc_type,
        file_name="scan.pdf",
        data=pdf_bytes("The warehouse Zanzibar delivers pallets"),
        actor=alice,
    )
    word = document_create(
        title="Letter",
        document_type=doc_type,
        file_name="letter.docx",
        data=docx_bytes("Dear client,", "our Kilimanjaro offer"),
        actor=alice,
    )
    assert list(selectors.document_list(alice, query="zanzibar")) == [pdf]
    assert list(selectors.document_list(alice, query="Kilimanjaro offer")) == [word]
    assert list(selectors.document_list(alice, query="kiliman")) == [word]  # a word's start
    assert list(selectors.document_list(alice, query="nowhere")) == []
    # A new version replaces the searchable text.
    version_add(document=word, file_name="letter.docx", data=docx_bytes("Everest"), actor=alice)
    assert list(selectors.document_list(alice, query="kilimanjaro")) == []
    assert list(selectors.document_list(alice, query="everest")) == [word]


def test_search_index_is_repaired_when_triggers_are_lost():
    from django.db import connection

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    alice = grant(UserFactory.create(), *ALL_DOCUMENT_PERMISSIONS)
    with connection.cursor() as cursor:
        for suffix in ("ai", "au", "ad"):  # as a table rebuild would
            cursor.execute(f"DROP TRIGGER documents_search_{suffix}")
    document = document_create(
        title="Lost",
        document_type=DocumentTypeFactory.create(),
        file_name="a.txt",
        data=b"quokka",
        actor=alice,
    )
    assert list(selectors.document_list(alice, query="quokka")) == []
    assert search_index_repair() is True
    assert list(selectors.document_list(alice, query="quokka")) == [document]
    assert search_index_rebuild() == 1


def test_documents_follow_the_clients_visibility():
    owner = UserFactory.create()
    client_owner = grant(
        UserFactory.create(),
        "documents.view_document",
        "crm.view_organization",
        scope=Scope.OWN,
    )
    stranger = grant(UserFactory.create(), "documents.view_document", scope=Scope.OWN)
    client = OrganizationFactory.create(owner=client_owner)
    document = document_create(
        title="Dossier item",
        document_type=DocumentTypeFactory.create(),
        file_name="a.txt",
        data=b"x",
        actor=owner,
        organization=client,
    )
    assert list(selectors.documents_visible(client_owner)) == [document]
    assert list(selectors.documents_visible(stranger)) == []
    groups = selectors.dossier(client_owner, organization=client)
    assert list(groups.items()) == [(document.document_type, [document])]


def test_retention_archives_old_documents_once_and_they_become_read_only():
    alice = UserFactory.create()
    doc_type = DocumentTypeFactory.create(archive_after_days=30)
    old = document_create(
        title="Old", document_type=doc_type, file_name="a.txt", data=b"x", actor=alice
    )
    fresh = document_create(
        title="Fresh", document_type=doc_type, file_name="b.txt", data=b"y", actor=alice
    )
    Document.objects.filter(pk=old.pk).update(updated_at=timezone.now() - timedelta(days=31))
    assert retention_sweep(timezone.now()) == 1
    assert retention_sweep(timezone.now()) == 0  # idempotent
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.status, fresh.status) == (DocumentStatus.ARCHIVED, DocumentStatus.DRAFT)
    with pytest.raises(NotAllowed, match="archived and read-only"):
        version_add(document=old, file_name="a.txt", data=b"new", actor=alice)
    assert document_archive(document=old).status == DocumentStatus.ARCHIVED
