"""`konvergo import FILE --mapping NAME [--dry-run]`: the import engine from the command line.

The file is read, the saved mapping applied, every row checked (the dry run); without
--dry-run the rows are then imported in this process, chunk by chunk, like the background job.
Bad input ends with one line on stderr and a non-zero exit status, having written nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError
from konvergo.imports.models import BatchStatus, ImportMapping
from konvergo.imports.services import (
    batch_configure,
    batch_dry_run,
    batch_run,
    batch_start,
    batch_upload,
    mapping_apply,
)
from konvergo.org.models import User

ERRORS_PRINTED = 20


class Command(BaseCommand):
    help = "Import organisations, persons, deals and activities from a spreadsheet."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=".xlsx, .xls, .ods or .csv")
        parser.add_argument("--mapping", required=True, help="name of a saved column mapping")
        parser.add_argument("--dry-run", action="store_true", help="check only, write nothing")
        parser.add_argument("--user", help="import as this user (default: the first superuser)")
        parser.add_argument("--sheet", help="sheet name (default: the first sheet)")
        parser.add_argument("--header-row", type=int, help="1-based (default: detected)")

    def handle(self, *args: Any, **options: Any) -> None:
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(_("%(path)s is not a file.") % {"path": path})
        mapping = ImportMapping.objects.filter(name=options["mapping"]).first()
        if mapping is None:
            names = ", ".join(ImportMapping.objects.values_list("name", flat=True)) or "-"
            raise CommandError(
                _("There is no saved mapping named %(name)s (saved: %(names)s).")
                % {"name": options["mapping"], "names": names}
            )
        actor = self._user(options.get("user"))
        try:
            batch = batch_upload(actor=actor, data=path.read_bytes(), filename=path.name)
            if options.get("sheet") or options.get("header_row"):
                batch = batch_configure(
                    actor=actor,
                    batch=batch,
                    sheet=options.get("sheet"),
                    header_row=options.get("header_row"),
                )
            batch = mapping_apply(batch=batch, mapping=mapping)
            batch = batch_dry_run(actor=actor, batch=batch)
        except BusinessError as exc:
            raise CommandError(_describe(exc)) from None
        self._report(
            batch.created_count,
            batch.updated_count,
            batch.skipped_count,
            batch.failed_count,
            _("Dry run"),
        )
        for number, message in batch.row_errors[:ERRORS_PRINTED]:
            self.stdout.write(_("Row %(row)d: %(message)s") % {"row": number, "message": message})
        if len(batch.row_errors) > ERRORS_PRINTED:
            self.stdout.write(
                _("... and %(n)d more rows with errors.")
                % {"n": len(batch.row_errors) - ERRORS_PRINTED}
            )
        if options["dry_run"]:
            return
        try:
            batch = batch_start(actor=actor, batch=batch)
        except BusinessError as exc:
            raise CommandError(_describe(exc)) from None
        finished = batch_run(batch_id=batch.public_id)
        assert finished is not None  # noqa: S101  (the batch was just created)
        self._report(
            finished.created_count,
            finished.updated_count,
            finished.skipped_count,
            finished.failed_count,
            _("Imported"),
        )
        self.stdout.write(_("Batch %(id)s") % {"id": finished.public_id})
        if finished.status != BatchStatus.DONE:
            raise CommandError(finished.log[-1]["text"] if finished.log else finished.status)

    def _report(self, created: int, updated: int, skipped: int, failed: int, what: str) -> None:
        self.stdout.write(
            _(
                "%(what)s: %(created)d new, %(updated)d updated, %(skipped)d skipped, "
                "%(failed)d failed."
            )
            % {
                "what": what,
                "created": created,
                "updated": updated,
                "skipped": skipped,
                "failed": failed,
            }
        )

    def _user(self, username: str | None) -> User:
        if username:
            user = User.objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(_("There is no active user %(name)s.") % {"name": username})
            return user
        user = User.objects.filter(is_superuser=True, is_active=True).order_by("pk").first()
        if user is None:
            raise CommandError(_("Name the importing user with --user."))
        return user


def _describe(exc: BusinessError) -> str:
    details = exc.details if isinstance(exc.details, dict) else {}
    parts = [
        f"{field}: {' '.join(map(str, messages))}"
        for field, messages in details.items()
        if isinstance(messages, list)
    ]
    return " ".join([exc.message, *parts])
