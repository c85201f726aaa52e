from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class DocumentsConfig(AppConfig):
    name = "konvergo.documents"
    label = "documents"
    verbose_name = _("Documents")

    def ready(self) -> None:
        # Registers the approval connectors, the retention sweep and the demo step.
        from konvergo.documents import demo_data  # noqa: F401
        from konvergo.documents.search import search_index_repair
        from konvergo.documents.services import approvals, retention  # noqa: F401

        # On SQLite a later migration that rebuilds documents_document drops the search
        # triggers; put them back (and refill the index) after every migrate.
        post_migrate.connect(search_index_repair, sender=self)
