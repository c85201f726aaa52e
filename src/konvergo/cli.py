"""The `konvergo` command: Django's management commands with Konvergo's settings.

Configuration and connection problems end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import os
import sys


def _fail(message: str) -> int:
    print(f"konvergo: error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "konvergo.config.settings")
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "konvergo"

    import django
    from django.core.exceptions import ImproperlyConfigured
    from django.db.utils import OperationalError

    from konvergo.config.env import ConfigurationError

    try:
        django.setup()
    except (ConfigurationError, ImproperlyConfigured) as exc:
        return _fail(str(exc))

    from django.core.management import execute_from_command_line

    from konvergo.core.checks import database_target

    try:
        execute_from_command_line(argv)
    except OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return _fail(f"cannot use the {database_target()}: {reason}")
    except ConfigurationError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
