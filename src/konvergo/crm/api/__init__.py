"""The CRM part of /api/v1, one router per area."""

from __future__ import annotations

from ninja import Router

from konvergo.crm.api import activities, contacts, deals, quotes, search, setup

router = Router()
router.add_router("/", contacts.router)
router.add_router("/", deals.router)
router.add_router("/", activities.router)
router.add_router("/", quotes.router)
router.add_router("/", setup.router)
router.add_router("/", search.router)
