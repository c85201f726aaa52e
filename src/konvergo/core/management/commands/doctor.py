from typing import Any

from django.core.management.base import BaseCommand

from konvergo.core.doctor import run_checks


class Command(BaseCommand):
    help = "Check the database, migrations, worker, jobs and events; exit 1 on any problem."

    def handle(self, *args: Any, **options: Any) -> None:
        findings = run_checks()
        problems = [f for f in findings if not f.ok]
        for finding in findings:
            mark = self.style.SUCCESS("ok  ") if finding.ok else self.style.ERROR("FAIL")
            self.stdout.write(f"{mark} {finding.check:<11} {finding.message}")
        if problems:
            self.stdout.write(self.style.ERROR(f"{len(problems)} problem(s) found."))
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS("Everything looks healthy."))
