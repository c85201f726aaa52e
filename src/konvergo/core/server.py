"""gunicorn wrapper for `konvergo serve`, optionally with the job worker in-process."""

from __future__ import annotations

import threading
from typing import Any

from django.core.management.base import OutputWrapper
from gunicorn.app.base import BaseApplication

from konvergo.config.wsgi import application as wsgi_application


class KonvergoServer(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        return wsgi_application


def _start_embedded_worker(gunicorn_worker: Any) -> None:
    # One job thread per web process: claiming is safe across processes (SKIP LOCKED on
    # PostgreSQL, exclusive transactions on SQLite).
    from konvergo.core.jobs import Worker

    job_worker = Worker()
    thread = threading.Thread(target=job_worker.run_forever, name="konvergo-jobs", daemon=True)
    gunicorn_worker.konvergo_jobs = (job_worker, thread)
    thread.start()


def _stop_embedded_worker(server: Any, gunicorn_worker: Any) -> None:
    jobs = getattr(gunicorn_worker, "konvergo_jobs", None)
    if jobs is not None:
        job_worker, thread = jobs
        job_worker.shutdown()
        thread.join(timeout=15)


def serve(*, host: str, port: int, workers: int, with_worker: bool, stdout: OutputWrapper) -> None:
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "timeout": 60,
        "graceful_timeout": 20,
        "accesslog": "-",
        "proc_name": "konvergo",
        # gunicorn's runtime control socket is one fixed path per user; two servers would clash.
        "control_socket_disable": True,
    }
    if with_worker:
        options["post_worker_init"] = _start_embedded_worker
        options["worker_exit"] = _stop_embedded_worker
    stdout.write(
        f"Konvergo on http://{host}:{port}/ ({workers} web process(es)"
        f"{', job worker in-process' if with_worker else ''}). Ctrl-C stops."
    )
    KonvergoServer(options).run()
