"""Start-up checks shared by the long-running commands."""

from __future__ import annotations

from django.db import DatabaseError, connection

from konvergo.config.env import ConfigurationError


def database_target() -> str:
    cfg = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite file {cfg['NAME']}"
    host = cfg.get("HOST") or "localhost"
    port = cfg.get("PORT") or "5432"
    return f"{connection.vendor} database {cfg['NAME']!r} at {host}:{port}"


def require_database() -> None:
    """Fail with one clear line (CLI exit status 2) when the database cannot be reached."""
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ConfigurationError(f"cannot reach the {database_target()}: {reason}") from None


def pending_migrations() -> list[str]:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]
