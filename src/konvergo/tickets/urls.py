"""Tickets pages, in the "tickets" namespace, under /tickets/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "tickets"

urlpatterns: list[URLPattern] = []
