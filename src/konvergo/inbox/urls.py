"""Inbox pages, in the "inbox" namespace, under /inbox/."""

from __future__ import annotations

from django.urls import URLPattern

app_name = "inbox"

urlpatterns: list[URLPattern] = []
