from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TriggersConfig(AppConfig):
    name = "konvergo.triggers"
    label = "triggers"
    verbose_name = _("Triggers")

    def ready(self) -> None:
        # Registers the events subscriber and the demo step.
        from konvergo.triggers import demo_data, subscribers  # noqa: F401
