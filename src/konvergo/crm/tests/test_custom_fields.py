"""Custom fields: definitions, validation of values per type, filtering, and the admin API."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from konvergo.core.errors import FieldErrors
from konvergo.crm.models import CustomField, Deal, Organization, Pipeline, Stage
from konvergo.crm.services.custom_fields import (
    custom_data_clean,
    custom_field_create,
    custom_field_delete,
    custom_field_filter,
    custom_field_update,
)
from konvergo.crm.tests.factories_setup import crm_user, make_organization, make_person
from konvergo.org.services import api_token_create

pytestmark = pytest.mark.django_db


def errors_of(call: Any, **kwargs: Any) -> dict[str, list[str]]:
    with pytest.raises(FieldErrors) as caught:
        call(**kwargs)
    return caught.value.errors


@pytest.fixture
def fields() -> dict[str, CustomField]:
    made = {}
    for key, field_type, options in [
        ("note", "text", ()),
        ("employees", "number", ()),
        ("founded", "date", ()),
        ("tier", "choice", ("gold", "silver", "bronze")),
        ("markets", "multi_choice", ("de", "pl", "ir", "ru", "Größe")),
        ("active", "boolean", ()),
        ("revenue", "money", ()),
        ("parent", "link", ("crm.organization",)),
    ]:
        made[key] = custom_field_create(
            target="organization",
            key=key,
            label=key.title(),
            field_type=field_type,
            options=options,
        )
    return made


# --- definitions ----------------------------------------------------------------------------


def test_a_field_is_created_with_cleaned_options() -> None:
    field = custom_field_create(
        target="person",
        key="shoe_size",
        label="  Shoe size ",
        field_type="choice",
        options=[" 42 ", "43"],
        required=True,
        order=3,
    )

    assert (field.target, field.key, field.label, field.options) == (
        "person",
        "shoe_size",
        "Shoe size",
        ["42", "43"],
    )
    assert field.required and field.order == 3


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"key": "Shoe-Size"}, "key"),
        ({"key": "shoe__size"}, "key"),
        ({"key": "1size"}, "key"),
        ({"key": "contains"}, "key"),
        ({"key": "x" * 61}, "key"),
        ({"target": "ticket"}, "target"),
        ({"field_type": "colour"}, "field_type"),
        ({"label": " "}, "label"),
        ({"field_type": "choice", "options": []}, "options"),
        ({"field_type": "choice", "options": ["a", "a"]}, "options"),
        ({"field_type": "choice", "options": ["a", ""]}, "options"),
        ({"field_type": "text", "options": ["a"]}, "options"),
        ({"field_type": "link", "options": ["crm.ticket"]}, "options"),
        ({"order": -1}, "order"),
    ],
)
def test_bad_definitions_are_refused(kwargs: dict[str, Any], field: str) -> None:
    values = {"target": "deal", "key": "size", "label": "Size", "field_type": "text", **kwargs}

    assert field in errors_of(custom_field_create, **values)
    assert not CustomField.objects.exists()


def test_a_key_is_unique_per_target_only() -> None:
    custom_field_create(target="person", key="size", label="Size", field_type="text")
    custom_field_create(target="deal", key="size", label="Size", field_type="text")

    errors = errors_of(
        custom_field_create, target="person", key="size", label="Size 2", field_type="number"
    )

    assert list(errors) == ["key"]
    assert CustomField.objects.count() == 2


def test_update_changes_label_options_required_order_but_not_key_or_type(fields) -> None:
    tier = custom_field_update(
        field=fields["tier"], label="Tier", options=["gold", "platinum"], required=True, order=2
    )
    assert (tier.label, tier.options, tier.required, tier.order) == (
        "Tier",
        ["gold", "platinum"],
        True,
        2,
    )

    errors = errors_of(custom_field_update, field=tier, key="level", field_type="text")
    assert set(errors) == {"key", "field_type"}
    tier.refresh_from_db()
    assert tier.key == "tier" and tier.field_type == "choice"


def test_deleting_a_field_removes_its_values_everywhere(fields) -> None:
    owner = crm_user()
    kept = make_organization(owner, "A", custom_data={"tier": "gold", "note": "x"})
    other = make_organization(owner, "B", custom_data={"note": "y"})

    assert custom_field_delete(field=fields["tier"]) == 1

    kept.refresh_from_db()
    other.refresh_from_db()
    assert kept.custom_data == {"note": "x"}
    assert other.custom_data == {"note": "y"}
    assert not CustomField.objects.filter(key="tier").exists()
    assert custom_data_clean(target="organization", data=kept.custom_data) == {"note": "x"}


# --- values ---------------------------------------------------------------------------------


def test_every_type_is_cleaned_to_its_stored_form(fields) -> None:
    parent = make_organization(crm_user(), "Parent AG")

    cleaned = custom_data_clean(
        target="organization",
        data={
            "note": "  Key account  ",
            "employees": "1200.50",
            "founded": date(1999, 5, 1),
            "tier": "gold",
            "markets": ["pl", "Größe", "de"],
            "active": "true",
            "revenue": {"amount": Decimal("12.5"), "currency": "eur"},
            "parent": {"type": "crm.organization", "id": str(parent.public_id).upper()},
        },
    )

    assert cleaned == {
        "note": "Key account",
        "employees": "1200.5",
        "founded": "1999-05-01",
        "tier": "gold",
        "markets": ["de", "pl", "Größe"],
        "active": True,
        "revenue": {"amount": "12.50", "currency": "EUR"},
        "parent": {"type": "crm.organization", "id": str(parent.public_id)},
    }


@pytest.mark.parametrize(
    ("number", "stored"),
    [(12, "12"), (12.25, "12.25"), ("1E+3", "1000"), ("-0.50", "-0.5"), ("0.000", "0")],
)
def test_numbers_have_one_canonical_text(fields, number: Any, stored: str) -> None:
    assert custom_data_clean(target="organization", data={"employees": number}) == {
        "employees": stored
    }


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("note", 12),
        ("note", "x" * 2001),
        ("employees", "twelve"),
        ("employees", True),
        ("employees", "NaN"),
        ("employees", "Infinity"),
        ("founded", "01.05.1999"),
        ("founded", "1999-02-30"),
        ("tier", "platinum"),
        ("tier", ["gold"]),
        ("markets", "de"),
        ("markets", ["de", "us"]),
        ("active", "yes"),
        ("active", 1),
        ("revenue", {"amount": "12.505", "currency": "EUR"}),
        ("revenue", {"amount": "12", "currency": "EURO"}),
        ("revenue", {"amount": "12"}),
        ("revenue", "12 EUR"),
        ("parent", {"type": "crm.organization", "id": "not-a-uuid"}),
        ("parent", {"type": "crm.organization", "id": "7f1e6d46-21b0-4f39-9d64-1d7b0b5c7a11"}),
        ("parent", {"type": "crm.person", "id": "7f1e6d46-21b0-4f39-9d64-1d7b0b5c7a11"}),
        ("parent", "7f1e6d46-21b0-4f39-9d64-1d7b0b5c7a11"),
    ],
)
def test_wrong_values_are_field_errors(fields, key: str, value: Any) -> None:
    errors = errors_of(custom_data_clean, target="organization", data={key: value})

    assert list(errors) == [f"custom_data.{key}"]
    assert errors[f"custom_data.{key}"][0]


def test_unknown_keys_and_missing_required_values_are_refused_together(fields) -> None:
    custom_field_update(field=fields["tier"], required=True)

    errors = errors_of(
        custom_data_clean, target="organization", data={"colour": "red", "tier": "  "}
    )

    assert errors == {
        "custom_data.colour": ["Unknown field."],
        "custom_data.tier": ["This field is required."],
    }


def test_empty_values_are_left_out(fields) -> None:
    assert (
        custom_data_clean(target="organization", data={"note": " ", "markets": [], "revenue": None})
        == {}
    )
    assert custom_data_clean(target="organization", data=None) == {}


def test_fields_of_another_target_are_unknown(fields) -> None:
    errors = errors_of(custom_data_clean, target="person", data={"tier": "gold"})

    assert errors == {"custom_data.tier": ["Unknown field."]}


def test_a_link_may_point_at_the_types_its_options_allow() -> None:
    custom_field_create(target="deal", key="contact", label="Contact", field_type="link")
    person = make_person(crm_user(), "Anna", "Nowak")

    cleaned = custom_data_clean(
        target="deal", data={"contact": {"type": "crm.person", "id": str(person.public_id)}}
    )

    assert cleaned == {"contact": {"type": "crm.person", "id": str(person.public_id)}}


def test_the_deal_service_uses_the_cleaner(fields) -> None:
    from konvergo.crm.services.deals import deal_create

    custom_field_create(target="deal", key="source", label="Source", field_type="text")
    pipeline = Pipeline.objects.create(name="Sales", is_default=True)
    Stage.objects.create(pipeline=pipeline, name="Lead", order=1)
    actor = crm_user()

    with pytest.raises(FieldErrors) as caught:
        deal_create(actor=actor, title="Big one", custom_data={"source": 5})
    assert list(caught.value.errors) == ["custom_data.source"]
    assert not Deal.objects.exists()

    deal = deal_create(actor=actor, title="Big one", custom_data={"source": " fair "})
    assert deal.custom_data == {"source": "fair"}


# --- filtering ------------------------------------------------------------------------------


@pytest.fixture
def records(fields) -> dict[str, Organization]:
    owner = crm_user()
    parent = make_organization(owner, "Parent AG")
    data = {
        "a": {
            "note": "Key account north",
            "employees": "250",
            "founded": "1999-05-01",
            "tier": "gold",
            "markets": ["de", "Größe"],
            "active": True,
            "revenue": {"amount": "12.50", "currency": "EUR"},
            "parent": {"type": "crm.organization", "id": str(parent.public_id)},
        },
        "b": {
            "note": "small",
            "employees": "12.5",
            "tier": "silver",
            "markets": ["pl", "de"],
            "active": False,
            "revenue": {"amount": "12.50", "currency": "PLN"},
        },
        "c": {},
    }
    return {
        name: make_organization(
            owner,
            f"Org {name}",
            custom_data=custom_data_clean(target="organization", data=values),
        )
        for name, values in data.items()
    }


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("note", "KEY ACC", {"a"}),
        ("employees", "250.00", {"a"}),
        ("employees", 12.5, {"b"}),
        ("founded", "1999-05-01", {"a"}),
        ("tier", "silver", {"b"}),
        ("markets", "de", {"a", "b"}),
        ("markets", ["de", "pl"], {"b"}),
        ("markets", "Größe", {"a"}),
        ("active", True, {"a"}),
        ("active", "false", {"b"}),
        ("revenue", {"amount": "12.5", "currency": "EUR"}, {"a"}),
        ("revenue", "pln", {"b"}),
    ],
)
def test_filtering_by_a_custom_field(records, key: str, value: Any, expected: set[str]) -> None:
    queryset = Organization.objects.filter(legal_name__startswith="Org ")

    found = custom_field_filter(queryset, "organization", key, value)

    assert {o.legal_name.removeprefix("Org ") for o in found} == expected


def test_filtering_by_a_link(records) -> None:
    parent_id = records["a"].custom_data["parent"]["id"]

    assert list(
        custom_field_filter(Organization.objects.all(), "organization", "parent", parent_id)
    ) == [records["a"]]


def test_filtering_by_an_unknown_field_or_a_bad_value_is_a_field_error(records) -> None:
    queryset = Organization.objects.all()
    with pytest.raises(FieldErrors):
        custom_field_filter(queryset, "organization", "colour", "red")
    with pytest.raises(FieldErrors):
        custom_field_filter(queryset, "organization", "tier", "platinum")
    with pytest.raises(FieldErrors):
        custom_field_filter(queryset, "person", "tier", "gold")


# --- the API --------------------------------------------------------------------------------


class Api:
    def __init__(self, user: Any) -> None:
        self.client = Client(headers={"Authorization": f"Bearer {api_token_create(user=user).raw}"})

    def __getattr__(self, method: str) -> Any:
        call = getattr(self.client, method)

        def send(path: str, body: Any = None, **params: Any) -> Any:
            if method == "get":
                return call(f"/api/v1/crm{path}", params)
            return call(f"/api/v1/crm{path}", body, content_type="application/json")

        return send


def admin_api(*actions: str) -> Api:
    return Api(crm_user(*(f"crm.{a}_customfield" for a in actions)))


def test_api_creates_lists_changes_and_deletes_a_field() -> None:
    api = admin_api("view", "add", "change", "delete")

    created = api.post(
        "/custom-fields",
        {
            "target": "person",
            "key": "hobby",
            "label": "Hobby",
            "field_type": "multi_choice",
            "options": ["chess", "golf"],
        },
    )
    assert created.status_code == 201, created.content
    field_id = created.json()["id"]
    assert created.json()["options"] == ["chess", "golf"]

    listed = api.get("/custom-fields", target="person")
    assert [item["key"] for item in listed.json()["items"]] == ["hobby"]
    assert api.get("/custom-fields", target="deal").json()["items"] == []

    changed = api.patch(f"/custom-fields/{field_id}", {"label": "Hobbies", "required": True})
    assert changed.status_code == 200, changed.content
    assert changed.json()["label"] == "Hobbies" and changed.json()["required"] is True

    assert api.delete(f"/custom-fields/{field_id}").status_code == 204
    assert not CustomField.objects.exists()


def test_api_refuses_a_bad_field_with_422_and_saves_nothing() -> None:
    api = admin_api("add")

    response = api.post(
        "/custom-fields",
        {"target": "person", "key": "Bad Key", "label": "x", "field_type": "choice"},
    )

    assert response.status_code == 422
    assert set(response.json()["error"]["details"]) == {"key", "options"}
    assert not CustomField.objects.exists()


def test_api_needs_the_admin_permissions(fields) -> None:
    viewer = admin_api("view")
    field_id = fields["tier"].public_id

    assert viewer.get("/custom-fields").status_code == 200
    denied = [
        viewer.post(
            "/custom-fields", {"target": "person", "key": "x", "label": "X", "field_type": "text"}
        ),
        viewer.patch(f"/custom-fields/{field_id}", {"label": "Changed"}),
        viewer.delete(f"/custom-fields/{field_id}"),
    ]
    assert [r.status_code for r in denied] == [403, 403, 403]
    assert admin_api().get("/custom-fields").status_code == 403
    fields["tier"].refresh_from_db()
    assert fields["tier"].label == "Tier"
    assert CustomField.objects.count() == len(fields)


def test_api_unknown_field_is_404() -> None:
    api = admin_api("change")

    response = api.patch("/custom-fields/7f1e6d46-21b0-4f39-9d64-1d7b0b5c7a11", {"label": "X"})

    assert response.status_code == 404


def test_api_list_costs_a_fixed_number_of_queries(fields, django_assert_max_num_queries) -> None:
    api = admin_api("view")
    api.get("/custom-fields")

    with django_assert_max_num_queries(6):
        response = api.get("/custom-fields", limit=100)

    assert response.json()["count"] == len(fields)
