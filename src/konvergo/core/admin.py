from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from konvergo.core.models import (
    BusinessCalendar,
    CalendarDayOff,
    Event,
    EventDelivery,
    WorkerHeartbeat,
    WorkingHours,
)


class WorkingHoursInline(admin.TabularInline[WorkingHours, BusinessCalendar]):
    model = WorkingHours
    extra = 0


class CalendarDayOffInline(admin.TabularInline[CalendarDayOff, BusinessCalendar]):
    model = CalendarDayOff
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(SimpleHistoryAdmin):  # type: ignore[misc]
    list_display = ("name", "time_zone", "country", "subdivision", "is_default")
    inlines = (WorkingHoursInline, CalendarDayOffInline)


class EventDeliveryInline(admin.TabularInline[EventDelivery, Event]):
    model = EventDelivery
    extra = 0
    readonly_fields = ("subscriber", "delivered_at")
    can_delete = False


@admin.register(Event)
class EventAdmin(admin.ModelAdmin[Event]):
    """Read-only: events are facts; changing one would rewrite history."""

    list_display = ("name", "occurred_at", "subject_type", "subject_id", "delivered_at")
    list_filter = ("name",)
    date_hierarchy = "occurred_at"
    inlines = (EventDeliveryInline,)

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False

    def has_add_permission(self, request: object) -> bool:
        return False


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin[WorkerHeartbeat]):
    list_display = ("worker_id", "hostname", "pid", "started_at", "last_seen_at", "jobs_done")
