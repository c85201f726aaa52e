from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "konvergo.crm"
    label = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        # Registers the reminder sweep and the demo step.
        from konvergo.crm import demo_data, tasks  # noqa: F401
