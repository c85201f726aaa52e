"""Integrations without outside servers: e-mail templates in five languages and the service-task
connector, SMS through the log and HTTP providers with inbound SMS and delivery reports, the
public lead form (honeypot, rate limit), meeting invitations, the dossier timeline and the API's
permission checks."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from konvergo.core.errors import FieldErrors
from konvergo.core.jobs import Worker
from konvergo.core.models import Event
from konvergo.crm.models import Organization, Person
from konvergo.crm.selectors import dossier_timeline
from konvergo.crm.services.activities import activity_create
from konvergo.crm.tests.factories import EmailFactory, PersonFactory, PhoneFactory
from konvergo.integrations.models import (
    ChannelKind,
    DeadLetter,
    EmailMessage,
    EmailStatus,
    InboundChannel,
    SmsGateway,
    SmsMessage,
    WebForm,
    WebFormSubmission,
)
from konvergo.integrations.services.mail import email_send, template_save
from konvergo.integrations.services.sms import sms_send
from konvergo.org.services import api_token_create
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.registry import call_connector

pytestmark = pytest.mark.django_db

GREETINGS = {
    "en": ("Welcome, {{ name }}", "Hello {{ name }}, your order {{ number }} is in & paid."),
    "de": ("Willkommen, {{ name }}", "Hallo {{ name }}, Ihre Bestellung {{ number }} ist da."),
    "pl": ("Witamy, {{ name }}", "Dzień dobry {{ name }}, zamówienie {{ number }} przyjęte."),
    "ru": ("Добро пожаловать, {{ name }}", "Здравствуйте, {{ name }}, заказ {{ number }} принят."),
    "fa": ("خوش آمدید {{ name }}", "سلام {{ name }}، سفارش {{ number }} ثبت شد."),
}


@pytest.fixture
def greetings() -> None:
    for language, (subject, body) in GREETINGS.items():
        template_save(key="welcome", language=language, subject=subject, body=body)


@pytest.mark.parametrize("language", ["en", "de", "pl", "ru", "fa"])
def test_a_template_is_sent_in_the_recipients_language(greetings, language):
    message = email_send(
        actor=None,
        to="erika@customer.test",
        template="welcome",
        language=language,
        variables={"name": "Erika", "number": "Q-7"},
    )
    Worker().run_once()

    subject, body = GREETINGS[language]
    assert mail.outbox[0].subject == subject.replace("{{ name }}", "Erika")
    assert mail.outbox[0].body == body.replace("{{ name }}", "Erika").replace("{{ number }}", "Q-7")
    message.refresh_from_db()
    assert message.status == EmailStatus.SENT
    assert mail.outbox[0].extra_headers["Message-ID"] == message.message_id


def test_an_unknown_language_falls_back_to_english_and_bad_input_is_refused(greetings):
    email_send(
        actor=None, to="a@b.test", template="welcome", language="ja", variables={"name": "A"}
    )
    Worker().run_once()
    assert mail.outbox[0].subject == "Welcome, A"

    with pytest.raises(FieldErrors) as refused:
        email_send(actor=None, to="not an address", subject="")
    assert set(refused.value.errors) == {"to", "subject"}
    with pytest.raises(FieldErrors):
        template_save(key="x", language="en", subject="{% if %}", body="b")
    assert EmailMessage.objects.count() == 1


def test_the_connector_sends_mail_from_a_process_and_logs_it_on_the_clients_timeline():
    owner = UserFactory.create(is_superuser=True)
    person = PersonFactory.create(owner=owner)
    EmailFactory.create(person=person, address="erika@customer.test")

    outputs = call_connector(
        "integrations.send_email",
        {
            "to": "erika@customer.test",
            "subject": "Offer {{ n }}",
            "body": "See {{ n }}",
            "variables": {"n": 7},
        },
        "send_offer",
    )
    Worker().run_once()

    message = EmailMessage.objects.get()
    assert outputs["message_id"] == message.message_id
    assert (message.person, message.subject, message.status) == (person, "Offer 7", "sent")
    titles = [item.title for item in dossier_timeline(owner, person)]
    assert any("Offer 7" in title for title in titles)


def test_a_mail_server_that_refuses_is_retried_and_then_alerts(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1  # nothing listens there
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 0
    settings.KONVERGO_JOB_MAX_ATTEMPTS = 2
    admin = UserFactory.create(is_superuser=True)

    message = email_send(actor=None, to="a@b.test", subject="Hi", body="x")
    Worker().run_once()

    message.refresh_from_db()
    assert (message.status, message.attempts) == (EmailStatus.FAILED, 2)
    assert "Connection" in message.error or "refused" in message.error.lower()
    assert admin.notifications.filter(title__contains="cannot be sent").count() == 1


def test_a_meeting_invitation_carries_an_ics_request():
    from icalendar import Calendar

    user = UserFactory.create(email="anna@konvergo.test")
    person = PersonFactory.create(owner=user)
    start = timezone.now().replace(microsecond=0) + timedelta(days=2)
    meeting = activity_create(
        actor=user, kind="meeting", subject="Kick-off", person=person, due_at=start
    )

    from konvergo.integrations.services.calendars import meeting_invite

    meeting_invite(actor=user, activity=meeting, attendees=["erika@customer.test"])
    Worker().run_once()

    sent = mail.outbox[0]
    name, content, mimetype = sent.attachments[0]
    assert name == "invite.ics"
    assert mimetype.startswith("text/calendar")
    calendar = Calendar.from_ical(content)
    assert str(calendar["METHOD"]) == "REQUEST"
    event = calendar.walk("VEVENT")[0]
    assert event.decoded("DTSTART") == start
    assert "erika@customer.test" in str(event["ATTENDEE"])


# --- SMS ---------------------------------------------------------------------------------------


@pytest.fixture
def gateway_server() -> Iterator[dict[str, Any]]:
    seen: dict[str, Any] = {"requests": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen["requests"].append((dict(self.headers.items()), body))
            answer = b'{"id": "gw-42"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    seen["url"] = f"http://127.0.0.1:{httpd.server_address[1]}/send"
    yield seen
    httpd.shutdown()
    httpd.server_close()


def test_sms_through_the_http_gateway_with_a_delivery_report(gateway_server):
    gateway = SmsGateway.objects.create(
        name="Gateway",
        provider="http",
        url=gateway_server["url"],
        body_template='{"to": "{{ to }}", "message": "{{ text }}", "sender": "Konvergo"}',
        auth_header="Authorization",
        auth_value="Bearer k3y",
        is_default=True,
    )
    sms = sms_send(to="+48 601 234 567", text='Your "code" is 12')
    Worker().run_once()

    headers, body = gateway_server["requests"][0]
    assert headers["Authorization"] == "Bearer k3y"
    assert json.loads(body) == {
        "to": "+48601234567",
        "message": 'Your "code" is 12',
        "sender": "Konvergo",
    }
    sms.refresh_from_db()
    assert (sms.status, sms.provider_id, sms.gateway) == ("sent", "gw-42", gateway)

    channel = InboundChannel.objects.create(kind=ChannelKind.SMS, name="Gateway")
    report = Client().post(
        f"/integrations/in/sms/{channel.public_id}/status/",
        json.dumps({"id": "gw-42", "status": "delivered"}),
        content_type="application/json",
        headers={"X-Konvergo-Secret": channel.secret},
    )
    assert report.status_code == 200
    sms.refresh_from_db()
    assert sms.status == "delivered"


def test_the_log_provider_sends_nothing_out_but_logs_it():
    SmsGateway.objects.create(name="Dev", provider="log")
    sms = sms_send(to="+4917612345678", text="hi")
    Worker().run_once()
    sms.refresh_from_db()
    assert sms.status == "sent"
    assert sms.provider_id.startswith("log-")


def test_an_inbound_sms_is_matched_to_the_contact_and_emitted():
    person = PersonFactory.create()
    PhoneFactory.create(person=person, number="+4917612345678")
    channel = InboundChannel.objects.create(kind=ChannelKind.SMS, name="Gateway")
    url = f"/integrations/in/sms/{channel.public_id}/"
    client = Client()
    secret = {"X-Konvergo-Secret": channel.secret}

    assert client.post(url, {"from": "+4917612345678", "text": "hi"}).status_code == 401
    wrong = client.post(url, {"from": "x"}, headers={"X-Konvergo-Secret": "nope"})
    assert wrong.status_code == 401
    bad = client.post(url, "{not json", content_type="application/json", headers=secret)
    assert bad.status_code == 400
    assert DeadLetter.objects.get().body == "{not json"
    assert not SmsMessage.objects.exists()

    ok = client.post(url, {"from": "+49 176 12345678", "text": "Call me"}, headers=secret)
    assert ok.status_code == 200
    sms = SmsMessage.objects.get()
    assert (sms.direction, sms.person, sms.text) == ("in", person, "Call me")
    event = Event.objects.get(name="integrations.sms.received")
    assert event.payload["text"] == "Call me"
    assert event.payload["owner"] == person.owner.username


# --- the lead form -----------------------------------------------------------------------------


def test_the_lead_form_creates_a_lead_and_an_event_and_keeps_bots_out():
    owner = UserFactory.create()
    form = WebForm.objects.create(name="Website", owner=owner, max_per_hour=2)
    url = f"/integrations/form/{form.public_id}/"
    client = Client(REMOTE_ADDR="203.0.113.9")

    page = client.get(url)
    assert page.status_code == 200
    assert 'name="website"' in page.content.decode()  # the honeypot
    assert "X-Frame-Options" not in page  # embeddable

    sent = client.post(
        url,
        {
            "name": "Erika Muster",
            "company": "Muster AG",
            "email": "erika@muster.test",
            "message": "Quote?",
        },
    )
    assert sent.status_code == 200
    assert "Thank you" in sent.content.decode()
    organization = Organization.objects.get()
    assert (organization.legal_name, organization.status, organization.owner) == (
        "Muster AG",
        "lead",
        owner,
    )
    assert [e.address for e in organization.emails.all()] == ["erika@muster.test"]
    event = Event.objects.get(name="integrations.webform.submitted")
    assert event.payload["company"] == "Muster AG"

    bot = client.post(url, {"name": "Bot", "email": "bot@spam.test", "website": "http://spam"})
    assert bot.status_code == 200  # thanked, and ignored
    assert Organization.objects.count() == 1 and not Person.objects.exists()
    assert WebFormSubmission.objects.filter(spam=True).count() == 1

    limited = client.post(url, {"name": "Max Mustermann", "email": "max@muster.test"})
    assert limited.status_code == 429
    assert not Person.objects.exists()


def test_the_lead_form_needs_a_way_to_answer():
    form = WebForm.objects.create(name="Website", owner=UserFactory.create())
    response = Client().post(f"/integrations/form/{form.public_id}/", {"name": "Erika"})
    assert response.status_code == 400
    assert "e-mail address or a phone number" in response.content.decode()
    assert not Person.objects.exists()


# --- API ---------------------------------------------------------------------------------------


def _api(user: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token_create(user=user).raw}"}


def test_the_api_sends_mail_manages_webhooks_and_refuses_strangers():
    admin = _api(UserFactory.create(is_superuser=True))
    client = Client()
    sent = client.post(
        "/api/v1/integrations/emails",
        {"to": ["a@b.test"], "subject": "Hello", "body": "x"},
        content_type="application/json",
        headers=admin,
    )
    assert sent.status_code == 201, sent.content
    assert sent.json()["status"] == "queued"
    hook = client.post(
        "/api/v1/integrations/webhooks",
        {"name": "ERP", "url": "https://erp.test/hook", "events": ["crm.deal.*"]},
        content_type="application/json",
        headers=admin,
    )
    assert hook.status_code == 201
    assert len(hook.json()["secret"]) > 20
    listed = client.get("/api/v1/integrations/webhooks", headers=admin).json()["items"]
    assert "secret" not in listed[0]
    bad = client.post(
        "/api/v1/integrations/webhooks",
        {"name": "x", "url": "ftp://x", "events": ["a"]},
        content_type="application/json",
        headers=admin,
    )
    assert bad.status_code == 422

    stranger = _api(UserFactory.create())
    assert client.get("/api/v1/integrations/webhooks", headers=stranger).status_code == 403
    refused = client.post(
        "/api/v1/integrations/emails",
        {"to": ["a@b.test"], "subject": "x"},
        content_type="application/json",
        headers=stranger,
    )
    assert refused.status_code == 403
    assert EmailMessage.objects.count() == 1
    assert client.get("/api/v1/integrations/dead-letters", headers=stranger).status_code == 403


def test_an_unreachable_gateway_is_retried_then_the_sms_is_marked_failed(settings):
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 0
    settings.KONVERGO_JOB_MAX_ATTEMPTS = 2
    SmsGateway.objects.create(name="Down", provider="http", url="http://127.0.0.1:1/send")
    sms = sms_send(to="+4917612345678", text="hi")
    Worker().run_once()
    sms.refresh_from_db()
    assert (sms.status, sms.attempts) == ("failed", 2)
    assert sms.error


def test_a_failed_email_is_sent_again_once_the_server_is_back(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", 1
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 0
    settings.KONVERGO_JOB_MAX_ATTEMPTS = 1
    admin = UserFactory.create(is_superuser=True)
    message = email_send(actor=None, to="a@b.test", subject="Hi", body="x")
    Worker().run_once()
    message.refresh_from_db()
    assert message.status == EmailStatus.FAILED

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    client = Client()
    client.force_login(admin)
    assert client.post(f"/integrations/emails/{message.public_id}/retry/").status_code == 302
    Worker().run_once()
    message.refresh_from_db()
    assert message.status == EmailStatus.SENT
    assert [m.extra_headers["Message-ID"] for m in mail.outbox] == [message.message_id]
    again = client.post(f"/integrations/emails/{message.public_id}/retry/", follow=True)
    assert "Only an e-mail that failed" in again.content.decode()
    Worker().run_once()
    assert len(mail.outbox) == 1  # a sent message is never sent twice
