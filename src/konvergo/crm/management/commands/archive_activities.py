from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from konvergo.crm.services.activities import activities_archive


class Command(BaseCommand):
    help = "Archive done activities older than N days (default 365); run it daily."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=365, help="Age in days (default 365).")

    def handle(self, *args: Any, days: int, **options: Any) -> None:
        if days < 0:
            self.stderr.write("--days must not be negative")
            raise SystemExit(2)
        archived = activities_archive(older_than_days=days)
        self.stdout.write(f"Archived {archived} activit{'y' if archived == 1 else 'ies'}.")
