"""Tickets pages, in the "tickets" namespace, under /tickets/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.tickets import views

app_name = "tickets"

urlpatterns: list[URLPattern] = [
    path("", views.ticket_list, name="list"),
    path("new/", views.ticket_new, name="new"),
    path("bulk/", views.ticket_bulk, name="bulk"),
    path("setup/", views.setup, name="setup"),
    path("follow/<str:secret>/", views.ticket_follow, name="follow"),
    path(
        "follow/<str:secret>/files/<uuid:public_id>/",
        views.follow_download,
        name="follow_download",
    ),
    path("attachments/<uuid:public_id>/", views.attachment_download, name="attachment"),
    path("<uuid:public_id>/", views.ticket_detail, name="detail"),
    path("<uuid:public_id>/edit/", views.ticket_edit, name="edit"),
    path("<uuid:public_id>/fields/", views.ticket_fields, name="fields"),
    path("<uuid:public_id>/status/", views.ticket_transition, name="transition"),
    path("<uuid:public_id>/comments/", views.ticket_comment, name="comment"),
    path("<uuid:public_id>/merge/", views.ticket_merge, name="merge"),
    path("<uuid:public_id>/link/", views.ticket_link, name="link"),
    path("<uuid:public_id>/split/", views.ticket_split, name="split"),
    path("<uuid:public_id>/process/", views.ticket_process, name="process"),
]
