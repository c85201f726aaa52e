"""Triggers pages, in the "triggers" namespace, under /triggers/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "triggers"

urlpatterns: list[URLPattern] = []
