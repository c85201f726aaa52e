"""The audit trail records who changed what, when, with before and after values."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.test import Client

from konvergo.core.audit import acting_as, audit_trail
from konvergo.core.models import BaseModel
from konvergo.org.models import Department, User
from konvergo.org.tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_change_inside_acting_as_is_attributed_with_before_and_after() -> None:
    boss = UserFactory.create(first_name="Katharina", last_name="Vogel")
    department = DepartmentFactory.create(name="Sales")

    with acting_as(boss):
        department.name = "Sales & Marketing"
        department.save()

    newest, first = audit_trail(department)
    assert first.action == "created"
    assert newest.action == "changed"
    assert newest.actor == "Katharina Vogel"
    assert [(c.field, c.before, c.after) for c in newest.changes] == [
        ("name", "Sales", "Sales & Marketing")
    ]


def test_change_by_a_system_job_has_no_actor() -> None:
    department = DepartmentFactory.create(name="Finance")
    department.name = "Accounting"
    department.save()

    assert audit_trail(department)[0].actor == ""


def test_change_through_a_web_request_records_the_signed_in_user() -> None:
    admin = UserFactory.create(username="root", is_staff=True, is_superuser=True)
    department = DepartmentFactory.create(name="HR")
    client = Client()
    client.force_login(admin)

    response = client.post(
        f"/admin/org/department/{department.pk}/change/",
        {"name": "People & Culture", "parent": "", "head": "", "calendar": ""},
    )

    assert response.status_code == 302, response.content[:500]
    entry = audit_trail(department)[0]
    assert entry.actor_id == admin.pk
    assert [(c.field, c.before, c.after) for c in entry.changes] == [
        ("name", "HR", "People & Culture")
    ]


def test_password_changes_are_not_copied_into_the_history() -> None:
    user = UserFactory.create()
    user.set_password("another secret phrase")
    user.save()

    history_fields = {f.name for f in User.history.model._meta.get_fields()}
    assert "password" not in history_fields


def test_every_business_model_keeps_history() -> None:
    business_models = [
        model for model in apps.get_models() if issubclass(model, BaseModel) or model is User
    ]
    assert Department in business_models
    missing = [
        m.__name__
        for m in business_models
        if not hasattr(m, "history") and not getattr(m, "HISTORY_EXEMPT", False)
    ]
    assert missing == []
