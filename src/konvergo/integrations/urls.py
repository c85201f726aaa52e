"""Integrations pages, in the "integrations" namespace, under /integrations/."""

from __future__ import annotations

from django.urls import URLPattern, path

from konvergo.integrations import setup_views, views

app_name = "integrations"

urlpatterns: list[URLPattern] = [
    path("", views.index, name="index"),
    path("emails/", views.emails, name="emails"),
    path("emails/new/", views.email_compose, name="email_compose"),
    path("emails/<uuid:message_id>/", views.email_detail, name="email_detail"),
    path("emails/<uuid:message_id>/retry/", views.email_resend, name="email_retry"),
    path("webhooks/", views.deliveries, name="deliveries"),
    path("dead-letters/", views.dead_letters, name="dead_letters"),
    path("calendar/", views.calendar_settings, name="calendar"),
    path("calendar/<str:token>.ics", views.calendar_feed, name="calendar_feed"),
    path("calls/popup/", views.call_popup, name="call_popup"),
    path("calls/<uuid:call_id>/dismiss/", views.call_popup_dismiss, name="call_dismiss"),
    path("in/telephony/<uuid:channel_id>/", views.telephony_webhook, name="telephony_webhook"),
    path("in/sms/<uuid:channel_id>/", views.sms_inbound, name="sms_inbound"),
    path("in/sms/<uuid:channel_id>/status/", views.sms_status, name="sms_status"),
    path("form/<uuid:form_id>/", views.webform, name="webform"),
    path("setup/<slug:key>/", setup_views.setting_list, name="setting_list"),
    path("setup/<slug:key>/new/", setup_views.setting_edit, name="setting_add"),
    path("setup/<slug:key>/<uuid:public_id>/", setup_views.setting_edit, name="setting_edit"),
    path(
        "setup/<slug:key>/<uuid:public_id>/delete/",
        setup_views.setting_remove,
        name="setting_delete",
    ),
]
