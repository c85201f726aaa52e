"""Inbox pages, in the "inbox" namespace, under /inbox/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.inbox import views

app_name = "inbox"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("badge/", views.badge, name="badge"),
    path("settings/", views.preferences, name="preferences"),
    path("tasks/<uuid:public_id>/", views.task_detail, name="task"),
    path("tasks/<uuid:public_id>/diagram.bpmn", views.task_diagram, name="task_diagram"),
    path("tasks/<uuid:public_id>/complete/", views.task_complete_view, name="task_complete"),
    path("tasks/<uuid:public_id>/<slug:action>/", views.task_action, name="task_action"),
]
