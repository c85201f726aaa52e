from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from konvergo.org.models import ApiToken, User
from konvergo.org.services import api_token_create, api_token_revoke


class Command(BaseCommand):
    help = "Create, list and revoke personal API tokens."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a token; it is printed once.")
        create.add_argument("username")
        create.add_argument("--name", default="", help="What the token is for.")
        listing = sub.add_parser("list", help="List a user's tokens.")
        listing.add_argument("username")
        revoke = sub.add_parser("revoke", help="Revoke a token by its prefix (kvg_…).")
        revoke.add_argument("prefix")

    def user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user named {username!r}", returncode=2)
        if not user.is_active:
            raise CommandError(f"user {username!r} is deactivated", returncode=2)
        return user

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "create":
            issued = api_token_create(user=self.user(options["username"]), name=options["name"])
            self.stderr.write("New API token (shown only now; store it safely):")
            self.stdout.write(issued.raw)
        elif action == "list":
            for token in ApiToken.objects.filter(user=self.user(options["username"])):
                state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
                used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
                self.stdout.write(f"{token.prefix}…  {state:<20} last used {used}  {token.name}")
        else:
            matches = list(
                ApiToken.objects.filter(prefix=options["prefix"], revoked_at__isnull=True)
            )
            if len(matches) != 1:
                raise CommandError(
                    f"{len(matches)} active tokens have the prefix {options['prefix']!r}; "
                    "give exactly one",
                    returncode=2,
                )
            api_token_revoke(token=matches[0])
            self.stdout.write(f"Revoked {matches[0].prefix}…")
