from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ProcessesConfig(AppConfig):
    name = "konvergo.processes"
    label = "processes"
    verbose_name = _("Processes")

    def ready(self) -> None:
        from konvergo.processes import doctor_checks, tasks  # noqa: F401  (registers checks, sweep)
