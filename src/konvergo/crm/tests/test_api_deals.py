"""The CRM API for pipelines, deals, the board, activities and quotes (/api/v1/crm/...).

Permission first (403), visibility next (404 for records out of scope), 422 with field errors
and nothing saved on bad input, and a fixed number of queries per list whatever its length.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from konvergo.core.models import Event
from konvergo.crm.models import Activity, Deal, Pipeline, Quote, Stage
from konvergo.crm.services.quotes import quote_create
from konvergo.crm.tests.factories_deals import (
    ActivityFactory,
    DealFactory,
    make_organization,
    make_pipeline,
    sales_pipeline,
    stage_named,
)
from konvergo.org.models import User
from konvergo.org.services import api_token_create, role_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BASE = "/api/v1/crm"
ALL_DEAL_PERMISSIONS = [
    f"crm.{action}_{model}"
    for action in ("view", "add", "change", "delete")
    for model in ("deal", "activity", "quote", "pipeline", "organization", "person")
]


class Api:
    def __init__(self, user: User) -> None:
        self.user = user
        self.headers = {"Authorization": f"Bearer {api_token_create(user=user).raw}"}
        self.client = Client()

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(BASE + path, params, headers=self.headers)

    def post(self, path: str, body: Any = None) -> Any:
        return self.client.post(
            BASE + path, body or {}, content_type="application/json", headers=self.headers
        )

    def patch(self, path: str, body: Any) -> Any:
        return self.client.patch(
            BASE + path, body, content_type="application/json", headers=self.headers
        )

    def delete(self, path: str) -> Any:
        return self.client.delete(BASE + path, headers=self.headers)


def api_for(*permissions: str, scope: str = "all", **fields: Any) -> Api:
    user = UserFactory.create(**fields)
    if permissions:
        role = role_create(name=f"role of {user.username}", scope=scope, permissions=permissions)
        user.roles.add(role)
    return Api(user)


def seller(scope: str = "all") -> Api:
    return api_for(*ALL_DEAL_PERMISSIONS, scope=scope)


def assert_error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    return error


# --- pipelines ------------------------------------------------------------------------------


def test_create_and_list_pipelines_with_stages() -> None:
    api = seller()

    response = api.post(
        "/pipelines",
        {
            "name": "Renewals",
            "stages": [
                {"name": "Due", "probability": 50},
                {"name": "Renewed", "probability": 100, "is_won": True},
                {"name": "Churned", "is_lost": True},
            ],
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["name"] == "Renewals"
    assert body["is_default"] is True  # the first pipeline
    assert [(s["name"], s["order"], s["probability"]) for s in body["stages"]] == [
        ("Due", 1, 50),
        ("Renewed", 2, 100),
        ("Churned", 3, 0),
    ]
    listed = api.get("/pipelines").json()
    assert [p["id"] for p in listed["items"]] == [body["id"]]


def test_a_bad_pipeline_is_422_and_nothing_is_saved() -> None:
    api = seller()

    response = api.post(
        "/pipelines", {"name": "Sales", "stages": [{"name": "A", "probability": 101}]}
    )

    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]) == ["stages.0.probability"]
    assert Pipeline.objects.count() == 0
    assert Stage.objects.count() == 0


def test_pipelines_need_their_permission() -> None:
    api = api_for("crm.view_deal")

    assert_error(api.get("/pipelines"), 403, "forbidden")
    assert_error(api.post("/pipelines", {"name": "X", "stages": [{"name": "A"}]}), 403, "forbidden")
    assert Pipeline.objects.count() == 0


# --- deals ----------------------------------------------------------------------------------


def test_create_a_deal_in_the_default_pipeline() -> None:
    pipeline = sales_pipeline()
    api = seller()
    client = make_organization(api.user, "Acme GmbH")

    response = api.post(
        "/deals",
        {
            "title": "Fleet",
            "organization": str(client.public_id),
            "amount": "12500.50",
            "currency": "PLN",
            "expected_close": "2026-06-30",
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["title"] == "Fleet"
    assert body["pipeline"] == {"id": str(pipeline.public_id), "name": "Sales"}
    assert body["stage"]["name"] == "Lead"
    assert body["amount"] == "12500.50"
    assert body["currency"] == "PLN"
    assert body["organization"] == {"id": str(client.public_id), "name": "Acme GmbH"}
    assert body["owner"]["username"] == api.user.username
    assert body["status"] == "open"
    deal = Deal.objects.get(public_id=body["id"])
    assert deal.history.first().history_user == api.user
    assert Event.objects.filter(name="crm.deal.created", subject_id=str(deal.pk)).count() == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"currency": "ABC"}, "currency"),
        ({"amount": "-5"}, "amount"),
        ({"amount": "1.234"}, "amount"),
        ({"title": " "}, "title"),
    ],
)
def test_bad_deal_values_are_422_and_nothing_is_saved(body, field) -> None:
    sales_pipeline()
    api = seller()

    response = api.post("/deals", {"title": "Deal", **body})

    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]) == [field]
    assert Deal.objects.count() == 0
    assert Event.objects.count() == 0


def test_a_stage_from_another_pipeline_is_422_on_create_and_nothing_is_saved() -> None:
    sales = sales_pipeline()
    other = make_pipeline("Renewals", [{"name": "Due"}])
    api = seller()

    response = api.post(
        "/deals",
        {
            "title": "Deal",
            "pipeline": str(sales.public_id),
            "stage": str(stage_named(other, "Due").public_id),
        },
    )

    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]) == ["stage"]
    assert Deal.objects.count() == 0


def test_an_organisation_the_caller_cannot_see_is_a_field_error() -> None:
    sales_pipeline()
    api = seller(scope="own")
    hidden = make_organization(UserFactory.create())

    response = api.post("/deals", {"title": "Deal", "organization": str(hidden.public_id)})

    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]) == ["organization"]
    assert Deal.objects.count() == 0


def test_move_a_deal_to_the_next_stage() -> None:
    api = seller()
    deal = DealFactory.create(owner=api.user)
    qualified = stage_named(deal.pipeline, "Qualified")

    response = api.post(f"/deals/{deal.public_id}/stage", {"stage": str(qualified.public_id)})

    assert response.status_code == 200, response.content
    assert response.json()["stage"]["name"] == "Qualified"
    [changed] = Event.objects.filter(name="crm.deal.stage_changed")
    assert (changed.payload["from_stage"], changed.payload["to_stage"]) == ("Lead", "Qualified")
    assert changed.actor == api.user


def test_a_stage_from_another_pipeline_is_422_on_move_and_nothing_changes() -> None:
    api = seller()
    deal = DealFactory.create(owner=api.user)
    other = make_pipeline("Renewals", [{"name": "Due"}])

    response = api.post(
        f"/deals/{deal.public_id}/stage", {"stage": str(stage_named(other, "Due").public_id)}
    )

    error = assert_error(response, 422, "validation_error")
    assert list(error["details"]) == ["stage"]
    deal.refresh_from_db()
    assert deal.stage.name == "Lead"
    assert deal.history.count() == 1
    assert not Event.objects.filter(name="crm.deal.stage_changed").exists()


def test_an_unknown_stage_is_422() -> None:
    api = seller()
    deal = DealFactory.create(owner=api.user)

    response = api.post(
        f"/deals/{deal.public_id}/stage", {"stage": "00000000-0000-0000-0000-000000000000"}
    )

    assert list(assert_error(response, 422, "validation_error")["details"]) == ["stage"]


def test_win_and_lose() -> None:
    api = seller()
    won = DealFactory.create(owner=api.user)
    lost = DealFactory.create(owner=api.user)

    response = api.post(f"/deals/{won.public_id}/won")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["stage"]["name"]) == ("won", "Won")
    assert response.json()["closed_at"] is not None

    missing = api.post(f"/deals/{lost.public_id}/lost", {"reason": ""})
    assert list(assert_error(missing, 422, "validation_error")["details"]) == ["reason"]
    response = api.post(f"/deals/{lost.public_id}/lost", {"reason": "Too expensive"})
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["lost_reason"]) == ("lost", "Too expensive")
    assert Event.objects.filter(name="crm.deal.won").count() == 1
    assert Event.objects.filter(name="crm.deal.lost").count() == 1


def test_get_update_and_delete_a_deal() -> None:
    api = seller()
    deal = DealFactory.create(owner=api.user)

    assert api.get(f"/deals/{deal.public_id}").json()["title"] == deal.title
    response = api.patch(
        f"/deals/{deal.public_id}", {"title": "Renamed", "amount": "99.90", "currency": "usd"}
    )
    assert response.status_code == 200, response.content
    assert (response.json()["title"], response.json()["amount"]) == ("Renamed", "99.90")
    assert response.json()["currency"] == "USD"

    bad = api.patch(f"/deals/{deal.public_id}", {"title": "Again", "currency": "??"})
    assert list(assert_error(bad, 422, "validation_error")["details"]) == ["currency"]
    deal.refresh_from_db()
    assert deal.title == "Renamed"

    assert api.delete(f"/deals/{deal.public_id}").status_code == 204
    assert not Deal.objects.filter(pk=deal.pk).exists()


def test_deals_outside_the_callers_scope_are_404_and_unchanged() -> None:
    api = seller(scope="own")
    theirs = DealFactory.create()
    won = stage_named(theirs.pipeline, "Won")

    assert_error(api.get(f"/deals/{theirs.public_id}"), 404, "not_found")
    assert_error(
        api.post(f"/deals/{theirs.public_id}/stage", {"stage": str(won.public_id)}),
        404,
        "not_found",
    )
    assert_error(api.post(f"/deals/{theirs.public_id}/won"), 404, "not_found")
    assert_error(api.delete(f"/deals/{theirs.public_id}"), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.status == "open"
    assert api.get("/deals").json()["count"] == 0


def test_writing_deals_needs_the_permission() -> None:
    api = api_for("crm.view_deal")
    deal = DealFactory.create(owner=api.user)
    won = stage_named(deal.pipeline, "Won")

    assert_error(api.post("/deals", {"title": "x"}), 403, "forbidden")
    assert_error(
        api.post(f"/deals/{deal.public_id}/stage", {"stage": str(won.public_id)}), 403, "forbidden"
    )
    assert_error(api.post(f"/deals/{deal.public_id}/lost", {"reason": "x"}), 403, "forbidden")
    assert_error(api.delete(f"/deals/{deal.public_id}"), 403, "forbidden")
    deal.refresh_from_db()
    assert deal.status == "open"
    assert Deal.objects.count() == 1


def test_deal_list_filters() -> None:
    api = seller()
    pipeline = sales_pipeline()
    DealFactory.create(title="Alpha fleet", amount=Decimal("10"), currency="EUR")
    beta = DealFactory.create(title="Beta fleet", amount=Decimal("500"), currency="USD")
    DealFactory.create(
        title="Gamma", stage=stage_named(pipeline, "Won"), status="won", amount=Decimal("50")
    )

    def titles(**params: Any) -> list[str]:
        response = api.get("/deals", **params)
        assert response.status_code == 200, response.content
        return sorted(item["title"] for item in response.json()["items"])

    assert titles(q="fleet") == ["Alpha fleet", "Beta fleet"]
    assert titles(currency="usd") == ["Beta fleet"]
    assert titles(amount_min="100") == ["Beta fleet"]
    assert titles(status="won") == ["Gamma"]
    assert titles(owner=str(beta.owner.public_id)) == ["Beta fleet"]
    assert titles(stage=str(stage_named(pipeline, "Won").public_id)) == ["Gamma"]
    ordered = api.get("/deals", ordering="-amount").json()["items"]
    assert [item["title"] for item in ordered] == ["Beta fleet", "Gamma", "Alpha fleet"]
    assert_error(api.get("/deals", status="maybe"), 422, "validation_error")


# --- the board ------------------------------------------------------------------------------


def test_the_board_lists_columns_with_counts_and_sums() -> None:
    api = seller()
    pipeline = sales_pipeline()
    lead = stage_named(pipeline, "Lead")
    DealFactory.create(stage=lead, amount=Decimal("100.10"))
    DealFactory.create(stage=lead, amount=Decimal("200.20"))
    DealFactory.create(stage=stage_named(pipeline, "Proposal"), amount=Decimal("7"), currency="USD")

    response = api.get(f"/pipelines/{pipeline.public_id}/board")

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["pipeline"]["name"] == "Sales"
    columns = {c["stage"]["name"]: c for c in body["columns"]}
    assert list(columns) == ["Lead", "Qualified", "Proposal", "Won", "Lost"]
    assert columns["Lead"]["count"] == 2
    assert columns["Lead"]["totals"] == [{"currency": "EUR", "amount": "300.30"}]
    assert len(columns["Lead"]["deals"]) == 2
    assert columns["Proposal"]["totals"] == [{"currency": "USD", "amount": "7.00"}]
    assert columns["Won"] == {**columns["Won"], "count": 0, "totals": [], "deals": []}
    assert_error(api.get("/pipelines/00000000-0000-0000-0000-000000000000/board"), 404, "not_found")


# --- activities -----------------------------------------------------------------------------


def test_plan_update_and_complete_an_activity() -> None:
    api = seller()
    client = make_organization(api.user)

    response = api.post(
        "/activities",
        {
            "kind": "meeting",
            "subject": "Kick-off",
            "organization": str(client.public_id),
            "due_at": "2026-03-02T09:00:00+01:00",
            "ends_at": "2026-03-02T10:00:00+01:00",
            "reminder_at": "2026-03-02T08:30:00+01:00",
            "recurrence": "FREQ=WEEKLY;COUNT=3",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["planned"] is True
    assert body["due_at"] == "2026-03-02T08:00:00Z"
    assert body["organization"]["id"] == str(client.public_id)
    path = f"/activities/{body['id']}"

    changed = api.patch(path, {"subject": "Kick-off meeting", "description": "Agenda"})
    assert changed.status_code == 200, changed.content
    assert changed.json()["subject"] == "Kick-off meeting"

    done = api.post(f"{path}/complete", {"outcome": "held", "result": "Signed the NDA"})
    assert done.status_code == 200, done.content
    assert (done.json()["planned"], done.json()["outcome"]) == (False, "held")
    following = Activity.objects.get(done_at__isnull=True)
    assert following.recurrence == "FREQ=WEEKLY;COUNT=2"
    assert_error(api.post(f"{path}/complete", {}), 400, "bad_request")


def test_bad_activities_are_422_and_nothing_is_saved() -> None:
    api = seller()

    naive = api.post(
        "/activities", {"kind": "task", "subject": "x", "due_at": "2026-03-02T09:00:00"}
    )
    assert list(assert_error(naive, 422, "validation_error")["details"]) == ["due_at"]
    rule = api.post(
        "/activities",
        {"kind": "task", "subject": "x", "due_at": "2026-03-02T09:00Z", "recurrence": "FREQ=X"},
    )
    assert list(assert_error(rule, 422, "validation_error")["details"]) == ["recurrence"]
    kind = api.post("/activities", {"kind": "fax", "subject": "x"})
    assert list(assert_error(kind, 422, "validation_error")["details"]) == ["kind"]
    assert Activity.objects.count() == 0


def test_log_a_call_and_delete_it() -> None:
    api = seller()
    client = make_organization(api.user)

    response = api.post(
        "/activities/calls",
        {"subject": "Intro", "organization": str(client.public_id), "outcome": "reached"},
    )

    assert response.status_code == 201, response.content
    assert (response.json()["kind"], response.json()["planned"]) == ("call", False)
    assert api.delete(f"/activities/{response.json()['id']}").status_code == 204
    assert Activity.objects.count() == 0


def test_activities_outside_the_scope_are_hidden() -> None:
    api = seller(scope="own")
    mine = ActivityFactory.create(owner=api.user)
    theirs = ActivityFactory.create()

    items = api.get("/activities").json()["items"]

    assert [item["id"] for item in items] == [str(mine.public_id)]
    assert_error(api.get(f"/activities/{theirs.public_id}"), 404, "not_found")
    assert_error(api.post(f"/activities/{theirs.public_id}/complete", {}), 404, "not_found")
    theirs.refresh_from_db()
    assert theirs.done_at is None


def test_activity_filters() -> None:
    api = seller()
    ActivityFactory.create(owner=api.user, subject="Planned call", kind="call")
    ActivityFactory.create(owner=api.user, subject="Old note", kind="note", archived=True)
    done = ActivityFactory.create(owner=api.user, subject="Done task")
    done.done_at = done.created_at
    done.save()

    def subjects(**params: Any) -> list[str]:
        response = api.get("/activities", **params)
        assert response.status_code == 200, response.content
        return sorted(item["subject"] for item in response.json()["items"])

    assert subjects() == ["Done task", "Planned call"]
    assert subjects(done="false") == ["Planned call"]
    assert subjects(done="true") == ["Done task"]
    assert subjects(kind="call") == ["Planned call"]
    assert subjects(archived="true") == ["Old note"]


# --- quotes ---------------------------------------------------------------------------------


def test_create_get_and_list_quotes_of_a_deal() -> None:
    api = seller()
    deal = DealFactory.create(owner=api.user, currency="PLN")
    other = DealFactory.create(owner=api.user)
    quote_create(
        actor=api.user,
        deal=other,
        lines=[{"description": "x", "unit_price": "1"}],
        issued_on=date(2025, 12, 31),
    )

    response = api.post(
        "/quotes",
        {
            "deal": str(deal.public_id),
            "issued_on": "2026-03-02",
            "valid_until": "2026-03-31",
            "lines": [
                {
                    "description": "Licence",
                    "quantity": "3",
                    "unit_price": "19.99",
                    "tax_rate": "23",
                },
                {"description": "Setup", "unit_price": "0.05", "tax_rate": "10"},
            ],
        },
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["number"] == "Q-2026-0001"
    assert body["currency"] == "PLN"
    assert (body["net"], body["tax"], body["gross"]) == ("60.02", "13.80", "73.82")
    assert [(line["net"], line["tax"], line["gross"]) for line in body["lines"]] == [
        ("59.97", "13.79", "73.76"),
        ("0.05", "0.01", "0.06"),
    ]
    assert api.get(f"/quotes/{body['id']}").json() == body
    listed = api.get("/quotes", deal=str(deal.public_id)).json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]
    assert Event.objects.filter(name="crm.quote.created").count() == 2


def test_a_bad_quote_line_is_422_and_nothing_is_saved() -> None:
    api = seller()
    deal = DealFactory.create(owner=api.user)

    response = api.post(
        "/quotes",
        {
            "deal": str(deal.public_id),
            "currency": "EURO",
            "lines": [{"description": "x", "quantity": "-1", "unit_price": "1"}],
        },
    )

    error = assert_error(response, 422, "validation_error")
    assert set(error["details"]) == {"currency", "lines.0.quantity"}
    assert Quote.objects.count() == 0


def test_a_quote_for_a_deal_out_of_scope_is_refused() -> None:
    api = seller(scope="own")
    theirs = DealFactory.create()

    response = api.post(
        "/quotes", {"deal": str(theirs.public_id), "lines": [{"description": "x", "unit_price": 1}]}
    )

    assert list(assert_error(response, 422, "validation_error")["details"]) == ["deal"]
    assert Quote.objects.count() == 0


# --- query budgets --------------------------------------------------------------------------


def fill(kind: str, n: int, owner: User) -> None:
    for _ in range(n):
        if kind == "pipelines":
            make_pipeline(f"Pipeline {Pipeline.objects.count()}", [{"name": "A"}, {"name": "B"}])
        elif kind in ("deals", "board"):
            deal = DealFactory.create(owner=owner, organization=make_organization(owner))
            deal.person = None
            deal.save()
        elif kind == "activities":
            deal = DealFactory.create(owner=owner, organization=make_organization(owner))
            ActivityFactory.create(owner=owner, deal=deal, organization=deal.organization)
        elif kind == "quotes":
            deal = DealFactory.create(owner=owner)
            quote_create(
                actor=owner,
                deal=deal,
                lines=[
                    {"description": "a", "unit_price": "1"},
                    {"description": "b", "unit_price": "2"},
                ],
            )


def path_for(kind: str) -> str:
    if kind == "board":
        return f"/pipelines/{sales_pipeline().public_id}/board"
    return f"/{kind}"


def count_queries(api: Api, path: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = api.get(path, limit=100)
    assert response.status_code == 200, response.content
    return len(queries)


# Token and user, the permission and scope lookups (3), the count and the page; pipelines and
# quotes add the prefetch of their stages/lines; the board reads stages, sums and cards.
BUDGET = {"pipelines": 7, "deals": 6, "activities": 6, "quotes": 7, "board": 8}


@pytest.mark.parametrize("kind", list(BUDGET))
def test_lists_cost_the_same_few_queries_for_3_or_30_rows(
    kind: str, django_assert_max_num_queries
) -> None:
    # A narrow scope is the costlier case for visibility.
    api = seller(scope="own")
    sales_pipeline()
    path = path_for(kind)
    api.get(path)  # the token's first use is recorded once; leave it out of the count

    fill(kind, 3, api.user)
    few = count_queries(api, path)
    fill(kind, 27, api.user)
    with django_assert_max_num_queries(BUDGET[kind]):
        response = api.get(path, limit=100)

    assert response.status_code == 200
    if kind == "board":
        assert response.json()["columns"][0]["count"] == 30
    else:
        assert response.json()["count"] >= 30
    assert count_queries(api, path) == few
