"""Inserting many rows of a model, with their simple-history rows, fast.

Django's bulk_create compiles every value of every object through the ORM (about 6 us each):
at the 20-odd rows an imported sheet row makes, that alone would cap an import near 500 rows/s.
Here each model gets one INSERT statement run with `executemany` over plain tuples, values
converted once per field type. Ids are taken before the insert (SQLite: after the largest id
and the AUTOINCREMENT counter, under the write lock the transaction holds; PostgreSQL: from the
column's sequence), so the rows can point at each other. Database triggers (the SQLite search
index) run as for any insert, except on SQLite: see `SearchIndex`. Only for the models the
import writes; defaults come from the fields, `auto_now(_add)` from `now`.
"""

from __future__ import annotations

import importlib
import operator
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.db import connection, models

from konvergo.crm.search import fts_available

Row = dict[str, Any]  # attname -> value


def _uuids(count: int) -> list[Any]:
    """Random (version 4) UUIDs from one read of the system's random source: as 32 hex digits
    on SQLite (how Django stores them there), as UUID objects elsewhere."""
    digits = os.urandom(16 * count).hex()
    result: list[Any] = []
    for start in range(0, 32 * count, 32):
        text = digits[start : start + 32]
        text = f"{text[:12]}4{text[13:16]}{'89ab'[int(text[16], 16) & 3]}{text[17:]}"
        result.append(text)
    if connection.vendor != "sqlite":
        return [uuid.UUID(hex=text) for text in result]
    return result


def _same(value: Any) -> Any:
    return value


class Table:
    """One model's INSERT, and how each field's value is made ready for it."""

    def __init__(self, model: type[models.Model], *, with_id: bool = True) -> None:
        self.model = model
        meta = model._meta
        self.fields = [f for f in meta.concrete_fields if with_id or not f.primary_key]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(f.column)) for f in self.fields)
        marks = ", ".join(["%s"] * len(self.fields))
        # Names from the model's own metadata, values as parameters.
        self.sql = f"INSERT INTO {quote(meta.db_table)} ({columns}) VALUES ({marks})"  # noqa: S608
        prepare = [self._converter(f) for f in self.fields]
        # Values are picked from a row by one itemgetter; only the fields whose values need
        # converting (dates, UUIDs, JSON, decimals) are touched one by one.
        self.pick = operator.itemgetter(*[f.attname for f in self.fields])
        self.converted = [(i, p) for i, p in enumerate(prepare) if p is not _same]
        self.defaults = {f.attname: self._default(f) for f in self.fields}
        self.uuid_fields = [
            f.attname
            for f in self.fields
            if isinstance(f, models.UUIDField) and f.default is uuid.uuid4
        ]

    def _converter(self, field: models.Field[Any, Any]) -> Callable[[Any], Any]:
        sqlite = connection.vendor == "sqlite"
        if isinstance(field, models.DateTimeField):
            adapt = connection.ops.adapt_datetimefield_value
            cache: dict[int, Any] = {}

            def moment(value: Any) -> Any:
                # The same `now` stands in thousands of rows: convert it once.
                if value is None:
                    return None
                key = id(value)
                if key not in cache:
                    cache.clear()
                    cache[key] = adapt(value)
                return cache[key]

            return moment
        if isinstance(field, models.UUIDField):
            if sqlite:
                return lambda value: value.hex if isinstance(value, uuid.UUID) else value
            return lambda value: value
        if isinstance(field, models.JSONField):
            empty = {"{}": field.get_db_prep_save({}, connection)}

            def document(value: Any) -> Any:
                # Most rows carry no custom fields: the empty document is converted once.
                if value == {}:
                    return empty["{}"]
                return field.get_db_prep_save(value, connection)

            return document
        if isinstance(
            field,
            models.CharField
            | models.TextField
            | models.IntegerField
            | models.BooleanField
            | models.ForeignKey,
        ) and not isinstance(field, models.DecimalField):
            return _same
        return lambda value: field.get_db_prep_save(value, connection)

    def _default(self, field: models.Field[Any, Any]) -> Any:
        if not field.has_default():
            return None if field.null else ""
        return field.get_default()

    def tuples(self, rows: Sequence[Row], now: datetime) -> list[tuple[Any, ...]]:
        uuids = iter(_uuids(len(rows) * len(self.uuid_fields)))
        always_now = [f.attname for f in self.fields if getattr(f, "auto_now", False)]
        now_if_missing = [f.attname for f in self.fields if getattr(f, "auto_now_add", False)]
        result = []
        for row in rows:
            for name in self.uuid_fields:
                if name not in row:
                    row[name] = next(uuids)
            for name in always_now:
                row[name] = now  # kept in the row for its history row
            for name in now_if_missing:
                row.setdefault(name, now)
            values = list(self.pick({**self.defaults, **row}))
            for index, prepare in self.converted:
                values[index] = prepare(values[index])
            result.append(tuple(values))
        return result

    def insert(self, rows: Sequence[Row], now: datetime) -> None:
        if not rows:
            return
        with connection.cursor() as cursor:
            cursor.executemany(self.sql, self.tuples(rows, now))


def take_ids(model: type[models.Model], count: int) -> list[int]:
    """`count` new primary keys of `model`, never used before (inside a transaction)."""
    if count == 0:
        return []
    table = model._meta.db_table
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {quote(table)}")  # noqa: S608
            largest = int(cursor.fetchone()[0])
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            found = cursor.fetchone()
            start = max(largest, int(found[0]) if found else 0) + 1
            return list(range(start, start + count))
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [table, count],
        )
        return [int(value) for (value,) in cursor.fetchall()]


class SearchIndex:
    """The CRM's SQLite search table, filled for inserted rows by one INSERT ... SELECT per
    table and chunk instead of the insert trigger firing per row (measured 7 times faster).

    The rows are the ones the CRM's triggers write (same SQL, from the CRM migration that made
    them, as `crm.search.search_index_rebuild` uses). The insert triggers are dropped for the
    chunk and created again before it commits; SQLite's DDL is transactional, and the chunk's
    transaction holds the write lock, so nobody else ever sees or writes the tables without
    them, and a rollback brings them back. Update and delete triggers stay as they are.
    """

    def __init__(self) -> None:
        self.active = connection.vendor == "sqlite" and fts_available(connection)
        self.dropped: dict[str, str] = {}
        if not self.active:
            return
        frozen = importlib.import_module("konvergo.crm.migrations.0002_search")
        self.table: str = frozen.FTS_TABLE
        self.sources: dict[str, tuple[Any, ...]] = frozen.SOURCES
        self.triggers = {
            name: sql for name, sql in frozen.sqlite_triggers() if name.endswith("_ai")
        }

    def covers(self, table: str) -> bool:
        return self.active and table in self.sources

    def suspend(self, table: str) -> None:
        name = f"crm_search_{table}_ai"
        if name in self.dropped or name not in self.triggers:
            return
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        self.dropped[name] = self.triggers[name]

    def fill(self, table: str, ids: Sequence[int]) -> None:
        code, kind, record_id, field, text, _columns = self.sources[table]
        # Only constants of the CRM migration are formatted in; the ids are parameters.
        sql = (
            f"INSERT INTO {self.table}(rowid, text, kind, record_id, field) "  # noqa: S608
            f"SELECT r.id * 8 + {code}, {text.format(r='r')}, {kind.format(r='r')}, "
            f"{record_id.format(r='r')}, '{field}' FROM {table} AS r "
            "WHERE r.id BETWEEN %s AND %s"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [min(ids), max(ids)])

    def restore(self) -> None:
        with connection.cursor() as cursor:
            for sql in self.dropped.values():
                cursor.execute(sql)
        self.dropped = {}


class Inserter:
    """Inserts rows of several models with history, in the caller's transaction. Call
    `finish()` before the transaction commits."""

    def __init__(self, *, user_id: int | None, reason: str, now: datetime) -> None:
        self.user_id = user_id
        self.reason = reason
        self.now = now
        self.tables: dict[type[models.Model], tuple[Table, Table | None]] = {}
        self.search = SearchIndex()

    def _tables(self, model: type[models.Model]) -> tuple[Table, Table | None]:
        if model not in self.tables:
            history = getattr(model, "history", None)
            historical = history.model if history is not None else None
            self.tables[model] = (
                Table(model),
                Table(historical, with_id=False) if historical is not None else None,
            )
        return self.tables[model]

    def insert(self, model: type[models.Model], rows: Sequence[Row]) -> list[int]:
        """Insert `rows` (attname -> value) and their "+" history rows; the new ids."""
        if not rows:
            return []
        table, history = self._tables(model)
        ids = take_ids(model, len(rows))
        for row, pk in zip(rows, ids, strict=True):
            row["id"] = pk
        db_table = model._meta.db_table
        if self.search.covers(db_table):
            self.search.suspend(db_table)
            table.insert(rows, self.now)
            self.search.fill(db_table, ids)  # ids are one unbroken range on SQLite
        else:
            table.insert(rows, self.now)
        if history is not None:
            extra = {
                "history_date": self.now,
                "history_change_reason": self.reason,
                "history_type": "+",
                "history_user_id": self.user_id,
            }
            table_values = [_history_row(row, extra) for row in rows]
            history.insert(table_values, self.now)
        return ids

    def insert_plain(self, model: type[models.Model], rows: Iterable[Row]) -> None:
        """Rows of a model without history whose ids nobody needs."""
        rows = list(rows)
        if rows:
            table = self.tables.setdefault(model, (Table(model, with_id=False), None))[0]
            table.insert(rows, self.now)


def _history_row(row: Mapping[str, Any], extra: Mapping[str, Any]) -> Row:
    merged = dict(row)
    merged.update(extra)
    return merged
