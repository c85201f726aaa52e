"""The /api/v1/integrations part of the API."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["integrations"])
