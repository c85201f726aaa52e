"""The /api/v1/inbox part of the API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["inbox"])
