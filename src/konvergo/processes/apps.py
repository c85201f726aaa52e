from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProcessesConfig(AppConfig):
    name = "konvergo.processes"
    label = "processes"
    verbose_name = _("Processes")

    def ready(self) -> None:
        # Registers the doctor check, worker sweeps, subscribers, connectors and the demo step.
        from konvergo.processes import (  # noqa: F401
            connectors,
            demo_data,
            doctor_checks,
            subscribers,
            tasks,
        )
