"""Approval routes run by the engine: sequential, parallel, head of department with the amount
threshold (DMN) and any one of a group, rejection and resubmission, a new version during
approval (restart or continue), the approval sheet and its PDF."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from konvergo.core.audit import acting_as
from konvergo.core.models import Event
from konvergo.documents import library, selectors
from konvergo.documents.models import (
    ApprovalStatus,
    DocumentStatus,
    NewVersionRule,
)
from konvergo.documents.services.approvals import approval_send
from konvergo.documents.services.documents import document_create, version_add
from konvergo.documents.services.sheet import approval_sheet_pdf
from konvergo.documents.tests.factories import DocumentTypeFactory
from konvergo.org.models import Role
from konvergo.org.tests.factories import DepartmentFactory, UserFactory
from konvergo.processes.models import HumanTask, InstanceStatus, TaskStatus
from konvergo.processes.services import task_complete

pytestmark = pytest.mark.django_db


def users(*names):
    return {name: UserFactory.create(username=name) for name in names}


def open_tasks(document):
    return list(
        HumanTask.objects.filter(
            instance=document.process_instance, status=TaskStatus.OPEN
        ).order_by("assignee__username", "pk")
    )


def send(document, author, approvers):
    return approval_send(document=document, actor=author, variables={"approvers": approvers})


def decide(task, user, decision, comment=""):
    with acting_as(user):  # as the inbox request would
        task_complete(task=task, variables={"decision": decision, "comment": comment}, actor=user)


def new_document(author, key, *, amount="1000", rule=NewVersionRule.RESTART, **extra):
    library.deploy(key)
    doc_type = DocumentTypeFactory.create(approval_process_key=key, on_new_version=rule)
    return document_create(
        title="Proposal ACME",
        document_type=doc_type,
        file_name="proposal.txt",
        data=b"proposal v1",
        actor=author,
        custom_data={"amount": amount},
        **extra,
    )


def test_sequential_route_approves_in_order_and_the_document_follows():
    people = users("author", "ann", "bob")
    document = new_document(people["author"], "document_approval_sequential")
    send(document, people["author"], ["ann", "bob"])
    document.refresh_from_db()
    assert document.status == DocumentStatus.IN_APPROVAL
    [task] = open_tasks(document)
    assert (task.assignee, task.form_key) == (
        people["ann"],
        "camunda-forms:deployment:document_decision.form",
    )
    decide(task, people["ann"], "approve", "fine by me")
    [task] = open_tasks(document)
    assert task.assignee == people["bob"]
    decide(task, people["bob"], "approve")
    document.refresh_from_db()
    assert document.status == DocumentStatus.APPROVED
    assert document.process_instance.status == InstanceStatus.COMPLETED
    steps = selectors.approval_sheet(document)
    assert [(s.approver, s.decision, s.version.number, s.comment) for s in steps] == [
        (people["ann"], "approve", 1, "fine by me"),
        (people["bob"], "approve", 1, ""),
    ]
    assert Event.objects.filter(name="documents.document.approved").count() == 1


def test_sequential_route_stops_at_the_first_rejection_then_resubmission_approves():
    people = users("author", "ann", "bob")
    document = new_document(people["author"], "document_approval_sequential")
    send(document, people["author"], ["ann", "bob"])
    decide(open_tasks(document)[0], people["ann"], "reject", "price too low")
    document.refresh_from_db()
    assert document.status == DocumentStatus.REJECTED
    assert open_tasks(document) == []  # bob is not asked after a rejection
    assert Event.objects.filter(name="documents.document.rejected").count() == 1
    # The author fixes the file (version 2) and sends it again.
    version_add(document=document, file_name="proposal.txt", data=b"v2", actor=people["author"])
    document.refresh_from_db()
    assert document.status == DocumentStatus.DRAFT
    send(document, people["author"], ["ann", "bob"])
    decide(open_tasks(document)[0], people["ann"], "approve")
    decide(open_tasks(document)[0], people["bob"], "approve")
    document.refresh_from_db()
    assert document.status == DocumentStatus.APPROVED
    steps = selectors.approval_sheet(document)
    assert [(s.approver, s.decision, s.version.number) for s in steps] == [
        (people["ann"], "reject", 1),
        (people["ann"], "approve", 2),
        (people["bob"], "approve", 2),
    ]
    assert [a.status for a in selectors.approvals_of(document)] == [
        ApprovalStatus.REJECTED,
        ApprovalStatus.APPROVED,
    ]


def test_parallel_route_needs_everyone_and_a_request_for_changes_sends_it_back():
    people = users("author", "ann", "bob", "cem")
    document = new_document(people["author"], "document_approval_parallel")
    approval_send(
        document=document, actor=people["author"], variables={"approvers": ["ann", "bob", "cem"]}
    )
    tasks = open_tasks(document)
    assert [t.assignee for t in tasks] == [people["ann"], people["bob"], people["cem"]]
    decide(tasks[0], people["ann"], "approve")
    decide(tasks[1], people["bob"], "changes", "add the delivery date")
    document.refresh_from_db()
    assert document.status == DocumentStatus.IN_APPROVAL  # cem has not decided yet
    decide(tasks[2], people["cem"], "approve")
    document.refresh_from_db()
    assert document.status == DocumentStatus.DRAFT
    assert [a.status for a in selectors.approvals_of(document)] == [ApprovalStatus.CHANGES]
    assert {
        (getattr(s.approver, "username", None), s.decision)
        for s in selectors.approval_sheet(document)
    } == {
        ("ann", "approve"),
        ("bob", "changes"),
        ("cem", "approve"),
    }


def head_setup():
    people = users("author", "head", "director", "deputy_director")
    department = DepartmentFactory.create(head=people["head"])
    people["author"].department = department
    people["author"].save()
    board = Role.objects.create(name="Management")
    for name in ("director", "deputy_director"):
        people[name].roles.add(board)
    return people


@pytest.mark.parametrize(("amount", "board_asked"), [("20000", False), ("75000", True)])
def test_department_head_then_any_one_of_the_board_above_the_threshold(amount, board_asked):
    people = head_setup()
    document = new_document(people["author"], "document_approval", amount=amount)
    approval_send(
        document=document, actor=people["author"], variables={"approver_group": "Management"}
    )
    [task] = open_tasks(document)
    assert task.assignee == people["head"]  # rule:head(initiator)
    decide(task, people["head"], "approve")
    document.refresh_from_db()
    if not board_asked:
        assert document.status == DocumentStatus.APPROVED
        return
    [task] = open_tasks(document)
    assert task.assignee is None
    assert task.candidate_groups == ["Management"]
    # Any one member decides for the group.
    decide(task, people["deputy_director"], "approve", "ok for the board")
    document.refresh_from_db()
    assert document.status == DocumentStatus.APPROVED
    assert [(s.approver, s.decision) for s in selectors.approval_sheet(document)] == [
        (people["head"], "approve"),
        (people["deputy_director"], "approve"),
    ]


def test_a_new_version_restarts_the_route_or_continues_by_the_types_rule():
    people = users("author", "ann", "bob")
    restart = new_document(people["author"], "document_approval_sequential")
    approval_send(document=restart, actor=people["author"], variables={"approvers": ["ann", "bob"]})
    decide(open_tasks(restart)[0], people["ann"], "approve")
    first_instance = restart.process_instance
    version_add(document=restart, file_name="p.txt", data=b"v2", actor=people["author"])
    restart.refresh_from_db()
    first_instance.refresh_from_db()
    assert first_instance.status == InstanceStatus.CANCELLED
    assert restart.status == DocumentStatus.IN_APPROVAL
    [task] = open_tasks(restart)
    assert task.assignee == people["ann"]  # from the start again, for version 2

    go_on = new_document(
        people["author"], "document_approval_sequential", rule=NewVersionRule.CONTINUE
    )
    approval_send(document=go_on, actor=people["author"], variables={"approvers": ["ann", "bob"]})
    decide(open_tasks(go_on)[0], people["ann"], "approve")
    version_add(document=go_on, file_name="p.txt", data=b"v2", actor=people["author"])
    go_on.refresh_from_db()
    [task] = open_tasks(go_on)
    assert task.assignee == people["bob"]  # the route goes on
    decide(task, people["bob"], "approve")
    go_on.refresh_from_db()
    assert go_on.status == DocumentStatus.APPROVED
    assert [(s.approver, s.version.number) for s in selectors.approval_sheet(go_on)] == [
        (people["ann"], 1),
        (people["bob"], 2),
    ]


def test_the_approval_sheet_exports_to_pdf():
    people = users("author", "ann")
    document = new_document(people["author"], "document_approval_sequential")
    approval_send(document=document, actor=people["author"], variables={"approvers": ["ann"]})
    decide(open_tasks(document)[0], people["ann"], "approve", "Looks right")
    pdf = approval_sheet_pdf(document)
    text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
    assert "Proposal ACME" in text
    assert "Looks right" in text
    assert people["ann"].get_full_name() in text


def test_lifecycle_rules_withdraw_sign_and_archive():
    from konvergo.core.errors import Conflict, NotAllowed
    from konvergo.documents.services.approvals import approval_withdraw
    from konvergo.documents.services.documents import document_archive, document_mark_signed

    people = users("author", "ann")
    document = new_document(people["author"], "document_approval_sequential")
    with pytest.raises(Conflict, match="Only an approved document"):
        document_mark_signed(document=document, actor=people["author"])
    send(document, people["author"], ["ann"])
    with pytest.raises(Conflict, match="in approval cannot be archived"):
        document_archive(document=document, actor=people["author"])
    instance = document.process_instance
    approval_withdraw(document=document, actor=people["author"])
    document.refresh_from_db()
    instance.refresh_from_db()
    assert (document.status, instance.status) == (DocumentStatus.DRAFT, InstanceStatus.CANCELLED)
    assert open_tasks(document) == []
    send(document, people["author"], ["ann"])
    decide(open_tasks(document)[0], people["ann"], "approve")
    document_mark_signed(document=document, actor=people["author"])
    document.refresh_from_db()
    assert document.status == DocumentStatus.SIGNED
    document_archive(document=document, actor=people["author"])
    with pytest.raises(NotAllowed, match="archived and read-only"):
        send(document, people["author"], ["ann"])
