from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "konvergo.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from konvergo.org import demo_data  # noqa: F401  (registers the demo step)
