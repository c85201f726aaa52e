from django.contrib import admin
from django.urls import include, path, re_path

from konvergo.api.errors import api_not_found
from konvergo.api.health import healthz
from konvergo.api.router import api

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("konvergo.web.urls")),
]

handler403 = "konvergo.web.views.permission_denied"
handler404 = "konvergo.web.views.page_not_found"
handler500 = "konvergo.web.views.server_error"
