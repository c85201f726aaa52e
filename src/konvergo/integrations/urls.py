"""Integrations pages, in the "integrations" namespace, under /integrations/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "integrations"

urlpatterns: list[URLPattern] = []
