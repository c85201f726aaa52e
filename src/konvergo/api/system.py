"""The signed-in user, their API tokens and the platform's status."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import AuthenticationError, AuthorizationError

from konvergo.core.selectors import system_status
from konvergo.org.models import ApiToken, User
from konvergo.org.services import api_token_create, api_token_revoke

router = Router(tags=["system"])


def request_user(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # unreachable: every route here requires authentication
        raise AuthenticationError()
    return user


class MeOut(Schema):
    id: UUID
    username: str
    email: str
    first_name: str
    last_name: str
    language: str
    time_zone: str


@router.get("/me", response=MeOut, summary="The signed-in user")
def me(request: HttpRequest) -> MeOut:
    user = request_user(request)
    return MeOut(
        id=user.public_id,
        username=user.username,
        email=user.email,
        first_name=user.first_name,
        last_name=user.last_name,
        language=user.language,
        time_zone=user.time_zone,
    )


class TokenOut(Schema):
    id: UUID
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenIn(Schema):
    name: str = ""


class TokenCreatedOut(TokenOut):
    token: str


def token_out(token: ApiToken) -> dict[str, object]:
    return {
        "id": token.public_id,
        "name": token.name,
        "prefix": token.prefix,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@router.get("/tokens", response=list[TokenOut], summary="My API tokens")
def tokens_list(request: HttpRequest) -> list[dict[str, object]]:
    return [token_out(t) for t in ApiToken.objects.filter(user=request_user(request))]


@router.post("/tokens", response={201: TokenCreatedOut}, summary="Create an API token (shown once)")
def tokens_create(request: HttpRequest, payload: TokenIn) -> Status[dict[str, object]]:
    issued = api_token_create(user=request_user(request), name=payload.name[:120])
    return Status(201, {**token_out(issued.token), "token": issued.raw})


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke an API token")
def tokens_revoke(request: HttpRequest, token_id: UUID) -> Status[None]:
    token = get_object_or_404(ApiToken, public_id=token_id, user=request_user(request))
    api_token_revoke(token=token)
    return Status(204, None)


class JobCountsOut(Schema):
    ready: int
    running: int
    failed: int
    retrying: int
    overdue: int


class StatusOut(Schema):
    database: str
    worker: str
    last_heartbeat: datetime | None
    jobs: JobCountsOut
    undelivered_events: int


@router.get("/system/status", response=StatusOut, summary="Jobs, worker and outbox (staff)")
def status(request: HttpRequest) -> object:
    if not request_user(request).is_staff:
        raise AuthorizationError(message="Only staff may see the system status.")
    return system_status()
