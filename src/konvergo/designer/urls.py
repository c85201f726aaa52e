"""Designer and monitoring pages, in the "designer" namespace, under /processes/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.designer import views

app_name = "designer"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("drafts/new/", views.draft_new, name="draft_new"),
    path("drafts/<uuid:public_id>/", views.draft_detail, name="draft"),
    path("drafts/<uuid:public_id>/export.bpmn", views.draft_export, name="draft_export"),
    path("drafts/<uuid:public_id>/history/", views.draft_history, name="draft_history"),
    path("library/", views.library_index, name="library"),
    path("library/<slug:key>/deploy/", views.library_deploy, name="library_deploy"),
    path("versions/<uuid:public_id>/", views.monitor_definition, name="monitor_definition"),
    path("versions/<uuid:public_id>/diagram.bpmn", views.definition_xml, name="definition_xml"),
    path("versions/<uuid:public_id>/edit/", views.draft_from_version, name="draft_from_version"),
    path("versions/<uuid:public_id>/start/", views.instance_start, name="instance_start"),
    path("instances/<uuid:public_id>/", views.monitor_instance, name="monitor_instance"),
    path("instances/<uuid:public_id>/cancel/", views.instance_cancel_view, name="instance_cancel"),
    path(
        "instances/<uuid:public_id>/migrate/", views.instance_migrate_view, name="instance_migrate"
    ),
    path("incidents/<uuid:public_id>/retry/", views.instance_retry, name="incident_retry"),
]
