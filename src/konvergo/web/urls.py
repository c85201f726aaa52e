"""Web routes. Sign-in and sign-out are un-namespaced (LOGIN_URL = "login"); pages live in "web"."""

from __future__ import annotations

from django.urls import include, path

from konvergo.web import views

web_patterns = [
    path("", views.home, name="home"),
]

urlpatterns = [
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
    path("", include((web_patterns, "web"))),
]
