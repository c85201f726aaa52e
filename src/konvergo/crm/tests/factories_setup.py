"""Small record makers for the custom field, campaign and search tests (plain ORM, stored in
the form the contacts services store: lower-case e-mails, E.164 phones, compact tax ids)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from konvergo.crm.models import Email, Employment, Organization, Person, Phone, Tag, TaxId
from konvergo.crm.services.contacts import normalize_name
from konvergo.org.models import User
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory

CRM_MODELS = ("organization", "person", "deal", "campaign", "customfield")


def crm_user(*permissions: str, scope: str = "all", **fields: Any) -> User:
    """A user holding `permissions` ("crm.view_person", ...) through one role of `scope`."""
    user: User = UserFactory.create(**fields)
    if permissions:
        role = role_create(name=f"role of {user.username}", scope=scope, permissions=permissions)
        user.roles.add(role)
    return user


def crm_all(action: str = "view") -> list[str]:
    return [f"crm.{action}_{model}" for model in CRM_MODELS]


def make_organization(
    owner: User,
    legal_name: str,
    *,
    short_name: str = "",
    status: str = "lead",
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    tax_ids: Iterable[tuple[str, str, str]] = (),
    tags: Iterable[str] = (),
    **fields: Any,
) -> Organization:
    organization = Organization.objects.create(
        owner=owner,
        legal_name=legal_name,
        short_name=short_name,
        status=status,
        normalized_name=normalize_name(legal_name),
        **fields,
    )
    for address in emails:
        Email.objects.create(organization=organization, address=address.lower())
    for number in phones:
        Phone.objects.create(organization=organization, number=number)
    for country, kind, value in tax_ids:
        TaxId.objects.create(organization=organization, country=country, kind=kind, value=value)
    for name in tags:
        organization.tags.add(Tag.objects.get_or_create(name=name)[0])
    return organization


def make_person(
    owner: User,
    first_name: str,
    last_name: str,
    *,
    organization: Organization | None = None,
    emails: Iterable[str] = (),
    phones: Iterable[str] = (),
    tags: Iterable[str] = (),
    **fields: Any,
) -> Person:
    person = Person.objects.create(
        owner=owner,
        first_name=first_name,
        last_name=last_name,
        normalized_name=normalize_name(f"{first_name} {last_name}", legal_forms=False),
        **fields,
    )
    for address in emails:
        Email.objects.create(person=person, address=address.lower())
    for number in phones:
        Phone.objects.create(person=person, number=number)
    if organization is not None:
        Employment.objects.create(person=person, organization=organization)
    for name in tags:
        person.tags.add(Tag.objects.get_or_create(name=name)[0])
    return person
