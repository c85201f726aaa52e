"""core.rows: rows written and read without the ORM's query building are the rows the ORM
would write and the objects a queryset would give."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from konvergo.core.models import Event
from konvergo.core.rows import (
    db_value,
    delete_rows,
    insert_rows,
    new_object,
    objects_from_rows,
    select_columns,
    update_rows,
)
from konvergo.org.models import User

pytestmark = pytest.mark.django_db


def _event(user: User, name: str) -> Event:
    return Event(
        name=name,
        subject_type=ContentType.objects.get_for_model(User),
        subject_id=str(user.pk),
        payload={"amount": "12.50", "nested": {"list": [1, 2]}, "text": "Müller"},
        actor=user,
    )


def test_inserted_rows_read_back_as_the_orm_would_have_saved_them() -> None:
    user = User.objects.create_user("rows", "rows@example.com", "x")
    saved = _event(user, "core.saved")
    saved.save()
    written = [_event(user, "core.written"), _event(user, "core.written")]
    with connection.cursor() as cursor:
        insert_rows(cursor, written)

    fields = ["subject_type", "subject_id", "payload", "actor", "delivered_at"]
    reference = Event.objects.values(*fields).get(pk=saved.pk)
    for event in written:
        row = Event.objects.get(pk=event.pk)  # the UUID set at creation is the row's key
        assert Event.objects.values(*fields).get(pk=event.pk) == reference
        assert row.occurred_at is not None  # auto_now_add filled in as by save()
        assert row.occurred_at >= saved.occurred_at


def test_selected_rows_become_the_objects_a_queryset_gives() -> None:
    user = User.objects.create_user("reader", "reader@example.com", "x")
    event = _event(user, "core.read")
    event.delivered_at = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    event.save()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {select_columns(Event)}, 7 FROM {quote(Event._meta.db_table)} "  # noqa: S608
            f"WHERE {quote('id')} = %s",
            [Event._meta.pk.get_db_prep_value(event.pk, connection)],
        )
        [(read, rest)] = objects_from_rows(Event, cursor.fetchall())

    expected = Event.objects.get(pk=event.pk)
    for field in Event._meta.concrete_fields:
        assert getattr(read, field.attname) == getattr(expected, field.attname), field.name
    assert read.payload["nested"] == {"list": [1, 2]}
    assert read.delivered_at == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    assert list(rest) == [7]
    read.name = "core.renamed"
    read.save(update_fields=["name"])  # a loaded object, not a new one
    assert Event.objects.filter(pk=event.pk, name="core.renamed").exists()


def _key(event: Event) -> object:
    return db_value(Event._meta.pk, event.pk)


def test_updated_rows_hold_each_rows_values_null_json_and_time_included() -> None:
    user = User.objects.create_user("updater", "updater@example.com", "x")
    events = [_event(user, f"core.e{n}") for n in range(3)]
    for event in events:
        event.save()
    delivered = datetime(2026, 5, 2, 8, 0, tzinfo=UTC)
    payload, delivered_at = Event._meta.get_field("payload"), Event._meta.get_field("delivered_at")
    with connection.cursor() as cursor:
        update_rows(
            cursor,
            Event,
            ["name", "payload", "delivered_at"],
            ["id"],
            [
                (
                    "core.first",
                    db_value(payload, {"n": 1}),
                    db_value(delivered_at, delivered),
                    _key(events[0]),
                ),
                ("core.second", db_value(payload, [2, "zwei"]), None, _key(events[1])),
            ],
        )

    first, second, untouched = (Event.objects.get(pk=e.pk) for e in events)
    assert (first.name, first.payload, first.delivered_at) == ("core.first", {"n": 1}, delivered)
    assert (second.name, second.payload, second.delivered_at) == ("core.second", [2, "zwei"], None)
    assert untouched.name == "core.e2"


def test_a_row_picked_twice_is_updated_in_turn_as_by_executemany() -> None:
    user = User.objects.create_user("twice", "twice@example.com", "x")
    event = _event(user, "core.open")
    event.save()
    with connection.cursor() as cursor:
        # The second row no longer matches once the first renamed the event.
        update_rows(
            cursor,
            Event,
            ["name"],
            ["id", "name"],
            [
                ("core.closed", _key(event), "core.open"),
                ("core.reopened", _key(event), "core.open"),
            ],
        )
    assert Event.objects.get(pk=event.pk).name == "core.closed"


def test_deleted_rows_are_those_matching_a_key_and_no_other() -> None:
    user = User.objects.create_user("deleter", "deleter@example.com", "x")
    events = [_event(user, f"core.d{n}") for n in range(4)]
    for event in events:
        event.save()
    with connection.cursor() as cursor:
        delete_rows(
            cursor,
            Event,
            ["id", "name"],
            [
                (_key(events[0]), "core.d0"),
                (_key(events[2]), "core.d2"),
                (_key(events[3]), "core.other"),
            ],
        )
    assert sorted(Event.objects.values_list("name", flat=True)) == ["core.d1", "core.d3"]


def test_a_new_object_is_what_the_keyword_constructor_makes() -> None:
    from konvergo.processes.models import HumanTask

    user = User.objects.create_user("maker", "maker@example.com", "x")
    due = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    values = {"task_id": "t1", "name": "Review", "due_at": due, "candidate_groups": ["sales"]}
    made = new_object(HumanTask, {**values, "instance_id": 7, "assignee_id": user.pk})
    reference = HumanTask(**values, instance_id=7, assignee=user)
    for field in HumanTask._meta.concrete_fields:
        if field.name != "public_id":  # a fresh uuid4 each
            assert getattr(made, field.attname) == getattr(reference, field.attname), field.name
    assert made.public_id != reference.public_id and made.public_id.version == 4
    assert made._state.adding and made.pk is None
    # Mutable defaults are fresh per object, not shared.
    other = new_object(HumanTask, {"task_id": "t2"})
    other.candidate_users.append("jan")
    assert new_object(HumanTask, {"task_id": "t3"}).candidate_users == []
    with pytest.raises(TypeError, match="no field assignee"):
        new_object(HumanTask, {"assignee": user})
