"""Calendars: a per-user iCalendar feed (RFC 5545) behind a secret URL, of the user's meetings
and planned activities with a due time, and meeting invitations sent as .ics by e-mail."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from icalendar import Calendar, Event, vCalAddress, vText

from konvergo.crm.choices import ActivityKind
from konvergo.crm.models import Activity
from konvergo.integrations.models import CalendarFeed, EmailMessage, new_secret
from konvergo.integrations.services.mail import email_send
from konvergo.org.models import User

PRODID = "-//Konvergo//Konvergo CRM//EN"
PAST_DAYS = 90


def feed_for(user: User) -> CalendarFeed:
    feed, _created = CalendarFeed.objects.get_or_create(user=user)
    return feed


def feed_rotate(*, user: User) -> CalendarFeed:
    """A new secret URL; the old one stops working at once."""
    with transaction.atomic():
        feed = feed_for(user)
        feed.token = new_secret()
        feed.save()
    return feed


def _uid(activity: Activity) -> str:
    host = settings.DEFAULT_FROM_EMAIL.rsplit("@", 1)[-1].rstrip(">") or "konvergo"
    return f"{activity.public_id}@{host}"


def _event(activity: Activity) -> Event:
    event = Event()
    start = activity.due_at or activity.created_at
    end = activity.ends_at if activity.ends_at and activity.ends_at > start else None
    if end is None:
        end = start + (
            timedelta(hours=1) if activity.kind == ActivityKind.MEETING else timedelta(minutes=30)
        )
    event.add("uid", _uid(activity))
    event.add("dtstamp", activity.updated_at)
    event.add("last-modified", activity.updated_at)
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", f"{activity.get_kind_display()}: {activity.subject}")
    if activity.description:
        event.add("description", activity.description)
    client = activity.person or activity.organization
    if client is not None:
        event.add("location", vText(str(client)))
    event.add("status", "CONFIRMED" if activity.done_at is None else "CANCELLED")
    event.add("categories", [activity.kind])
    return event


def feed_calendar(user: User) -> bytes:
    """The user's calendar: meetings, and planned calls and tasks with a due time."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", f"Konvergo: {user.get_full_name() or user.username}")
    since = timezone.now() - timedelta(days=PAST_DAYS)
    rows = (
        Activity.objects.filter(owner=user, archived=False, due_at__isnull=False, due_at__gte=since)
        .exclude(kind=ActivityKind.NOTE)
        .select_related("person", "organization")
        .order_by("due_at", "pk")
    )
    for activity in rows:
        calendar.add_component(_event(activity))
    return bytes(calendar.to_ical())


def invitation_ics(activity: Activity, attendees: list[str]) -> str:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "REQUEST")
    event = _event(activity)
    organizer = vCalAddress(f"mailto:{activity.owner.email}")
    organizer.params["cn"] = vText(activity.owner.get_full_name() or activity.owner.username)
    event.add("organizer", organizer)
    for address in attendees:
        attendee = vCalAddress(f"mailto:{address}")
        attendee.params["role"] = vText("REQ-PARTICIPANT")
        attendee.params["rsvp"] = vText("TRUE")
        event.add("attendee", attendee, encode=False)
    event.add("sequence", 0)
    calendar.add_component(event)
    return str(calendar.to_ical().decode())


def meeting_invite(*, actor: User, activity: Activity, attendees: list[str]) -> EmailMessage:
    """Send a meeting as an invitation (.ics, METHOD:REQUEST) to the attendees."""
    ics = invitation_ics(activity, attendees)
    start = timezone.localtime(activity.due_at) if activity.due_at else None
    body = (
        f"{activity.subject}\n{start:%Y-%m-%d %H:%M %Z}\n\n{activity.description}"
        if start
        else activity.subject
    )
    return email_send(
        actor=actor,
        to=attendees,
        subject=activity.subject,
        body=body,
        organization=activity.organization,
        person=activity.person,
        ics=ics,
    )
