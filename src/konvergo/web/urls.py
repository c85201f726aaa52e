"""Web routes. Sign-in, sign-out and the password pages are un-namespaced (Django's auth views
reverse those names; LOGIN_URL = "login"); pages live in "web"."""

from __future__ import annotations

from django.urls import include, path

from konvergo.web import views

web_patterns = [
    path("", views.home, name="home"),
    path("profile/", views.profile, name="profile"),
    path("search", views.search_page, name="search"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/<uuid:public_id>/read/", views.notification_read, name="notification_read"),
    path("notifications/read-all/", views.notifications_read_all, name="notifications_read_all"),
]

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("password-reset/", views.PasswordResetView.as_view(), name="password_reset"),
    path(
        "password-reset/done/",
        views.PasswordResetDoneView.as_view(),
        name="password_reset_done",
    ),
    path(
        "reset/<uidb64>/<token>/",
        views.PasswordResetConfirmView.as_view(),
        name="password_reset_confirm",
    ),
    path("reset/done/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("password-change/", views.PasswordChangeView.as_view(), name="password_change"),
    path(
        "password-change/done/",
        views.PasswordChangeDoneView.as_view(),
        name="password_change_done",
    ),
    path("", include((web_patterns, "web"))),
]
