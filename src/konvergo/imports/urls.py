"""Imports pages, in the "imports" namespace, under /imports/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.imports import views

app_name = "imports"

urlpatterns: list[URLPattern] = [
    path("", views.batch_list, name="batch_list"),
    path("<uuid:public_id>/", views.batch_detail, name="batch_detail"),
    path("<uuid:public_id>/settings/", views.batch_settings, name="batch_settings"),
    path("<uuid:public_id>/run/", views.batch_run, name="batch_run"),
    path("<uuid:public_id>/cancel/", views.batch_cancel, name="batch_cancel"),
    path("<uuid:public_id>/undo/", views.batch_undo, name="batch_undo"),
    path("<uuid:public_id>/mapping/", views.batch_save_mapping, name="batch_save_mapping"),
    path("<uuid:public_id>/apply-mapping/", views.batch_apply_mapping, name="batch_apply_mapping"),
    path("<uuid:public_id>/errors.xlsx", views.batch_errors, name="batch_errors"),
]
