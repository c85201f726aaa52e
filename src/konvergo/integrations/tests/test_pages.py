"""Integrations pages: configuration lists and forms (a secret left empty keeps its value, a
channel shows its endpoint and secret), the overview, e-mails sent from the compose page, dead
letters and deliveries; users without the permission get 403 and change nothing."""

from __future__ import annotations

import pytest
from django.core import mail
from django.test import Client

from konvergo.core.jobs import Worker
from konvergo.integrations.models import (
    EmailMessage,
    InboundChannel,
    Mailbox,
    WebhookSubscription,
)
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin() -> Client:
    client = Client()
    client.force_login(UserFactory.create(is_superuser=True))
    return client


def test_a_mailbox_is_set_up_and_its_password_kept_when_left_empty(admin):
    values = {
        "name": "Support",
        "host": "imap.example.test",
        "port": "993",
        "use_ssl": "on",
        "username": "support",
        "password": "s3cret",
        "folder": "INBOX",
        "creates": "ticket",
        "is_active": "on",
    }
    assert admin.post("/integrations/setup/mailboxes/new/", values).status_code == 302
    mailbox = Mailbox.objects.get()
    assert mailbox.password == "s3cret"
    page = admin.get(f"/integrations/setup/mailboxes/{mailbox.public_id}/")
    assert "s3cret" not in page.content.decode()

    edited = admin.post(
        f"/integrations/setup/mailboxes/{mailbox.public_id}/",
        {**values, "password": "", "name": "Help desk"},
    )
    assert edited.status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.name, mailbox.password) == ("Help desk", "s3cret")
    assert "Help desk" in admin.get("/integrations/setup/mailboxes/").content.decode()


def test_a_channel_shows_its_endpoint_and_secret(admin):
    admin.post(
        "/integrations/setup/channels/new/", {"kind": "telephony", "name": "PBX", "is_active": "on"}
    )
    channel = InboundChannel.objects.get()
    page = admin.get(f"/integrations/setup/channels/{channel.public_id}/").content.decode()
    assert f"/integrations/in/telephony/{channel.public_id}/" in page
    assert channel.secret in page


def test_a_webhook_subscription_is_validated_by_its_service(admin):
    bad = admin.post(
        "/integrations/setup/webhooks/new/",
        {"name": "ERP", "url": "https://erp.test/hook", "events": "", "is_active": "on"},
    )
    assert bad.status_code == 200
    assert not WebhookSubscription.objects.exists()
    good = admin.post(
        "/integrations/setup/webhooks/new/",
        {
            "name": "ERP",
            "url": "https://erp.test/hook",
            "events": "crm.deal.*, tickets.*",
            "is_active": "on",
        },
    )
    assert good.status_code == 302
    assert WebhookSubscription.objects.get().events == ["crm.deal.*", "tickets.*"]
    assert "ERP" in admin.get("/integrations/").content.decode()


def test_a_user_sends_an_email_with_an_attachment_from_the_compose_page(admin):
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = admin.post(
        "/integrations/emails/new/",
        {
            "to": "erika@customer.test",
            "subject": "Your offer",
            "body": "Attached.",
            "attachment": SimpleUploadedFile("offer.pdf", b"%PDF", content_type="application/pdf"),
        },
    )
    assert response.status_code == 302
    Worker().run_once()
    assert mail.outbox[0].attachments[0][0] == "offer.pdf"
    message = EmailMessage.objects.get()
    page = admin.get(f"/integrations/emails/{message.public_id}/").content.decode()
    assert "Your offer" in page and "offer.pdf" in page
    assert "Your offer" in admin.get("/integrations/emails/").content.decode()


def test_pages_refuse_users_without_the_permission():
    client = Client()
    client.force_login(UserFactory.create())
    for url in (
        "/integrations/",
        "/integrations/emails/",
        "/integrations/emails/new/",
        "/integrations/webhooks/",
        "/integrations/dead-letters/",
        "/integrations/setup/mailboxes/",
        "/integrations/setup/mailboxes/new/",
    ):
        assert client.get(url).status_code == 403, url
    client.post("/integrations/setup/channels/new/", {"kind": "sms", "name": "x"})
    assert not InboundChannel.objects.exists()
    assert client.get("/integrations/setup/nothing/").status_code == 404


def test_doctor_names_failing_mailboxes_failed_mail_and_switched_off_webhooks():
    from django.utils import timezone

    from konvergo.integrations.doctor_checks import check_integrations

    assert [f.ok for f in check_integrations()] == [True]
    Mailbox.objects.create(
        name="Support", host="x", username="u", failing_since=timezone.now(), last_error="refused"
    )
    EmailMessage.objects.create(direction="out", status="failed", message_id="<1@x>", to="a@b.c")
    WebhookSubscription.objects.create(
        name="ERP",
        url="https://erp.test",
        events=["*"],
        is_active=False,
        disabled_at=timezone.now(),
    )
    messages = [f.message for f in check_integrations() if not f.ok]
    assert messages == [
        "mailbox(es) cannot be read: Support (refused)",
        "1 e-mail(s) could not be sent; send them again",
        "webhooks switched off: ERP",
    ]
