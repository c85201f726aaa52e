"""Background jobs of the import. Thin: they take the batch id and call the service."""

from __future__ import annotations

from django_tasks import task

from konvergo.imports.services import batch_run


@task()
def run_import(batch_id: str) -> None:
    """Import a queued batch; running it again after a crash goes on after the last chunk."""
    batch_run(batch_id=batch_id)
