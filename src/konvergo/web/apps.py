from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    """The server-rendered interface: base layout, htmx helpers, shared templates, assets."""

    name = "konvergo.web"
    label = "web"
    verbose_name = _("Web interface")
