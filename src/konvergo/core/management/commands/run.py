from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Set up (migrate, admin, demo) and serve with the job worker: what `make run` does."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        call_command("setup", stdout=self.stdout._out)
        call_command("serve", host=host, port=port, with_worker=True, stdout=self.stdout._out)
