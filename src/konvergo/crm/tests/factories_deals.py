"""Factories for pipelines, deals, activities and quotes (organisations and persons live in
factories.py, written by the contacts work; until then tests create them directly)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import factory

from konvergo.crm.models import Activity, Deal, Organization, Pipeline, Stage
from konvergo.crm.services.deals import first_stage, pipeline_create
from konvergo.org.models import User
from konvergo.org.tests.factories import UserFactory

SALES_STAGES: list[dict[str, Any]] = [
    {"name": "Lead", "probability": 10},
    {"name": "Qualified", "probability": 30},
    {"name": "Proposal", "probability": 60},
    {"name": "Won", "probability": 100, "is_won": True},
    {"name": "Lost", "probability": 0, "is_lost": True},
]


def make_pipeline(
    name: str = "Sales", stages: list[dict[str, Any]] | None = None, *, is_default: bool = False
) -> Pipeline:
    return pipeline_create(name=name, stages=stages or SALES_STAGES, is_default=is_default)


def sales_pipeline() -> Pipeline:
    """The pipeline named "Sales" (created with the standard five stages the first time)."""
    found = Pipeline.objects.filter(name="Sales").first()
    return found or make_pipeline("Sales", is_default=True)


def stage_named(pipeline: Pipeline, name: str) -> Stage:
    return pipeline.stages.get(name=name)


def make_organization(owner: User, legal_name: str = "Acme GmbH") -> Organization:
    return Organization.objects.create(legal_name=legal_name, owner=owner)


def _first_stage(deal: Any) -> Stage:
    stage = first_stage(deal.pipeline)
    assert stage is not None
    return stage


class DealFactory(factory.django.DjangoModelFactory[Deal]):
    """A deal in the first stage of the "Sales" pipeline (made on first use)."""

    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    pipeline = factory.LazyFunction(sales_pipeline)
    stage = factory.LazyAttribute(_first_stage)
    owner = factory.SubFactory(UserFactory)
    amount = Decimal("1000.00")
    currency = "EUR"


class ActivityFactory(factory.django.DjangoModelFactory[Activity]):
    """A planned task."""

    class Meta:
        model = Activity

    kind = "task"
    subject = factory.Sequence(lambda n: f"Task {n}")
    owner = factory.SubFactory(UserFactory)
