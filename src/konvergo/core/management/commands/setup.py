import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from konvergo.core.checks import require_database


class Command(BaseCommand):
    help = (
        "Migrate, create the admin account on first run and load the demo into an empty database."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        require_database()
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database is up to date.")
        user_model = get_user_model()
        empty = not user_model.objects.exists()
        if not user_model.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            user_model.objects.create_superuser(
                username="admin", email="admin@localhost", password=password
            )
            # Printed once; only the hash is stored.
            self.stdout.write(
                self.style.WARNING(
                    f"Created the account 'admin' with password: {password}\n"
                    "Write it down now: it is not shown again (change it after signing in)."
                )
            )
        if empty and settings.KONVERGO_DEMO:
            self.stdout.write("Loading the demo company (KONVERGO_DEMO=0 skips this)…")
            call_command("demo", stdout=self.stdout._out)
