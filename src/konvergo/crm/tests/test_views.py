"""The CRM pages: lists (filters, sorting, saved views, bulk actions, export, query budgets),
organisation and person forms with the duplicate warning, the dossier and its quick actions,
the deals board and its drop endpoint, won/lost, ownership transfer and the quick entry forms.

Every page is checked permitted and denied; a denied POST also leaves the data unchanged."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from konvergo.crm.models import (
    Activity,
    Deal,
    Organization,
    OwnershipTransfer,
    Person,
    Pipeline,
    SavedView,
    Stage,
)
from konvergo.crm.services.activities import activity_create, activity_log_call
from konvergo.crm.services.contacts import organization_create, person_create
from konvergo.crm.services.deals import deal_create, pipeline_create
from konvergo.org.models import Scope, User
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

MODELS = ("organization", "person", "deal", "activity")
_roles = iter(range(10**6))


def grant(user: User, *permissions: str, scope: str = Scope.ALL) -> User:
    role = role_create(name=f"crm role {next(_roles)}", scope=scope, permissions=permissions)
    user.roles.add(role)
    return User.objects.get(pk=user.pk)


def crm_permissions(*actions: str, models: tuple[str, ...] = MODELS) -> list[str]:
    return [f"crm.{action}_{model}" for model in models for action in actions]


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def html_of(response: Any) -> str:
    return str(response.content.decode())


def snapshot(*models: type[Model]) -> dict[str, list[dict[str, Any]]]:
    return {
        model.__name__: list(model._default_manager.order_by("pk").values()) for model in models
    }


EVERYTHING = (Organization, Person, Deal, Activity, OwnershipTransfer, SavedView)


@pytest.fixture
def seller() -> User:
    user = UserFactory.create(username="seller", first_name="Sam", last_name="Seller")
    return grant(user, *crm_permissions("view", "add", "change"))


@pytest.fixture
def viewer() -> User:
    user = UserFactory.create(username="viewer", first_name="Vera", last_name="Viewer")
    return grant(user, *crm_permissions("view"))


@pytest.fixture
def pipeline() -> Pipeline:
    return pipeline_create(
        name="Sales",
        stages=[
            {"name": "New", "probability": 10},
            {"name": "Proposal", "probability": 50},
            {"name": "Won", "probability": 100, "is_won": True},
            {"name": "Lost", "probability": 0, "is_lost": True},
        ],
        is_default=True,
    )


@pytest.fixture
def acme(seller: User) -> Organization:
    return organization_create(
        actor=seller,
        legal_name="Acme Trading GmbH",
        emails=[{"address": "info@acme.example", "kind": "work", "is_primary": True}],
        phones=[{"number": "+49 30 1234567", "kind": "work", "is_primary": True}],
        tax_ids=[{"country": "PL", "kind": "NIP", "value": "5260250274"}],
    )


def stage(pipeline: Pipeline, name: str) -> Stage:
    return pipeline.stages.get(name=name)


# --- smoke: every page renders -----------------------------------------------------------------


def test_every_page_renders_for_a_seller(client, seller, acme, pipeline) -> None:
    person = person_create(actor=seller, last_name="Nowak", first_name="Anna", organization=acme)
    deal = deal_create(actor=seller, title="Big order", organization=acme)
    activity = activity_create(
        actor=seller,
        kind="task",
        subject="Send offer",
        organization=acme,
        due_at=timezone.now() + timedelta(days=1),
    )
    signed_in(client, seller)
    for url in [
        "/crm/organizations/",
        "/crm/persons/",
        "/crm/deals/",
        "/crm/activities/",
        "/crm/organizations/new/",
        "/crm/persons/new/",
        f"/crm/organizations/{acme.public_id}/",
        f"/crm/organizations/{acme.public_id}/edit/",
        f"/crm/organizations/{acme.public_id}/transfer/",
        f"/crm/persons/{person.public_id}/",
        f"/crm/persons/{person.public_id}/edit/",
        "/crm/deals/board/",
        f"/crm/deals/board/{pipeline.public_id}/",
        f"/crm/deals/{deal.public_id}/",
        "/crm/deals/new/",
        f"/crm/activities/{activity.public_id}/",
        "/crm/quick/contact/",
        "/crm/quick/call/",
    ]:
        response = client.get(url)
        assert response.status_code == 200, url


# --- permissions: 403 without the permission, 404 outside the scope ------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "/crm/organizations/",
        "/crm/persons/",
        "/crm/deals/",
        "/crm/activities/",
        "/crm/organizations/export.csv",
        "/crm/deals/export.xlsx",
        "/crm/deals/board/",
        "/crm/organizations/new/",
        "/crm/quick/contact/",
        "/crm/quick/call/",
        "/crm/transfer/",
    ],
)
def test_pages_refuse_users_without_the_permission(client, url) -> None:
    nobody = UserFactory.create()
    assert client.get(url).status_code == 302  # to the sign-in page
    signed_in(client, nobody)
    response = client.get(url)
    assert response.status_code == 403
    assert "You may not" in html_of(response)


def test_a_record_outside_the_scope_is_not_found(client, seller, acme) -> None:
    own_scope = grant(UserFactory.create(), *crm_permissions("view", "change"), scope=Scope.OWN)
    signed_in(client, own_scope)
    assert client.get(f"/crm/organizations/{acme.public_id}/").status_code == 404
    assert client.get(f"/crm/organizations/{acme.public_id}/edit/").status_code == 404
    listed = html_of(client.get("/crm/organizations/"))
    assert "Acme Trading" not in listed
    signed_in(client, seller)
    assert client.get(f"/crm/organizations/{acme.public_id}/").status_code == 200


def test_denied_posts_change_nothing(client, viewer, seller, acme, pipeline) -> None:
    deal = deal_create(actor=seller, title="Big order", organization=acme)
    activity = activity_create(
        actor=seller,
        kind="task",
        subject="Send offer",
        organization=acme,
        due_at=timezone.now() + timedelta(days=1),
    )
    before = snapshot(*EVERYTHING)
    signed_in(client, viewer)
    posts = [
        ("/crm/organizations/new/", {"legal_name": "Other Corp", "owner": viewer.public_id}),
        (f"/crm/organizations/{acme.public_id}/edit/", {"legal_name": "Renamed"}),
        (f"/crm/organizations/{acme.public_id}/actions/call/", {"call-subject": "Hello"}),
        (f"/crm/organizations/{acme.public_id}/actions/deal/", {"deal-title": "More"}),
        (
            f"/crm/organizations/{acme.public_id}/transfer/",
            {"to_user": viewer.public_id, "reason": "mine"},
        ),
        ("/crm/organizations/bulk/", {"action": "tag", "tag": "vip", "ids": [acme.public_id]}),
        (f"/crm/deals/{deal.public_id}/move/", {"stage": stage(pipeline, "Proposal").public_id}),
        (f"/crm/deals/{deal.public_id}/won/", {}),
        (f"/crm/deals/{deal.public_id}/lost/", {"reason": "price"}),
        (f"/crm/activities/{activity.public_id}/done/", {}),
        ("/crm/activities/bulk/", {"action": "done", "ids": [activity.public_id]}),
        ("/crm/quick/contact/", {"last_name": "Nowak"}),
        ("/crm/quick/call/", {"client": "Acme Trading GmbH", "subject": "Hi"}),
        (
            "/crm/transfer/",
            {"from_user": seller.public_id, "to_user": viewer.public_id, "reason": "leaving"},
        ),
    ]
    for url, data in posts:
        response = client.post(url, data, headers={"HX-Request": "true"})
        assert response.status_code == 403, url
    assert snapshot(*EVERYTHING) == before


def test_posts_without_the_csrf_token_are_refused(seller, acme) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(seller)
    before = snapshot(*EVERYTHING)
    response = client.post(
        f"/crm/organizations/{acme.public_id}/actions/call/", {"call-subject": "Hello"}
    )
    assert response.status_code == 403
    assert client.post("/crm/organizations/new/", {"legal_name": "X"}).status_code == 403
    assert snapshot(*EVERYTHING) == before


# --- lists ------------------------------------------------------------------------------------


def _organizations(owner: User, count: int, start: int = 0) -> list[Organization]:
    return [
        organization_create(
            actor=owner,
            legal_name=f"Company {n:03d}",
            status="customer" if n % 2 else "lead",
            tags=["vip"] if n % 3 == 0 else [],
            emails=[{"address": f"office{n}@company.example", "kind": "work", "is_primary": True}],
            phones=[{"number": f"+4930{1000000 + n}", "kind": "work", "is_primary": True}],
            addresses=[{"kind": "office", "city": "Berlin", "country": "DE"}],
        )
        for n in range(start, start + count)
    ]


def test_the_organisation_list_filters_sorts_and_pages(client, seller) -> None:
    _organizations(seller, 30)
    signed_in(client, seller)

    first = html_of(client.get("/crm/organizations/"))
    assert "30 records" in first
    assert "Company 000" in first and "Company 024" in first and "Company 025" not in first
    assert "Page 1 of 2" in first

    second = html_of(client.get("/crm/organizations/", {"page": 2}))
    assert "Company 029" in second and "Company 000" not in second

    backwards = html_of(client.get("/crm/organizations/", {"sort": "-name"}))
    assert backwards.index("Company 029") < backwards.index("Company 028")
    assert "Company 004" not in backwards  # the 26th from the end is on page 2
    # the sort links keep the filters and toggle the direction
    assert 'href="?sort=name"' in backwards

    customers = html_of(client.get("/crm/organizations/", {"status": "customer"}))
    assert "15 records" in customers
    assert "Company 001" in customers and "Company 002" not in customers

    found = html_of(client.get("/crm/organizations/", {"q": "office7@company"}))
    assert "1 record" in found and "Company 007" in found

    tagged = html_of(client.get("/crm/organizations/", {"tag": "vip", "status": "customer"}))
    assert "5 records" in tagged  # 3, 9, 15, 21, 27
    # sorting and paging keep every filter value
    both = html_of(
        client.get("/crm/organizations/", {"status": ["lead", "customer"], "sort": "-name"})
    )
    assert "30 records" in both
    assert 'href="?status=lead&amp;status=customer&amp;sort=name"' in both
    assert 'href="?status=lead&amp;status=customer&amp;sort=-name&amp;page=2"' in both


def test_saved_views_are_personal(client, seller, viewer) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/views/",
        {"list_name": "organization", "name": "My customers", "query": "status=customer&page=3"},
    )
    view = SavedView.objects.get()
    assert (view.user, view.list_name, view.name, view.query) == (
        seller,
        "organization",
        "My customers",
        "status=customer",
    )
    assert response["Location"] == "/crm/organizations/?status=customer"
    page = html_of(client.get("/crm/organizations/"))
    assert 'href="?status=customer">My customers</a>' in page

    # someone else neither sees nor deletes it
    signed_in(client, viewer)
    assert "My customers" not in html_of(client.get("/crm/organizations/"))
    assert client.post(f"/crm/views/{view.public_id}/delete/").status_code == 404
    assert SavedView.objects.count() == 1

    signed_in(client, seller)
    client.post(f"/crm/views/{view.public_id}/delete/")
    assert SavedView.objects.count() == 0


def test_a_saved_view_needs_a_name(client, seller) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/views/", {"list_name": "deal", "name": " ", "query": "q=x"}, follow=True
    )
    assert "Give the view a name." in html_of(response)
    assert SavedView.objects.count() == 0


def test_bulk_actions_hand_over_and_tag_the_selected_rows(client, seller, viewer) -> None:
    one, two, three = _organizations(seller, 3)
    signed_in(client, seller)
    response = client.post(
        "/crm/organizations/bulk/",
        {
            "action": "transfer",
            "owner": viewer.public_id,
            "reason": "new territory",
            "ids": [one.public_id, two.public_id],
            "next": "/crm/organizations/?status=lead",
        },
        follow=True,
    )
    assert response.redirect_chain[-1][0] == "/crm/organizations/?status=lead"
    assert "2 rows were changed." in html_of(response)
    owners = dict(Organization.objects.values_list("legal_name", "owner__username"))
    assert owners == {"Company 000": "viewer", "Company 001": "viewer", "Company 002": "seller"}
    assert OwnershipTransfer.objects.filter(reason="new territory").count() == 2

    client.post(
        "/crm/organizations/bulk/", {"action": "tag", "tag": "Fair 2026", "ids": [three.public_id]}
    )
    assert [t.name for t in Organization.objects.get(pk=three.pk).tags.all()] == ["Fair 2026"]


def test_a_bulk_hand_over_needs_a_reason(client, seller, viewer) -> None:
    (one,) = _organizations(seller, 1)
    signed_in(client, seller)
    response = client.post(
        "/crm/organizations/bulk/",
        {"action": "transfer", "owner": viewer.public_id, "ids": [one.public_id]},
        follow=True,
    )
    assert "Give a reason." in html_of(response)
    assert Organization.objects.get().owner == seller


def test_bulk_mark_done_on_activities(client, seller, acme) -> None:
    due = timezone.now() + timedelta(days=1)
    tasks = [
        activity_create(
            actor=seller, kind="task", subject=f"Task {n}", organization=acme, due_at=due
        )
        for n in range(3)
    ]
    signed_in(client, seller)
    client.post(
        "/crm/activities/bulk/",
        {"action": "done", "ids": [tasks[0].public_id, tasks[2].public_id]},
    )
    done = dict(Activity.objects.values_list("subject", "done_at"))
    assert done["Task 0"] is not None and done["Task 2"] is not None
    assert done["Task 1"] is None


def test_export_the_filtered_list_as_csv_and_xlsx(client, seller) -> None:
    _organizations(seller, 4)
    signed_in(client, seller)

    response = client.get("/crm/organizations/export.csv", {"status": "customer"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="organizations-')
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["Name", "Status", "Owner"]
    assert [row[0] for row in rows[1:]] == ["Company 001", "Company 003"]
    assert rows[1][3] == "office1@company.example"
    assert rows[1][4] == "+49301000001"  # a phone number is not mistaken for a formula

    response = client.get("/crm/organizations/export.xlsx", {"sort": "-name"})
    assert response["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    sheet = load_workbook(io.BytesIO(response.content)).active
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert values[0][0] == "Name"
    assert [row[0] for row in values[1:]] == [
        "Company 003",
        "Company 002",
        "Company 001",
        "Company 000",
    ]


def test_export_defuses_formulas(client, seller) -> None:
    organization_create(actor=seller, legal_name='=HYPERLINK("http://x")')
    signed_in(client, seller)
    text = client.get("/crm/organizations/export.csv").content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text
    sheet = load_workbook(io.BytesIO(client.get("/crm/organizations/export.xlsx").content)).active
    assert sheet["A2"].data_type == "s"


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def test_lists_cost_the_same_queries_for_3_and_30_rows(client, seller, pipeline) -> None:
    signed_in(client, seller)

    def add(count: int, start: int) -> None:
        for organization in _organizations(seller, count, start):
            person = person_create(
                actor=seller,
                last_name=f"Person {organization.legal_name}",
                organization=organization,
                tags=["vip"],
                emails=[{"address": f"p{organization.pk}@x.example", "kind": "work"}],
            )
            deal = deal_create(
                actor=seller,
                title=f"Deal {organization.legal_name}",
                organization=organization,
                amount=Decimal("100.00"),
            )
            activity_log_call(actor=seller, subject="Call", person=person, deal=deal)

    add(3, 0)
    urls = [
        "/crm/organizations/",
        "/crm/persons/",
        "/crm/deals/",
        "/crm/activities/",
        "/crm/deals/board/",
    ]
    small = {url: _queries(client, url) for url in urls}
    add(27, 3)
    large = {url: _queries(client, url) for url in urls}
    assert large == small
    assert max(small.values()) <= 20


def test_the_dossier_query_count_does_not_grow(client, seller, acme, pipeline) -> None:
    signed_in(client, seller)

    def add(count: int) -> None:
        for n in range(count):
            person = person_create(actor=seller, last_name=f"P{n}", organization=acme)
            activity_log_call(actor=seller, subject=f"Call {n}", organization=acme)
            activity_create(
                actor=seller,
                kind="task",
                subject=f"T{n}",
                person=person,
                organization=acme,
                due_at=timezone.now() + timedelta(days=n + 1),
            )
            deal_create(actor=seller, title=f"D{n}", organization=acme)

    add(2)
    url = f"/crm/organizations/{acme.public_id}/"
    small = _queries(client, url)
    add(20)
    assert _queries(client, url) == small


# --- organisation and person forms ----------------------------------------------------------------


def management(prefix: str, total: int) -> dict[str, Any]:
    return {f"{prefix}-TOTAL_FORMS": total, f"{prefix}-INITIAL_FORMS": 0}


PL_NIP = {"tax_ids-0-country": "PL", "tax_ids-0-kind": "NIP", "tax_ids-0-value": "526-025-02-74"}


def organization_post(owner: User, **values: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "legal_name": "Baltic Amber Sp. z o.o.",
        "status": "prospect",
        "owner": owner.public_id,
        **management("emails", 1),
        **management("phones", 1),
        **management("tax_ids", 1),
        **management("addresses", 1),
        "emails-0-address": "biuro@amber.example",
        "emails-0-kind": "work",
        "phones-0-number": "+48 22 123 45 67",
        "phones-0-kind": "work",
        "tax_ids-0-country": "",
        "tax_ids-0-kind": "",
        "tax_ids-0-value": "",
        "addresses-0-kind": "office",
        "addresses-0-city": "Gdańsk",
        "addresses-0-country": "PL",
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_create_an_organisation_with_its_rows(client, seller) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/organizations/new/",
        organization_post(seller, tags="amber, Fair", **PL_NIP),
    )
    organization = Organization.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/crm/organizations/{organization.public_id}/"
    assert organization.legal_name == "Baltic Amber Sp. z o.o."
    assert organization.status == "prospect"
    assert list(organization.emails.values_list("address", flat=True)) == ["biuro@amber.example"]
    assert list(organization.phones.values_list("number", flat=True)) == ["+48221234567"]
    assert list(organization.tax_ids.values_list("value", flat=True)) == ["5260250274"]
    assert sorted(organization.tags.values_list("name", flat=True)) == ["Fair", "amber"]
    assert organization.addresses.get().city == "Gdańsk"


def test_empty_rows_with_their_default_kind_are_left_out(client, seller) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/organizations/new/",
        organization_post(seller, **{"emails-0-address": "", "phones-0-number": ""}),
    )
    assert response.status_code == 302
    organization = Organization.objects.get()
    assert organization.emails.count() == organization.phones.count() == 0


def test_service_field_errors_land_under_the_row_field(client, seller) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/organizations/new/",
        organization_post(
            seller, **{**PL_NIP, "phones-0-number": "12345", "tax_ids-0-value": "5260250275"}
        ),
    )
    html = html_of(response)
    assert response.status_code == 200
    assert 'id="id_phones-0-number_error"' in html
    assert 'id="id_tax_ids-0-value_error"' in html
    assert "the check digit is wrong" in html
    assert Organization.objects.count() == 0


def test_a_likely_duplicate_is_shown_before_saving(client, seller, acme) -> None:
    signed_in(client, seller)
    data = organization_post(
        seller,
        legal_name="ACME Trading",
        **{**PL_NIP, "emails-0-address": "sales@elsewhere.example"},
    )
    response = client.post("/crm/organizations/new/", data)
    html = html_of(response)
    assert response.status_code == 200
    assert 'data-testid="duplicates"' in html
    assert f'href="/crm/organizations/{acme.public_id}/"' in html
    assert "Same tax id: PL NIP 5260250274" in html
    assert 'name="ignore_duplicates" value="1"' in html
    assert Organization.objects.count() == 1

    response = client.post("/crm/organizations/new/", {**data, "ignore_duplicates": "1"})
    assert response.status_code == 302
    assert Organization.objects.count() == 2


def test_the_live_duplicate_check_while_typing(client, seller, acme) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/organizations/duplicates/",
        {"legal_name": "", **management("phones", 1), "phones-0-number": "+49 30 1234567"},
        headers={"HX-Request": "true"},
    )
    html = html_of(response)
    assert "Acme Trading GmbH" in html and "Same phone: +49301234567" in html
    assert "Save anyway" not in html
    nothing = client.post("/crm/organizations/duplicates/", {"legal_name": "Zebra Zoo"})
    assert "duplicates" not in html_of(nothing)


def test_a_new_person_is_checked_for_duplicates_too(client, seller) -> None:
    person_create(
        actor=seller,
        first_name="Anna",
        last_name="Nowak",
        emails=[{"address": "anna@example.com", "kind": "work"}],
    )
    signed_in(client, seller)
    live = client.post(
        "/crm/persons/duplicates/",
        {
            "first_name": "",
            "last_name": "",
            **management("emails", 1),
            "emails-0-address": "Anna@Example.com",
        },
    )
    assert "Same e-mail: anna@example.com" in html_of(live)
    response = client.post(
        "/crm/persons/new/",
        {
            "first_name": "Anna",
            "last_name": "Nowak",
            "owner": seller.public_id,
            **management("emails", 0),
            **management("phones", 0),
            **management("addresses", 0),
        },
    )
    assert "Save anyway" in html_of(response)
    assert Person.objects.count() == 1


def test_a_duplicate_the_user_may_not_open_is_named_without_a_link(client, acme) -> None:
    own = grant(UserFactory.create(), *crm_permissions("view", "add"), scope=Scope.OWN)
    signed_in(client, own)
    html = html_of(
        client.post(
            "/crm/organizations/new/", organization_post(own, legal_name="Acme Trading GmbH")
        )
    )
    assert "Acme Trading GmbH" in html and "you may not open it" in html
    assert f"/crm/organizations/{acme.public_id}/" not in html


def test_edit_an_organisation(client, seller, acme) -> None:
    signed_in(client, seller)
    page = html_of(client.get(f"/crm/organizations/{acme.public_id}/edit/"))
    assert 'value="info@acme.example"' in page and 'value="5260250274"' in page
    data = organization_post(
        seller,
        legal_name="Acme Trading AG",
        **{
            "emails-0-address": "info@acme.example",
            "phones-0-number": "+49 30 1234567",
            **PL_NIP,
            "addresses-0-city": "Berlin",
            "addresses-0-country": "DE",
        },
    )
    response = client.post(f"/crm/organizations/{acme.public_id}/edit/", data)
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.legal_name == "Acme Trading AG"
    assert acme.addresses.get().city == "Berlin"


def test_create_a_person_at_an_organisation(client, seller, acme) -> None:
    signed_in(client, seller)
    page = html_of(client.get(f"/crm/persons/new/?organization={acme.public_id}"))
    assert 'value="Acme Trading GmbH"' in page
    response = client.post(
        "/crm/persons/new/",
        {
            "first_name": "Anna",
            "last_name": "Nowak",
            "owner": seller.public_id,
            "organization": "Acme Trading GmbH",
            "role": "Buyer",
            **management("emails", 1),
            **management("phones", 0),
            **management("addresses", 0),
            "emails-0-address": "anna@acme.example",
            "emails-0-kind": "work",
        },
    )
    person = Person.objects.get()
    assert response["Location"] == f"/crm/persons/{person.public_id}/"
    employment = person.employments.get()
    assert (employment.organization, employment.role) == (acme, "Buyer")
    dossier = html_of(client.get(f"/crm/organizations/{acme.public_id}/"))
    assert "Anna Nowak" in dossier and "Buyer" in dossier


def test_custom_fields_appear_on_the_form_and_the_dossier(client, seller) -> None:
    from konvergo.crm.services.custom_fields import custom_field_create

    custom_field_create(
        target="organization",
        key="segment",
        label="Segment",
        field_type="choice",
        options=["Gold", "Silver"],
        required=True,
    )
    custom_field_create(target="organization", key="budget", label="Budget", field_type="money")
    signed_in(client, seller)
    missing = client.post("/crm/organizations/new/", organization_post(seller))
    assert 'id="id_cf_segment_error"' in html_of(missing)
    assert Organization.objects.count() == 0

    client.post(
        "/crm/organizations/new/",
        organization_post(seller, cf_segment="Gold", cf_budget="1500", cf_budget__currency="PLN"),
    )
    organization = Organization.objects.get()
    assert organization.custom_data == {
        "segment": "Gold",
        "budget": {"amount": "1500.00", "currency": "PLN"},
    }
    dossier = html_of(client.get(f"/crm/organizations/{organization.public_id}/"))
    assert "Segment" in dossier and "Gold" in dossier and "1500.00 PLN" in dossier


# --- the dossier --------------------------------------------------------------------------------


def test_the_dossier_lists_planned_actions_before_the_past(client, seller, acme, pipeline) -> None:
    activity_log_call(actor=seller, subject="Intro call", organization=acme, outcome="reached")
    activity_create(
        actor=seller,
        kind="meeting",
        subject="Kick-off",
        organization=acme,
        due_at=timezone.now() + timedelta(days=7),
    )
    activity_create(
        actor=seller,
        kind="task",
        subject="Send the contract",
        organization=acme,
        due_at=timezone.now() + timedelta(days=2),
    )
    signed_in(client, seller)
    html = html_of(client.get(f"/crm/organizations/{acme.public_id}/"))
    planned = html.index('data-testid="timeline-planned"')
    past = html.index('data-testid="timeline-past"')
    assert planned < html.index("Send the contract") < html.index("Kick-off") < past
    assert past < html.index("Intro call")
    assert "info@acme.example" in html and "+49301234567" in html
    assert "PL NIP" in html


def test_log_a_call_from_the_dossier_with_htmx(client, seller, acme) -> None:
    signed_in(client, seller)
    response = client.post(
        f"/crm/organizations/{acme.public_id}/actions/call/",
        {
            "call-subject": "Asked about prices",
            "call-outcome": "reached",
            "call-result": "Wants an offer",
        },
        headers={"HX-Request": "true"},
    )
    html = html_of(response)
    assert response.status_code == 200
    call = Activity.objects.get()
    assert (call.kind, call.subject, call.outcome, call.organization) == (
        "call",
        "Asked about prices",
        "reached",
        acme,
    )
    assert call.done_at is not None
    assert "The call was logged." in html
    assert 'id="kv-timeline"' in html and 'hx-swap-oob="true"' in html
    assert "Asked about prices" in html


def test_a_quick_action_with_errors_saves_nothing(client, seller, acme) -> None:
    signed_in(client, seller)
    response = client.post(
        f"/crm/organizations/{acme.public_id}/actions/meeting/",
        {"meeting-subject": "", "meeting-due_at": ""},
        headers={"HX-Request": "true"},
    )
    html = html_of(response)
    assert 'id="id_meeting-subject_error"' in html and 'id="id_meeting-due_at_error"' in html
    assert "kv-timeline" not in html
    assert Activity.objects.count() == 0
    # without htmx the dossier comes back with the form open
    response = client.post(
        f"/crm/organizations/{acme.public_id}/actions/meeting/", {"meeting-subject": "x"}
    )
    assert response.status_code == 422
    assert 'id="kv-action-meeting" class="collapse show"' in html_of(response)


def test_plan_a_meeting_add_a_task_and_a_deal_from_the_dossier(
    client, seller, acme, pipeline
) -> None:
    signed_in(client, seller)
    base = f"/crm/persons/{person_create(actor=seller, last_name='Nowak').public_id}/actions"
    client.post(
        f"{base}/meeting/",
        {
            "meeting-subject": "Lunch",
            "meeting-due_at": "2030-05-06T12:30",
            "meeting-owner": seller.public_id,
        },
    )
    client.post(
        f"{base}/task/",
        {
            "task-subject": "Follow up",
            "task-due_at": "2030-05-08T09:00",
            "task-recurrence": "FREQ=WEEKLY",
        },
    )
    client.post(
        f"{base}/deal/",
        {
            "deal-title": "Renewal",
            "deal-pipeline": pipeline.public_id,
            "deal-amount": "2500.50",
            "deal-currency": "PLN",
        },
    )
    meeting = Activity.objects.get(kind="meeting")
    task = Activity.objects.get(kind="task")
    assert meeting.due_at is not None and meeting.person is not None
    assert task.recurrence.startswith("FREQ=WEEKLY")
    deal = Deal.objects.get()
    assert (deal.title, deal.amount, deal.currency, deal.stage.name) == (
        "Renewal",
        Decimal("2500.50"),
        "PLN",
        "New",
    )
    assert deal.person == meeting.person


def test_mark_a_planned_task_done_from_the_timeline(client, seller, acme) -> None:
    task = activity_create(
        actor=seller,
        kind="task",
        subject="Send the contract",
        organization=acme,
        due_at=timezone.now() + timedelta(days=1),
    )
    signed_in(client, seller)
    response = client.post(
        f"/crm/activities/{task.public_id}/done/",
        {"dossier": f"organization:{acme.public_id}"},
        headers={"HX-Request": "true"},
    )
    html = html_of(response)
    assert html.index('data-testid="timeline-past"') < html.index("Send the contract")
    task.refresh_from_db()
    assert task.done_at is not None


BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"
    targetNamespace="http://konvergo.example/bpmn">
  <bpmn:process id="onboarding" name="Client onboarding" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="welcome" name="Welcome call">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="welcome"/>
    <bpmn:sequenceFlow id="f2" sourceRef="welcome" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>"""


def test_start_a_process_for_the_client(client, seller, acme) -> None:
    from konvergo.processes.models import ProcessInstance
    from konvergo.processes.services import definition_deploy

    signed_in(client, seller)
    assert "Start a process" not in html_of(client.get(f"/crm/organizations/{acme.public_id}/"))
    definition_deploy(xml=BPMN)
    assert "Start a process" not in html_of(client.get(f"/crm/organizations/{acme.public_id}/"))
    denied = client.post(
        f"/crm/organizations/{acme.public_id}/actions/process/",
        {"process-definition": "onboarding"},
    )
    assert denied.status_code == 403

    starter = grant(seller, "processes.add_processinstance")
    signed_in(client, starter)
    page = html_of(client.get(f"/crm/organizations/{acme.public_id}/"))
    assert "Start a process" in page and "Client onboarding" in page
    client.post(
        f"/crm/organizations/{acme.public_id}/actions/process/",
        {"process-definition": "onboarding"},
    )
    instance = ProcessInstance.objects.get()
    assert instance.business_key == str(acme.public_id)
    assert instance.subject_id == str(acme.pk)
    assert instance.definition.key == "onboarding"


# --- the board ----------------------------------------------------------------------------------


def test_the_board_shows_columns_with_counts_and_sums(client, seller, acme, pipeline) -> None:
    deal_create(actor=seller, title="A", organization=acme, amount=Decimal("100.50"))
    deal_create(actor=seller, title="B", organization=acme, amount=Decimal("200"))
    deal_create(actor=seller, title="C", amount=Decimal("70"), currency="PLN")
    deal_create(actor=seller, title="D", stage=stage(pipeline, "Proposal"), amount=Decimal("5"))
    signed_in(client, seller)
    html = html_of(client.get("/crm/deals/board/"))
    new = html[html.index('data-testid="stage-new"') : html.index('data-testid="stage-proposal"')]
    assert "3 deals" in new and "300.50 EUR" in new and "70.00 PLN" in new
    proposal = html[html.index('data-testid="stage-proposal"') :]
    assert "1 deal<" in proposal and "5.00 EUR" in proposal
    assert "vendor/sortablejs/Sortable.min.js" in html


def test_a_drop_moves_the_deal_and_rerenders_both_columns(client, seller, acme, pipeline) -> None:
    deal = deal_create(actor=seller, title="Big order", organization=acme, amount=Decimal("10"))
    proposal = stage(pipeline, "Proposal")
    signed_in(client, seller)
    response = client.post(
        f"/crm/deals/{deal.public_id}/move/",
        {"stage": proposal.public_id},
        headers={"HX-Request": "true"},
    )
    html = html_of(response)
    assert response.status_code == 200
    deal.refresh_from_db()
    assert deal.stage == proposal
    assert html.count('hx-swap-oob="true"') == 3  # two columns and the status message
    assert f'id="kv-stage-{stage(pipeline, "New").public_id}"' in html
    assert f'id="kv-stage-{proposal.public_id}"' in html
    assert f'id="kv-stage-{stage(pipeline, "Won").public_id}"' not in html

    won = client.post(
        f"/crm/deals/{deal.public_id}/move/",
        {"stage": stage(pipeline, "Won").public_id},
        headers={"HX-Request": "true"},
    )
    assert won.status_code == 200
    deal.refresh_from_db()
    assert deal.status == "won"


def test_a_drop_onto_another_pipelines_stage_is_refused(client, seller, pipeline) -> None:
    other = pipeline_create(name="Renewals", stages=[{"name": "Due"}, {"name": "Renewed"}])
    deal = deal_create(actor=seller, title="Big order")
    before = snapshot(Deal)
    signed_in(client, seller)
    response = client.post(
        f"/crm/deals/{deal.public_id}/move/",
        {"stage": other.stages.get(name="Due").public_id},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "Renewals" in html_of(response) or "pipeline" in html_of(response).lower()
    assert snapshot(Deal) == before
    # without htmx: back to the board with the reason
    response = client.post(
        f"/crm/deals/{deal.public_id}/move/",
        {"stage": other.stages.get(name="Due").public_id},
        follow=True,
    )
    assert 'role="alert"' in html_of(response)
    assert snapshot(Deal) == before


def test_a_drop_without_permission_is_refused(client, viewer, seller, pipeline) -> None:
    deal = deal_create(actor=seller, title="Big order")
    signed_in(client, viewer)
    board = html_of(client.get("/crm/deals/board/"))
    assert "data-kv-sortable" not in board and "Move to" not in board
    response = client.post(
        f"/crm/deals/{deal.public_id}/move/",
        {"stage": stage(pipeline, "Proposal").public_id},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 403
    deal.refresh_from_db()
    assert deal.stage.name == "New"


def test_win_and_lose_deals_with_a_reason(client, seller, pipeline) -> None:
    won = deal_create(actor=seller, title="Won one")
    lost = deal_create(actor=seller, title="Lost one")
    signed_in(client, seller)
    client.post(f"/crm/deals/{won.public_id}/won/")
    won.refresh_from_db()
    assert (won.status, won.stage.name) == ("won", "Won")

    response = client.post(f"/crm/deals/{lost.public_id}/lost/", {"reason": ""})
    assert response.status_code == 422
    assert 'id="id_reason_error"' in html_of(response)
    lost.refresh_from_db()
    assert lost.status == "open"

    client.post(f"/crm/deals/{lost.public_id}/lost/", {"reason": "Too expensive"})
    lost.refresh_from_db()
    assert (lost.status, lost.lost_reason, lost.stage.name) == ("lost", "Too expensive", "Lost")


def test_filters_by_user_and_pipeline_are_selects(client, seller, viewer, pipeline) -> None:
    signed_in(client, seller)
    html = html_of(client.get("/crm/activities/", {"owner": seller.public_id}))
    assert '<select name="owner"' in html
    assert f'<option value="{seller.public_id}" selected>Sam Seller</option>' in html
    html = html_of(client.get("/crm/organizations/", {"owner": viewer.public_id}))
    assert f'<option value="{viewer.public_id}" selected>Vera Viewer</option>' in html
    html = html_of(client.get("/crm/deals/", {"pipeline": pipeline.public_id}))
    assert f'<option value="{pipeline.public_id}" selected>Sales</option>' in html


def test_deal_list_filters_by_pipeline_and_bulk_changes_the_owner(
    client, seller, viewer, pipeline
) -> None:
    other = pipeline_create(name="Renewals", stages=[{"name": "Due"}])
    sales = deal_create(actor=seller, title="Sales deal")
    deal_create(actor=seller, title="Renewal deal", pipeline=other)
    signed_in(client, seller)
    html = html_of(client.get("/crm/deals/", {"pipeline": pipeline.public_id}))
    assert "Sales deal" in html and "Renewal deal" not in html
    client.post(
        "/crm/deals/bulk/", {"action": "owner", "owner": viewer.public_id, "ids": [sales.public_id]}
    )
    sales.refresh_from_db()
    assert sales.owner == viewer


def test_create_a_deal_from_the_board(client, seller, acme, pipeline) -> None:
    signed_in(client, seller)
    response = client.post(
        "/crm/deals/new/",
        {
            "title": "Fresh",
            "pipeline": pipeline.public_id,
            "amount": "12",
            "currency": "EUR",
            "client": "Acme Trading GmbH",
        },
    )
    deal = Deal.objects.get()
    assert response["Location"] == f"/crm/deals/{deal.public_id}/"
    assert deal.organization == acme


# --- ownership transfer --------------------------------------------------------------------------


def test_hand_a_client_over_with_its_deals(client, seller, viewer, acme, pipeline) -> None:
    deal = deal_create(actor=seller, title="Open deal", organization=acme)
    task = activity_create(
        actor=seller,
        kind="task",
        subject="Call back",
        organization=acme,
        due_at=timezone.now() + timedelta(days=1),
    )
    signed_in(client, seller)
    page = html_of(client.get(f"/crm/organizations/{acme.public_id}/transfer/"))
    assert f'value="{seller.public_id}"' not in page  # not to the current owner
    response = client.post(
        f"/crm/organizations/{acme.public_id}/transfer/",
        {"to_user": viewer.public_id, "reason": "Vera covers Berlin", "include_deals": "on"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/crm/organizations/{acme.public_id}/"
    acme.refresh_from_db()
    deal.refresh_from_db()
    task.refresh_from_db()
    assert (acme.owner, deal.owner, task.owner) == (viewer, viewer, seller)
    transfer = OwnershipTransfer.objects.get()
    assert (transfer.reason, transfer.from_user, transfer.by) == (
        "Vera covers Berlin",
        seller,
        seller,
    )
    assert "Vera covers Berlin" in html_of(response)  # in the timeline


def test_a_transfer_needs_a_reason(client, seller, viewer, acme) -> None:
    signed_in(client, seller)
    response = client.post(
        f"/crm/organizations/{acme.public_id}/transfer/",
        {"to_user": viewer.public_id, "reason": ""},
    )
    assert 'id="id_reason_error"' in html_of(response)
    acme.refresh_from_db()
    assert acme.owner == seller


def test_bulk_hand_over_of_a_leaving_employee(client, seller, viewer, acme) -> None:
    person_create(actor=seller, last_name="Nowak")
    admin = grant(UserFactory.create(), *crm_permissions("view", "change"), "org.change_user")
    signed_in(client, admin)
    response = client.post(
        "/crm/transfer/",
        {"from_user": seller.public_id, "to_user": viewer.public_id, "reason": "Sam leaves"},
        follow=True,
    )
    assert "2 clients of Sam Seller were handed to Vera Viewer." in html_of(response)
    assert set(Organization.objects.values_list("owner", flat=True)) == {viewer.pk}
    assert set(Person.objects.values_list("owner", flat=True)) == {viewer.pk}


# --- quick entry on a phone ----------------------------------------------------------------------


def test_quick_contact_and_quick_call(client, seller, acme) -> None:
    signed_in(client, seller)
    bad = client.post("/crm/quick/contact/", {"last_name": "Kowalski", "phone": "601"})
    assert 'id="id_phone_error"' in html_of(bad)
    assert Person.objects.count() == 0

    response = client.post(
        "/crm/quick/contact/",
        {
            "first_name": "Jan",
            "last_name": "Kowalski",
            "phone": "+48 601 234 567",
            "email": "jan@example.com",
            "organization": "Acme Trading GmbH",
        },
    )
    person = Person.objects.get()
    assert response["Location"] == f"/crm/persons/{person.public_id}/"
    assert person.phones.get().number == "+48601234567"
    assert person.employments.get().organization == acme

    options = html_of(client.get("/crm/names/client/", {"q": "Kowal"}))
    assert "Jan Kowalski · " in options
    label = options.split('value="')[1].split('"')[0]
    response = client.post(
        "/crm/quick/call/", {"client": label, "subject": "Intro", "outcome": "reached"}
    )
    call = Activity.objects.get()
    assert (call.person, call.kind, call.outcome) == (person, "call", "reached")
    assert response["Location"] == f"/crm/persons/{person.public_id}/"

    unknown = client.post("/crm/quick/call/", {"client": "Nobody", "subject": "x"})
    assert 'id="id_client_error"' in html_of(unknown)


# --- navigation and search ----------------------------------------------------------------------


def test_navigation_shows_clients_and_deals_by_permission(client, seller) -> None:
    signed_in(client, seller)
    html = html_of(client.get("/"))
    assert 'id="kv-clients-menu"' in html and 'id="kv-deals-menu"' in html
    signed_in(client, UserFactory.create())
    html = html_of(client.get("/"))
    assert "kv-clients-menu" not in html and "kv-deals-menu" not in html


def test_global_search_finds_clients(client, seller, acme) -> None:
    signed_in(client, seller)
    html = html_of(client.get("/search", {"q": "acme"}))
    assert f'href="/crm/organizations/{acme.public_id}/"' in html


def test_the_board_without_any_pipeline(client, seller) -> None:
    signed_in(client, seller)
    response = client.get("/crm/deals/board/")
    assert response.status_code == 200
    assert "There is no pipeline yet." in html_of(response)
    assert client.get("/crm/deals/board/00000000-0000-0000-0000-000000000000/").status_code == 404


def test_the_bulk_hand_over_page_is_for_administrators(client, seller) -> None:
    signed_in(client, seller)
    assert client.get("/crm/transfer/").status_code == 403
    assert "/crm/transfer/" not in html_of(client.get("/"))
    admin = grant(UserFactory.create(), *crm_permissions("view", "change"), "org.change_user")
    signed_in(client, admin)
    assert client.get("/crm/transfer/").status_code == 200
    assert 'href="/crm/transfer/"' in html_of(client.get("/"))
