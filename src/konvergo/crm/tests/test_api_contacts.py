"""The contacts API under /api/v1/crm: organisations and persons, duplicates, merges, transfers,
timelines. Permissions first, visibility next, 422 with field names for bad input, refused
requests change nothing, and list endpoints cost the same queries for 3 or 30 rows."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from konvergo.core.models import Event
from konvergo.crm.models import Email, Organization, OwnershipTransfer, Person, Phone
from konvergo.crm.services.contacts import organization_create, person_create
from konvergo.crm.tests.factories import (
    ActivityFactory,
    DealFactory,
    EmailFactory,
    OrganizationFactory,
    PersonFactory,
    PhoneFactory,
    TagFactory,
    TaxIdFactory,
)
from konvergo.org.models import User
from konvergo.org.services import api_token_create, role_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/crm"
ALL = [
    f"crm.{action}_{model}"
    for action in ("view", "add", "change", "delete")
    for model in ("organization", "person")
] + ["crm.view_deal", "crm.view_activity", "crm.view_quote"]


class Api:
    def __init__(self, user: User) -> None:
        self.user = user
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(BASE + path, headers=self.headers)


def api_for(*permissions: str, scope: str = "all") -> Api:
    user = UserFactory.create()
    if permissions:
        user.roles.add(
            role_create(name=f"role {user.username}", scope=scope, permissions=list(permissions))
        )
    return Api(user)


def error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:800]
    body: dict[str, Any] = response.json()["error"]
    return body


def snapshot() -> dict[str, Any]:
    """What a refused request might have touched."""
    return {
        "organizations": sorted(
            Organization.objects.values_list("public_id", "legal_name", "owner_id", "updated_at")
        ),
        "persons": sorted(Person.objects.values_list("public_id", "last_name", "owner_id")),
        "emails": sorted(Email.objects.values_list("address", "organization_id", "person_id")),
        "phones": Phone.objects.count(),
        "transfers": OwnershipTransfer.objects.count(),
        "events": Event.objects.count(),
    }


# --- organisations: create, read, change, delete --------------------------------------------

NEW_ORGANIZATION = {
    "legal_name": "Kowalski Sp. z o.o.",
    "status": "prospect",
    "tags": ["vip"],
    "emails": [{"address": "Biuro@Kowalski.pl", "is_primary": True}],
    "phones": [{"number": "22 123 45 67"}],
    "tax_ids": [{"country": "PL", "kind": "NIP", "value": "526-025-02-74"}],
    "addresses": [{"kind": "registered", "city": "Warszawa", "country": "PL"}],
}


def test_create_and_read_an_organization() -> None:
    api = api_for(*ALL)

    created = api.post("/organizations", NEW_ORGANIZATION)

    assert created.status_code == 201, created.content
    body = created.json()
    assert body["legal_name"] == "Kowalski Sp. z o.o."
    assert body["owner"]["id"] == str(api.user.public_id)
    assert body["tags"] == ["vip"]
    assert body["primary_email"] == "biuro@kowalski.pl"
    assert body["primary_phone"] == "+48221234567"
    assert [(t["country"], t["kind"], t["value"]) for t in body["tax_ids"]] == [
        ("PL", "NIP", "5260250274")
    ]
    assert body["addresses"][0]["city"] == "Warszawa"
    read = api.get(f"/organizations/{body['id']}")
    assert read.status_code == 200
    assert read.json() == body


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"phones": [{"number": "12"}]}, "phones.0.number"),
        ({"emails": [{"address": "nobody@"}]}, "emails.0.address"),
        ({"tax_ids": [{"country": "PL", "kind": "NIP", "value": "1234567890"}]}, "tax_ids.0.value"),
        ({"status": "dormant"}, "status"),
    ],
)
def test_bad_field_values_answer_422_and_save_nothing(change: dict[str, Any], field: str) -> None:
    api = api_for(*ALL)
    before = snapshot()

    response = api.post("/organizations", {**NEW_ORGANIZATION, **change})

    details = error(response, 422)["details"]
    assert list(details) == [field]
    assert snapshot() == before


def test_a_body_of_the_wrong_shape_is_422() -> None:
    api = api_for(*ALL)

    response = api.post("/organizations", {"emails": "x"})

    assert error(response, 422)["code"] == "validation_error"
    assert Organization.objects.count() == 0


def test_patch_changes_only_what_is_sent_and_replaces_lists() -> None:
    api = api_for(*ALL)
    body = api.post("/organizations", NEW_ORGANIZATION).json()

    response = api.patch(
        f"/organizations/{body['id']}",
        {"short_name": "Kowalski", "emails": [{"address": "sales@kowalski.pl"}]},
    )

    assert response.status_code == 200, response.content
    changed = response.json()
    assert changed["short_name"] == "Kowalski"
    assert changed["legal_name"] == "Kowalski Sp. z o.o."
    assert [e["address"] for e in changed["emails"]] == ["sales@kowalski.pl"]
    assert changed["phones"] == body["phones"]


def test_patch_with_a_bad_phone_changes_nothing() -> None:
    api = api_for(*ALL)
    body = api.post("/organizations", NEW_ORGANIZATION).json()
    before = snapshot()

    response = api.patch(
        f"/organizations/{body['id']}", {"legal_name": "Renamed", "phones": [{"number": "+1"}]}
    )

    assert list(error(response, 422)["details"]) == ["phones.0.number"]
    assert snapshot() == before


def test_delete_an_organization() -> None:
    api = api_for(*ALL)
    organization = OrganizationFactory.create()

    response = api.delete(f"/organizations/{organization.public_id}")

    assert response.status_code == 204
    assert not Organization.objects.exists()


@pytest.mark.parametrize(
    ("permissions", "method", "path", "payload"),
    [
        (["crm.view_organization"], "post", "/organizations", NEW_ORGANIZATION),
        (["crm.view_organization"], "patch", "/organizations/{id}", {"legal_name": "X"}),
        (["crm.view_organization"], "delete", "/organizations/{id}", None),
        (["crm.add_organization"], "get", "/organizations/{id}", None),
        (["crm.add_organization"], "get", "/organizations", None),
        (
            ["crm.view_organization", "crm.change_organization"],
            "post",
            "/organizations/{id}/merge",
            {"source": "{other}"},
        ),
        (
            ["crm.view_organization"],
            "post",
            "/organizations/{id}/transfer",
            {"to_user": "{user}", "reason": "x"},
        ),
        (
            ["crm.view_organization", "crm.change_organization"],
            "post",
            "/transfers/bulk",
            {"from_user": "{owner}", "to_user": "{user}", "reason": "x"},
        ),
    ],
)
def test_denied_requests_are_403_and_change_nothing(
    permissions: list[str], method: str, path: str, payload: Any
) -> None:
    api = api_for(*permissions)
    organization = OrganizationFactory.create()
    other = OrganizationFactory.create()
    target_user = UserFactory.create()
    values = {
        "id": str(organization.public_id),
        "other": str(other.public_id),
        "user": str(target_user.public_id),
        "owner": str(organization.owner.public_id),
    }
    body = (
        {k: v.format(**values) if isinstance(v, str) else v for k, v in payload.items()}
        if payload
        else None
    )
    before = snapshot()

    call = getattr(api, method)
    response = (
        call(path.format(**values), body) if body is not None else call(path.format(**values))
    )

    error(response, 403)
    assert snapshot() == before


def test_records_outside_the_scope_are_404() -> None:
    api = api_for(*ALL, scope="own")
    theirs = OrganizationFactory.create()
    before = snapshot()

    assert api.get(f"/organizations/{theirs.public_id}").status_code == 404
    assert api.patch(f"/organizations/{theirs.public_id}", {"legal_name": "X"}).status_code == 404
    assert api.delete(f"/organizations/{theirs.public_id}").status_code == 404
    assert api.get("/organizations").json()["count"] == 0
    assert snapshot() == before


# --- lists ----------------------------------------------------------------------------------


def test_list_filters() -> None:
    api = api_for(*ALL)
    acme = organization_create(
        actor=api.user,
        legal_name="Acme GmbH",
        status="customer",
        emails=[{"address": "info@acme.example"}],
        tags=["vip"],
    )
    organization_create(actor=UserFactory.create(), legal_name="Bolt Ltd", status="lead")

    def names(**params: Any) -> list[str]:
        response = api.get("/organizations", **params)
        assert response.status_code == 200, response.content
        return [item["legal_name"] for item in response.json()["items"]]

    assert names() == ["Acme GmbH", "Bolt Ltd"]
    assert names(q="info@acme") == ["Acme GmbH"]
    assert names(status=["customer", "partner"]) == ["Acme GmbH"]
    assert names(tag="vip") == ["Acme GmbH"]
    assert names(owner=str(api.user.public_id)) == ["Acme GmbH"]
    assert names(ordering="-name") == ["Bolt Ltd", "Acme GmbH"]
    assert acme.status == "customer"
    assert list(error(api.get("/organizations", status="dormant"), 422)["details"]) == ["status"]


def fill_organizations(count: int, owner: User) -> None:
    tag = TagFactory.create(name="bulk")
    for _ in range(count):
        organization = OrganizationFactory.create(owner=owner)
        organization.tags.add(tag)
        EmailFactory.create(organization=organization, is_primary=True)
        PhoneFactory.create(organization=organization)
        TaxIdFactory.create(organization=organization)


def fill_persons(count: int, owner: User) -> None:
    employer = OrganizationFactory.create()
    for _ in range(count):
        person = PersonFactory.create(owner=owner)
        EmailFactory.create(person=person)
        person.employments.create(organization=employer, role="Buyer")


def queries(api: Api, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = api.get(path, limit=100)
    assert response.status_code == 200
    return len(captured)


BUDGET = 12


@pytest.mark.parametrize("scope", ["all", "own"])  # "own": visibility through a subquery
@pytest.mark.parametrize(
    ("path", "fill"), [("/organizations", fill_organizations), ("/persons", fill_persons)]
)
def test_lists_cost_the_same_queries_for_3_or_30_rows(
    path: str, fill: Any, scope: str, django_assert_max_num_queries
) -> None:
    api = api_for(*ALL, scope=scope)
    api.get(path)  # the token's first use is recorded once
    fill(3, api.user)
    few = queries(api, path)
    fill(27, api.user)

    with django_assert_max_num_queries(BUDGET):
        response = api.get(path, limit=100)

    assert response.json()["count"] == 30
    assert queries(api, path) == few


# --- duplicates -----------------------------------------------------------------------------


def test_duplicates_before_saving() -> None:
    api = api_for(*ALL, scope="own")
    organization_create(
        actor=api.user, legal_name="Kowalski Sp. z o.o.", emails=[{"address": "biuro@kowalski.pl"}]
    )
    hidden = OrganizationFactory.create(legal_name="Kowalski S.A.")  # someone else's

    response = api.get("/organizations/duplicates", name="Kowalski", email="BIURO@kowalski.pl")

    assert response.status_code == 200, response.content
    body = response.json()
    assert [(i["name"], i["reasons"]) for i in body["items"]] == [
        ("Kowalski Sp. z o.o.", ["Same e-mail: biuro@kowalski.pl", "Same name"])
    ]
    assert body["hidden"] == 1
    assert Organization.objects.filter(pk=hidden.pk).exists()


def test_person_duplicates_by_phone() -> None:
    api = api_for(*ALL)
    person_create(actor=api.user, last_name="Nowak", phones=[{"number": "+48601234567"}])

    body = api.get("/persons/duplicates", phone="+48 601 234 567").json()

    assert [i["reasons"] for i in body["items"]] == [["Same phone: +48601234567"]]


# --- merges ---------------------------------------------------------------------------------


def test_merge_organizations() -> None:
    api = api_for(*ALL)
    target = OrganizationFactory.create()
    source = OrganizationFactory.create(industry="Steel")
    EmailFactory.create(organization=source, address="old@source.example")

    response = api.post(
        f"/organizations/{target.public_id}/merge", {"source": str(source.public_id)}
    )

    assert response.status_code == 200, response.content
    assert response.json()["industry"] == "Steel"
    assert [e["address"] for e in response.json()["emails"]] == ["old@source.example"]
    assert not Organization.objects.filter(pk=source.pk).exists()


def test_merge_into_itself_and_across_types_is_refused() -> None:
    api = api_for(*ALL)
    organization = OrganizationFactory.create()
    person = PersonFactory.create()
    before = snapshot()

    itself = api.post(
        f"/organizations/{organization.public_id}/merge", {"source": str(organization.public_id)}
    )
    across = api.post(
        f"/organizations/{organization.public_id}/merge", {"source": str(person.public_id)}
    )
    back = api.post(f"/persons/{person.public_id}/merge", {"source": str(organization.public_id)})

    assert error(itself, 400)["details"] == {"field": "source"}
    assert error(across, 400)["details"] == {"field": "source"}
    assert error(back, 400)["details"] == {"field": "source"}
    assert snapshot() == before


def test_merge_needs_delete_permission() -> None:
    api = api_for("crm.view_organization", "crm.change_organization")
    target, source = OrganizationFactory.create_batch(2)
    before = snapshot()

    response = api.post(
        f"/organizations/{target.public_id}/merge", {"source": str(source.public_id)}
    )

    error(response, 403)
    assert snapshot() == before


# --- transfers ------------------------------------------------------------------------------


def test_transfer_an_organization() -> None:
    api = api_for(*ALL)
    old, new = UserFactory.create_batch(2)
    organization = OrganizationFactory.create(owner=old)
    deal = DealFactory.create(organization=organization, owner=old)

    response = api.post(
        f"/organizations/{organization.public_id}/transfer",
        {"to_user": str(new.public_id), "reason": "Region", "include_activities": False},
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["from_user"]["id"] == str(old.public_id)
    assert body["to_user"]["id"] == str(new.public_id)
    assert body["organization"]["id"] == str(organization.public_id)
    assert body["moved"] == {"deals": 1, "quotes": 0, "activities": 0}
    deal.refresh_from_db()
    assert deal.owner == new


def test_transfer_without_a_reason_is_422_and_changes_nothing() -> None:
    api = api_for(*ALL)
    organization = OrganizationFactory.create()
    before = snapshot()

    response = api.post(
        f"/organizations/{organization.public_id}/transfer",
        {"to_user": str(UserFactory.create().public_id), "reason": " "},
    )

    assert list(error(response, 422)["details"]) == ["reason"]
    assert snapshot() == before


def test_bulk_transfer() -> None:
    api = api_for(*ALL, "crm.change_deal", "crm.change_activity", "org.change_user")
    leaving, successor = UserFactory.create_batch(2)
    OrganizationFactory.create_batch(2, owner=leaving)
    PersonFactory.create(owner=leaving)

    response = api.post(
        "/transfers/bulk",
        {
            "from_user": str(leaving.public_id),
            "to_user": str(successor.public_id),
            "reason": "Left",
        },
    )

    assert response.status_code == 201, response.content
    assert len(response.json()) == 3
    assert not Organization.objects.filter(owner=leaving).exists()
    assert not Person.objects.filter(owner=leaving).exists()


def test_transfer_a_person() -> None:
    api = api_for(*ALL)
    person = PersonFactory.create()
    new = UserFactory.create()

    response = api.post(
        f"/persons/{person.public_id}/transfer", {"to_user": str(new.public_id), "reason": "x"}
    )

    assert response.status_code == 201, response.content
    assert response.json()["person"]["id"] == str(person.public_id)


# --- persons --------------------------------------------------------------------------------


def test_person_crud() -> None:
    api = api_for(*ALL)
    employer = OrganizationFactory.create()

    created = api.post(
        "/persons",
        {
            "first_name": "Jan",
            "last_name": "Kowalski",
            "birthday": "1980-05-01",
            "organization": str(employer.public_id),
            "role": "Buyer",
            "phones": [{"number": "601 234 567", "region": "PL"}],
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["name"] == "Jan Kowalski"
    assert body["employments"] == [
        {
            "organization": {"id": str(employer.public_id), "name": str(employer)},
            "role": "Buyer",
            "is_primary": True,
        }
    ]
    assert body["primary_phone"] == "+48601234567"

    changed = api.patch(f"/persons/{body['id']}", {"position": "CEO", "birthday": None})
    assert changed.status_code == 200, changed.content
    assert (changed.json()["position"], changed.json()["birthday"]) == ("CEO", None)

    bad = api.patch(f"/persons/{body['id']}", {"emails": [{"address": "x"}]})
    assert list(error(bad, 422)["details"]) == ["emails.0.address"]

    assert api.delete(f"/persons/{body['id']}").status_code == 204
    assert not Person.objects.exists()


def test_person_with_an_organization_the_caller_cannot_see_is_refused() -> None:
    api = api_for(*ALL, scope="own")
    hidden = OrganizationFactory.create()

    response = api.post("/persons", {"last_name": "Nowak", "organization": str(hidden.public_id)})

    assert list(error(response, 422)["details"]) == ["organization"]
    assert not Person.objects.exists()


# --- relations and timeline -----------------------------------------------------------------


def test_relate_organizations() -> None:
    api = api_for(*ALL)
    parent, branch = OrganizationFactory.create_batch(2)

    response = api.post(
        f"/organizations/{parent.public_id}/relations",
        {"target": str(branch.public_id), "kind": "parent"},
    )
    again = api.post(
        f"/organizations/{branch.public_id}/relations",
        {"target": str(parent.public_id), "kind": "branch"},
    )

    assert response.status_code == 201, response.content
    assert response.json()["target"]["id"] == str(branch.public_id)
    error(again, 400)


def test_timeline() -> None:
    api = api_for(*ALL)
    organization = OrganizationFactory.create()
    now = timezone.now()
    ActivityFactory.create(organization=organization, subject="Call back", due_at=now)
    ActivityFactory.create(organization=organization, subject="First call", done_at=now)
    DealFactory.create(organization=organization, title="Big")

    response = api.get(f"/organizations/{organization.public_id}/timeline")

    assert response.status_code == 200, response.content
    items = response.json()
    assert [(i["kind"], i["planned"]) for i in items] == [
        ("call", True),
        ("deal", False),  # created after the call was done
        ("call", False),
    ]
    assert items[0]["title"] == "Call: Call back"


def test_timeline_costs_the_same_queries_for_few_or_many_items() -> None:
    api = api_for(*ALL, scope="own")
    organization = OrganizationFactory.create(owner=api.user)
    path = f"/organizations/{organization.public_id}/timeline"
    api.get(path)

    def add(count: int) -> None:
        for _ in range(count):
            deal = DealFactory.create(organization=organization, owner=api.user)
            ActivityFactory.create(organization=organization, owner=api.user, due_at=timezone.now())
            ActivityFactory.create(deal=deal, owner=api.user, done_at=timezone.now())

    add(2)
    few = queries(api, path)
    add(18)

    assert queries(api, path) == few
    assert len(api.get(path, limit=500).json()) == 60
