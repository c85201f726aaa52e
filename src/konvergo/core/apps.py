from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "konvergo.core"
    label = "core"
    verbose_name = _("Core")

    def ready(self) -> None:
        from konvergo.core import demo_data  # noqa: F401  (registers the demo step)
