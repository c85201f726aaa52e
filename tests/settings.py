"""Test settings: the product settings plus a probe app whose subscriber the outbox tests use.

On SQLite the test database is a file (not :memory:) so that a worker started as a separate
process by a test sees the same data.
"""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("KONVERGO_VAR_DIR", str(Path(tempfile.gettempdir()) / "konvergo-test-var"))

from konvergo.config.settings import *  # noqa: F403
from konvergo.config.settings import DATABASES, INSTALLED_APPS, VAR_DIR

INSTALLED_APPS = [*INSTALLED_APPS, "tests.probe"]

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast; tests only
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
