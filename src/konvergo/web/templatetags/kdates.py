"""`{{ value|kdate }}` and `{{ value|kdatetime }}`: dates in the reader's time zone and calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import template

from konvergo.web.dates import format_date, format_datetime

register = template.Library()


@register.filter(expects_localtime=False, is_safe=False)
def kdate(value: Any) -> Any:
    if value is None or value == "":
        return ""
    if isinstance(value, date | datetime):
        return format_date(value)
    return value


@register.filter(expects_localtime=False, is_safe=False)
def kdatetime(value: Any) -> Any:
    if value is None or value == "":
        return ""
    if isinstance(value, date | datetime):
        return format_datetime(value)
    return value
