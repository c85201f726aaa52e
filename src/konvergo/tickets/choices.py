"""Fixed vocabularies of the service desk: statuses, comment kinds, link kinds, strategies."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class Status(models.TextChoices):
    NEW = "new", _("New")
    OPEN = "open", _("Open")
    PENDING_CUSTOMER = "pending_customer", _("Pending customer")
    PENDING_THIRD_PARTY = "pending_third_party", _("Pending third party")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    REOPENED = "reopened", _("Reopened")


# The SLA clocks stand still while the ball is in someone else's court.
PAUSED_STATUSES = frozenset({Status.PENDING_CUSTOMER, Status.PENDING_THIRD_PARTY})
# Statuses in which the agents still owe work (the inbox lists these as assignments).
OPEN_STATUSES = frozenset(
    {
        Status.NEW,
        Status.OPEN,
        Status.PENDING_CUSTOMER,
        Status.PENDING_THIRD_PARTY,
        Status.REOPENED,
    }
)
DONE_STATUSES = frozenset({Status.RESOLVED, Status.CLOSED})

_WORKING = {Status.OPEN, Status.PENDING_CUSTOMER, Status.PENDING_THIRD_PARTY, Status.RESOLVED}
TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(_WORKING | {Status.CLOSED}),
    Status.OPEN: frozenset(_WORKING - {Status.OPEN} | {Status.CLOSED}),
    Status.PENDING_CUSTOMER: frozenset(_WORKING - {Status.PENDING_CUSTOMER} | {Status.CLOSED}),
    Status.PENDING_THIRD_PARTY: frozenset(
        _WORKING - {Status.PENDING_THIRD_PARTY} | {Status.CLOSED}
    ),
    Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.REOPENED: frozenset(_WORKING | {Status.CLOSED}),
}


class Metric(models.TextChoices):
    """The SLA targets that escalate."""

    FIRST_RESPONSE = "first_response", _("First response")
    RESOLUTION = "resolution", _("Resolution")


class Notify(models.TextChoices):
    """Who an escalation level tells."""

    ASSIGNEE = "assignee", _("Assignee")
    TEAM_LEAD = "team_lead", _("Team lead")
    DEPARTMENT_HEAD = "department_head", _("Department head")


class Strategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_LOADED = "least_loaded", _("Least loaded")


class LinkKind(models.TextChoices):
    RELATES = "relates", _("relates to")
    DUPLICATES = "duplicates", _("duplicates")
    BLOCKS = "blocks", _("blocks")
    SPLIT_FROM = "split_from", _("split from")
