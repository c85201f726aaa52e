"""Shared scene of the import tests: a user allowed to import, sheets written by openpyxl."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook

from konvergo.crm.services.deals import pipeline_create
from konvergo.org.models import Scope, User
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory

FIXTURES = Path(__file__).parent / "fixtures"
_roles = iter(range(10**6))

CRM = [
    f"crm.{action}_{model}"
    for model in ("organization", "person", "deal", "activity")
    for action in ("view", "add", "change", "delete")
]
IMPORTS = ["imports.add_importbatch", "imports.view_importbatch", "imports.add_importmapping"]


def grant(user: User, *permissions: str, scope: str = Scope.ALL) -> User:
    role = role_create(name=f"import role {next(_roles)}", scope=scope, permissions=permissions)
    user.roles.add(role)
    return User.objects.get(pk=user.pk)


@pytest.fixture
def importer_user(db: Any) -> User:
    user = UserFactory.create(username="importer", first_name="Ida", last_name="Importer")
    return grant(user, *CRM, *IMPORTS)


@pytest.fixture
def pipeline(db: Any) -> Any:
    return pipeline_create(
        name="Sales",
        stages=[
            {"name": "New", "probability": 10},
            {"name": "Offer", "probability": 50},
            {"name": "Won", "probability": 100, "is_won": True},
            {"name": "Lost", "probability": 0, "is_lost": True},
        ],
        is_default=True,
    )


def xlsx(
    rows: Sequence[Sequence[Any]],
    *,
    title: str = "Sheet1",
    extra: Callable[[Any], None] | None = None,
    more_sheets: dict[str, Sequence[Sequence[Any]]] | None = None,
) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    if extra is not None:
        extra(sheet)
    for name, other in (more_sheets or {}).items():
        ws = book.create_sheet(name)
        for row in other:
            ws.append(list(row))
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
