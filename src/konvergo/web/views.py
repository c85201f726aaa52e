"""Pages of the web interface: the shell (overview, search, notifications), the account
(sign-in, password, profile, language) and the project's error handlers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import get_object_or_404, redirect, render
from django.template import loader
from django.urls import reverse_lazy
from django.utils import translation
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views import i18n
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import BusinessError
from konvergo.core.selectors import system_status
from konvergo.crm.models import Activity
from konvergo.org.forms import ProfileForm, add_service_error
from konvergo.org.models import Notification, User
from konvergo.org.selectors import unread_notification_count
from konvergo.org.services import notifications_mark_read, profile_update, user_set_language
from konvergo.processes.models import HumanTask, TaskStatus
from konvergo.web.forms import LoginForm, PasswordResetForm
from konvergo.web.htmx import is_htmx
from konvergo.web.search import search

NOTIFICATIONS_PER_PAGE = 20
SEARCH_LIMIT = 10


def _user(request: HttpRequest) -> User:
    """The signed-in user (views below are behind login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise TypeError("a signed-in user is required")
    return user


MY_WORK_ROWS = 10


def my_work(user: Any) -> dict[str, Any]:
    """What the signed-in user has to do next: open process tasks and planned activities."""
    tasks = (
        HumanTask.objects.filter(status=TaskStatus.OPEN, assignee=user)
        .select_related("instance__definition")
        .order_by("due_at", "-priority", "created_at")[:MY_WORK_ROWS]
    )
    activities = (
        Activity.objects.filter(owner=user, done_at__isnull=True, archived=False)
        .select_related("organization", "person")
        .order_by("due_at", "created_at")[:MY_WORK_ROWS]
    )
    return {"my_tasks": list(tasks), "my_activities": list(activities)}


@require_safe
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The overview dashboard; to htmx (its periodic refresh) only the status cards."""
    if is_htmx(request):
        response = render(request, "web/_system_status.html", {"status": system_status()})
    else:
        response = render(
            request,
            "web/home.html",
            {"status": system_status(), **my_work(request.user)},
        )
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- the account ----------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    template_name = "registration/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Sign out; POST only (Django 5), then back to the sign-in page (LOGOUT_REDIRECT_URL)."""


# Django's password views with our templates. The admin app ships templates under the same
# "registration/" names, so ours live under "web/account/".


class PasswordResetView(auth_views.PasswordResetView):
    form_class = PasswordResetForm
    template_name = "web/account/password_reset_form.html"
    email_template_name = "web/account/password_reset_email.txt"
    subject_template_name = "web/account/password_reset_subject.txt"


class PasswordResetDoneView(auth_views.PasswordResetDoneView):
    template_name = "web/account/password_reset_done.html"


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    template_name = "web/account/password_reset_confirm.html"


class PasswordResetCompleteView(auth_views.PasswordResetCompleteView):
    template_name = "web/account/password_reset_complete.html"


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "web/account/password_change_form.html"
    success_url = reverse_lazy("password_change_done")


class PasswordChangeDoneView(auth_views.PasswordChangeDoneView):
    template_name = "web/account/password_change_done.html"


@require_http_methods(["GET", "POST"])
@login_required
def profile(request: HttpRequest) -> HttpResponse:
    """The signed-in user's own settings: language, time zone, calendar, phone and photo."""
    user = User.objects.get(pk=_user(request).pk)  # a copy: a refused change leaves no trace
    data, files = (request.POST, request.FILES) if request.method == "POST" else (None, None)
    form = ProfileForm(data, files, user=user)
    if data is not None and form.is_valid():
        values = form.cleaned_data
        try:
            profile_update(
                user=user,
                language=values["language"],
                time_zone=values["time_zone"],
                calendar_system=values["calendar_system"],
                phone=values["phone"],
                photo=values.get("photo"),
                remove_photo=bool(values.get("remove_photo")),
            )
        except (BusinessError, ValidationError) as exc:
            add_service_error(form, exc)
        else:
            with translation.override(user.language):
                messages.success(request, _("Your profile was saved."))
            return redirect("web:profile")
    return render(
        request,
        "web/profile.html",
        {"form": form, "profile_user": user, "breadcrumbs": [(_("Profile"), "")]},
    )


def set_language(request: HttpRequest) -> HttpResponse:
    """Django's language switcher; for a signed-in user the choice is also kept in the
    profile, so it follows them to their next sign-in and to other devices."""
    response = i18n.set_language(request)
    language = request.POST.get("language", "")
    if (
        request.method == "POST"
        and request.user.is_authenticated
        and language in dict(settings.LANGUAGES)
    ):
        user_set_language(user=_user(request), language=language)
    return response


# --- search ---------------------------------------------------------------------------------


@require_safe
@login_required
def search_page(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    return render(
        request,
        "web/search.html",
        {
            "search_query": query,
            "results": search(request.user, query, limit=SEARCH_LIMIT),
            "breadcrumbs": [(_("Search"), "")],
        },
    )


# --- notifications --------------------------------------------------------------------------


@dataclass(frozen=True)
class NotificationItem:
    notification: Notification
    link: str  # "" unless it points into this site (a stored link is never trusted blindly)


def _items(request: HttpRequest, notifications: list[Notification]) -> list[NotificationItem]:
    host = {request.get_host()}
    return [
        NotificationItem(
            notification=item,
            link=item.url
            if item.url
            and url_has_allowed_host_and_scheme(
                item.url, allowed_hosts=host, require_https=request.is_secure()
            )
            else "",
        )
        for item in notifications
    ]


def _notification_page(request: HttpRequest, number: str | None) -> dict[str, object]:
    notifications = Notification.objects.filter(recipient=_user(request)).select_related(
        "on_behalf_of"
    )
    page = Paginator(notifications.order_by("-created_at", "-pk"), NOTIFICATIONS_PER_PAGE).get_page(
        number
    )
    return {"page": page, "items": _items(request, list(page.object_list))}


@require_safe
@login_required
def notifications(request: HttpRequest) -> HttpResponse:
    context = _notification_page(request, request.GET.get("page"))
    context["breadcrumbs"] = [(_("Notifications"), "")]
    return render(request, "web/notifications.html", context)


@require_POST
@login_required
def notification_read(request: HttpRequest, public_id: UUID) -> HttpResponse:
    user = _user(request)
    notification = get_object_or_404(Notification, public_id=public_id, recipient=user)
    notifications_mark_read(user=user, public_ids=[notification.public_id])
    if not is_htmx(request):
        return redirect("web:notifications")
    notification.refresh_from_db()
    return render(
        request,
        "web/_notification_read.html",
        {
            "item": _items(request, [notification])[0],
            "unread_count": unread_notification_count(user),
        },
    )


@require_POST
@login_required
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    notifications_mark_read(user=user)
    if not is_htmx(request):
        return redirect("web:notifications")
    context = _notification_page(request, request.POST.get("page"))
    context["unread_count"] = 0
    return render(request, "web/_notifications_read_all.html", context)


# --- error pages ----------------------------------------------------------------------------


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """The 403 page; says why when the refusal carries a message (permissions.require's)."""
    reason = str(exception) if isinstance(exception, Exception) and exception.args else ""
    return render(request, "web/403.html", {"reason": reason}, status=403)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return render(request, "web/404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """Render without the request: no context processors, so no session, user or DB access."""
    return HttpResponseServerError(loader.get_template("web/500.html").render())
