"""People and structure: users, departments, positions, teams, roles, deputies, notifications
and personal API tokens."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Permission
from django.core.validators import FileExtensionValidator
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from konvergo.core.models import BaseModel, validate_time_zone


class CalendarSystem(models.TextChoices):
    GREGORIAN = "gregorian", _("Gregorian")
    SOLAR_HIJRI = "solar_hijri", _("Solar Hijri (Persian)")


class Scope(models.TextChoices):
    """Which records of a type a role lets its holder see: widening from own to all."""

    OWN = "own", _("Own records")
    TEAM = "team", _("Records of my teams")
    DEPARTMENT = "department", _("Records of my department and its sub-departments")
    ALL = "all", _("All records")


SCOPE_ORDER = [Scope.OWN, Scope.TEAM, Scope.DEPARTMENT, Scope.ALL]


class User(AbstractUser):
    """A person who signs in. Custom from the first migration so it can grow without a swap."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    time_zone = models.CharField(
        _("time zone"), max_length=64, default="UTC", validators=[validate_time_zone]
    )
    calendar_system = models.CharField(
        _("calendar"),
        max_length=16,
        choices=CalendarSystem.choices,
        default=CalendarSystem.GREGORIAN,
        help_text=_("How dates are shown to you."),
    )
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    photo = models.ImageField(
        _("photo"),
        upload_to="photos/",
        blank=True,
        validators=[FileExtensionValidator(["jpg", "jpeg", "png", "webp"])],
    )
    department = models.ForeignKey(
        "org.Department",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="members",
        verbose_name=_("department"),
    )
    position = models.ForeignKey(
        "org.Position",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="holders",
        verbose_name=_("position"),
    )
    roles = models.ManyToManyField(
        "org.Role", blank=True, related_name="users", verbose_name=_("roles")
    )
    history = HistoricalRecords(excluded_fields=["password", "last_login"])

    # Row visibility: a user record "belongs" to the user themselves (see org.permissions).
    VISIBILITY_OWNER: ClassVar[str] = ""

    class Meta(AbstractUser.Meta):
        verbose_name = _("user")  # type: ignore[assignment]  # stubs type it as str
        verbose_name_plural = _("users")  # type: ignore[assignment]

    def __str__(self) -> str:
        return self.get_full_name() or self.username


class Department(BaseModel):
    """A unit of the company; departments form a tree, each may have a head."""

    name = models.CharField(_("name"), max_length=120)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("parent department"),
    )
    head = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="headed_departments",
        verbose_name=_("head"),
    )
    calendar = models.ForeignKey(
        "core.BusinessCalendar",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="departments",
        verbose_name=_("business calendar"),
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="org_department_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class Position(BaseModel):
    """A job title, e.g. "Account Executive"; a user holds at most one."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("position")
        verbose_name_plural = _("positions")

    def __str__(self) -> str:
        return self.name


class Team(BaseModel):
    """People working together across departments (e.g. "Key accounts", "Night shift")."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    lead = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="led_teams",
        verbose_name=_("team lead"),
    )
    members = models.ManyToManyField(
        User, blank=True, related_name="teams", verbose_name=_("members")
    )
    history = HistoricalRecords(m2m_fields=[members])

    class Meta:
        ordering = ["name"]
        verbose_name = _("team")
        verbose_name_plural = _("teams")

    def __str__(self) -> str:
        return self.name


class Role(BaseModel):
    """A set of permissions (action x object type) and how far its holders see records."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    description = models.TextField(_("description"), blank=True)
    permissions = models.ManyToManyField(
        Permission, blank=True, related_name="roles", verbose_name=_("permissions")
    )
    scope = models.CharField(
        _("visibility"), max_length=16, choices=Scope.choices, default=Scope.OWN
    )
    history = HistoricalRecords(m2m_fields=[permissions])

    class Meta:
        ordering = ["name"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.name


class Deputy(BaseModel):
    """While `user` is away (from `starts_on` to `ends_on`, inclusive), `deputy` gets their work."""

    user = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="deputies", verbose_name=_("absent user")
    )
    deputy = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="deputy_for", verbose_name=_("deputy")
    )
    starts_on = models.DateField(_("from"))
    ends_on = models.DateField(_("until"))
    note = models.CharField(_("note"), max_length=255, blank=True)
    history = HistoricalRecords()

    class Meta:
        ordering = ["starts_on"]
        verbose_name = _("deputy")
        verbose_name_plural = _("deputies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__gte=models.F("starts_on")), name="org_deputy_period"
            ),
            models.CheckConstraint(
                condition=~models.Q(user=models.F("deputy")), name="org_deputy_not_self"
            ),
        ]
        indexes = [models.Index(fields=["user", "starts_on", "ends_on"])]

    def __str__(self) -> str:
        return f"{self.deputy} for {self.user} ({self.starts_on} - {self.ends_on})"


class Notification(models.Model):
    """An in-app message for one user (the bell). `on_behalf_of` is set when a deputy gets it."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    recipient = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="notifications", verbose_name=_("recipient")
    )
    on_behalf_of = models.ForeignKey(
        User,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("on behalf of"),
    )
    title = models.CharField(_("title"), max_length=200)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        indexes = [
            models.Index(
                fields=["recipient", "created_at"],
                name="org_notification_unread_idx",
                condition=models.Q(read_at__isnull=True),
            )
        ]

    def __str__(self) -> str:
        return self.title


class ApiToken(models.Model):
    """A personal API token. Only a SHA-256 digest is stored; the token is shown once."""

    public_id = models.UUIDField(_("public id"), default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=120, blank=True)
    prefix = models.CharField(_("prefix"), max_length=12, db_index=True)
    digest = models.CharField(_("digest"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.user})"
