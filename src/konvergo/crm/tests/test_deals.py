"""Deal services: pipelines, deals, stage moves with their events, won/lost, the board."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import transaction

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.models import Event
from konvergo.crm.models import Deal, Pipeline, Stage
from konvergo.crm.services.deals import (
    deal_board,
    deal_create,
    deal_delete,
    deal_mark_lost,
    deal_mark_won,
    deal_move_to_stage,
    deal_update,
    pipeline_create,
)
from konvergo.crm.services.quotes import quote_create
from konvergo.crm.tests.factories_deals import (
    DealFactory,
    make_organization,
    make_pipeline,
    sales_pipeline,
    stage_named,
)
from konvergo.org.services import role_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def events(name: str) -> list[Event]:
    return list(Event.objects.filter(name=name).order_by("occurred_at"))


# --- pipelines ------------------------------------------------------------------------------


def test_a_pipeline_keeps_its_stages_in_order_and_the_first_becomes_default() -> None:
    pipeline = make_pipeline("Sales")

    stages = list(pipeline.stages.order_by("order"))
    assert [(s.order, s.name, s.probability) for s in stages] == [
        (1, "Lead", 10),
        (2, "Qualified", 30),
        (3, "Proposal", 60),
        (4, "Won", 100),
        (5, "Lost", 0),
    ]
    assert [s.name for s in stages if s.is_won] == ["Won"]
    assert [s.name for s in stages if s.is_lost] == ["Lost"]
    assert pipeline.is_default is True


def test_a_new_default_pipeline_replaces_the_old_default() -> None:
    sales = make_pipeline("Sales")
    renewals = make_pipeline("Renewals", [{"name": "Due"}], is_default=True)
    partnerships = make_pipeline("Partnerships", [{"name": "Talks"}])

    assert set(Pipeline.objects.filter(is_default=True)) == {renewals}
    sales.refresh_from_db()
    assert sales.is_default is False
    assert partnerships.is_default is False


@pytest.mark.parametrize(
    ("stages", "field"),
    [
        ([], "stages"),
        ([{"name": ""}], "stages.0.name"),
        ([{"name": "A", "probability": 150}], "stages.0.probability"),
        ([{"name": "A", "probability": -1}], "stages.0.probability"),
        ([{"name": "A", "is_won": True, "is_lost": True}], "stages.0"),
        ([{"name": "A"}, {"name": "a"}], "stages.1.name"),
        ([{"name": "A", "is_won": True}, {"name": "B", "is_won": True}], "stages"),
    ],
)
def test_invalid_stages_are_field_errors_and_nothing_is_saved(stages, field) -> None:
    with pytest.raises(FieldErrors) as caught:
        pipeline_create(name="Sales", stages=stages)

    assert field in caught.value.errors
    assert Pipeline.objects.count() == 0
    assert Stage.objects.count() == 0


def test_pipeline_names_are_unique() -> None:
    make_pipeline("Sales")

    with pytest.raises(FieldErrors) as caught:
        make_pipeline("sales")

    assert list(caught.value.errors) == ["name"]
    assert Pipeline.objects.count() == 1


# --- creating -------------------------------------------------------------------------------


def test_a_deal_starts_in_the_first_stage_of_the_default_pipeline_owned_by_the_actor() -> None:
    make_pipeline("Partnerships", [{"name": "Talks"}])
    sales = make_pipeline("Sales", is_default=True)
    actor = UserFactory.create()
    client = make_organization(actor)

    deal = deal_create(
        actor=actor,
        title="  Fleet renewal  ",
        organization=client,
        amount=Decimal("12500.50"),
        currency="pln",
        expected_close=date(2026, 6, 30),
    )

    deal.refresh_from_db()
    assert deal.title == "Fleet renewal"
    assert deal.pipeline == sales
    assert deal.stage == stage_named(sales, "Lead")
    assert deal.owner == actor
    assert deal.amount == Decimal("12500.50")
    assert deal.currency == "PLN"
    assert deal.status == "open"
    assert deal.closed_at is None
    [created] = events("crm.deal.created")
    assert created.subject_id == str(deal.pk)
    assert created.actor == actor
    assert created.payload == {
        "deal": str(deal.public_id),
        "title": "Fleet renewal",
        "pipeline": "Sales",
        "stage": "Lead",
        "amount": "12500.50",
        "currency": "PLN",
        "status": "open",
        "owner": actor.username,
    }
    assert deal.history.count() == 1
    assert deal.history.first().history_user == actor


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"currency": "EURO"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": ""}, "currency"),
        ({"amount": Decimal("-0.01")}, "amount"),
        ({"amount": Decimal("1.005")}, "amount"),
        ({"amount": Decimal("1e12")}, "amount"),
        ({"amount": "lots"}, "amount"),
        ({"title": "   "}, "title"),
    ],
)
def test_bad_values_are_field_errors_and_nothing_is_saved(fields, field) -> None:
    sales_pipeline()
    actor = UserFactory.create()

    with pytest.raises(FieldErrors) as caught:
        deal_create(actor=actor, **{"title": "Deal", **fields})

    assert list(caught.value.errors) == [field]
    assert Deal.objects.count() == 0
    assert Event.objects.count() == 0


def test_a_stage_of_another_pipeline_is_refused_on_create() -> None:
    sales = sales_pipeline()
    other = make_pipeline("Renewals", [{"name": "Due"}])

    with pytest.raises(FieldErrors) as caught:
        deal_create(
            actor=UserFactory.create(),
            title="Deal",
            pipeline=sales,
            stage=stage_named(other, "Due"),
        )

    assert list(caught.value.errors) == ["stage"]
    assert Deal.objects.count() == 0


def test_without_a_pipeline_a_deal_cannot_be_created() -> None:
    with pytest.raises(FieldErrors) as caught:
        deal_create(actor=UserFactory.create(), title="Deal")

    assert list(caught.value.errors) == ["pipeline"]


def test_a_stage_alone_picks_its_pipeline_and_a_won_stage_closes_the_deal() -> None:
    sales_pipeline()
    renewals = make_pipeline("Renewals", [{"name": "Due"}, {"name": "Renewed", "is_won": True}])

    deal = deal_create(
        actor=UserFactory.create(), title="Deal", stage=stage_named(renewals, "Renewed")
    )

    assert deal.pipeline == renewals
    assert deal.status == "won"
    assert deal.closed_at is not None
    assert [e.name for e in Event.objects.order_by("occurred_at")] == [
        "crm.deal.created",
        "crm.deal.won",
    ]


# --- moving ---------------------------------------------------------------------------------


def test_moving_a_deal_emits_stage_changed_with_names_pipeline_and_amount() -> None:
    deal = DealFactory.create(amount=Decimal("500.00"), currency="USD")
    actor = UserFactory.create()
    qualified = stage_named(deal.pipeline, "Qualified")

    moved = deal_move_to_stage(actor=actor, deal=deal, stage=qualified)

    assert moved.stage == qualified
    assert deal.stage == qualified  # the caller's instance is up to date too
    deal.refresh_from_db()
    assert deal.stage == qualified
    assert deal.status == "open"
    [changed] = events("crm.deal.stage_changed")
    assert changed.actor == actor
    assert changed.payload["from_stage"] == "Lead"
    assert changed.payload["to_stage"] == "Qualified"
    assert changed.payload["pipeline"] == "Sales"
    assert changed.payload["amount"] == "500.00"
    assert changed.payload["currency"] == "USD"
    assert changed.payload["to_stage_id"] == str(qualified.public_id)
    assert changed.payload["probability"] == 30
    assert deal.history.first().history_user == actor


def test_a_stage_of_another_pipeline_is_refused_and_nothing_changes() -> None:
    deal = DealFactory.create()
    other = make_pipeline("Renewals", [{"name": "Due"}])
    before = deal.stage

    with pytest.raises(FieldErrors) as caught:
        deal_move_to_stage(actor=deal.owner, deal=deal, stage=stage_named(other, "Due"))

    assert list(caught.value.errors) == ["stage"]
    deal.refresh_from_db()
    assert deal.stage == before
    assert events("crm.deal.stage_changed") == []


def test_moving_to_the_won_stage_wins_and_back_reopens() -> None:
    deal = DealFactory.create()
    actor = deal.owner
    pipeline = deal.pipeline

    deal_move_to_stage(actor=actor, deal=deal, stage=stage_named(pipeline, "Won"))
    deal.refresh_from_db()
    assert (deal.status, deal.closed_at is not None) == ("won", True)
    assert [e.name for e in events("crm.deal.won")] == ["crm.deal.won"]

    deal_move_to_stage(actor=actor, deal=deal, stage=stage_named(pipeline, "Proposal"))
    deal.refresh_from_db()
    assert (deal.status, deal.closed_at, deal.lost_reason) == ("open", None, "")
    assert len(events("crm.deal.stage_changed")) == 2


def test_moving_to_the_lost_stage_loses_without_a_reason() -> None:
    deal = DealFactory.create()

    deal_move_to_stage(actor=deal.owner, deal=deal, stage=stage_named(deal.pipeline, "Lost"))

    deal.refresh_from_db()
    assert deal.status == "lost"
    assert deal.closed_at is not None
    [lost] = events("crm.deal.lost")
    assert lost.payload["reason"] == ""


def test_moving_to_the_same_stage_changes_nothing() -> None:
    deal = DealFactory.create()

    deal_move_to_stage(actor=deal.owner, deal=deal, stage=deal.stage)

    assert events("crm.deal.stage_changed") == []
    assert deal.history.count() == 1


def test_a_move_rolled_back_leaves_no_event() -> None:
    deal = DealFactory.create()
    qualified = stage_named(deal.pipeline, "Qualified")

    with pytest.raises(RuntimeError), transaction.atomic():
        deal_move_to_stage(actor=deal.owner, deal=deal, stage=qualified)
        raise RuntimeError("the request failed after the move")

    deal.refresh_from_db()
    assert deal.stage.name == "Lead"
    assert events("crm.deal.stage_changed") == []


# --- won / lost -----------------------------------------------------------------------------


def test_winning_moves_to_the_won_stage_once() -> None:
    deal = DealFactory.create()

    deal_mark_won(actor=deal.owner, deal=deal)
    deal_mark_won(actor=deal.owner, deal=deal)

    deal.refresh_from_db()
    assert deal.stage.name == "Won"
    assert deal.status == "won"
    assert len(events("crm.deal.won")) == 1
    assert len(events("crm.deal.stage_changed")) == 1


def test_losing_needs_a_reason_and_keeps_it() -> None:
    deal = DealFactory.create()

    with pytest.raises(FieldErrors) as caught:
        deal_mark_lost(actor=deal.owner, deal=deal, reason="  ")
    assert list(caught.value.errors) == ["reason"]
    deal.refresh_from_db()
    assert deal.status == "open"

    deal_mark_lost(actor=deal.owner, deal=deal, reason="Price too high")

    deal.refresh_from_db()
    assert (deal.status, deal.stage.name, deal.lost_reason) == ("lost", "Lost", "Price too high")
    [lost] = events("crm.deal.lost")
    assert lost.payload["reason"] == "Price too high"
    assert lost.payload["stage"] == "Lost"


def test_a_pipeline_without_won_and_lost_stages_still_closes_deals() -> None:
    simple = make_pipeline("Simple", [{"name": "Open"}, {"name": "Closing"}])
    deal = DealFactory.create(pipeline=simple)

    deal_mark_lost(actor=deal.owner, deal=deal, reason="No budget")

    deal.refresh_from_db()
    assert (deal.status, deal.stage.name, deal.lost_reason) == ("lost", "Open", "No budget")
    assert events("crm.deal.stage_changed") == []
    assert len(events("crm.deal.lost")) == 1

    deal_mark_won(actor=deal.owner, deal=deal)

    deal.refresh_from_db()
    assert (deal.status, deal.lost_reason) == ("won", "")
    assert len(events("crm.deal.won")) == 1


# --- updating and deleting ------------------------------------------------------------------


def test_update_changes_fields_and_a_new_stage_emits_its_event() -> None:
    deal = DealFactory.create()

    deal_update(
        actor=deal.owner,
        deal=deal,
        title="Bigger deal",
        amount=Decimal("2500"),
        currency="gbp",
        stage=stage_named(deal.pipeline, "Proposal"),
    )

    deal.refresh_from_db()
    assert (deal.title, deal.amount, deal.currency) == ("Bigger deal", Decimal("2500.00"), "GBP")
    assert deal.stage.name == "Proposal"
    [changed] = events("crm.deal.stage_changed")
    assert changed.payload["amount"] == "2500"
    assert changed.payload["currency"] == "GBP"


def test_update_to_another_pipeline_starts_in_its_first_stage() -> None:
    deal = DealFactory.create()
    renewals = make_pipeline("Renewals", [{"name": "Due"}, {"name": "Renewed", "is_won": True}])

    deal_update(actor=deal.owner, deal=deal, pipeline=renewals)

    deal.refresh_from_db()
    assert (deal.pipeline, deal.stage.name) == (renewals, "Due")
    [changed] = events("crm.deal.stage_changed")
    assert changed.payload["pipeline"] == "Renewals"


def test_update_refuses_bad_values_and_saves_nothing() -> None:
    deal = DealFactory.create()
    other = make_pipeline("Renewals", [{"name": "Due"}])

    with pytest.raises(FieldErrors) as caught:
        deal_update(
            actor=deal.owner,
            deal=deal,
            title="New",
            currency="ABC",
            stage=stage_named(other, "Due"),
        )

    assert set(caught.value.errors) == {"currency", "stage"}
    deal.refresh_from_db()
    assert deal.title.startswith("Deal ")
    assert deal.history.count() == 1


def test_update_refuses_unknown_fields() -> None:
    deal = DealFactory.create()

    with pytest.raises(TypeError):
        deal_update(actor=deal.owner, deal=deal, status="won")


def test_a_deal_with_quotes_cannot_be_deleted() -> None:
    deal = DealFactory.create()
    quote_create(
        actor=deal.owner,
        deal=deal,
        lines=[{"description": "x", "quantity": 1, "unit_price": 1}],
    )

    with pytest.raises(BusinessError):
        deal_delete(actor=deal.owner, deal=deal)

    assert Deal.objects.filter(pk=deal.pk).exists()


def test_a_deal_without_quotes_is_deleted() -> None:
    deal = DealFactory.create()

    deal_delete(actor=deal.owner, deal=deal)

    assert not Deal.objects.filter(pk=deal.pk).exists()


# --- the board ------------------------------------------------------------------------------


def test_the_board_has_a_column_per_stage_with_counts_and_sums_per_currency() -> None:
    pipeline = sales_pipeline()
    owner = UserFactory.create(is_superuser=True)
    lead, proposal = stage_named(pipeline, "Lead"), stage_named(pipeline, "Proposal")
    DealFactory.create(owner=owner, stage=lead, amount=Decimal("100.10"), currency="EUR")
    DealFactory.create(owner=owner, stage=lead, amount=Decimal("200.20"), currency="EUR")
    DealFactory.create(owner=owner, stage=lead, amount=Decimal("50.00"), currency="USD")
    DealFactory.create(owner=owner, stage=proposal, amount=Decimal("1.00"))
    make_pipeline("Other", [{"name": "Elsewhere"}])

    board = deal_board(user=owner, pipeline=pipeline, per_stage=2)

    assert [c.stage.name for c in board.columns] == ["Lead", "Qualified", "Proposal", "Won", "Lost"]
    lead_column = board.columns[0]
    assert lead_column.count == 3
    assert lead_column.totals == {"EUR": Decimal("300.30"), "USD": Decimal("50.00")}
    assert len(lead_column.deals) == 2  # per_stage
    assert board.columns[1].count == 0
    assert board.columns[1].totals == {}
    assert [d.amount for d in board.columns[2].deals] == [Decimal("1.00")]


def test_the_board_shows_only_the_deals_a_user_may_see(django_assert_max_num_queries) -> None:
    pipeline = sales_pipeline()
    seller = UserFactory.create()
    seller.roles.add(role_create(name="Sellers", scope="own", permissions=["crm.view_deal"]))
    DealFactory.create(owner=seller, amount=Decimal("10.00"))
    for _ in range(5):
        DealFactory.create(amount=Decimal("99.00"))

    # Stages, sums, cards, and the user's permissions and scope (three, cached per request).
    with django_assert_max_num_queries(6):
        board = deal_board(user=seller, pipeline=pipeline)

    assert board.columns[0].count == 1
    assert board.columns[0].totals == {"EUR": Decimal("10.00")}
    assert [d.owner for d in board.columns[0].deals] == [seller]
