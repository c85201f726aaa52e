"""Rows written and read without the ORM's per-call query building, for the hot paths (the
engine's advances, the events outbox).

`insert_rows` writes new model objects of one model with one statement, sending what
`Model.save()` would send: defaults, `auto_now`/`auto_now_add` values, JSON, datetimes and
UUIDs prepared by the fields themselves. Plain values of plain fields (text, numbers,
booleans, integer foreign keys) go as they are, which is what their fields would make of
them. No signals run and database-assigned primary keys are not read back, as with
`bulk_create` on SQLite; use it only where nothing needs either (`insert_row` writes one
object and reads its primary key back). `update_rows` and `delete_rows` change or remove many
rows, each picked by its key values. On SQLite each is one `executemany`; on PostgreSQL, one
statement per chunk of rows.

`new_object` makes an unsaved object as `Model(**values)` would, at a fraction of the cost.

`select_columns` and `objects_from_rows` turn the rows of a hand-written SELECT into model
objects as a queryset would (the fields' and the database's converters applied).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar, cast

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


# PostgreSQL parses each statement anew (Django binds parameters on the client), so several
# rows go in one statement there; SQLite compiles a statement once and `executemany` reuses it.
# Chunks keep a statement under PostgreSQL's 65,535 parameters should binding move server-side.
_MAX_PARAMETERS = 60_000


def _one_statement_per_chunk(db: BaseDatabaseWrapper) -> bool:
    return db.vendor == "postgresql"


def _chunks(rows: Sequence[Sequence[Any]], width: int) -> Iterator[Sequence[Sequence[Any]]]:
    size = max(1, _MAX_PARAMETERS // max(1, width))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def _row_values(db: BaseDatabaseWrapper, plan: _Plan, row: models.Model) -> list[Any]:
    """The INSERT parameters of `row`: each field's pre-save value, prepared."""
    return [
        _prepared(db, f, kind, f.pre_save(row, True))
        for f, kind in zip(plan.fields, plan.kinds, strict=True)
    ]


def insert_rows(cursor: Any, rows: Sequence[models.Model]) -> None:
    """INSERT `rows` (unsaved objects of one model): one `executemany` on SQLite, one multi-row
    statement on PostgreSQL."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    plan = _plan(type(rows[0]))
    values = [_row_values(db, plan, row) for row in rows]
    if not _one_statement_per_chunk(db):
        cursor.executemany(plan.sql, values)
        return
    head, _sep, one = plan.sql.rpartition(" VALUES ")
    for chunk in _chunks(values, len(plan.fields)):
        cursor.execute(
            f"{head} VALUES {', '.join([one] * len(chunk))}",
            [value for row in chunk for value in row],
        )


def insert_row(cursor: Any, row: M) -> M:
    """INSERT one unsaved object, as `insert_rows`, and read back its database-assigned primary
    key (INSERT … RETURNING, SQLite 3.35+ and PostgreSQL): the object is then saved."""
    db = connections[DEFAULT_DB_ALIAS]
    plan = _plan(type(row))
    pk = row._meta.pk
    cursor.execute(
        f"{plan.sql} RETURNING {db.ops.quote_name(pk.column or '')}", _row_values(db, plan, row)
    )
    row.pk = cursor.fetchone()[0]
    row._state.adding = False
    row._state.db = db.alias
    return row


def update_rows(
    cursor: Any,
    model: type[models.Model],
    set_fields: Sequence[str],
    where_fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """UPDATE `model` SET `set_fields` WHERE `where_fields` equal, once per row of `rows` (each
    the SET values, then the WHERE values, prepared as the database takes them): `executemany`
    on SQLite; on PostgreSQL one UPDATE … FROM (VALUES …) per chunk."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    set_columns = [quote(_column(model, name)) for name in set_fields]
    where_columns = [quote(_column(model, name)) for name in where_fields]
    # One UPDATE … FROM (VALUES …) changes a row once even when several VALUES rows pick it;
    # `executemany` applies them in turn. Rows picked twice go the sequential way.
    if not _one_statement_per_chunk(db) or len(
        {tuple(row[len(set_fields) :]) for row in rows}
    ) < len(rows):
        assignments = ", ".join(f"{c} = %s" for c in set_columns)
        conditions = " AND ".join(f"{c} = %s" for c in where_columns)
        # Identifiers come from the model's metadata; every value is a parameter.
        cursor.executemany(f"UPDATE {table} SET {assignments} WHERE {conditions}", rows)  # noqa: S608
        return
    # VALUES columns take their types from the literals (NULL alone would be text): each is
    # cast to its column's type. VALUES column n is named cn.
    typed = [
        (column, f"v.c{n}::{_field(model, name).cast_db_type(db)}")
        for n, (column, name) in enumerate(
            zip([*set_columns, *where_columns], [*set_fields, *where_fields], strict=True)
        )
    ]
    assignments = ", ".join(f"{c} = {v}" for c, v in typed[: len(set_fields)])
    conditions = " AND ".join(f"{table}.{c} = {v}" for c, v in typed[len(set_fields) :])
    width = len(typed)
    names = ", ".join(f"c{n}" for n in range(width))
    one = f"({', '.join(['%s'] * width)})"
    for chunk in _chunks(rows, width):
        cursor.execute(
            f"UPDATE {table} SET {assignments} "  # noqa: S608 - identifiers from _meta
            f"FROM (VALUES {', '.join([one] * len(chunk))}) AS v ({names}) "
            f"WHERE {conditions}",
            [value for row in chunk for value in row],
        )


def delete_rows(
    cursor: Any,
    model: type[models.Model],
    where_fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
) -> None:
    """DELETE the rows of `model` whose `where_fields` equal one of `rows`: `executemany` on
    SQLite, one DELETE … WHERE (…) IN (…) per chunk on PostgreSQL."""
    if not rows:
        return
    db = connections[DEFAULT_DB_ALIAS]
    quote = db.ops.quote_name
    table = quote(model._meta.db_table)
    columns = [quote(_column(model, name)) for name in where_fields]
    if not _one_statement_per_chunk(db):
        conditions = " AND ".join(f"{c} = %s" for c in columns)
        cursor.executemany(f"DELETE FROM {table} WHERE {conditions}", rows)  # noqa: S608
        return
    one = f"({', '.join(['%s'] * len(columns))})"
    for chunk in _chunks(rows, len(columns)):
        cursor.execute(
            f"DELETE FROM {table} WHERE ({', '.join(columns)}) "  # noqa: S608
            f"IN ({', '.join([one] * len(chunk))})",
            [value for row in chunk for value in row],
        )


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any]:
    return cast("models.Field[Any, Any]", model._meta.get_field(name))


def _column(model: type[models.Model], name: str) -> str:
    return _field(model, name).get_attname_column()[1] or ""


# --- new objects ----------------------------------------------------------------------------

_IMMUTABLE = (str, int, float, bool, bytes, type(None), Decimal)


@dataclass(frozen=True)
class _Maker:
    # Per concrete field, in order: its attname, and its default as a value (shared, being
    # immutable) or as the field to ask for a fresh one (callable or mutable defaults).
    attnames: tuple[str, ...]
    defaults: tuple[tuple[Any, models.Field[Any, Any] | None], ...]
    known: frozenset[str]


_MAKERS: dict[type[models.Model], _Maker] = {}


def _maker(model: type[models.Model]) -> _Maker:
    maker = _MAKERS.get(model)
    if maker is None:
        defaults = []
        for f in model._meta.concrete_fields:
            value = f.get_default()
            fixed = not callable(f.default) and isinstance(value, _IMMUTABLE)
            defaults.append((value, None) if fixed else (None, f))
        maker = _MAKERS[model] = _Maker(
            attnames=tuple(f.attname for f in model._meta.concrete_fields),
            defaults=tuple(defaults),
            known=frozenset(f.attname for f in model._meta.concrete_fields),
        )
    return maker


def new_object(model: type[M], values: dict[str, Any]) -> M:
    """An unsaved `model` object with `values` by attname (`instance_id`, not `instance`) and
    defaults for the rest: what `model(**values)` makes, built through the positional path of
    Model.__init__, which costs a fraction of the keyword path on the hot paths that make a
    row per advance. An unknown name is a TypeError, as with keywords."""
    maker = _maker(model)
    unknown = values.keys() - maker.known
    if unknown:
        raise TypeError(f"{model.__name__} has no field {', '.join(sorted(unknown))}")
    args = []
    for attname, (value, field) in zip(maker.attnames, maker.defaults, strict=True):
        if attname in values:
            args.append(values[attname])
        elif field is None:
            args.append(value)
        else:
            args.append(field.get_default())
    return model(*args)


# --- reading ---------------------------------------------------------------------------------


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
