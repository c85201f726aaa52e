"""Custom fields in the lists and the list endpoints: a column per field (formatted by type,
links named without a query per row), in the CSV/XLSX export, a filter per field on the pages
(`cf_<key>`) and in the API (422 naming the parameter for unknown keys and bad values); and the
one rule for the bulk hand-over on the page and in the API."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from konvergo.crm.models import Deal, Organization, Person, Pipeline
from konvergo.crm.services.custom_fields import custom_data_clean, custom_field_create
from konvergo.crm.services.deals import deal_create, pipeline_create
from konvergo.crm.services.transfer import can_bulk_transfer
from konvergo.crm.tests.factories_setup import crm_user, make_organization, make_person
from konvergo.org.models import User
from konvergo.org.services import api_token_create

pytestmark = pytest.mark.django_db

VIEW_ALL = [f"crm.view_{model}" for model in ("organization", "person", "deal", "activity")]
BULK_TRANSFER_ALL = [
    *(f"crm.change_{model}" for model in ("organization", "person", "deal", "activity")),
    "org.change_user",
]


@pytest.fixture
def viewer() -> User:
    return crm_user(*VIEW_ALL)


@pytest.fixture
def pipeline() -> Pipeline:
    return pipeline_create(
        name="Sales",
        stages=[{"name": "New", "probability": 10}, {"name": "Won", "is_won": True}],
        is_default=True,
    )


@pytest.fixture
def organization_fields() -> None:
    for order, (key, label, field_type, options) in enumerate(
        [
            ("note", "Note", "text", []),
            ("employees", "Employees", "number", []),
            ("founded", "Founded", "date", []),
            ("tier", "Tier", "choice", ["gold", "silver"]),
            ("markets", "Markets", "multi_choice", ["de", "pl", "fr"]),
            ("active", "Active", "boolean", []),
            ("revenue", "Revenue", "money", []),
            ("parent", "Parent", "link", ["crm.organization"]),
        ]
    ):
        custom_field_create(
            target="organization",
            key=key,
            label=label,
            field_type=field_type,
            options=options,
            order=order,
        )


def organization(owner: User, name: str, **values: Any) -> Organization:
    data = custom_data_clean(target="organization", data=values)
    return make_organization(owner, name, custom_data=data)


@pytest.fixture
def records(organization_fields, viewer) -> dict[str, Organization]:
    parent = organization(viewer, "Parent AG")
    return {
        "parent": parent,
        "a": organization(
            viewer,
            "Alpha GmbH",
            note="Key account north",
            employees="250",
            founded="1999-05-01",
            tier="gold",
            markets=["pl", "de"],
            active=True,
            revenue={"amount": "12.5", "currency": "EUR"},
            parent={"type": "crm.organization", "id": str(parent.public_id)},
        ),
        "b": organization(
            viewer,
            "Beta SA",
            note="small",
            employees="12.5",
            tier="silver",
            markets=["fr"],
            active=False,
            revenue={"amount": "3", "currency": "PLN"},
        ),
    }


def page_of(client: Client, user: User, url: str) -> str:
    client.force_login(user)
    response = client.get(url)
    assert response.status_code == 200, url
    return str(response.content.decode())


def names_in(html: str) -> set[str]:
    return {name for name in ("Parent AG", "Alpha GmbH", "Beta SA") if f">{name}</a>" in html}


# --- columns and export ---------------------------------------------------------------------


def test_each_custom_field_is_a_column_formatted_by_its_type(client, viewer, records) -> None:
    html = page_of(client, viewer, "/crm/organizations/")

    for label in ("Note", "Employees", "Founded", "Tier", "Markets", "Active", "Revenue"):
        assert f">{label}\n" in html or f">{label}<" in html, label
    assert ">Key account north<" in html
    assert ">250<" in html
    assert '<time datetime="1999-05-01' in html
    assert ">gold<" in html
    assert ">de, pl<" in html  # in the options' order
    assert ">Yes<" in html and ">No<" in html
    assert ">12.50 EUR<" in html and ">3.00 PLN<" in html
    assert html.count(">Parent AG<") == 2  # its own row and Alpha's parent column


def test_a_link_the_user_may_not_see_is_not_named(client, records) -> None:
    own = crm_user(*VIEW_ALL, scope="own")
    mine = organization(
        own, "Mine", parent={"type": "crm.organization", "id": str(records["parent"].public_id)}
    )

    html = page_of(client, own, "/crm/organizations/")

    assert f">{mine.legal_name}</a>" in html
    assert "Parent AG" not in html


def test_the_export_has_the_custom_columns(client, viewer, records) -> None:
    client.force_login(viewer)

    response = client.get("/crm/organizations/export.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header = rows[0]
    alpha = dict(zip(header, next(row for row in rows if row[0] == "Alpha GmbH"), strict=True))
    assert alpha["Tier"] == "gold"
    assert alpha["Markets"] == "de, pl"
    assert alpha["Active"] == "Yes"
    assert alpha["Revenue"] == "12.50 EUR"
    assert alpha["Parent"] == "Parent AG"
    assert alpha["Founded"] == "1999-05-01"
    assert alpha["Employees"] == "250"

    response = client.get("/crm/organizations/export.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    assert sheet is not None
    values = [[cell.value for cell in row] for row in sheet.iter_rows()]
    beta = dict(zip(values[0], next(row for row in values if row[0] == "Beta SA"), strict=True))
    assert beta["Active"] == "No"
    assert beta["Employees"] == 12.5
    assert beta["Revenue"] == "3.00 PLN"
    assert beta["Parent"] is None  # an empty cell


# --- filters on the pages -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("cf_note=KEY", {"Alpha GmbH"}),
        ("cf_employees=12.50", {"Beta SA"}),
        ("cf_founded=1999-05-01", {"Alpha GmbH"}),
        ("cf_tier=silver", {"Beta SA"}),
        ("cf_markets=de", {"Alpha GmbH"}),
        ("cf_active=true", {"Alpha GmbH"}),
        ("cf_active=false", {"Beta SA"}),
        ("cf_revenue=pln", {"Beta SA"}),
        ("cf_tier=gold&cf_active=false", set()),
        ("cf_tier=&cf_note=", {"Parent AG", "Alpha GmbH", "Beta SA"}),
        ("cf_gone=1", {"Parent AG", "Alpha GmbH", "Beta SA"}),  # a deleted field's parameter
    ],
)
def test_the_list_filters_by_custom_fields(client, viewer, records, query, expected) -> None:
    html = page_of(client, viewer, f"/crm/organizations/?{query}")

    assert names_in(html) == expected


def test_the_filter_panel_has_a_filter_per_custom_field(client, viewer, records) -> None:
    html = page_of(client, viewer, "/crm/organizations/?cf_tier=gold")

    for name in ("cf_note", "cf_employees", "cf_founded", "cf_markets", "cf_active"):
        assert f'name="{name}"' in html, name
    assert '<option value="gold" selected>' in html
    assert 'name="cf_parent"' not in html  # links are filtered by public id in the API only


def test_a_bad_filter_value_shows_the_error_and_no_rows(client, viewer, records) -> None:
    html = page_of(client, viewer, "/crm/organizations/?cf_employees=many")

    assert names_in(html) == set()
    assert "Some filters are not valid" in html
    assert "Employees: Enter a number" in html


def test_persons_and_deals_have_their_custom_columns_and_filters(client, viewer, pipeline) -> None:
    custom_field_create(target="person", key="vip", label="VIP", field_type="boolean")
    custom_field_create(
        target="deal", key="source", label="Source", field_type="choice", options=["fair", "web"]
    )
    make_person(viewer, "Anna", "Nowak", custom_data={"vip": True})
    make_person(viewer, "Jan", "Kowalski")
    deal_create(actor=viewer, title="Fair deal", custom_data={"source": "fair"})
    deal_create(actor=viewer, title="Web deal", custom_data={"source": "web"})

    html = page_of(client, viewer, "/crm/persons/?cf_vip=true")
    assert ">VIP<" in html and "Nowak" in html and "Kowalski" not in html
    html = page_of(client, viewer, "/crm/deals/?cf_source=web")
    assert ">Source<" in html and ">Web deal<" in html and "Fair deal" not in html


# --- query budget ---------------------------------------------------------------------------


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(captured.captured_queries)


def test_lists_with_custom_fields_cost_the_same_for_3_and_30_rows(client, viewer, pipeline) -> None:
    for target in ("organization", "person", "deal"):
        custom_field_create(
            target=target, key="tier", label="Tier", field_type="choice", options=["a", "b"]
        )
        custom_field_create(target=target, key="related", label="Related", field_type="link")
    client.force_login(viewer)
    anchor_organization = make_organization(viewer, "Anchor")
    anchor_person = make_person(viewer, "Ann", "Anchor")

    def add(count: int, start: int) -> None:
        for number in range(start, start + count):
            to_org = {"type": "crm.organization", "id": str(anchor_organization.public_id)}
            to_person = {"type": "crm.person", "id": str(anchor_person.public_id)}
            data = {"tier": "a", "related": to_person}
            make_organization(viewer, f"Org {number:03}", custom_data=data)
            make_person(viewer, "P", f"Person {number:03}", custom_data={**data, "related": to_org})
            deal_create(
                actor=viewer, title=f"Deal {number:03}", custom_data={**data, "related": to_org}
            )

    urls = [
        "/crm/organizations/",
        "/crm/persons/",
        "/crm/deals/",
        "/crm/organizations/?cf_tier=a",
        "/crm/deals/?cf_tier=a",
    ]
    add(3, 0)
    small = {url: _queries(client, url) for url in urls}
    add(27, 3)
    large = {url: _queries(client, url) for url in urls}
    assert large == small
    assert max(small.values()) <= 25
    html = page_of(client, viewer, "/crm/persons/")
    assert html.count(">Anchor<") == 24  # named on each row of the page but its own


# --- the API --------------------------------------------------------------------------------


class Api:
    def __init__(self, user: User) -> None:
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/crm{path}", params, headers=self.headers)

    def post(self, path: str, body: Any) -> Any:
        return self.client.post(
            f"/api/v1/crm{path}", body, content_type="application/json", headers=self.headers
        )


def test_the_organisation_endpoint_filters_by_custom_fields(viewer, records) -> None:
    api = Api(viewer)

    def names(**params: Any) -> set[str]:
        response = api.get("/organizations", **params)
        assert response.status_code == 200, response.content
        return {item["legal_name"] for item in response.json()["items"]}

    assert names(cf_tier="gold") == {"Alpha GmbH"}
    assert names(cf_note="small") == {"Beta SA"}
    assert names(cf_employees="250.0") == {"Alpha GmbH"}
    assert names(cf_founded="1999-05-01") == {"Alpha GmbH"}
    assert names(cf_active="false") == {"Beta SA"}
    assert names(cf_markets=["de", "pl"]) == {"Alpha GmbH"}
    assert names(cf_revenue="EUR") == {"Alpha GmbH"}
    assert names(cf_parent=str(records["parent"].public_id)) == {"Alpha GmbH"}
    assert names(cf_tier="gold", q="beta") == set()
    items = api.get("/organizations", cf_tier="gold").json()["items"]
    assert items[0]["custom_data"]["revenue"] == {"amount": "12.50", "currency": "EUR"}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"cf_colour": "red"}, "cf_colour"),
        ({"cf_tier": "platinum"}, "cf_tier"),
        ({"cf_employees": "many"}, "cf_employees"),
        ({"cf_founded": "01.05.1999"}, "cf_founded"),
        ({"cf_active": "maybe"}, "cf_active"),
        ({"cf_markets": "es"}, "cf_markets"),
        ({"cf_parent": "not-a-uuid"}, "cf_parent"),
    ],
)
def test_an_unknown_key_or_bad_value_is_422_naming_the_parameter(
    viewer, records, params, field
) -> None:
    response = Api(viewer).get("/organizations", **params)

    assert response.status_code == 422, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["details"]) == [field]
    assert error["details"][field]


def test_the_person_and_deal_endpoints_filter_by_custom_fields(viewer, pipeline) -> None:
    custom_field_create(target="person", key="vip", label="VIP", field_type="boolean")
    custom_field_create(target="deal", key="score", label="Score", field_type="number")
    make_person(viewer, "Anna", "Nowak", custom_data={"vip": True})
    make_person(viewer, "Jan", "Kowalski", custom_data={"vip": False})
    deal_create(actor=viewer, title="High", custom_data={"score": "9.5"})
    deal_create(actor=viewer, title="Low", custom_data={"score": 1})
    api = Api(viewer)

    persons = api.get("/persons", cf_vip="true").json()["items"]
    assert [p["last_name"] for p in persons] == ["Nowak"]
    assert persons[0]["custom_data"] == {"vip": True}
    deals = api.get("/deals", cf_score="9.50").json()["items"]
    assert [d["title"] for d in deals] == ["High"]
    assert deals[0]["custom_data"] == {"score": "9.5"}
    board = api.get(f"/pipelines/{pipeline.public_id}/board", cf_score="1")
    assert board.status_code == 200, board.content
    assert [d["title"] for c in board.json()["columns"] for d in c["deals"]] == ["Low"]

    for path, params in [("/persons", {"cf_vip": "yes"}), ("/deals", {"cf_vip": "true"})]:
        response = api.get(path, **params)
        assert response.status_code == 422, response.content
        assert list(response.json()["error"]["details"]) == ["cf_vip"]
    assert Deal.objects.count() == 2 and Person.objects.count() == 2


# --- bulk hand-over: one rule for the page and the API --------------------------------------


def test_can_bulk_transfer_needs_every_permission() -> None:
    assert can_bulk_transfer(crm_user(*BULK_TRANSFER_ALL))
    for left_out in BULK_TRANSFER_ALL:
        permissions = [p for p in BULK_TRANSFER_ALL if p != left_out]
        assert not can_bulk_transfer(crm_user(*permissions)), left_out


def test_contacts_change_alone_may_not_bulk_transfer_on_the_page_or_in_the_api(client) -> None:
    user = crm_user(*VIEW_ALL, "crm.change_organization", "crm.change_person", "org.view_user")
    leaving, successor = crm_user(), crm_user()
    kept = make_organization(leaving, "Kept")
    body = {"from_user": str(leaving.public_id), "to_user": str(successor.public_id)}

    client.force_login(user)
    assert client.get("/crm/transfer/").status_code == 403
    response = client.post(
        "/crm/transfer/",
        {"from_user": leaving.pk, "to_user": successor.pk, "reason": "Left"},
    )
    assert response.status_code == 403
    response = Api(user).post("/transfers/bulk", {**body, "reason": "Left"})
    assert response.status_code == 403, response.content
    assert response.json()["error"]["code"] == "forbidden"
    kept.refresh_from_db()
    assert kept.owner == leaving

    admin = crm_user(*VIEW_ALL, *BULK_TRANSFER_ALL)
    client.force_login(admin)
    assert client.get("/crm/transfer/").status_code == 200
    response = Api(admin).post("/transfers/bulk", {**body, "reason": "Left"})
    assert response.status_code == 201, response.content
    kept.refresh_from_db()
    assert kept.owner == successor
