"""The API skeleton: token and session auth, one error shape, OpenAPI, health."""

from __future__ import annotations

import pytest
from django.test import Client
from django.utils import timezone

from konvergo.core.models import WorkerHeartbeat
from konvergo.org.models import ApiToken
from konvergo.org.services import api_token_create
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


def test_me_with_a_valid_token() -> None:
    user = UserFactory.create(username="jan", first_name="Jan")
    issued = api_token_create(user=user, name="script")

    response = Client().get("/api/v1/me", headers=bearer(issued.raw))

    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "jan"
    assert body["id"] == str(user.public_id)
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize("header", ["Bearer kvg_wrong", "Bearer ", "Basic abc", None])
def test_bad_or_missing_token_gets_401_in_the_error_shape(header: str | None) -> None:
    UserFactory.create()
    headers = {"Authorization": header} if header is not None else {}

    response = Client().get("/api/v1/me", headers=headers)

    assert response.status_code == 401
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert "Bearer" in error["message"]


def test_revoked_token_and_inactive_user_are_refused() -> None:
    user = UserFactory.create()
    revoked = api_token_create(user=user)
    ApiToken.objects.filter(pk=revoked.token.pk).update(revoked_at=timezone.now())
    inactive = api_token_create(user=UserFactory.create(is_active=False))

    assert Client().get("/api/v1/me", headers=bearer(revoked.raw)).status_code == 401
    assert Client().get("/api/v1/me", headers=bearer(inactive.raw)).status_code == 401


def test_token_is_stored_only_as_a_digest() -> None:
    issued = api_token_create(user=UserFactory.create())
    stored = ApiToken.objects.get()
    assert issued.raw.startswith("kvg_")
    assert issued.raw not in (stored.digest, stored.prefix)
    assert len(stored.digest) == 64


def test_create_list_and_revoke_tokens_through_the_api() -> None:
    user = UserFactory.create()
    first = api_token_create(user=user)
    client = Client()

    created = client.post(
        "/api/v1/tokens", {"name": "CI"}, content_type="application/json", headers=bearer(first.raw)
    )
    assert created.status_code == 201
    new_raw = created.json()["token"]
    assert client.get("/api/v1/me", headers=bearer(new_raw)).status_code == 200

    listed = client.get("/api/v1/tokens", headers=bearer(first.raw)).json()
    assert sorted(t["name"] for t in listed) == ["", "CI"]
    assert all("token" not in t for t in listed)  # never shown again

    revoked = client.delete(f"/api/v1/tokens/{created.json()['id']}", headers=bearer(first.raw))
    assert revoked.status_code == 204
    assert client.get("/api/v1/me", headers=bearer(new_raw)).status_code == 401


def test_cannot_revoke_someone_elses_token() -> None:
    mine = api_token_create(user=UserFactory.create())
    theirs = api_token_create(user=UserFactory.create())

    response = Client().delete(f"/api/v1/tokens/{theirs.token.public_id}", headers=bearer(mine.raw))

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert ApiToken.objects.get(pk=theirs.token.pk).revoked_at is None


def test_malformed_json_gets_400_with_the_parse_error() -> None:
    issued = api_token_create(user=UserFactory.create())

    response = Client().post(
        "/api/v1/tokens",
        '{"name": "x",',
        content_type="application/json",
        headers=bearer(issued.raw),
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_json"
    assert "line 1" in error["details"]["reason"]
    assert ApiToken.objects.count() == 1  # nothing created


def test_invalid_field_gets_422_in_the_error_shape() -> None:
    issued = api_token_create(user=UserFactory.create())

    response = Client().post(
        "/api/v1/tokens",
        {"name": ["not", "a", "string"]},
        content_type="application/json",
        headers=bearer(issued.raw),
    )

    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"][0]["loc"][-1] == "name"


def test_session_auth_requires_csrf_for_writes() -> None:
    user = UserFactory.create()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    assert client.get("/api/v1/me").status_code == 200
    response = client.post("/api/v1/tokens", {}, content_type="application/json")

    assert response.status_code == 403
    assert ApiToken.objects.count() == 0


def test_unknown_api_path_answers_in_the_error_shape() -> None:
    response = Client().get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_system_status_is_for_staff_only() -> None:
    agent = api_token_create(user=UserFactory.create())
    admin = api_token_create(user=UserFactory.create(is_staff=True))

    denied = Client().get("/api/v1/system/status", headers=bearer(agent.raw))
    allowed = Client().get("/api/v1/system/status", headers=bearer(admin.raw))

    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "forbidden"
    assert allowed.status_code == 200
    assert allowed.json()["worker"] == "stale"


def test_openapi_and_docs_are_published() -> None:
    spec = Client().get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert "/api/v1/me" in spec.json()["paths"]
    assert Client().get("/api/v1/docs").status_code == 200


def test_healthz_reports_database_and_worker() -> None:
    assert Client().get("/healthz").json() == {"database": "ok", "worker": "stale"}

    now = timezone.now()
    WorkerHeartbeat.objects.create(
        worker_id="w1", hostname="h", pid=1, started_at=now, last_seen_at=now
    )

    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "worker": "ok"}
