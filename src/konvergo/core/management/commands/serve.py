from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connection

from konvergo.core.checks import require_database
from konvergo.core.server import serve


class Command(BaseCommand):
    help = "Serve Konvergo with gunicorn (and, on SQLite, the job worker in the same process)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=None, help="Web processes.")
        parser.add_argument(
            "--with-worker",
            action="store_true",
            default=None,
            help="Run the job worker inside the web process (default on SQLite).",
        )
        parser.add_argument(
            "--no-worker", dest="with_worker", action="store_false", help="Web only."
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        workers: int | None,
        with_worker: bool | None,
        **options: Any,
    ) -> None:
        require_database()
        sqlite = connection.vendor == "sqlite"
        serve(
            host=host,
            port=port,
            workers=workers or (1 if sqlite else 2),
            with_worker=sqlite if with_worker is None else with_worker,
            stdout=self.stdout,
        )
