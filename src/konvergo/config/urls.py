from django.contrib import admin
from django.urls import include, path, re_path

from konvergo.api.errors import api_not_found
from konvergo.api.health import healthz
from konvergo.api.router import api
from konvergo.web.views import set_language

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
    path("admin/", admin.site.urls),
    # the language switcher also keeps a signed-in user's choice (shadows Django's own)
    path("i18n/setlang/", set_language, name="set_language"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("crm/", include("konvergo.crm.urls")),
    path("imports/", include("konvergo.imports.urls")),
    path("tickets/", include("konvergo.tickets.urls")),
    path("triggers/", include("konvergo.triggers.urls")),
    path("inbox/", include("konvergo.inbox.urls")),
    path("integrations/", include("konvergo.integrations.urls")),
    path("processes/", include("konvergo.designer.urls")),
    path("documents/", include("konvergo.documents.urls")),
    path("", include("konvergo.org.urls")),
    path("", include("konvergo.web.urls")),
]

handler403 = "konvergo.web.views.permission_denied"
handler404 = "konvergo.web.views.page_not_found"
handler500 = "konvergo.web.views.server_error"
