from functools import partial
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from konvergo.core.checks import require_database
from konvergo.core.demo import DEMO_MARKER_CALENDAR, demo_steps
from konvergo.core.models import BusinessCalendar


class Command(BaseCommand):
    help = "Create the demo company (people, departments, calendars and each app's data)."

    def report(self, step_name: str, line: str) -> None:
        self.stdout.write(f"  {step_name}: {line}")

    def handle(self, *args: Any, **options: Any) -> None:
        require_database()
        if BusinessCalendar.objects.filter(name=DEMO_MARKER_CALENDAR).exists():
            raise CommandError("the demo company is already loaded", returncode=2)
        # All or nothing: a failing step leaves no half-made company behind.
        with transaction.atomic():
            for _order, name, step in demo_steps():
                step(partial(self.report, name))
        self.stdout.write(self.style.SUCCESS("Demo company loaded."))
