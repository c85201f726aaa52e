"""The /api/v1/designer part of the API (drafts, validation, sandbox runs, monitoring)."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["designer"])
