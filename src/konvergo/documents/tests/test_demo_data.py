"""The documents part of the demo company: types, the template gallery, a proposal in
approval waiting in the head of department's inbox."""

from __future__ import annotations

import pytest

from konvergo.core.demo import demo_steps
from konvergo.documents.models import Document, DocumentStatus, DocumentTemplate, DocumentType
from konvergo.processes.models import TaskStatus

pytestmark = pytest.mark.django_db


def test_demo_documents():
    said: list[str] = []
    for order, _name, step in demo_steps():
        if order <= 60:
            step(said.append)
    assert said[-1] == "4 document types, 3 templates, 1 proposal in approval"
    assert set(DocumentType.objects.values_list("code", flat=True)) == {
        "proposal",
        "contract",
        "order",
        "scan",
    }
    assert DocumentTemplate.objects.count() == 3
    proposal = Document.objects.get()
    assert proposal.status == DocumentStatus.IN_APPROVAL
    assert proposal.deal is not None and proposal.quote is not None
    assert proposal.process_instance is not None and proposal.owner.department is not None
    task = proposal.process_instance.tasks.get(status=TaskStatus.OPEN)
    assert task.assignee is not None
    assert task.assignee == proposal.owner.department.head
