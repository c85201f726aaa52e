"""Designer and monitoring pages, in the "designer" namespace, under /processes/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "designer"

urlpatterns: list[URLPattern] = []
