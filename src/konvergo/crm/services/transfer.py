"""Handing clients to another owner: one client with its open work, or everything a leaving
employee owns.

Only the previous owner's open deals (with their quotes) and open activities go along; work a
colleague owns on the same client stays theirs. Each client handed over leaves an
`OwnershipTransfer` (who, to whom, why, how much went along), a `crm.client.transferred` event,
history rows on every record that changed owner, and a notification for the new owner.
Handing over everything a user owns needs `can_bulk_transfer` (the page and the API).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from simple_history.utils import bulk_update_with_history

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.events import emit
from konvergo.crm import choices
from konvergo.crm.models import (
    Activity,
    Campaign,
    Deal,
    Organization,
    OwnershipTransfer,
    Person,
    Quote,
)
from konvergo.org.models import User
from konvergo.org.permissions import DENIED, can
from konvergo.org.services import notify

Client = Organization | Person


def client_url(record: Client) -> str:
    """The dossier page of the client ("" until the pages are installed)."""
    name = "crm:organization_detail" if isinstance(record, Organization) else "crm:person_detail"
    try:
        return reverse(name, args=[record.public_id])
    except NoReverseMatch:
        return ""


def _check(*, to_user: User, reason: str, from_user: User | None = None) -> str:
    errors: dict[str, list[str]] = {}
    reason = (reason or "").strip()
    if not reason:
        errors["reason"] = [_("Say why the client is handed over.")]
    if not to_user.is_active:
        errors["to_user"] = [_("%(user)s is not an active user.") % {"user": to_user}]
    if errors:
        raise FieldErrors(errors)
    if from_user is not None and from_user.pk == to_user.pk:
        raise BusinessError(_("The new owner must be someone else."), details={"field": "to_user"})
    return reason


def _reown(rows: Sequence[Any], to_user: User, *, actor: User, reason: str) -> int:
    """Give `rows` (deals, quotes, activities, ...) to `to_user`, with their history."""
    if not rows:
        return 0
    now = timezone.now()
    for row in rows:
        row.owner = to_user
        row.updated_at = now
    bulk_update_with_history(
        list(rows),
        type(rows[0]),
        ["owner", "updated_at"],
        default_user=actor,
        default_change_reason=reason,
    )
    return len(rows)


def _open_deals(from_user: User) -> QuerySet[Deal]:
    return Deal.objects.filter(owner=from_user, status=choices.DealStatus.OPEN)


def _open_activities(from_user: User) -> QuerySet[Activity]:
    return Activity.objects.filter(owner=from_user, done_at__isnull=True, archived=False)


def _hand_over(
    record: Client,
    *,
    actor: User,
    to_user: User,
    reason: str,
    include_deals: bool,
    include_activities: bool,
) -> OwnershipTransfer:
    """Inside the caller's transaction: move the client and its open work, record it."""
    model = type(record)
    locked = model._default_manager.select_for_update().filter(pk=record.pk).first()
    if locked is None:
        raise BusinessError(_("The client no longer exists."), details={"field": "client"})
    from_user = locked.owner
    if from_user.pk == to_user.pk:
        raise BusinessError(
            _("%(user)s already owns %(client)s.") % {"user": to_user, "client": locked},
            details={"field": "to_user"},
        )
    side = "organization" if isinstance(locked, Organization) else "person"
    history_reason = _("Handed from %(from)s to %(to)s: %(reason)s") % {
        "from": from_user,
        "to": to_user,
        "reason": reason,
    }
    locked.owner = to_user
    locked._change_reason = history_reason  # type: ignore[union-attr]
    locked.save()
    moved = {"deals": 0, "quotes": 0, "activities": 0}
    deal_ids: list[int] = []
    if include_deals:
        deals = list(_open_deals(from_user).filter(**{side: locked}))
        deal_ids = [deal.pk for deal in deals]
        moved["deals"] = _reown(deals, to_user, actor=actor, reason=history_reason)
        quotes = list(Quote.objects.filter(deal_id__in=deal_ids, owner=from_user))
        moved["quotes"] = _reown(quotes, to_user, actor=actor, reason=history_reason)
    if include_activities:
        activities = list(
            _open_activities(from_user).filter(Q(**{side: locked}) | Q(deal_id__in=deal_ids))
        )
        moved["activities"] = _reown(activities, to_user, actor=actor, reason=history_reason)
    transfer = OwnershipTransfer.objects.create(
        **{side: locked},
        from_user=from_user,
        to_user=to_user,
        reason=reason,
        moved=moved,
        by=actor,
    )
    record.owner = to_user  # the caller's copy tells the truth too
    emit(
        "crm.client.transferred",
        subject=locked,
        payload={
            "transfer": str(transfer.public_id),
            side: str(locked.public_id),
            "from_user": str(from_user.public_id),
            "to_user": str(to_user.public_id),
            "reason": reason,
            "moved": moved,
        },
        actor=actor,
    )
    return transfer


def _notify(to_user: User, title: str, body: str, url: str = "") -> None:
    notify(recipient=to_user, title=title, body=body, url=url)


def client_transfer(
    *,
    actor: User,
    to_user: User,
    reason: str,
    organization: Organization | None = None,
    person: Person | None = None,
    include_deals: bool = True,
    include_activities: bool = True,
) -> OwnershipTransfer:
    """Hand one organisation or person (with the previous owner's open deals and open
    activities on it, unless left out) to `to_user`."""
    record: Client | None = organization if organization is not None else person
    if record is None or (organization is not None and person is not None):
        raise BusinessError(
            _("Hand over either one organisation or one person."),
            details={"field": "organization"},
        )
    reason = _check(to_user=to_user, reason=reason)
    with acting_as(actor), transaction.atomic():
        transfer = _hand_over(
            record,
            actor=actor,
            to_user=to_user,
            reason=reason,
            include_deals=include_deals,
            include_activities=include_activities,
        )
        with translation.override(to_user.language or None):
            _notify(
                to_user,
                _("%(actor)s handed %(client)s over to you") % {"actor": actor, "client": record},
                reason,
                client_url(record),
            )
    return transfer


def owner_bulk_transfer(
    *, actor: User, from_user: User, to_user: User, reason: str
) -> list[OwnershipTransfer]:
    """Hand everything `from_user` owns to `to_user` (an employee leaves): every organisation and
    person with their open deals, quotes and activities, then the open work they own on other
    people's clients, and their campaigns. One transfer per client, plus one for the rest
    (without a client) if there was any; the new owner gets one notification."""
    reason = _check(to_user=to_user, reason=reason, from_user=from_user)
    transfers: list[OwnershipTransfer] = []
    with acting_as(actor), transaction.atomic():
        clients: list[Client] = [
            *Organization.objects.filter(owner=from_user).order_by("pk"),
            *Person.objects.filter(owner=from_user).order_by("pk"),
        ]
        for client in clients:
            transfers.append(
                _hand_over(
                    client,
                    actor=actor,
                    to_user=to_user,
                    reason=reason,
                    include_deals=True,
                    include_activities=True,
                )
            )
        history_reason = _("Handed from %(from)s to %(to)s: %(reason)s") % {
            "from": from_user,
            "to": to_user,
            "reason": reason,
        }
        rest = {
            "deals": _reown(
                list(_open_deals(from_user)), to_user, actor=actor, reason=history_reason
            ),
            "quotes": _reown(
                list(Quote.objects.filter(owner=from_user, deal__status=choices.DealStatus.OPEN)),
                to_user,
                actor=actor,
                reason=history_reason,
            ),
            "activities": _reown(
                list(_open_activities(from_user)), to_user, actor=actor, reason=history_reason
            ),
            "campaigns": _reown(
                list(Campaign.objects.filter(owner=from_user)),
                to_user,
                actor=actor,
                reason=history_reason,
            ),
        }
        if any(rest.values()):
            transfer = OwnershipTransfer.objects.create(
                from_user=from_user, to_user=to_user, reason=reason, moved=rest, by=actor
            )
            transfers.append(transfer)
            emit(
                "crm.client.transferred",
                subject=None,
                payload={
                    "transfer": str(transfer.public_id),
                    "from_user": str(from_user.public_id),
                    "to_user": str(to_user.public_id),
                    "reason": reason,
                    "moved": rest,
                    "bulk": True,
                },
                actor=actor,
            )
        if transfers:
            with translation.override(to_user.language or None):
                _notify(
                    to_user,
                    _("%(actor)s handed you the clients and open work of %(from)s (%(n)d clients)")
                    % {"actor": actor, "from": from_user, "n": len(clients)},
                    reason,
                )
    return transfers


# Handing over everything a user owns touches their clients, deals, activities (and quotes
# along with the deals) and is an administrator's act on a user account: the page and the API
# both require all of it.
BULK_TRANSFER_PERMISSIONS: tuple[tuple[str, type[Any]], ...] = (
    ("change", Organization),
    ("change", Person),
    ("change", Deal),
    ("change", Activity),
    ("change", User),
)


def can_bulk_transfer(user: Any) -> bool:
    """May `user` hand everything a (leaving) user owns to another user (`owner_bulk_transfer`)?
    The one rule for the page /crm/transfer/ and the API /crm/transfers/bulk."""
    return all(can(user, action, model) for action, model in BULK_TRANSFER_PERMISSIONS)


def bulk_transfer_refusal(user: Any) -> str:
    """Why `user` may not hand over a user's clients ("" if they may): the types they may not
    change."""
    missing = [
        str(model._meta.verbose_name_plural)
        for action, model in BULK_TRANSFER_PERMISSIONS
        if not can(user, action, model)
    ]
    return str(DENIED["change"] % {"things": ", ".join(missing)}) if missing else ""
