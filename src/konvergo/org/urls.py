"""Pages of the organisation, in the "org" namespace."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, include, path

from konvergo.org import views

app_name = "org"

admin_patterns: list[URLPattern | URLResolver] = [
    path("", views.admin_index, name="admin_index"),
]
for pages in views.ADMIN_PAGES:
    admin_patterns += pages.urls()

urlpatterns = [
    path("org-chart/", views.org_chart, name="chart"),
    path("people/<uuid:public_id>/photo", views.person_photo, name="person_photo"),
    path("manage/", include(admin_patterns)),
]
