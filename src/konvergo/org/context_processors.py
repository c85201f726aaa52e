"""Template context for every page: the notification bell and the navigation by permission.

Values are callables computed once per request on first use, so a page that does not show
them (or an anonymous one) costs no query.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from django.http import HttpRequest

from konvergo.org.models import Department
from konvergo.org.permissions import can
from konvergo.org.selectors import unread_notification_count
from konvergo.org.views import admin_pages_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    @cache
    def unread() -> int:
        return unread_notification_count(user)

    @cache
    def admin_links() -> list[tuple[str, str]]:
        return [(pages.title, pages.url("list")) for pages in admin_pages_for(user)]

    @cache
    def may_view_org_chart() -> bool:
        return can(user, "view", Department)

    return {
        "kv_unread_notifications": unread,
        "kv_admin_links": admin_links,
        "kv_may_view_org_chart": may_view_org_chart,
    }
