"""Activity services: planned and done activities, recurrence, reminders, archiving."""

from __future__ import annotations

import smtplib
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.jobs import Worker
from konvergo.core.models import Event
from konvergo.crm.models import Activity, Organization
from konvergo.crm.services.activities import (
    activities_archive,
    activities_send_reminders,
    activity_complete,
    activity_create,
    activity_log_call,
    activity_update,
    recurrence_parse,
)
from konvergo.crm.tests.factories_deals import ActivityFactory, DealFactory, make_organization
from konvergo.org.models import Deputy, Notification
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

BERLIN = ZoneInfo("Europe/Berlin")


def at(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def names() -> list[str]:
    return list(Event.objects.order_by("occurred_at").values_list("name", flat=True))


# --- planned and done -----------------------------------------------------------------------


def test_a_planned_meeting_with_a_deal_takes_the_deals_client() -> None:
    actor = UserFactory.create()
    client = make_organization(actor)
    deal = DealFactory.create(owner=actor, organization=client)

    meeting = activity_create(
        actor=actor,
        kind="meeting",
        subject="Kick-off",
        deal=deal,
        due_at=at(2026, 3, 2, 9),
        ends_at=at(2026, 3, 2, 10),
        reminder_at=at(2026, 3, 2, 8, 45),
    )

    meeting.refresh_from_db()
    assert (meeting.owner, meeting.organization, meeting.deal) == (actor, client, deal)
    assert meeting.done_at is None
    assert names()[-1] == "crm.activity.created"
    created = Event.objects.get(name="crm.activity.created")
    assert created.payload["kind"] == "meeting"
    assert created.payload["due_at"] == "2026-03-02T09:00:00+00:00"
    assert created.payload["organization"] == str(client.public_id)


def test_a_note_is_done_when_written() -> None:
    note = activity_create(actor=UserFactory.create(), kind="note", subject="Likes golf")

    assert note.done_at is not None


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "fax"}, "kind"),
        ({"subject": ""}, "subject"),
        ({"due_at": datetime(2026, 3, 2, 9)}, "due_at"),  # noqa: DTZ001  (naive on purpose)
        ({"due_at": at(2026, 3, 2, 9), "ends_at": at(2026, 3, 2, 8)}, "ends_at"),
        ({"ends_at": at(2026, 3, 2, 8)}, "due_at"),
        ({"recurrence": "FREQ=YEARLY"}, "recurrence"),
        ({"recurrence": "FREQ=DAILY"}, "recurrence"),  # without a due time
        ({"due_at": at(2026, 3, 2, 9), "recurrence": "FREQ=DAILY;COUNT=0"}, "recurrence"),
        ({"due_at": at(2026, 3, 2, 9), "recurrence": "FREQ=DAILY;BYHOUR=9"}, "recurrence"),
    ],
)
def test_bad_activities_are_field_errors_and_nothing_is_saved(fields, field) -> None:
    with pytest.raises(FieldErrors) as caught:
        activity_create(**{"actor": UserFactory.create(), "kind": "task", "subject": "x", **fields})

    assert list(caught.value.errors) == [field]
    assert Activity.objects.count() == 0
    assert Event.objects.count() == 0


def test_logging_a_call_records_a_done_call() -> None:
    actor = UserFactory.create()
    client = make_organization(actor)

    call = activity_log_call(
        actor=actor, subject="Intro call", organization=client, outcome="reached", result="Keen"
    )

    call.refresh_from_db()
    assert (call.kind, call.outcome, call.result) == ("call", "reached", "Keen")
    assert call.done_at is not None
    assert call.due_at == call.done_at
    assert names() == ["crm.activity.created", "crm.activity.done"]


def test_completing_records_the_outcome_once() -> None:
    task = ActivityFactory.create(due_at=at(2026, 3, 2, 9))

    activity_complete(actor=task.owner, activity=task, outcome="done", result="Sent the offer")

    assert task.done_at is not None
    assert (task.outcome, task.result) == ("done", "Sent the offer")
    done = Event.objects.get(name="crm.activity.done")
    assert done.payload["outcome"] == "done"
    assert done.payload["next"] is None
    with pytest.raises(BusinessError):
        activity_complete(actor=task.owner, activity=task)
    assert Event.objects.filter(name="crm.activity.done").count() == 1


def test_a_new_reminder_time_rearms_the_reminder() -> None:
    task = ActivityFactory.create(
        due_at=at(2026, 3, 2, 9), reminder_at=at(2026, 3, 2, 8), reminded_at=at(2026, 3, 2, 8)
    )

    activity_update(actor=task.owner, activity=task, reminder_at=at(2026, 3, 2, 8, 30))

    assert task.reminder_at == at(2026, 3, 2, 8, 30)
    assert task.reminded_at is None


def test_update_checks_the_fields_together() -> None:
    task = ActivityFactory.create(due_at=at(2026, 3, 2, 9))

    with pytest.raises(FieldErrors) as caught:
        activity_update(actor=task.owner, activity=task, ends_at=at(2026, 3, 2, 8))

    assert list(caught.value.errors) == ["ends_at"]
    task.refresh_from_db()
    assert task.ends_at is None


# --- recurrence -----------------------------------------------------------------------------


def complete_and_next(activity: Activity) -> Activity | None:
    activity_complete(actor=activity.owner, activity=activity)
    return Activity.objects.filter(done_at__isnull=True).exclude(pk=activity.pk).first()


def test_completing_a_repeating_task_creates_the_next_one_with_its_reminder() -> None:
    owner = UserFactory.create(time_zone="UTC")
    task = activity_create(
        actor=owner,
        kind="task",
        subject="Check stock",
        due_at=at(2026, 3, 2, 9),
        ends_at=at(2026, 3, 2, 9, 30),
        reminder_at=at(2026, 3, 2, 8, 45),
        recurrence="freq=daily;interval=2",
    )
    assert task.recurrence == "FREQ=DAILY;INTERVAL=2"

    following = complete_and_next(task)

    assert following is not None
    assert following.subject == "Check stock"
    assert following.due_at == at(2026, 3, 4, 9)
    assert following.ends_at == at(2026, 3, 4, 9, 30)
    assert following.reminder_at == at(2026, 3, 4, 8, 45)
    assert following.reminded_at is None
    assert following.recurrence == "FREQ=DAILY;INTERVAL=2"
    done = Event.objects.get(name="crm.activity.done")
    assert done.payload["next"] == str(following.public_id)


def test_weekly_on_given_days() -> None:
    owner = UserFactory.create(time_zone="UTC")
    monday = activity_create(
        actor=owner,
        kind="call",
        subject="Status call",
        due_at=at(2026, 3, 2, 10),
        recurrence="FREQ=WEEKLY;BYDAY=MO,TH",
    )

    thursday = complete_and_next(monday)
    assert thursday is not None and thursday.due_at == at(2026, 3, 5, 10)
    next_monday = complete_and_next(thursday)
    assert next_monday is not None and next_monday.due_at == at(2026, 3, 9, 10)


def test_monthly_skips_months_without_the_day_as_rfc_5545_says() -> None:
    owner = UserFactory.create(time_zone="UTC")
    task = activity_create(
        actor=owner,
        kind="task",
        subject="Invoice",
        due_at=at(2026, 1, 31, 9),
        recurrence="FREQ=MONTHLY",
    )

    following = complete_and_next(task)

    assert following is not None and following.due_at == at(2026, 3, 31, 9)


def test_count_limits_the_occurrences() -> None:
    owner = UserFactory.create(time_zone="UTC")
    first = activity_create(
        actor=owner,
        kind="task",
        subject="x",
        due_at=at(2026, 3, 2, 9),
        recurrence="FREQ=DAILY;COUNT=2",
    )

    second = complete_and_next(first)
    assert second is not None and second.recurrence == "FREQ=DAILY;COUNT=1"
    assert complete_and_next(second) is None
    assert Activity.objects.count() == 2


def test_until_ends_the_series() -> None:
    owner = UserFactory.create(time_zone="UTC")
    first = activity_create(
        actor=owner,
        kind="task",
        subject="x",
        due_at=at(2026, 3, 2, 9),
        recurrence="FREQ=DAILY;UNTIL=20260303",
    )

    second = complete_and_next(first)
    assert second is not None and second.due_at == at(2026, 3, 3, 9)
    assert complete_and_next(second) is None


def test_a_daily_task_keeps_its_local_time_across_daylight_saving() -> None:
    owner = UserFactory.create(time_zone="Europe/Berlin")
    # 09:00 in Berlin on the Saturday before summer time starts (08:00 UTC) ...
    task = activity_create(
        actor=owner,
        kind="task",
        subject="Morning check",
        due_at=datetime(2026, 3, 28, 9, tzinfo=BERLIN),
        recurrence="FREQ=DAILY",
    )

    following = complete_and_next(task)

    # ... is 09:00 in Berlin on Sunday too, which is 07:00 UTC.
    assert following is not None
    assert following.due_at == at(2026, 3, 29, 7)


def test_the_rule_text_is_normalised() -> None:
    rule = recurrence_parse("RRULE:interval=3;freq=weekly;byday=fr;until=20261231T170000Z")

    assert rule.text() == "FREQ=WEEKLY;INTERVAL=3;BYDAY=FR;UNTIL=20261231T170000Z"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "FREQ",
        "FREQ=HOURLY",
        "FREQ=DAILY;INTERVAL=x",
        "FREQ=DAILY;COUNT=2;UNTIL=20260101",
        "FREQ=DAILY;BYDAY=MO",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=DAILY;UNTIL=2026",
        "FREQ=DAILY;FREQ=DAILY",
    ],
)
def test_unsupported_rules_are_refused(text) -> None:
    with pytest.raises(ValueError):
        recurrence_parse(text)


# --- reminders ------------------------------------------------------------------------------


def reminded_task(**fields) -> Activity:
    owner = fields.pop("owner", None) or UserFactory.create(email="anna@example.com")
    return ActivityFactory.create(
        owner=owner,
        subject="Call Acme back",
        due_at=at(2026, 3, 2, 9),
        reminder_at=at(2026, 3, 2, 8, 45),
        **fields,
    )


def test_the_reminders_sweep_is_registered() -> None:
    import konvergo.crm.tasks  # noqa: F401  (CrmConfig.ready() imports it in the app)
    from konvergo.core.jobs import _sweeps

    assert "crm.reminders" in _sweeps


def test_a_reminder_is_sent_once_even_when_the_sweep_runs_twice() -> None:
    import konvergo.crm.tasks  # noqa: F401
    from konvergo.core.jobs import _sweeps

    task = reminded_task()
    sweep = _sweeps["crm.reminders"]

    with time_machine.travel(at(2026, 3, 2, 8, 44), tick=False):
        assert sweep(at(2026, 3, 2, 8, 44)) == 0
    assert Notification.objects.count() == 0
    assert mail.outbox == []

    with time_machine.travel(at(2026, 3, 2, 8, 45), tick=False):
        assert sweep(at(2026, 3, 2, 8, 45)) == 1
        assert sweep(at(2026, 3, 2, 8, 45)) == 0
    with time_machine.travel(at(2026, 3, 2, 8, 46), tick=False):
        assert Worker().run_sweeps(at(2026, 3, 2, 8, 46)) == 0

    [notification] = Notification.objects.all()
    assert notification.recipient == task.owner
    assert notification.on_behalf_of is None
    assert "Call Acme back" in notification.title
    [message] = mail.outbox
    assert message.to == ["anna@example.com"]
    assert "Call Acme back" in message.subject
    assert "Call Acme back" in message.body
    task.refresh_from_db()
    assert task.reminded_at == at(2026, 3, 2, 8, 45)


def test_the_reminder_is_written_in_the_owners_language_and_time_zone() -> None:
    owner = UserFactory.create(email="jonas@example.com", language="de", time_zone="Europe/Berlin")
    reminded_task(owner=owner)

    with time_machine.travel(at(2026, 3, 2, 9), tick=False):
        activities_send_reminders(at(2026, 3, 2, 9))

    [message] = mail.outbox
    assert "2. März 2026 10:00" in message.body  # German date, Berlin time (UTC+1)
    assert "Europe/Berlin" in message.body


def test_an_absent_owners_reminder_goes_to_the_deputy_in_app() -> None:
    owner = UserFactory.create(email="anna@example.com")
    deputy = UserFactory.create()
    Deputy.objects.create(
        user=owner, deputy=deputy, starts_on=date(2026, 3, 1), ends_on=date(2026, 3, 6)
    )
    reminded_task(owner=owner)

    with time_machine.travel(at(2026, 3, 2, 9), tick=False):
        assert activities_send_reminders(at(2026, 3, 2, 9)) == 1

    [notification] = Notification.objects.all()
    assert (notification.recipient, notification.on_behalf_of) == (deputy, owner)
    assert [m.to for m in mail.outbox] == [["anna@example.com"]]


def test_done_and_archived_activities_are_not_reminded() -> None:
    reminded_task(done_at=at(2026, 3, 2, 8))
    reminded_task(archived=True)

    assert activities_send_reminders(at(2026, 3, 2, 9)) == 0
    assert mail.outbox == []


def test_an_owner_without_an_email_still_gets_the_notification() -> None:
    reminded_task(owner=UserFactory.create(email=""))

    assert activities_send_reminders(at(2026, 3, 2, 9)) == 1

    assert Notification.objects.count() == 1
    assert mail.outbox == []


def test_a_failing_mail_server_leaves_the_reminder_for_the_next_sweep(monkeypatch) -> None:
    task = reminded_task()
    other = reminded_task(owner=UserFactory.create(email=""))

    def refuse(*args, **kwargs):
        raise smtplib.SMTPException("mail server down")

    monkeypatch.setattr("konvergo.crm.services.activities.send_mail", refuse)
    assert activities_send_reminders(at(2026, 3, 2, 9)) == 1  # the one without e-mail

    task.refresh_from_db()
    assert task.reminded_at is None
    assert list(Notification.objects.values_list("recipient", flat=True)) == [other.owner_id]

    monkeypatch.undo()
    assert activities_send_reminders(at(2026, 3, 2, 9, 1)) == 1
    assert len(mail.outbox) == 1
    assert Notification.objects.count() == 2


# --- archiving ------------------------------------------------------------------------------


def test_archiving_takes_only_done_activities_older_than_the_limit() -> None:
    with time_machine.travel(at(2026, 3, 2, 12), tick=False):
        old = ActivityFactory.create(done_at=at(2025, 3, 1, 12))
        recent = ActivityFactory.create(done_at=at(2026, 2, 1, 12))
        planned = ActivityFactory.create(due_at=at(2024, 1, 1, 12))

        assert activities_archive(older_than_days=365) == 1
        assert activities_archive(older_than_days=365) == 0

    archived = set(Activity.objects.filter(archived=True))
    assert archived == {old}
    assert recent not in archived and planned not in archived
    with pytest.raises(ValueError):
        activities_archive(older_than_days=-1)


@pytest.mark.django_db
def test_archive_command_archives_old_done_activities(capsys) -> None:
    from django.core.management import call_command

    owner = UserFactory.create()
    organization = Organization.objects.create(legal_name="Archiv AG", owner=owner)
    old = Activity.objects.create(
        kind="call", subject="Old call", organization=organization, owner=owner,
        done_at=timezone.now() - timedelta(days=400),
    )
    recent = Activity.objects.create(
        kind="call", subject="Recent call", organization=organization, owner=owner,
        done_at=timezone.now() - timedelta(days=3),
    )

    call_command("archive_activities", days=365)

    old.refresh_from_db()
    recent.refresh_from_db()
    assert (old.archived, recent.archived) == (True, False)
    assert "Archived 1 activity." in capsys.readouterr().out
