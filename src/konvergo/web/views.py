"""Pages of the web interface and the project's error handlers."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_safe

from konvergo.core.selectors import system_status
from konvergo.web.forms import LoginForm
from konvergo.web.htmx import is_htmx


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The overview dashboard; to htmx (its periodic refresh) only the status cards."""
    template = "web/_system_status.html" if is_htmx(request) else "web/home.html"
    response = render(request, template, {"status": system_status()})
    patch_vary_headers(response, ["HX-Request"])
    return response


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Sign out; POST only (Django 5), then back to the sign-in page (LOGOUT_REDIRECT_URL)."""


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "web/403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "web/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Render without the request: no context processors, so no session, user or DB access."""
    return HttpResponseServerError(loader.get_template("web/500.html").render())
