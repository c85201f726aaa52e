"""Document pages, in the "documents" namespace, under /documents/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.documents import views

app_name = "documents"

urlpatterns: list[URLPattern] = [
    path("", views.document_list, name="list"),
    path("new/", views.document_new, name="new"),
    path("templates/", views.template_gallery, name="templates"),
    path("templates/<uuid:public_id>/use/", views.template_use, name="template_use"),
    path("clients/<uuid:public_id>/", views.organization_dossier, name="dossier"),
    path("persons/<uuid:public_id>/", views.person_dossier, name="person_dossier"),
    path("deals/<uuid:public_id>/panel/", views.deal_panel, name="deal_panel"),
    path("<uuid:public_id>/", views.document_detail, name="detail"),
    path(
        "<uuid:public_id>/versions/<int:number>/download/",
        views.version_download,
        name="download",
    ),
    path("<uuid:public_id>/versions/", views.version_upload, name="version_upload"),
    path("<uuid:public_id>/checkout/", views.document_checkout, name="checkout"),
    path("<uuid:public_id>/release/", views.document_release, name="release"),
    path("<uuid:public_id>/send/", views.approval_send, name="send"),
    path("<uuid:public_id>/withdraw/", views.approval_withdraw, name="withdraw"),
    path("<uuid:public_id>/sign/", views.document_sign, name="sign"),
    path("<uuid:public_id>/archive/", views.document_archive, name="archive"),
    path("<uuid:public_id>/approval-sheet.pdf", views.sheet_pdf, name="sheet_pdf"),
]
