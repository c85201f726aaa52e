from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "konvergo.inbox"
    label = "inbox"
    verbose_name = _("Inbox")

    def ready(self) -> None:
        # Registers the notice sweep (assignments, reminders, escalations, digests).
        from konvergo.inbox import tasks  # noqa: F401
