"""Integrations end to end, against real servers started by the tests: Debian's dovecot (IMAP,
a throw-away instance in a temp dir with a passwd-file user), aiosmtpd (SMTP) and a webhook
receiver (http.server in a thread), all on 127.0.0.1 and free ports."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage as MimeMessage
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from konvergo.core.jobs import Worker
from konvergo.crm.models import Activity
from konvergo.crm.services.contacts import organization_create
from konvergo.crm.tests.factories import PersonFactory, PhoneFactory
from konvergo.integrations.models import (
    CalendarFeed,
    Call,
    ChannelKind,
    DeadLetter,
    DeliveryStatus,
    EmailMessage,
    EmailStatus,
    InboundChannel,
    Mailbox,
    WebhookDelivery,
    WebhookSubscription,
)
from konvergo.integrations.services import webhooks
from konvergo.integrations.services.webhooks import subscription_create
from konvergo.org.models import Notification
from konvergo.org.tests.factories import UserFactory
from konvergo.processes.models import ProcessInstance
from konvergo.processes.services import definition_deploy
from konvergo.tickets.models import Comment, Ticket
from konvergo.tickets.services.tickets import comment_add
from konvergo.tickets.tests.factories import desk
from konvergo.triggers.models import FiringStatus, TriggerFiring
from konvergo.triggers.services import rule_create

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"



def _dovecot_mailbox(dovecot: Any, **fields: Any) -> Mailbox:
    """A plain-IMAP mailbox "Support" on the test dovecot, with `fields` on top."""
    return Mailbox.objects.create(
        name="Support",
        host="127.0.0.1",
        port=dovecot.port,
        use_ssl=False,
        username=dovecot.user,
        password=dovecot.password,
        **fields,
    )

def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for_port(port: int, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing answers on port {port}")


@dataclass
class Imap:
    port: int
    user: str
    password: str


@pytest.fixture
def dovecot() -> Iterator[Imap]:
    """A dovecot serving IMAP (no TLS) for the user support/secret.

    Dovecot's login processes refuse to run as root, so when the tests run as root the
    unprivileged processes and the mail files belong to `nobody`; otherwise to the current
    user. The directory is made under /tmp (not pytest's 0700 tmp_path) so they can reach it.
    """
    if not Path(DOVECOT).exists():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="kv-dovecot-"))
    root.chmod(0o755)
    port = free_port()
    if os.geteuid() == 0:
        import grp
        import pwd

        account = pwd.getpwnam("nobody")
        login_user, group = "nobody", grp.getgrgid(account.pw_gid).gr_name
        uid, gid = account.pw_uid, account.pw_gid
    else:
        import grp
        import pwd

        login_user = pwd.getpwuid(os.geteuid()).pw_name
        group = grp.getgrgid(os.getegid()).gr_name
        uid, gid = os.geteuid(), os.getegid()
    for name in ("run", "state", "mail"):
        (root / name).mkdir()
    if os.geteuid() == 0:
        os.chown(root / "mail", uid, gid)
    (root / "passwd").write_text("support:{PLAIN}secret\n")
    (root / "dovecot.conf").write_text(
        f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {login_user}
default_internal_user = {login_user}
default_internal_group = {group}
first_valid_uid = 0
mail_location = maildir:{root}/mail/%u
service imap-login {{
  chroot =
  inet_listener imap {{
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
"""
    )
    process = subprocess.Popen(
        [DOVECOT, "-F", "-c", str(root / "dovecot.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port)
        yield Imap(port=port, user="support", password="secret")
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        shutil.rmtree(root, ignore_errors=True)


def imap_deliver(imap: Imap, raw: bytes) -> None:
    """Put a message in the INBOX, as the mail server's delivery would."""
    from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

    with IMAPClient("127.0.0.1", port=imap.port, ssl=False) as client:
        client.login(imap.user, imap.password)
        client.append("INBOX", raw)


@dataclass
class Smtp:
    port: int
    messages: list[MimeMessage] = field(default_factory=list)


@pytest.fixture
def smtp_server() -> Iterator[Smtp]:
    from aiosmtpd.controller import Controller

    server = Smtp(port=free_port())

    class Handler:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            message = message_from_bytes(envelope.content, policy=policy.default)
            server.messages.append(message)
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=server.port)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class Receiver:
    url: str
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)  # status codes to give, then 200


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    port = free_port()
    receiver = Receiver(url=f"http://127.0.0.1:{port}/hook")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            receiver.requests.append((dict(self.headers.items()), body))
            status = receiver.answers.pop(0) if receiver.answers else 200
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        httpd.shutdown()
        httpd.server_close()


# --- the tests -----------------------------------------------------------------------------------

pytestmark = pytest.mark.django_db
TRIGGER_LIBRARY = Path(__file__).resolve().parents[2] / "src/konvergo/triggers/library"


def _mail(
    *, subject: str, sender: str, body: str, headers: str = "", attach: bool = False
) -> bytes:
    message = MimeMessage()
    message["From"] = f"Erika Muster <{sender}>"
    message["To"] = "support@konvergo.test"
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="customer.test")
    for line in filter(None, headers.splitlines()):
        name, _sep, value = line.partition(": ")
        message[name] = value
    message.set_content(body)
    if attach:
        message.add_attachment(
            b"%PDF-1.4 test", maintype="application", subtype="pdf", filename="invoice.pdf"
        )
    return message.as_bytes()


def _poll_now(worker: Worker) -> None:
    Mailbox.objects.update(last_polled_at=None)
    worker.run_once()


def test_mail_to_the_support_mailbox_becomes_a_ticket_and_the_reply_is_threaded(
    dovecot, smtp_server, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    service = desk(agents=1)
    _dovecot_mailbox(dovecot, queue=service.queue)
    worker = Worker()
    # Given an e-mail with an attachment from an unknown sender in the support mailbox
    imap_deliver(
        dovecot,
        _mail(subject="Printer on fire", sender="erika@customer.test", body="Help!", attach=True),
    )

    # When the worker polls the mailbox
    _poll_now(worker)

    # Then it is a ticket of the support queue, from a new contact, with the attachment kept
    ticket = Ticket.objects.get()
    assert ticket.subject == "Printer on fire"
    assert ticket.queue == service.queue
    assert ticket.requester is not None
    assert [e.address for e in ticket.requester.emails.all()] == ["erika@customer.test"]
    assert [a.name for a in ticket.attachments.all()] == ["invoice.pdf"]
    incoming = EmailMessage.objects.get(direction="in")
    assert incoming.ticket == ticket
    assert incoming.person == ticket.requester
    assert [a.name for a in incoming.attachments.all()] == ["invoice.pdf"]

    # Polling again, even from the first UID, takes nothing in twice
    Mailbox.objects.update(last_uid=0)
    _poll_now(worker)
    assert Ticket.objects.count() == 1
    assert EmailMessage.objects.filter(direction="in").count() == 1

    # When the agent replies publicly, the reply reaches the SMTP server threaded to the mail
    comment_add(actor=service.agents[0], ticket=ticket, body="We are on our way.", is_public=True)
    worker.run_once()
    assert len(smtp_server.messages) == 1
    sent = smtp_server.messages[0]
    assert sent["To"] == "erika@customer.test"
    assert sent["In-Reply-To"] == incoming.message_id
    assert f"[#{ticket.number}]" in sent["Subject"]
    assert "We are on our way." in sent.get_body().get_content()
    outgoing = EmailMessage.objects.get(direction="out")
    assert outgoing.status == EmailStatus.SENT
    assert sent["Message-ID"] == outgoing.message_id

    # And the customer's answer to that reply lands on the same ticket
    imap_deliver(
        dovecot,
        _mail(
            subject=f"Re: {sent['Subject']}",
            sender="erika@customer.test",
            body="Thanks, it is out.",
            headers=f"In-Reply-To: {outgoing.message_id}",
        ),
    )
    _poll_now(worker)
    assert Ticket.objects.count() == 1
    answer = Comment.objects.filter(ticket=ticket, from_customer=True).get()
    assert "Thanks, it is out." in answer.body


def test_an_unreachable_mailbox_alerts_the_admins_and_loses_nothing(dovecot):
    admin = UserFactory.create(is_superuser=True)
    mailbox = Mailbox.objects.create(
        name="Support",
        host="127.0.0.1",
        port=free_port(),
        use_ssl=False,
        username="support",
        password="secret",
        creates="lead",
    )
    worker = Worker()
    _poll_now(worker)
    mailbox.refresh_from_db()
    assert mailbox.failing_since is not None
    assert Notification.objects.filter(recipient=admin, title__contains="Support").count() == 1

    imap_deliver(dovecot, _mail(subject="Quote please", sender="new@lead.test", body="Hi"))
    Mailbox.objects.filter(pk=mailbox.pk).update(port=dovecot.port)
    _poll_now(worker)
    mailbox.refresh_from_db()
    assert mailbox.failing_since is None
    message = EmailMessage.objects.get()
    assert message.person is not None  # a lead, as the mailbox says
    assert message.ticket is None


def _signed(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def test_a_missed_call_from_a_known_number_logs_the_call_and_starts_the_call_back():
    definition_deploy(xml=(TRIGGER_LIBRARY / "missed_call_callback.bpmn").read_bytes())
    rule_create(
        actor=None,
        name="Call back",
        event="integrations.call.missed",
        process_key="missed_call_callback",
        variables={"owner": "owner", "caller": "caller"},
        correlation_key="call",
    )
    anna = UserFactory.create(username="anna", phone="+493055500")
    person = PersonFactory.create(owner=anna)
    PhoneFactory.create(person=person, number="+4917612345678")
    channel = InboundChannel.objects.create(kind=ChannelKind.TELEPHONY, name="PBX")
    url = f"/integrations/in/telephony/{channel.public_id}/"
    client = Client()

    def post(data: dict[str, Any], **headers: str) -> Any:
        return client.post(url, json.dumps(data), content_type="application/json", headers=headers)

    # A stranger without the secret is refused; a malformed payload is kept as a dead letter
    assert post({"call_id": "c1", "event": "ringing"}).status_code == 401
    bad = post({"event": "ringing"}, **{"X-Konvergo-Secret": channel.secret})
    assert bad.status_code == 400
    assert DeadLetter.objects.get().error == "call_id is missing"
    assert not Call.objects.exists()

    # The phone system reports a call ringing for Anna, then ending unanswered
    body = json.dumps(
        {"call_id": "c1", "event": "ringing", "caller": "+49 176 12345678", "callee": "+493055500"}
    ).encode()
    ringing = client.post(
        url,
        body,
        content_type="application/json",
        headers={"X-Konvergo-Signature": _signed(channel.secret, body)},
    )
    assert ringing.status_code == 200, ringing.content
    client.force_login(anna)
    popup = client.get("/integrations/calls/popup/")
    assert "+4917612345678" in popup.content.decode()
    assert str(person) in popup.content.decode()
    assert (
        post(
            {"call_id": "c1", "event": "ended"}, **{"X-Konvergo-Secret": channel.secret}
        ).status_code
        == 200
    )
    Worker().run_once()

    call = Call.objects.get()
    assert (call.status, call.person, call.user) == ("missed", person, anna)
    activity = Activity.objects.get()
    assert (activity.kind, activity.person, activity.owner) == ("call", person, anna)
    assert call.activity == activity
    # The call no longer rings: the pop-up is gone
    assert "+4917612345678" not in client.get("/integrations/calls/popup/").content.decode()
    instance = ProcessInstance.objects.get()
    assert instance.definition.key == "missed_call_callback"
    assert instance.business_key == "c1"
    firing = TriggerFiring.objects.get()
    assert firing.status == FiringStatus.DONE
    assert firing.instance == instance
    assert firing.variables == {"owner": "anna", "caller": "+4917612345678"}


def test_webhooks_are_signed_and_a_failing_delivery_is_retried(webhook_receiver, settings):
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 0
    owner = UserFactory.create()
    subscription = subscription_create(
        actor=owner, name="ERP", url=webhook_receiver.url, events=["crm.organization.*"]
    )
    webhook_receiver.answers = [500]  # the first attempt fails

    organization_create(actor=owner, legal_name="Baltic Logistics")
    Worker().run_once()

    assert len(webhook_receiver.requests) == 2
    headers, body = webhook_receiver.requests[-1]
    assert headers["X-Konvergo-Event"] == "crm.organization.created"
    assert headers["X-Konvergo-Signature"] == _signed(subscription.secret, body)
    assert json.loads(body)["payload"]["legal_name"] == "Baltic Logistics"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.status, delivery.attempts, delivery.response_code) == (
        DeliveryStatus.DELIVERED,
        2,
        200,
    )


def test_a_webhook_that_keeps_failing_is_switched_off_and_its_owner_told(
    webhook_receiver, settings, monkeypatch
):
    settings.KONVERGO_JOB_BACKOFF_SECONDS = 0
    settings.KONVERGO_JOB_MAX_ATTEMPTS = 2
    monkeypatch.setattr(webhooks, "DISABLE_AFTER", 3)
    owner = UserFactory.create()
    subscription_create(actor=owner, name="ERP", url=webhook_receiver.url, events=["crm.*"])
    webhook_receiver.answers = [503] * 10

    organization_create(actor=owner, legal_name="A")
    organization_create(actor=owner, legal_name="B")
    Worker().run_once()

    subscription = WebhookSubscription.objects.get()
    assert subscription.is_active is False
    assert subscription.disabled_at is not None
    assert Notification.objects.filter(recipient=owner, title__contains="ERP").count() == 1
    assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    assert len(webhook_receiver.requests) == 3  # the fourth would-be attempt never went out


def test_the_calendar_feed_is_valid_icalendar_behind_its_secret_url():
    from icalendar import Calendar

    from konvergo.crm.services.activities import activity_create

    user = UserFactory.create()
    person = PersonFactory.create(owner=user)
    start = timezone.now().replace(microsecond=0) + timedelta(days=1)
    activity_create(
        actor=user,
        kind="meeting",
        subject="Kick-off",
        person=person,
        due_at=start,
        ends_at=start + timedelta(hours=2),
    )
    activity_create(
        actor=user, kind="task", subject="Send the contract", person=person, due_at=start
    )
    activity_create(
        actor=UserFactory.create(), kind="meeting", subject="Not mine", person=person, due_at=start
    )
    feed = CalendarFeed.objects.create(user=user)

    response = Client().get(f"/integrations/calendar/{feed.token}.ics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert calendar["VERSION"] == "2.0"
    events = sorted(calendar.walk("VEVENT"), key=lambda e: str(e["SUMMARY"]))
    assert [str(e["SUMMARY"]) for e in events] == ["Meeting: Kick-off", "Task: Send the contract"]
    assert events[0].decoded("DTSTART") == start
    assert events[0].decoded("DTEND") == start + timedelta(hours=2)
    assert all(e.get("UID") and e.get("DTSTAMP") for e in events)
    assert Client().get("/integrations/calendar/wrong-token.ics").status_code == 404


def test_a_trigger_rule_calls_a_webhook_with_a_signed_payload(webhook_receiver):
    rule_create(
        actor=None,
        name="Tell the ERP",
        event="crm.organization.created",
        action="webhook",
        webhook_url=webhook_receiver.url,
        webhook_secret="rule-secret",
        variables={"name": "legal_name"},
    )
    organization_create(actor=UserFactory.create(), legal_name="Baltic Logistics")
    Worker().run_once()

    assert TriggerFiring.objects.get().status == FiringStatus.DONE
    headers, body = webhook_receiver.requests[0]
    assert headers["X-Konvergo-Signature"] == _signed("rule-secret", body)
    sent = json.loads(body)
    assert sent["name"] == "Baltic Logistics"
    assert sent["event"]["name"] == "crm.organization.created"


@pytest.mark.django_db(transaction=True)
def test_imap_idle_reads_new_mail_the_moment_it_arrives(dovecot):
    """The watcher beside the worker holds an IDLE session; new mail wakes the worker, which
    reads it at once instead of at the next minute's poll."""
    from konvergo.integrations.services.mail_idle import mailboxes_idling, watch_mailboxes

    UserFactory.create(is_superuser=True)  # owns the leads that mail creates
    mailbox = _dovecot_mailbox(
        dovecot,
        creates="lead",
        last_polled_at=timezone.now(),  # just polled: the minute's poll would wait
    )
    stop, woken = threading.Event(), threading.Event()
    watcher = threading.Thread(target=watch_mailboxes, args=(stop, woken.set), daemon=True)
    watcher.start()
    try:
        deadline = time.monotonic() + 20
        while mailbox.pk not in mailboxes_idling() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert mailbox.pk in mailboxes_idling()
        assert not woken.is_set()

        imap_deliver(dovecot, _mail(subject="Urgent", sender="new@lead.test", body="Call me"))

        assert woken.wait(40)  # dovecot announces it while we idle
        mailbox.refresh_from_db()
        assert mailbox.last_polled_at is None  # due now
        Worker().run_once()
        assert EmailMessage.objects.get().subject == "Urgent"
    finally:
        stop.set()
        watcher.join(timeout=15)
    assert not watcher.is_alive()
