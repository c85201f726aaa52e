from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from simple_history.admin import SimpleHistoryAdmin

from konvergo.org.models import ApiToken, Department, User


@admin.register(User)
class UserAdmin(DjangoUserAdmin[User], SimpleHistoryAdmin):  # type: ignore[misc]
    fieldsets = (
        *DjangoUserAdmin.fieldsets,  # type: ignore[misc]
        ("Konvergo", {"fields": ("department", "position", "phone", "language", "time_zone")}),
    )
    list_display = ("username", "email", "first_name", "last_name", "department", "is_staff")


@admin.register(Department)
class DepartmentAdmin(SimpleHistoryAdmin):  # type: ignore[misc]
    list_display = ("name", "parent", "head")


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin[ApiToken]):
    list_display = ("prefix", "user", "name", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("prefix", "digest", "created_at", "last_used_at")
