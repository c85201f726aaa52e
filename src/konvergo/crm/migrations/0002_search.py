"""Indexes for the CRM's global search (konvergo.crm.search), written by hand.

PostgreSQL: the pg_trgm extension and GIN trigram indexes on the searched texts (the names of
a record as one expression, e-mail addresses, phones, tax ids); ILIKE uses them directly,
nothing to keep in sync.

SQLite: an FTS5 table with the trigram tokenizer (SQLite 3.34+), one row per searchable value
(an organisation's names, a person's names, each e-mail, phone and tax id; several forms of a
value are joined by " | "), kept in sync by triggers on the source tables. The row id encodes the source row (id * 8 + kind code) so that
the triggers find their row by primary key. Without FTS5 trigram support the table is not
created and the search falls back to LIKE scans.

The SQL is frozen here on purpose; `konvergo.crm.search.search_index_repair()` re-creates the
same triggers if a later table rebuild on SQLite drops them.
"""

from django.db import DatabaseError, migrations

from konvergo.config.env import ConfigurationError

# --- PostgreSQL -----------------------------------------------------------------------------

# One index per searched text. The names of a record are one expression, so that every word
# of a query is looked up in the same index; konvergo.crm.search repeats these expressions
# verbatim (PostgreSQL uses an expression index only for the same expression).
ORGANIZATION_NAMES = (
    "(legal_name::text || ' | ' || short_name::text || ' | ' || normalized_name::text)"
)
PERSON_NAMES = "(first_name::text || ' ' || last_name::text || ' | ' || normalized_name::text)"
PG_INDEXES = [
    ("crm_org_names_trgm", "crm_organization", ORGANIZATION_NAMES),
    ("crm_person_names_trgm", "crm_person", PERSON_NAMES),
    ("crm_email_address_trgm", "crm_email", '"address"'),
    ("crm_phone_number_trgm", "crm_phone", '"number"'),
    ("crm_taxid_value_trgm", "crm_taxid", '"value"'),
]


def pg_forward(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")
        if cursor.fetchone() is None:
            # pg_trgm is a trusted extension (PostgreSQL 13+): a role that may CREATE in the
            # database may install it; otherwise only a superuser can.
            cursor.execute("SAVEPOINT crm_search_trgm")
            try:
                cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            except DatabaseError as exc:
                cursor.execute("ROLLBACK TO SAVEPOINT crm_search_trgm")
                cursor.execute("SELECT current_database(), current_user")
                database, role = cursor.fetchone()
                cursor.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm'")
                if cursor.fetchone() is None:
                    raise ConfigurationError(
                        "the CRM search needs PostgreSQL's pg_trgm extension, which this server "
                        "does not have: install PostgreSQL's contrib package, then migrate again"
                    ) from exc
                raise ConfigurationError(
                    "the CRM search needs PostgreSQL's pg_trgm extension and the database role "
                    f'"{role}" may not create it ({str(exc).strip().splitlines()[0]}): run '
                    f'CREATE EXTENSION pg_trgm; in database "{database}" as a superuser, '
                    "then migrate again"
                ) from exc
            cursor.execute("RELEASE SAVEPOINT crm_search_trgm")
        for name, table, expression in PG_INDEXES:
            cursor.execute(
                f'CREATE INDEX IF NOT EXISTS "{name}" ON "{table}" USING gin ({expression} gin_trgm_ops)'
            )


def pg_reverse(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name, _table, _column in PG_INDEXES:
            cursor.execute(f'DROP INDEX IF EXISTS "{name}"')
        # Drop the extension too unless something else in the database uses it by now.
        cursor.execute("SAVEPOINT crm_search_trgm")
        try:
            cursor.execute("DROP EXTENSION IF EXISTS pg_trgm RESTRICT")
        except DatabaseError:  # dependent objects: keep it
            cursor.execute("ROLLBACK TO SAVEPOINT crm_search_trgm")
        else:
            cursor.execute("RELEASE SAVEPOINT crm_search_trgm")


# --- SQLite ---------------------------------------------------------------------------------

FTS_TABLE = "crm_search_index"
# source table -> (kind code, "kind" value or SQL, record id SQL, field, text SQL, watched columns)
ROW_KIND_SQL = "CASE WHEN {r}.person_id IS NOT NULL THEN 'person' ELSE 'organization' END"
SOURCES = {
    "crm_organization": (
        1,
        "'organization'",
        "{r}.id",
        "name",
        "{r}.legal_name || ' | ' || {r}.short_name || ' | ' || {r}.normalized_name",
        "legal_name, short_name, normalized_name",
    ),
    "crm_person": (
        2,
        "'person'",
        "{r}.id",
        "name",
        "{r}.first_name || ' ' || {r}.last_name || ' | ' || {r}.normalized_name",
        "first_name, last_name, normalized_name",
    ),
    "crm_email": (
        3,
        ROW_KIND_SQL,
        "COALESCE({r}.person_id, {r}.organization_id)",
        "email",
        "{r}.address",
        "address, person_id, organization_id",
    ),
    "crm_phone": (
        4,
        ROW_KIND_SQL,
        "COALESCE({r}.person_id, {r}.organization_id)",
        "phone",
        "{r}.number",
        "number, person_id, organization_id",
    ),
    "crm_taxid": (
        5,
        "'organization'",
        "{r}.organization_id",
        "tax_id",
        "{r}.value || ' | ' || {r}.country || {r}.value",
        "value, country, organization_id",
    ),
}


def _insert(table, r):
    code, kind, record_id, field, text, _columns = SOURCES[table]
    # Only constants of this module are formatted in.
    return (
        f"INSERT INTO {FTS_TABLE}(rowid, text, kind, record_id, field) VALUES "  # noqa: S608
        f"({r}.id * 8 + {code}, {text.format(r=r)}, {kind.format(r=r)}, "
        f"{record_id.format(r=r)}, '{field}');"
    )


def _delete(table, r):
    code = SOURCES[table][0]
    return f"DELETE FROM {FTS_TABLE} WHERE rowid = {r}.id * 8 + {code};"  # noqa: S608


def sqlite_triggers():
    for table, (_code, _kind, _record, _field, _text, columns) in SOURCES.items():
        yield (
            f"crm_search_{table}_ai",
            f"CREATE TRIGGER IF NOT EXISTS crm_search_{table}_ai AFTER INSERT ON {table} "
            f"BEGIN {_insert(table, 'new')} END",
        )
        yield (
            f"crm_search_{table}_au",
            f"CREATE TRIGGER IF NOT EXISTS crm_search_{table}_au AFTER UPDATE OF {columns} "
            f"ON {table} BEGIN {_delete(table, 'old')} {_insert(table, 'new')} END",
        )
        yield (
            f"crm_search_{table}_ad",
            f"CREATE TRIGGER IF NOT EXISTS crm_search_{table}_ad AFTER DELETE ON {table} "
            f"BEGIN {_delete(table, 'old')} END",
        )


def sqlite_has_trigram(cursor):
    try:
        cursor.execute(
            "CREATE VIRTUAL TABLE temp.crm_search_probe USING fts5(text, tokenize='trigram')"
        )
    except DatabaseError:  # no FTS5, or SQLite before 3.34
        return False
    cursor.execute("DROP TABLE temp.crm_search_probe")
    return True


def sqlite_forward(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        if not sqlite_has_trigram(cursor):
            return
        cursor.execute(
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
            "text, kind UNINDEXED, record_id UNINDEXED, field UNINDEXED, tokenize='trigram')"
        )
        for table, (code, kind, record_id, field, text, _columns) in SOURCES.items():
            cursor.execute(
                f"INSERT INTO {FTS_TABLE}(rowid, text, kind, record_id, field) "  # noqa: S608
                f"SELECT r.id * 8 + {code}, {text.format(r='r')}, {kind.format(r='r')}, "
                f"{record_id.format(r='r')}, '{field}' FROM {table} AS r"
            )
        for _name, sql in sqlite_triggers():
            cursor.execute(sql)


def sqlite_reverse(schema_editor):
    with schema_editor.connection.cursor() as cursor:
        for name, _sql in sqlite_triggers():
            cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
        cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


# --- the operation --------------------------------------------------------------------------


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        pg_forward(schema_editor)
    elif vendor == "sqlite":
        sqlite_forward(schema_editor)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        pg_reverse(schema_editor)
    elif vendor == "sqlite":
        sqlite_reverse(schema_editor)


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse, elidable=False)]
