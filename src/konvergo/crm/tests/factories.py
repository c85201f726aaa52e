"""Factories for CRM records, written straight to the database (no services, no events).

Tests that exercise a service call the service; these set the scene around it.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory

from konvergo.crm import choices
from konvergo.crm.models import (
    Activity,
    Address,
    Campaign,
    CampaignMember,
    Deal,
    Email,
    Employment,
    Organization,
    OrganizationRelation,
    Person,
    Phone,
    Pipeline,
    Quote,
    QuoteLine,
    Stage,
    Tag,
    TaxId,
)
from konvergo.crm.services.contacts import normalize_name, person_normalized_name
from konvergo.org.tests.factories import UserFactory


class TagFactory(factory.django.DjangoModelFactory[Tag]):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"tag{n}")


class OrganizationFactory(factory.django.DjangoModelFactory[Organization]):
    class Meta:
        model = Organization

    legal_name = factory.Sequence(lambda n: f"Company {n} GmbH")
    owner = factory.SubFactory(UserFactory)
    normalized_name = factory.LazyAttribute(lambda o: normalize_name(o.legal_name))


class PersonFactory(factory.django.DjangoModelFactory[Person]):
    class Meta:
        model = Person

    first_name = factory.Faker("first_name")
    last_name = factory.Sequence(lambda n: f"Surname{n}")
    owner = factory.SubFactory(UserFactory)
    normalized_name = factory.LazyAttribute(
        lambda p: person_normalized_name(p.first_name, p.last_name)
    )


class EmailFactory(factory.django.DjangoModelFactory[Email]):
    class Meta:
        model = Email

    address = factory.Sequence(lambda n: f"contact{n}@example.com")


class PhoneFactory(factory.django.DjangoModelFactory[Phone]):
    class Meta:
        model = Phone

    number = factory.Sequence(lambda n: f"+4930{1000000 + n}")


class TaxIdFactory(factory.django.DjangoModelFactory[TaxId]):
    class Meta:
        model = TaxId

    organization = factory.SubFactory(OrganizationFactory)
    country = "PL"
    kind = "NIP"
    value = "5260250274"


class AddressFactory(factory.django.DjangoModelFactory[Address]):
    class Meta:
        model = Address

    street = factory.Sequence(lambda n: f"Main Street {n}")
    postal_code = "10115"
    city = "Berlin"
    country = "DE"


class EmploymentFactory(factory.django.DjangoModelFactory[Employment]):
    class Meta:
        model = Employment

    person = factory.SubFactory(PersonFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = "Buyer"


class RelationFactory(factory.django.DjangoModelFactory[OrganizationRelation]):
    class Meta:
        model = OrganizationRelation

    source = factory.SubFactory(OrganizationFactory)
    target = factory.SubFactory(OrganizationFactory)
    kind = choices.OrganizationRelationKind.PARTNER


class PipelineFactory(factory.django.DjangoModelFactory[Pipeline]):
    class Meta:
        model = Pipeline

    name = factory.Sequence(lambda n: f"Pipeline {n}")


class StageFactory(factory.django.DjangoModelFactory[Stage]):
    class Meta:
        model = Stage

    pipeline = factory.SubFactory(PipelineFactory)
    name = factory.Sequence(lambda n: f"Stage {n}")
    order = factory.Sequence(lambda n: n)
    probability = 10


class DealFactory(factory.django.DjangoModelFactory[Deal]):
    class Meta:
        model = Deal

    title = factory.Sequence(lambda n: f"Deal {n}")
    stage = factory.SubFactory(StageFactory)
    pipeline = factory.SelfAttribute("stage.pipeline")
    owner = factory.SubFactory(UserFactory)
    amount = Decimal("1000.00")
    currency = "EUR"


class ActivityFactory(factory.django.DjangoModelFactory[Activity]):
    class Meta:
        model = Activity

    kind = choices.ActivityKind.CALL
    subject = factory.Sequence(lambda n: f"Activity {n}")
    owner = factory.SubFactory(UserFactory)


class QuoteFactory(factory.django.DjangoModelFactory[Quote]):
    class Meta:
        model = Quote

    deal = factory.SubFactory(DealFactory)
    number = factory.Sequence(lambda n: f"Q-2026-{n:04d}")
    currency = "EUR"
    issued_on = factory.LazyFunction(lambda: dt.date(2026, 1, 15))
    owner = factory.SelfAttribute("deal.owner")


class QuoteLineFactory(factory.django.DjangoModelFactory[QuoteLine]):
    class Meta:
        model = QuoteLine

    quote = factory.SubFactory(QuoteFactory)
    position = factory.Sequence(lambda n: n + 1)
    description = "Consulting"
    quantity = Decimal("1")
    unit_price = Decimal("100.00")


class CampaignFactory(factory.django.DjangoModelFactory[Campaign]):
    class Meta:
        model = Campaign

    name = factory.Sequence(lambda n: f"Campaign {n}")
    owner = factory.SubFactory(UserFactory)


class CampaignMemberFactory(factory.django.DjangoModelFactory[CampaignMember]):
    class Meta:
        model = CampaignMember

    campaign = factory.SubFactory(CampaignFactory)
    person = factory.SubFactory(PersonFactory)
