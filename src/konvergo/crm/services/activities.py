"""Activities: calls, meetings, e-mails, notes and tasks, planned (due) or done.

- Reminders: `activities_send_reminders(now)` (the `crm.reminders` sweep in crm/tasks.py) sends
  each due reminder once: an in-app notification (to the deputy while the owner is away) and an
  e-mail to the owner in the owner's language. The reminder is claimed by a conditional update
  of `reminded_at` in the same transaction as the notification, and the e-mail is sent before
  that transaction commits: a failing mail server rolls the claim back and the next sweep tries
  again; a second sweep (or a second worker) finds nothing to send.
- Recurrence: a subset of RFC 5545 RRULE (FREQ=DAILY|WEEKLY|MONTHLY, INTERVAL, COUNT, UNTIL,
  and BYDAY for weekly rules), evaluated by python-dateutil in the owner's time zone so that a
  09:00 task stays at 09:00 across daylight-saving changes. Completing an occurrence creates the
  next one (the first occurrence after the completed one's due time); COUNT counts the
  occurrences still to come including the current one.
"""

from __future__ import annotations

import logging
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from dateutil import rrule
from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, transaction
from django.urls import NoReverseMatch, reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _

from konvergo.core.audit import acting_as
from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.events import emit
from konvergo.crm.choices import ActivityKind
from konvergo.crm.models import Activity, Deal, Organization, Person
from konvergo.crm.services.deals import text_clean
from konvergo.org.models import User
from konvergo.org.services import notify

logger = logging.getLogger(__name__)

REMINDER_BATCH = 200
ACTIVITY_URL_NAME = "crm:activity_detail"  # the page a reminder links to, once it exists
ACTIVITY_FIELDS = frozenset(
    {
        "kind",
        "subject",
        "description",
        "owner",
        "organization",
        "person",
        "deal",
        "due_at",
        "ends_at",
        "reminder_at",
        "recurrence",
    }
)

# --- recurrence -----------------------------------------------------------------------------

FREQUENCIES = {"DAILY": rrule.DAILY, "WEEKLY": rrule.WEEKLY, "MONTHLY": rrule.MONTHLY}
WEEKDAYS = {
    "MO": rrule.MO,
    "TU": rrule.TU,
    "WE": rrule.WE,
    "TH": rrule.TH,
    "FR": rrule.FR,
    "SA": rrule.SA,
    "SU": rrule.SU,
}


@dataclass(frozen=True)
class Recurrence:
    freq: str
    interval: int = 1
    count: int | None = None
    until: datetime | date | None = None  # date: that whole day (in the owner's time zone)
    byday: tuple[str, ...] = ()

    def text(self) -> str:
        """The rule as RFC 5545 text, parts in a fixed order."""
        parts = [f"FREQ={self.freq}"]
        if self.interval != 1:
            parts.append(f"INTERVAL={self.interval}")
        if self.byday:
            parts.append(f"BYDAY={','.join(self.byday)}")
        if self.count is not None:
            parts.append(f"COUNT={self.count}")
        if isinstance(self.until, datetime):
            parts.append(f"UNTIL={self.until.astimezone(UTC):%Y%m%dT%H%M%SZ}")
        elif isinstance(self.until, date):
            parts.append(f"UNTIL={self.until:%Y%m%d}")
        return ";".join(parts)


def recurrence_parse(text: str) -> Recurrence:
    """Parse the supported RRULE subset; ValueError names what is wrong."""
    values: dict[str, str] = {}
    for part in text.strip().removeprefix("RRULE:").split(";"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        key = key.strip().upper()
        if not sep or not value.strip():
            raise ValueError(_("%(part)s is not NAME=VALUE.") % {"part": part})
        if key in values:
            raise ValueError(_("%(name)s is given twice.") % {"name": key})
        values[key] = value.strip().upper()
    unsupported = set(values) - {"FREQ", "INTERVAL", "COUNT", "UNTIL", "BYDAY"}
    if unsupported:
        raise ValueError(
            _("Not supported: %(names)s (use FREQ, INTERVAL, COUNT, UNTIL, BYDAY).")
            % {"names": ", ".join(sorted(unsupported))}
        )
    freq = values.get("FREQ", "")
    if freq not in FREQUENCIES:
        raise ValueError(_("FREQ must be DAILY, WEEKLY or MONTHLY."))
    interval = _positive(values.get("INTERVAL", "1"), "INTERVAL")
    count = _positive(values["COUNT"], "COUNT") if "COUNT" in values else None
    if count is not None and "UNTIL" in values:
        raise ValueError(_("Give COUNT or UNTIL, not both."))
    until = _until(values["UNTIL"]) if "UNTIL" in values else None
    byday: tuple[str, ...] = ()
    if "BYDAY" in values:
        if freq != "WEEKLY":
            raise ValueError(_("BYDAY is supported with FREQ=WEEKLY only."))
        byday = tuple(day.strip() for day in values["BYDAY"].split(","))
        if not byday or any(day not in WEEKDAYS for day in byday):
            raise ValueError(_("BYDAY takes weekdays: MO,TU,WE,TH,FR,SA,SU."))
    return Recurrence(freq=freq, interval=interval, count=count, until=until, byday=byday)


def _positive(value: str, name: str) -> int:
    if not value.isdigit() or int(value) < 1 or int(value) > 1000:
        raise ValueError(_("%(name)s must be a whole number from 1 to 1000.") % {"name": name})
    return int(value)


def _until(value: str) -> datetime | date:
    try:
        if len(value) == 8:
            return datetime.strptime(value, "%Y%m%d").date()  # noqa: DTZ007  (a date only)
        if len(value) == 16 and value.endswith("Z"):
            return datetime.strptime(value[:-1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        pass
    raise ValueError(_("UNTIL must be a date (20261231) or a UTC time (20261231T170000Z)."))


def _zone(user: User) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(user.time_zone or settings.TIME_ZONE)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def recurrence_next(rule: Recurrence, after: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The first occurrence strictly after `after` (an occurrence itself), in UTC; None when
    the rule has no more occurrences (COUNT used up or past UNTIL)."""
    if rule.count is not None and rule.count <= 1:
        return None
    start = after.astimezone(zone)
    until: datetime | None
    if isinstance(rule.until, datetime):
        until = rule.until.astimezone(zone)
    elif isinstance(rule.until, date):
        until = datetime.combine(rule.until, time.max, tzinfo=zone)
    else:
        until = None
    generator = rrule.rrule(
        FREQUENCIES[rule.freq],
        dtstart=start,
        interval=rule.interval,
        byweekday=[WEEKDAYS[day] for day in rule.byday] or None,
        until=until,
    )
    following: datetime | None = generator.after(start, inc=False)
    if following is None:
        return None
    # rrule adds wall-clock time; normalise the offset for the date it landed on (DST).
    local = following.replace(tzinfo=None).replace(tzinfo=zone)
    return local.astimezone(UTC)


def recurrence_advance(rule: Recurrence) -> Recurrence:
    """The rule the next occurrence carries: one occurrence fewer when COUNT is given."""
    if rule.count is None:
        return rule
    return Recurrence(
        freq=rule.freq,
        interval=rule.interval,
        count=rule.count - 1,
        until=rule.until,
        byday=rule.byday,
    )


# --- validation -----------------------------------------------------------------------------


def _aware(value: Any, errors: dict[str, list[str]], name: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        errors.setdefault(name, []).append(_("Enter a date and time."))
        return None
    if timezone.is_naive(value):
        errors.setdefault(name, []).append(_("Give the time with its time zone offset."))
        return None
    return value


def _clean(values: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    """Validate the fields present in `values` (all of them on create) and normalise them."""
    cleaned = dict(values)
    if "kind" in values and values["kind"] not in ActivityKind.values:
        errors.setdefault("kind", []).append(
            _("Choose one of: %(kinds)s.") % {"kinds": ", ".join(ActivityKind.values)}
        )
    if "subject" in values:
        cleaned["subject"] = text_clean(
            values["subject"], errors, "subject", max_length=255, required=True
        )
    if "description" in values:
        cleaned["description"] = text_clean(
            values["description"], errors, "description", max_length=20000, required=False
        )
    for name in ("due_at", "ends_at", "reminder_at"):
        if name in values:
            cleaned[name] = _aware(values[name], errors, name)
    if "owner" in values:
        owner = values["owner"]
        if not isinstance(owner, User) or not owner.is_active:
            errors.setdefault("owner", []).append(_("Choose an active user."))
    for name, model in (("organization", Organization), ("person", Person), ("deal", Deal)):
        if name in values and not isinstance(values[name], model | None):
            errors.setdefault(name, []).append(_("Choose a record."))
    if "recurrence" in values:
        text = values["recurrence"] or ""
        if not isinstance(text, str):
            errors.setdefault("recurrence", []).append(_("Enter a rule."))
        elif text.strip():
            try:
                cleaned["recurrence"] = recurrence_parse(text).text()
            except ValueError as exc:
                errors.setdefault("recurrence", []).append(str(exc))
        else:
            cleaned["recurrence"] = ""
    return cleaned


def _check_together(activity: Activity, errors: dict[str, list[str]]) -> None:
    """Rules between fields, on the activity as it would be saved."""
    if activity.ends_at and activity.due_at and activity.ends_at < activity.due_at:
        errors.setdefault("ends_at", []).append(_("The end is before the start."))
    if activity.ends_at and not activity.due_at:
        errors.setdefault("due_at", []).append(_("Give the start as well as the end."))
    if activity.recurrence and not activity.due_at:
        errors.setdefault("recurrence", []).append(_("A repeating activity needs a due time."))
    if activity.recurrence and activity.kind == ActivityKind.NOTE:
        errors.setdefault("recurrence", []).append(_("Notes do not repeat."))


def _payload(activity: Activity) -> dict[str, Any]:
    return {
        "activity": str(activity.public_id),
        "kind": activity.kind,
        "subject": activity.subject,
        "owner": activity.owner.username,
        "due_at": activity.due_at.isoformat() if activity.due_at else None,
        "done_at": activity.done_at.isoformat() if activity.done_at else None,
        "outcome": activity.outcome,
        "organization": str(activity.organization.public_id) if activity.organization else None,
        "person": str(activity.person.public_id) if activity.person else None,
        "deal": str(activity.deal.public_id) if activity.deal else None,
    }


# --- writes ---------------------------------------------------------------------------------


def _build(actor: User | None, values: dict[str, Any]) -> Activity:
    """A validated, unsaved activity from all its fields (FieldErrors otherwise)."""
    errors: dict[str, list[str]] = {}
    cleaned = _clean({**values, "owner": values.get("owner") or actor}, errors)
    if errors:
        raise FieldErrors(errors)
    activity = Activity(**cleaned)
    deal = cleaned.get("deal")
    if deal is not None and activity.organization_id is None and activity.person_id is None:
        activity.organization_id = deal.organization_id
        activity.person_id = deal.person_id
    _check_together(activity, errors)
    if errors:
        raise FieldErrors(errors)
    return activity


def activity_create(
    *,
    actor: User | None,
    kind: str,
    subject: str,
    owner: User | None = None,
    organization: Organization | None = None,
    person: Person | None = None,
    deal: Deal | None = None,
    due_at: datetime | None = None,
    ends_at: datetime | None = None,
    description: str = "",
    reminder_at: datetime | None = None,
    recurrence: str = "",
) -> Activity:
    """A planned activity (a note is recorded as done at once). `owner` defaults to the actor;
    without an organisation or person the activity takes the deal's."""
    activity = _build(
        actor,
        {
            "kind": kind,
            "subject": subject,
            "description": description,
            "owner": owner,
            "organization": organization,
            "person": person,
            "deal": deal,
            "due_at": due_at,
            "ends_at": ends_at,
            "reminder_at": reminder_at,
            "recurrence": recurrence,
        },
    )
    if activity.kind == ActivityKind.NOTE:
        activity.done_at = timezone.now()
    with transaction.atomic(), acting_as(actor):
        activity.save()
        emit("crm.activity.created", subject=activity, payload=_payload(activity), actor=actor)
    return activity


def activity_log_call(
    *,
    actor: User | None,
    subject: str,
    organization: Organization | None = None,
    person: Person | None = None,
    outcome: str = "",
    result: str = "",
    deal: Deal | None = None,
) -> Activity:
    """A call that happened just now, with its outcome and notes."""
    errors: dict[str, list[str]] = {}
    outcome = text_clean(outcome, errors, "outcome", max_length=120, required=False)
    result = text_clean(result, errors, "result", max_length=20000, required=False)
    if errors:
        raise FieldErrors(errors)
    activity = _build(
        actor,
        {
            "kind": ActivityKind.CALL,
            "subject": subject,
            "organization": organization,
            "person": person,
            "deal": deal,
        },
    )
    activity.due_at = activity.done_at = timezone.now()
    activity.outcome = outcome
    activity.result = result
    with transaction.atomic(), acting_as(actor):
        activity.save()
        emit("crm.activity.created", subject=activity, payload=_payload(activity), actor=actor)
        emit("crm.activity.done", subject=activity, payload=_payload(activity), actor=actor)
    return activity


def activity_update(*, actor: User | None, activity: Activity, **fields: Any) -> Activity:
    """Change the given fields. A new reminder time re-arms the reminder."""
    unknown = set(fields) - ACTIVITY_FIELDS
    if unknown:
        raise TypeError(f"cannot set {', '.join(sorted(unknown))} on an activity")
    errors: dict[str, list[str]] = {}
    values = _clean(fields, errors)
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic(), acting_as(actor):
        locked = Activity.objects.select_for_update().get(pk=activity.pk)
        if "reminder_at" in values and values["reminder_at"] != locked.reminder_at:
            locked.reminded_at = None  # a new reminder time: remind again
        for name, value in values.items():
            setattr(locked, name, value)
        _check_together(locked, errors)
        if errors:
            raise FieldErrors(errors)
        locked.save()
    activity.refresh_from_db()
    return activity


def activity_delete(*, actor: User | None, activity: Activity) -> None:
    with transaction.atomic(), acting_as(actor):
        activity.delete()


def activity_complete(
    *, actor: User | None, activity: Activity, outcome: str = "", result: str = ""
) -> Activity:
    """Mark the activity done with its outcome. A repeating one gets its next occurrence
    (same subject, links, duration and reminder offset), unless the rule has run out."""
    errors: dict[str, list[str]] = {}
    outcome = text_clean(outcome, errors, "outcome", max_length=120, required=False)
    result = text_clean(result, errors, "result", max_length=20000, required=False)
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic(), acting_as(actor):
        locked = (
            Activity.objects.select_for_update(of=("self",))
            .select_related("owner")
            .get(pk=activity.pk)
        )
        if locked.done_at is not None:
            raise BusinessError(_("The activity is already done."), details={"field": "done_at"})
        locked.done_at = timezone.now()
        locked.outcome = outcome
        locked.result = result
        locked.save()
        following = _next_occurrence(locked)
        payload = _payload(locked)
        payload["next"] = str(following.public_id) if following is not None else None
        emit("crm.activity.done", subject=locked, payload=payload, actor=actor)
        if following is not None:
            emit(
                "crm.activity.created", subject=following, payload=_payload(following), actor=actor
            )
    activity.refresh_from_db()
    return activity


def _next_occurrence(done: Activity) -> Activity | None:
    if not done.recurrence or done.due_at is None:
        return None
    rule = recurrence_parse(done.recurrence)
    due = recurrence_next(rule, done.due_at, _zone(done.owner))
    if due is None:
        return None
    shift = due - done.due_at
    return Activity.objects.create(
        kind=done.kind,
        subject=done.subject,
        description=done.description,
        organization_id=done.organization_id,
        person_id=done.person_id,
        deal_id=done.deal_id,
        owner_id=done.owner_id,
        due_at=due,
        ends_at=done.ends_at + shift if done.ends_at else None,
        reminder_at=done.reminder_at + shift if done.reminder_at else None,
        recurrence=recurrence_advance(rule).text(),
    )


def activities_archive(*, older_than_days: int = 365) -> int:
    """Archive done activities finished more than `older_than_days` ago; returns how many."""
    if older_than_days < 0:
        raise ValueError("older_than_days must not be negative")
    cutoff = timezone.now() - timedelta(days=older_than_days)
    # A bulk flag change without a history row per activity: the archive is housekeeping.
    return Activity.objects.filter(archived=False, done_at__lt=cutoff).update(archived=True)


# --- reminders ------------------------------------------------------------------------------


def activities_send_reminders(now: datetime) -> int:
    """Send every reminder due at `now` that was not sent yet; returns how many were sent."""
    due = list(
        Activity.objects.filter(
            reminder_at__lte=now,
            reminded_at__isnull=True,
            done_at__isnull=True,
            archived=False,
        )
        .order_by("reminder_at", "pk")
        .values_list("pk", flat=True)[:REMINDER_BATCH]
    )
    sent = 0
    for pk in due:
        try:
            sent += _remind(pk, now)
        except Exception:
            # One broken reminder (e.g. the mail server refusing an address) must not hold up
            # the others; its claim was rolled back, so the next sweep tries it again.
            logger.exception("Reminder for activity %s failed", pk)
    return sent


def _remind(pk: int, now: datetime) -> int:
    with transaction.atomic():
        rows = Activity.objects.filter(pk=pk, reminded_at__isnull=True, done_at__isnull=True)
        if connection.features.has_select_for_update_skip_locked:
            rows = rows.select_for_update(skip_locked=True, of=("self",))
        activity = rows.select_related("owner", "organization", "person").first()
        if activity is None:
            return 0  # another worker has it, or it was sent or done meanwhile
        # The claim: a conditional update, so two sweeps cannot both win even without locks.
        if not Activity.objects.filter(pk=pk, reminded_at__isnull=True).update(reminded_at=now):
            return 0
        owner = activity.owner
        title, body = _reminder_text(activity, owner)
        notify(recipient=owner, title=title[:200], body=body, url=_activity_url(activity), when=now)
        if owner.email:
            send_mail(title, body, None, [owner.email])
    return 1


def _reminder_text(activity: Activity, owner: User) -> tuple[str, str]:
    """The reminder's subject and text in the owner's language, times in their zone."""
    with translation.override(owner.language or settings.LANGUAGE_CODE):
        title = _("Reminder: %(subject)s") % {"subject": activity.subject}
        lines = [
            _("%(kind)s: %(subject)s")
            % {"kind": activity.get_kind_display(), "subject": activity.subject}
        ]
        if activity.due_at is not None:
            local = timezone.localtime(activity.due_at, _zone(owner))
            lines.append(
                _("Due: %(when)s (%(zone)s)")
                % {"when": formats.date_format(local, "DATETIME_FORMAT"), "zone": str(local.tzinfo)}
            )
        for record in (activity.organization, activity.person):
            if record is not None:
                lines.append(_("Client: %(name)s") % {"name": record})
        if activity.description:
            lines.extend(["", activity.description])
    return title, "\n".join(lines)


def _activity_url(activity: Activity) -> str:
    try:
        return reverse(ACTIVITY_URL_NAME, args=[activity.public_id])
    except NoReverseMatch:
        return ""
