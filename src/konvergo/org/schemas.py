"""Request and response shapes of the org API. Records are named by their public UUID only.

Inputs name related records by public id; outputs show them as small objects (`{id, name}`)
so a client can render a list without fetching each relation. `…Patch` shapes carry only
the fields a client sends: a field left out stays as it is, `null` clears a relation.
"""

from __future__ import annotations

import zoneinfo
from datetime import datetime
from typing import Annotated, Any, ClassVar
from uuid import UUID

from django.conf import settings
from django.db.models import Model
from ninja import Schema
from pydantic import AfterValidator, Field, StringConstraints, ValidationInfo, field_validator

from konvergo.org.models import CalendarSystem, Department, Role, Scope, Team, User

# --- field types ----------------------------------------------------------------------------


def _known_language(value: str) -> str:
    codes = [code for code, _name in settings.LANGUAGES]
    if value not in codes:
        raise ValueError(f"unknown language {value!r}; one of {', '.join(codes)}")
    return value


def _known_time_zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not a known time zone (e.g. Europe/Berlin)") from None
    return value


Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
PersonName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)]
Email = Annotated[str, StringConstraints(strip_whitespace=True, max_length=254)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
Language = Annotated[str, AfterValidator(_known_language)]
TimeZone = Annotated[str, StringConstraints(max_length=64), AfterValidator(_known_time_zone)]
PermissionName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]


class PatchSchema(Schema):
    """A partial update: `null` is accepted only for the fields listed in `nullable`."""

    nullable: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*")
    @classmethod
    def _not_null(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None and info.field_name not in cls.nullable:
            raise ValueError("may not be null")
        return value

    def changes(self) -> dict[str, Any]:
        """The fields the client sent, by name."""
        return {name: getattr(self, name) for name in self.model_fields_set}


def _public_id(obj: Model) -> UUID:
    public_id: UUID = getattr(obj, "public_id")  # noqa: B009  (every exposed model has one)
    return public_id


# --- references in responses ----------------------------------------------------------------


class Ref(Schema):
    """A department, position, team or role as another record refers to it."""

    id: UUID
    name: str

    @staticmethod
    def resolve_id(obj: Model) -> UUID:
        return _public_id(obj)


class UserRef(Schema):
    id: UUID
    username: str
    name: str

    @staticmethod
    def resolve_id(obj: User) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_name(obj: User) -> str:
        return str(obj)


# --- users ----------------------------------------------------------------------------------


class UserOut(Schema):
    id: UUID
    username: str
    name: str
    first_name: str
    last_name: str
    email: str
    language: str
    time_zone: str
    calendar_system: str
    phone: str
    department: Ref | None
    position: Ref | None
    roles: list[Ref]
    is_active: bool
    date_joined: datetime
    last_login: datetime | None

    @staticmethod
    def resolve_id(obj: User) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_name(obj: User) -> str:
        return str(obj)

    @staticmethod
    def resolve_roles(obj: User) -> list[Role]:
        return list(obj.roles.all())


class UserIn(Schema):
    username: Username
    first_name: PersonName = ""
    last_name: PersonName = ""
    email: Email = ""
    language: Language = "en"
    time_zone: TimeZone = "UTC"
    calendar_system: CalendarSystem = CalendarSystem.GREGORIAN
    phone: Phone = ""
    department: UUID | None = None
    position: Name | None = Field(None, description="The position's public id or its name.")
    roles: list[UUID] = []
    is_active: bool = True


class UserPatch(PatchSchema):
    nullable = frozenset({"department", "position"})

    username: Username | None = None
    first_name: PersonName | None = None
    last_name: PersonName | None = None
    email: Email | None = None
    language: Language | None = None
    time_zone: TimeZone | None = None
    calendar_system: CalendarSystem | None = None
    phone: Phone | None = None
    department: UUID | None = None
    position: Name | None = Field(None, description="The position's public id or its name.")
    roles: list[UUID] | None = None
    is_active: bool | None = None


# --- departments ----------------------------------------------------------------------------


class DepartmentOut(Schema):
    id: UUID
    name: str
    parent: Ref | None
    head: UserRef | None
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Department) -> UUID:
        return obj.public_id


class DepartmentIn(Schema):
    name: Name
    parent: UUID | None = None
    head: UUID | None = None


class DepartmentPatch(PatchSchema):
    nullable = frozenset({"parent", "head"})

    name: Name | None = None
    parent: UUID | None = None
    head: UUID | None = None


# --- teams ----------------------------------------------------------------------------------


class TeamOut(Schema):
    id: UUID
    name: str
    description: str
    lead: UserRef | None
    members: list[UserRef] = Field(description="The members you may see.")
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Team) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_members(obj: Team) -> list[User]:
        # Filled by the API with the members the requesting user may see (see org/api.py).
        members: list[User] = getattr(obj, "visible_members", [])
        return members


class TeamIn(Schema):
    name: Name
    description: str = ""
    lead: UUID | None = None
    members: list[UUID] = []


class TeamPatch(PatchSchema):
    nullable = frozenset({"lead"})

    name: Name | None = None
    description: str | None = None
    lead: UUID | None = None
    members: list[UUID] | None = Field(
        None, description="Replaces the members you may see; those you may not see stay."
    )


# --- roles ----------------------------------------------------------------------------------


class RoleOut(Schema):
    id: UUID
    name: str
    description: str
    scope: Scope
    permissions: list[str] = Field(description='"app_label.codename", e.g. "org.view_user".')
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_id(obj: Role) -> UUID:
        return obj.public_id

    @staticmethod
    def resolve_permissions(obj: Role) -> list[str]:
        return sorted(f"{p.content_type.app_label}.{p.codename}" for p in obj.permissions.all())


class RoleIn(Schema):
    name: Name
    description: str = ""
    scope: Scope = Scope.OWN
    permissions: list[PermissionName] = []


class RolePatch(PatchSchema):
    name: Name | None = None
    description: str | None = None
    scope: Scope | None = None
    permissions: list[PermissionName] | None = None
