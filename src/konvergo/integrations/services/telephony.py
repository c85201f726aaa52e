"""Telephony: call events from the phone system (ringing, answered, ended) become a Call,
matched to the contact by the caller's number and to the called user by their phone; the
called user's browser shows a pop-up while it rings; an ended call is logged as a call activity
on the contact; `integrations.call.received|answered|missed` are emitted for triggers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.events import emit
from konvergo.crm.services.activities import activity_log_call
from konvergo.integrations.models import Call, CallStatus, Direction
from konvergo.integrations.services.common import Malformed, contact_for_phone, e164
from konvergo.org.models import User

EVENTS = ("ringing", "answered", "ended")
POPUP_MINUTES = 3


def _called_user(callee: str, username: str) -> User | None:
    if username:
        user = User.objects.filter(username=username, is_active=True).first()
        if user is not None:
            return user
    number = e164(callee)
    if not number:
        return None
    for user in User.objects.filter(is_active=True).exclude(phone="").only("id", "phone"):
        own = e164(user.phone)
        # The whole number, or the extension it ends with (a PBX often sends only that).
        if own == number or (len(number) <= 6 and own.endswith(number)):
            return User.objects.get(pk=user.pk)
    return None


def _payload(call: Call) -> dict[str, Any]:
    owner = call.user or (call.person.owner if call.person else None)
    if owner is None and call.organization is not None:
        owner = call.organization.owner
    return {
        "call": call.call_id,
        "caller": call.caller,
        "callee": call.callee,
        "status": call.status,
        "user": call.user.username if call.user else "",
        "owner": owner.username if owner else "",
        "organization": str(call.organization.public_id) if call.organization else "",
        "person": str(call.person.public_id) if call.person else "",
        "contact_name": str(call.person or call.organization or ""),
        "recording_url": call.recording_url,
    }


def call_event(data: dict[str, Any]) -> Call:
    """Apply one call event (idempotent: the same event twice changes nothing)."""
    call_id = str(data.get("call_id") or "").strip()
    kind = str(data.get("event") or "").strip().lower()
    caller = str(data.get("caller") or "").strip()
    if not call_id or len(call_id) > 120:
        raise Malformed("call_id is missing")
    if kind not in EVENTS:
        raise Malformed(f"event must be one of {', '.join(EVENTS)}")
    recording = str(data.get("recording_url") or "")[:500]
    now = timezone.now()
    with transaction.atomic():
        call = Call.objects.select_for_update().filter(call_id=call_id).first()
        if call is None:
            if not caller:
                raise Malformed("caller is missing")
            callee = str(data.get("callee") or "")[:30]
            contact = contact_for_phone(caller)
            call = Call.objects.create(
                call_id=call_id,
                direction=Direction.IN,
                caller=e164(caller)[:30] or caller[:30],
                callee=callee,
                status=CallStatus.RINGING,
                user=_called_user(callee, str(data.get("user") or "")),
                organization=contact.organization,
                person=contact.person,
            )
            emit("integrations.call.received", subject=call, payload=_payload(call))
        if kind == "answered" and call.status == CallStatus.RINGING:
            call.status = CallStatus.ANSWERED
            call.answered_at = now
            call.save()
            emit("integrations.call.answered", subject=call, payload=_payload(call))
        elif kind == "ended" and call.status in (CallStatus.RINGING, CallStatus.ANSWERED):
            missed = call.status == CallStatus.RINGING
            call.status = CallStatus.MISSED if missed else CallStatus.ENDED
            call.ended_at = now
            call.recording_url = recording or call.recording_url
            call.activity = _log_activity(call, missed=missed)
            call.save()
            if missed:
                emit("integrations.call.missed", subject=call, payload=_payload(call))
    return call


def _log_activity(call: Call, *, missed: bool) -> Any:
    if call.person is None and call.organization is None:
        return None
    owner = call.user or (call.person or call.organization).owner  # type: ignore[union-attr]
    seconds = (
        int((call.ended_at - call.answered_at).total_seconds())
        if call.answered_at and call.ended_at
        else 0
    )
    outcome = _("Missed") if missed else _("Answered, %(seconds)s s") % {"seconds": seconds}
    result = call.recording_url and _("Recording: %(url)s") % {"url": call.recording_url}
    return activity_log_call(
        actor=owner,
        subject=_("Incoming call from %(number)s") % {"number": call.caller},
        organization=call.organization,
        person=call.person,
        outcome=outcome,
        result=result or "",
    )


def ringing_for(user: User) -> QuerySet[Call]:
    """The calls ringing for `user` right now (for the pop-up)."""
    since = timezone.now() - timedelta(minutes=POPUP_MINUTES)
    return (
        Call.objects.filter(
            Q(user=user),
            status=CallStatus.RINGING,
            created_at__gte=since,
            popup_dismissed=False,
        )
        .select_related("person", "organization")
        .order_by("-created_at")
    )


def popup_dismiss(*, user: User, call: Call) -> None:
    Call.objects.filter(pk=call.pk, user=user).update(popup_dismissed=True)
