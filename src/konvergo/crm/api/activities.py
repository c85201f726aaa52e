"""CRM API: activities."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["crm"])
