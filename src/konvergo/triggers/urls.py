"""Triggers pages, in the "triggers" namespace, under /triggers/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.triggers import views

app_name = "triggers"

urlpatterns: list[URLPattern] = [
    path("", views.rule_list, name="rule_list"),
    path("new/", views.rule_edit, name="rule_add"),
    path("log/", views.firing_log, name="firing_log"),
    path("<uuid:public_id>/", views.rule_edit, name="rule_edit"),
    path("<uuid:public_id>/delete/", views.rule_remove, name="rule_delete"),
]
