import signal
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from konvergo.core.checks import require_database
from konvergo.core.jobs import Worker


class Command(BaseCommand):
    help = "Run background jobs and timers. Run several against PostgreSQL to scale out."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--once", action="store_true", help="Run every due job and timer, then exit."
        )

    def handle(self, *args: Any, once: bool, **options: Any) -> None:
        require_database()
        worker = Worker()
        if once:
            ran = worker.run_once()
            worker.sign_off()
            self.stdout.write(f"Ran {ran} job(s) and timer(s).")
            return

        def stop(signum: int, frame: FrameType | None) -> None:
            # Finish the job at hand, then leave; a second signal is handled by the default.
            self.stderr.write(f"Stopping worker {worker.worker_id} after the current job…")
            worker.shutdown()
            signal.signal(signum, signal.SIG_DFL)

        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGTERM, stop)
        self.stdout.write(f"Worker {worker.worker_id} waiting for jobs (Ctrl-C stops).")
        worker.run_forever()
