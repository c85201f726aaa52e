from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TicketsConfig(AppConfig):
    name = "konvergo.tickets"
    label = "tickets"
    verbose_name = _("Service desk")

    def ready(self) -> None:
        # Registers the escalation sweep with the job worker and the demo step.
        from konvergo.crm.selectors import register_timeline_source
        from konvergo.tickets import demo_data  # noqa: F401
        from konvergo.tickets.selectors import ticket_timeline_items
        from konvergo.tickets.services import escalations  # noqa: F401

        # The client's tickets appear in their CRM dossier timeline.
        register_timeline_source(ticket_timeline_items)
