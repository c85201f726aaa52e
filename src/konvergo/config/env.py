"""Read Konvergo's settings from the environment, failing with one clear sentence.

Settings code raises ConfigurationError; the `konvergo` command turns it into a single line on
stderr and exit status 2, so a typo in an environment variable never shows a traceback.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url


class ConfigurationError(Exception):
    """A setting is missing, malformed or unusable."""


TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a yes/no value (use 1 or 0)")


def env_int(name: str, default: int, *, minimum: int = 0) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None
    if value < minimum:
        raise ConfigurationError(f"{name}={raw!r} must be at least {minimum}")
    return value


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def writable_dir(path: Path, *, purpose: str) -> Path:
    """Create `path` if needed and prove it is writable by writing a probe file."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".write-probe"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise ConfigurationError(f"{purpose} {path} is not writable: {reason}") from None
    return path


def database_config(url: str, *, sqlite_default: Path) -> dict[str, Any]:
    """Turn KONVERGO_DATABASE_URL into a Django DATABASES entry.

    SQLite is tuned for a web process and a worker writing at the same time: WAL journal,
    a busy timeout, and IMMEDIATE transactions so writers queue instead of failing with
    "database is locked" when a read transaction tries to upgrade.
    """
    if not url:
        url = f"sqlite:///{sqlite_default}"
    scheme = urlsplit(url).scheme
    if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
        raise ConfigurationError(
            f"KONVERGO_DATABASE_URL {url!r} is not understood: use sqlite:///PATH or "
            "postgres://USER@HOST:PORT/NAME"
        )
    try:
        config: dict[str, Any] = dict(dj_database_url.parse(url, conn_max_age=60))
    except Exception as exc:  # dj-database-url raises several types for malformed URLs
        raise ConfigurationError(f"KONVERGO_DATABASE_URL {url!r} is not valid: {exc}") from None
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = str(config.get("NAME") or "")
        if not name or name == ":memory:":
            raise ConfigurationError("KONVERGO_DATABASE_URL must name an SQLite file")
        writable_dir(Path(name).parent, purpose="database directory")
        config["CONN_MAX_AGE"] = 0
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                "PRAGMA busy_timeout=20000; PRAGMA foreign_keys=ON;"
            ),
        }
    else:
        if not config.get("NAME"):
            raise ConfigurationError(f"KONVERGO_DATABASE_URL {url!r} names no database")
        config.setdefault("OPTIONS", {})["connect_timeout"] = 5
        config["CONN_HEALTH_CHECKS"] = True
    return config


def secret_key(var_dir: Path) -> str:
    """KONVERGO_SECRET_KEY, or a key generated once into var/secret_key (mode 0600)."""
    configured = os.environ.get("KONVERGO_SECRET_KEY", "").strip()
    if configured:
        return configured
    key_file = var_dir / "secret_key"
    if key_file.exists():
        return key_file.read_text().strip()
    writable_dir(var_dir, purpose="KONVERGO_VAR_DIR")
    key = secrets.token_urlsafe(50)
    try:
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it first: use theirs
        return key_file.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key
