"""Background jobs of the integrations app: thin, take ids, call a service, safe to re-run."""

from __future__ import annotations

from django_tasks import task


@task()
def send_email(message_id: int) -> None:
    from konvergo.integrations.services.mail import email_deliver

    email_deliver(message_id=message_id)


@task()
def send_sms(sms_id: int) -> None:
    from konvergo.integrations.services.sms import sms_deliver

    sms_deliver(sms_id=sms_id)


@task()
def deliver_webhook(delivery_id: int) -> None:
    from konvergo.integrations.services.webhooks import webhook_deliver

    webhook_deliver(delivery_id=delivery_id)
