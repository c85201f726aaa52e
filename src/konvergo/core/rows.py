"""Rows written and read without the ORM's per-call query building, for the hot paths (the
engine's advances, the events outbox).

`insert_rows` writes new model objects of one model with a single `executemany`, sending what
`Model.save()` would send: defaults, `auto_now`/`auto_now_add` values, JSON, datetimes and
UUIDs prepared by the fields themselves. Plain values of plain fields (text, numbers,
booleans, integer foreign keys) go as they are, which is what their fields would make of
them. No signals run and database-assigned primary keys are not read back, as with
`bulk_create` on SQLite; use it only where nothing needs either.

`select_columns` and `objects_from_rows` turn the rows of a hand-written SELECT into model
objects as a queryset would (the fields' and the database's converters applied).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

M = TypeVar("M", bound=models.Model)

# Fields that send a str/int/bool/None value unchanged (their get_db_prep_save is identity
# for such values). JSON fields are not among them: a str is a JSON document to them.
_PLAIN_FIELDS = (
    models.CharField,
    models.TextField,
    models.IntegerField,
    models.BooleanField,
    models.ForeignKey,
)
_PLAIN_VALUES = (str, int, bool, type(None))


# How a field's value is prepared: as it is (plain values of plain fields, and None for any
# field but JSON), by the database's datetime adapter, or by the field itself.
_AS_IS, _DATETIME, _FIELD = 0, 1, 2


@dataclass(frozen=True)
class _Plan:
    sql: str
    fields: tuple[models.Field[Any, Any], ...]
    kinds: tuple[int, ...]


_PLANS: dict[tuple[str, type[models.Model]], _Plan] = {}


def _plan(model: type[models.Model]) -> _Plan:
    key = (connection.vendor, model)
    plan = _PLANS.get(key)
    if plan is None:
        fields = tuple(
            f
            for f in model._meta.concrete_fields
            if not (f.primary_key and isinstance(f, models.AutoField))
        )
        quote = connection.ops.quote_name
        sql = (
            f"INSERT INTO {quote(model._meta.db_table)} "  # noqa: S608 - identifiers from _meta
            f"({', '.join(quote(f.column or '') for f in fields)}) "
            f"VALUES ({', '.join(['%s'] * len(fields))})"
        )
        plan = _PLANS[key] = _Plan(sql=sql, fields=fields, kinds=tuple(map(_kind, fields)))
    return plan


def _kind(field: models.Field[Any, Any]) -> int:
    if isinstance(field, models.JSONField):
        return _FIELD
    if isinstance(field, models.DateTimeField):
        return _DATETIME
    if isinstance(field, _PLAIN_FIELDS) and not (
        isinstance(field, models.ForeignKey) and not _integer_key(field)
    ):
        return _AS_IS
    return _FIELD


def _integer_key(field: models.ForeignKey[Any, Any]) -> bool:
    return isinstance(field.target_field, models.IntegerField)


def db_value(field: models.Field[Any, Any], value: Any) -> Any:
    """`value` of `field` as the database driver takes it, as the ORM would send it."""
    return _prepared(connections[DEFAULT_DB_ALIAS], field, _kind(field), value)


def _prepared(db: BaseDatabaseWrapper, field: models.Field[Any, Any], kind: int, value: Any) -> Any:
    # `db` is the connection itself, not the `connection` proxy (each of whose attribute
    # reads is a look-up in a context-local).
    if value is None and kind != _FIELD:
        return None
    if kind == _DATETIME and type(value) is datetime and value.tzinfo is not None:
        return db.ops.adapt_datetimefield_value(value)  # as the field does it
    if kind == _AS_IS and type(value) in _PLAIN_VALUES:
        return value
    return field.get_db_prep_save(value, db)


def insert_rows(cursor: Any, rows: Sequence[models.Model]) -> None:
    """INSERT `rows` (unsaved objects of one model) with one `executemany` on `cursor`."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    plan = _plan(type(rows[0]))
    pairs = list(zip(plan.fields, plan.kinds, strict=True))
    values = [[_prepared(db, f, kind, f.pre_save(row, True)) for f, kind in pairs] for row in rows]
    cursor.executemany(plan.sql, values)


@dataclass(frozen=True)
class _Reader:
    columns: str
    attnames: tuple[str, ...]
    converters: tuple[tuple[Any, tuple[Any, ...]], ...]


_READERS: dict[tuple[str, type[models.Model]], _Reader] = {}


def _reader(model: type[models.Model]) -> _Reader:
    key = (connection.vendor, model)
    reader = _READERS.get(key)
    if reader is None:
        table = model._meta.db_table
        fields = model._meta.concrete_fields
        quote = connection.ops.quote_name
        converters = []
        for f in fields:
            column = f.get_col(table)
            found = connection.ops.get_db_converters(column) + f.get_db_converters(connection)
            converters.append((column, tuple(found)))
        reader = _READERS[key] = _Reader(
            columns=", ".join(f"{quote(table)}.{quote(f.column or '')}" for f in fields),
            attnames=tuple(f.attname for f in fields),
            converters=tuple(converters),
        )
    return reader


def select_columns(model: type[models.Model]) -> str:
    """The model's columns, qualified by its table, in the order `objects_from_rows` reads."""
    return _reader(model).columns


def objects_from_rows(model: type[M], rows: Sequence[Sequence[Any]]) -> list[tuple[M, Any]]:
    """Each row as (object, the row's values after the model's columns)."""
    reader = _reader(model)
    width = len(reader.attnames)
    found = []
    for row in rows:
        values = []
        for value, (column, converters) in zip(row[:width], reader.converters, strict=True):
            for converter in converters:
                value = converter(value, column, connection)
            values.append(value)
        found.append((model.from_db(connection.alias, reader.attnames, values), row[width:]))
    return found
