"""Inserting many rows of a model, with their simple-history rows, fast.

Django's bulk_create compiles every value of every object through the ORM (about 6 us each):
at the 20-odd rows an imported sheet row makes, that alone would cap an import near 500 rows/s.
Here rows become plain tuples (values converted once per field type, constants once per
chunk) for one INSERT per model and chunk: on SQLite through a temporary table and one
INSERT ... SELECT (see `_Shape`), elsewhere by `executemany`. The history rows are copied from
the records just written by one INSERT ... SELECT (`History`). Ids are taken before the insert
(SQLite: after the largest id and the AUTOINCREMENT counter, under the write lock the
transaction holds; PostgreSQL: from the column's sequence), so the rows can point at each
other. Database triggers (the SQLite search index) run as for any insert, except on SQLite:
see `SearchIndex`. Only for the models the import writes; defaults come from the fields,
`auto_now(_add)` from `now`.
"""

from __future__ import annotations

import importlib
import operator
import os
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection, models

from konvergo.crm.search import fts_available

Row = dict[str, Any]  # attname -> value


# Random bytes -> the version (4) and variant (RFC 4122) bits of a UUID, one table each.
_VERSION = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT = bytes((b & 0x3F) | 0x80 for b in range(256))


def _uuids(count: int) -> list[Any]:
    """Random (version 4) UUIDs from one read of the system's random source: as 32 hex digits
    on SQLite (how Django stores them there), as UUID objects elsewhere."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = raw[6::16].translate(_VERSION)
    raw[8::16] = raw[8::16].translate(_VARIANT)
    digits = raw.hex()
    result = [digits[start : start + 32] for start in range(0, 32 * count, 32)]
    if connection.vendor != "sqlite":
        return [uuid.UUID(hex=text) for text in result]
    return result


def _same(value: Any) -> Any:
    return value


class _Shape:
    """The INSERT of rows given as tuples of some fields' values (`names`, in that order): the
    id first, then those values (converted where their field needs it), fresh UUIDs for the
    UUID fields not given, then one constant for every other field (its default, or `now`).

    On SQLite the rows are first written to a temporary table without constraints or indexes
    and then copied by one INSERT ... SELECT that adds the constants: a statement per row into
    the real table costs SQLite twice as much (it opens every index and updates the
    AUTOINCREMENT counter per statement)."""

    def __init__(self, table: Table, names: tuple[str, ...], now: datetime) -> None:
        fields = {f.attname: f for f in table.fields if not f.primary_key}
        given = [fields[name] for name in names]
        fresh = [f for f in fields.values() if f.attname in table.uuid_fields - set(names)]
        constant = [f for f in fields.values() if f not in given and f not in fresh]
        values: list[Any] = []
        for f in constant:
            moment = getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
            values.append(table.prepare[f.attname](now if moment else table.defaults[f.attname]))
        self.constants = tuple(values)
        self.fresh = len(fresh)
        self.converted = [
            (i, table.prepare[f.attname])
            for i, f in enumerate(given)
            if table.prepare[f.attname] is not _same
        ]
        varying = [*([table.pk] if table.pk is not None else []), *given, *fresh]
        quote = connection.ops.quote_name
        columns = ", ".join(quote(str(f.column)) for f in [*varying, *constant])
        target = quote(table.model._meta.db_table)
        # Names from the models' own metadata, values as parameters.
        self.staged = connection.vendor == "sqlite"
        self.stage = table.stage
        if self.staged:
            stage = ", ".join(f"c{i}" for i in range(len(varying)))
            self.stage_sql = (
                f"INSERT INTO temp.{table.stage} ({stage}) "  # noqa: S608
                f"VALUES ({', '.join(['%s'] * len(varying))})"
            )
            self.sql = (
                f"INSERT INTO {target} ({columns}) "  # noqa: S608
                f"SELECT {', '.join([stage, *(['%s'] * len(constant))])} "
                f"FROM temp.{table.stage} ORDER BY rowid"
            )
        else:
            marks = ", ".join(["%s"] * (len(varying) + len(constant)))
            self.sql = f"INSERT INTO {target} ({columns}) VALUES ({marks})"  # noqa: S608

    def params(
        self, values: Sequence[tuple[Any, ...]], ids: Sequence[int] | None
    ) -> list[tuple[Any, ...]]:
        """The parameters of the rows `values` (and their ids), constants left for `write`."""
        # Column by column: each converter mapped over its column, the rows zipped once.
        count = len(values)
        columns: list[Sequence[Any]] = list(zip(*values, strict=True))
        for index, prepare in self.converted:
            columns[index] = list(map(prepare, columns[index]))
        if ids is not None:
            if len(ids) != count:
                raise ValueError(f"{len(ids)} ids for {count} rows")
            columns.insert(0, ids)
        if self.fresh:
            uuids, size = _uuids(count * self.fresh), self.fresh
            columns.extend(uuids[k::size] for k in range(size))
        if not columns:
            return [()] * count
        return list(zip(*columns, strict=True))

    def write(self, cursor: Any, params: list[tuple[Any, ...]]) -> None:
        if not self.staged:
            cursor.executemany(self.sql, [p + self.constants for p in params])
            return
        cursor.executemany(self.stage_sql, params)
        cursor.execute(self.sql, self.constants)
        cursor.execute(f"DELETE FROM temp.{self.stage}")  # noqa: S608


def _picker(names: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    """A row's values of the fields `names`, as a tuple."""
    if len(names) > 1:
        return operator.itemgetter(*names)  # of several names, a tuple
    return lambda row: tuple(row[name] for name in names)  # itemgetter of one: the value


class Table:
    """One model's INSERT, and how each field's value is made ready for it."""

    def __init__(self, model: type[models.Model], *, with_id: bool = True) -> None:
        self.model = model
        meta = model._meta
        self.fields = [f for f in meta.concrete_fields if with_id or not f.primary_key]
        self.pk = next((f for f in self.fields if f.primary_key), None)
        self.prepare = {f.attname: self._converter(f) for f in self.fields}
        self.defaults = {f.attname: self._default(f) for f in self.fields}
        self.uuid_fields = {
            f.attname
            for f in self.fields
            if isinstance(f, models.UUIDField) and f.default is uuid.uuid4
        }
        # Fields a row may give, in the model's order (auto_now ones are always `now`).
        self.settable = [
            f.attname
            for f in self.fields
            if not f.primary_key and not getattr(f, "auto_now", False)
        ]
        self.shapes: dict[tuple[tuple[str, ...], datetime], _Shape] = {}
        # The temporary table rows pass through on SQLite (see _Shape): untyped columns, so
        # values reach the real table as they were bound.
        self.stage = connection.ops.quote_name(f"import_stage_{meta.db_table}")

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
            return _same
        if isinstance(field, models.JSONField):
            empty = {"{}": field.get_db_prep_save({}, connection)}

            def document(value: Any) -> Any:
                # Most rows carry no custom fields: the empty document is converted once.
                if value == {}:
                    return empty["{}"]
                return field.get_db_prep_save(value, connection)

            return document
        if isinstance(field, models.DecimalField):

            def number(value: Any) -> Any:
                # A Decimal goes to the driver as it is (what get_db_prep_save gives back).
                if type(value) is Decimal and value.is_finite():
                    return value
                return field.get_db_prep_save(value, connection)

            return number
        if isinstance(
            field,
            models.CharField
            | models.TextField
            | models.IntegerField
            | models.BooleanField
            | models.ForeignKey,
        ):
            return _same
        if field.null:
            # Most optional values (a deal's expected close, ...) are empty.
            return lambda value: (
                None if value is None else field.get_db_prep_save(value, connection)
            )
        return lambda value: field.get_db_prep_save(value, connection)

    def _default(self, field: models.Field[Any, Any]) -> Any:
        if not field.has_default():
            return None if field.null else ""
        return field.get_default()

    def _shape(self, names: tuple[str, ...], now: datetime) -> _Shape:
        found = self.shapes.get((names, now))
        if found is None:
            found = self.shapes[(names, now)] = _Shape(self, names, now)
        return found

    def insert(self, rows: Sequence[Row], now: datetime, ids: Sequence[int] = ()) -> None:
        """INSERT `rows` (attname -> value; with the primary keys `ids` if the table has its id
        column): one statement per set of fields the rows give."""
        settable = self.settable
        shape = rows[0].keys() if rows else None
        if shape is not None and all(row.keys() == shape for row in rows):  # the usual case
            names = tuple(name for name in settable if name in shape)
            self.insert_values(
                names,
                list(map(_picker(names), rows)),
                now,
                ids if self.pk is not None else None,
            )
            return
        groups: dict[frozenset[str], tuple[tuple[str, ...], Any, list[Any], list[int]]] = {}
        for index, row in enumerate(rows):
            keys = frozenset(row)
            group = groups.get(keys)
            if group is None:
                names = tuple(name for name in settable if name in keys)
                group = groups[keys] = (names, _picker(names), [], [])
            group[2].append(group[1](row))
            if self.pk is not None:
                group[3].append(ids[index])
        for names, _pick, values, group_ids in groups.values():
            self.insert_values(names, values, now, group_ids if self.pk is not None else None)

    def insert_values(
        self,
        names: tuple[str, ...],
        values: Sequence[tuple[Any, ...]],
        now: datetime,
        ids: Sequence[int] | None = None,
    ) -> None:
        """INSERT rows given as tuples of the fields `names` (attnames in the model's order is
        not needed, auto_now fields not allowed), with their primary keys `ids`."""
        if not values:
            return
        shape = self._shape(names, now)
        params = shape.params(values, ids)
        with connection.cursor() as cursor:
            if shape.staged:
                columns = ", ".join(f"c{i}" for i in range(len(self.fields)))
                cursor.execute(f"CREATE TEMP TABLE IF NOT EXISTS {self.stage} ({columns})")
            shape.write(cursor, params)

    def drop_stage(self) -> None:
        if connection.vendor == "sqlite":
            with connection.cursor() as cursor:
                cursor.execute(f"DROP TABLE IF EXISTS temp.{self.stage}")


class History:
    """The "+" history rows of records just inserted, copied from them by one
    INSERT ... SELECT: the stored values themselves, in the order of the records' ids."""

    def __init__(self, model: type[models.Model], historical: type[models.Model]) -> None:
        own = {f.attname: f for f in model._meta.concrete_fields}
        quote = connection.ops.quote_name
        self.extra: list[tuple[str, models.Field[Any, Any]]] = []
        columns, selected = [], []
        for f in historical._meta.concrete_fields:
            if f.primary_key:
                continue  # history_id: the database counts it
            columns.append(quote(str(f.column)))
            if f.attname in own:
                selected.append(f"r.{quote(str(own[f.attname].column))}")
            else:
                selected.append("%s")
                self.extra.append((f.attname, f))
        self.table = quote(model._meta.db_table)
        self.sql = (
            f"INSERT INTO {quote(historical._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
            f"SELECT {', '.join(selected)} FROM {self.table} AS r "
        )

    def insert(self, ids: Sequence[int], values: Mapping[str, Any]) -> None:
        """History rows for the records `ids`; `values` for the history's own fields."""
        params = [f.get_db_prep_save(values.get(name), connection) for name, f in self.extra]
        if connection.vendor == "sqlite":
            # take_ids gave one unbroken range no other row can be in.
            where, bounds = "WHERE r.id BETWEEN %s AND %s ORDER BY r.id", [min(ids), max(ids)]
            with connection.cursor() as cursor:
                cursor.execute(self.sql + where, [*params, *bounds])
            return
        with connection.cursor() as cursor:
            cursor.execute(self.sql + "WHERE r.id = ANY(%s) ORDER BY r.id", [*params, list(ids)])


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
        self.now = now
        self.history_values = {
            "history_date": now,
            "history_change_reason": reason,
            "history_type": "+",
            "history_user_id": user_id,
        }
        self.tables: dict[type[models.Model], tuple[Table, History | None]] = {}
        self.search = SearchIndex()

    def _tables(self, model: type[models.Model]) -> tuple[Table, History | None]:
        if model not in self.tables:
            history = getattr(model, "history", None)
            historical = history.model if history is not None else None
            self.tables[model] = (
                Table(model),
                History(model, historical) if historical is not None else None,
            )
        return self.tables[model]

    def insert(self, model: type[models.Model], rows: Sequence[Row]) -> list[int]:
        """Insert `rows` (attname -> value) and their "+" history rows; the new ids."""
        if not rows:
            return []
        table, history = self._tables(model)
        ids = take_ids(model, len(rows))
        db_table = model._meta.db_table
        if self.search.covers(db_table):
            self.search.suspend(db_table)
            table.insert(rows, self.now, ids)
            self.search.fill(db_table, ids)  # ids are one unbroken range on SQLite
        else:
            table.insert(rows, self.now, ids)
        if history is not None:
            history.insert(ids, self.history_values)
        return ids

    def _plain(self, model: type[models.Model]) -> Table:
        if model not in self.tables:
            self.tables[model] = (Table(model, with_id=False), None)
        return self.tables[model][0]

    def insert_plain(self, model: type[models.Model], rows: Iterable[Row]) -> None:
        """Rows of a model without history whose ids nobody needs."""
        rows = list(rows)
        if rows:
            self._plain(model).insert(rows, self.now)

    def insert_plain_values(
        self, model: type[models.Model], names: tuple[str, ...], values: Sequence[tuple[Any, ...]]
    ) -> None:
        """The same, the rows as tuples of the fields `names`."""
        self._plain(model).insert_values(names, values, self.now)

    def finish(self) -> None:
        """The search triggers back, the temporary tables gone (before the commit)."""
        for table, _history in self.tables.values():
            table.drop_stage()
        self.search.restore()
