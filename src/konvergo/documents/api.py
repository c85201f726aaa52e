"""The /api/v1/documents part of the API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["documents"])
