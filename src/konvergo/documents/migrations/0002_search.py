"""Full-text search indexes for documents (konvergo.documents.search), written by hand.

PostgreSQL: a GIN index on the tsvector expression that `search.search_vector()` produces (the
same expression, or PostgreSQL does not use it).

SQLite: an FTS5 table (unicode61 tokenizer, accents removed) with one row per document
(rowid = document id; title and the current version's text), kept in step by triggers. Without
FTS5 the table is not created and the search falls back to LIKE.

The SQL is frozen here on purpose; `konvergo.documents.search.search_index_repair()` re-creates
the same triggers if a later table rebuild on SQLite drops them.
"""

from django.db import DatabaseError, migrations

PG_INDEX = "documents_document_fts"
PG_EXPRESSION = (
    "to_tsvector('simple'::regconfig, COALESCE(\"title\", '') || ' ' || "
    "COALESCE(\"content_text\", ''))"
)
PG_FORWARD = (
    f'CREATE INDEX IF NOT EXISTS "{PG_INDEX}" ON "documents_document" USING gin ({PG_EXPRESSION})'
)
PG_REVERSE = f'DROP INDEX IF EXISTS "{PG_INDEX}"'

FTS_TABLE = "documents_search_index"
CREATE = (
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    "title, body, tokenize='unicode61 remove_diacritics 2')"
)
FILL = (
    f"INSERT INTO {FTS_TABLE}(rowid, title, body) "  # noqa: S608  (constants)
    "SELECT id, title, content_text FROM documents_document"
)
INSERT = (
    f"INSERT INTO {FTS_TABLE}(rowid, title, body) "  # noqa: S608  (constants)
    "VALUES (new.id, new.title, new.content_text);"
)
DELETE = f"DELETE FROM {FTS_TABLE} WHERE rowid = old.id;"  # noqa: S608
TRIGGERS = [
    (
        "documents_search_ai",
        "CREATE TRIGGER IF NOT EXISTS documents_search_ai AFTER INSERT ON documents_document "
        f"BEGIN {INSERT} END",
    ),
    (
        "documents_search_au",
        "CREATE TRIGGER IF NOT EXISTS documents_search_au AFTER UPDATE OF title, content_text "
        f"ON documents_document BEGIN {DELETE} {INSERT} END",
    ),
    (
        "documents_search_ad",
        "CREATE TRIGGER IF NOT EXISTS documents_search_ad AFTER DELETE ON documents_document "
        f"BEGIN {DELETE} END",
    ),
]


def sqlite_has_fts5(cursor):
    try:
        cursor.execute("CREATE VIRTUAL TABLE temp.documents_search_probe USING fts5(text)")
    except DatabaseError:
        return False
    cursor.execute("DROP TABLE temp.documents_search_probe")
    return True


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(PG_FORWARD)
        elif vendor == "sqlite" and sqlite_has_fts5(cursor):
            cursor.execute(CREATE)
            cursor.execute(FILL)
            for _name, sql in TRIGGERS:
                cursor.execute(sql)


def reverse(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    with schema_editor.connection.cursor() as cursor:
        if vendor == "postgresql":
            cursor.execute(PG_REVERSE)
        elif vendor == "sqlite":
            for name, _sql in TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")


class Migration(migrations.Migration):
    dependencies = [("documents", "0001_initial")]

    operations = [migrations.RunPython(forward, reverse, elidable=False)]
