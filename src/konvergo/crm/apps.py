from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class CrmConfig(AppConfig):
    name = "konvergo.crm"
    label = "crm"
    verbose_name = _("CRM")

    def ready(self) -> None:
        # Registers the reminder sweep and the demo step.
        from konvergo.crm import demo_data, tasks  # noqa: F401
        from konvergo.crm.search import search_index_repair

        # On SQLite a later migration that rebuilds an indexed table drops the search
        # triggers; put them back (and refill the index) after every migrate.
        post_migrate.connect(search_index_repair, sender=self)
