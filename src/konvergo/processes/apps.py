from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProcessesConfig(AppConfig):
    name = "konvergo.processes"
    label = "processes"
    verbose_name = _("Processes")

    def ready(self) -> None:
        # Registers the doctor check, worker sweeps, built-in connectors and the demo step.
        from konvergo.processes import connectors, demo_data, doctor_checks, tasks  # noqa: F401
