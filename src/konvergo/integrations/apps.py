from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    name = "konvergo.integrations"
    label = "integrations"
    verbose_name = _("Integrations")

    def ready(self) -> None:
        # Registers the subscribers, connectors, the mailbox sweep and IDLE watcher, and the
        # timeline sources.
        from konvergo.integrations import (  # noqa: F401
            connectors,
            demo_data,
            doctor_checks,
            selectors,
            subscribers,
            tasks,
        )
        from konvergo.integrations.services import inbound_mail, mail_idle  # noqa: F401
