"""Rows written without the ORM's per-call query building, for the hot paths (the engine's
advances, the events outbox).

`insert_rows` writes new model objects of one model with a single `executemany`, sending what
`Model.save()` would send: defaults, `auto_now`/`auto_now_add` values, JSON, datetimes and
UUIDs prepared by the fields themselves. Plain values of plain fields (text, numbers,
booleans, integer foreign keys) go as they are, which is what their fields would make of
them. No signals run and database-assigned primary keys are not read back, as with
`bulk_create` on SQLite; use it only where nothing needs either.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models

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


@dataclass(frozen=True)
class _Plan:
    sql: str
    fields: tuple[models.Field[Any, Any], ...]
    plain: tuple[bool, ...]


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
        plain = tuple(
            isinstance(f, _PLAIN_FIELDS)
            and not (isinstance(f, models.ForeignKey) and not _integer_key(f))
            and not isinstance(f, models.JSONField)
            for f in fields
        )
        plan = _PLANS[key] = _Plan(sql=sql, fields=fields, plain=plain)
    return plan


def _integer_key(field: models.ForeignKey[Any, Any]) -> bool:
    return isinstance(field.target_field, models.IntegerField)


def db_value(field: models.Field[Any, Any], value: Any) -> Any:
    """`value` of `field` as the database driver takes it, as the ORM would send it."""
    return field.get_db_prep_save(value, connection)


def insert_rows(cursor: Any, rows: Sequence[models.Model]) -> None:
    """INSERT `rows` (unsaved objects of one model) with one `executemany` on `cursor`."""
    if not rows:
        return
    plan = _plan(type(rows[0]))
    pairs = list(zip(plan.fields, plan.plain, strict=True))
    values = []
    for row in rows:
        line = []
        for f, plain in pairs:
            value = f.pre_save(row, True)
            if not (plain and type(value) in _PLAIN_VALUES):
                value = f.get_db_prep_save(value, connection)
            line.append(value)
        values.append(line)
    cursor.executemany(plan.sql, values)
