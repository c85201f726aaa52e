"""Outgoing e-mail: from processes (the `integrations.send_email` connector), from users, and
ticket replies. A message is written as QUEUED with its job in the caller's transaction, so a
rolled-back change sends nothing; the job sends it through Django's mail backend and marks it
SENT. A message already SENT is never sent again, and its Message-ID is fixed when it is
queued, so replies thread even if the SMTP server was down for a while.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.mail import EmailMultiAlternatives, make_msgid
from django.core.validators import validate_email
from django.db import transaction
from django.template import Context, Engine, TemplateSyntaxError
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from konvergo.core.errors import FieldErrors
from konvergo.crm.models import Organization, Person
from konvergo.integrations.models import (
    Direction,
    EmailAttachment,
    EmailMessage,
    EmailStatus,
    EmailTemplate,
)
from konvergo.integrations.services.common import alert_admins, contact_for_email, max_attempts
from konvergo.org.models import User

logger = logging.getLogger(__name__)

# Templates are written by administrators; Django's template language runs no Python and the
# variables are plain JSON values, so a template can only show what it is given.
_ENGINE = Engine(autoescape=False)
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Attachment:
    name: str
    content: bytes
    content_type: str = "application/octet-stream"


def document_attachments(documents: Iterable[Any]) -> list[Attachment]:
    """The latest version of each document, as e-mail attachments."""
    from konvergo.documents.services.documents import document_current_file

    return [Attachment(*document_current_file(document)) for document in documents]


def render_text(text: str, variables: Mapping[str, Any]) -> str:
    try:
        return _ENGINE.from_string(text).render(Context(dict(variables), autoescape=False))
    except TemplateSyntaxError as exc:
        raise FieldErrors({"template": [str(exc)]}) from None


def template_for(key: str, language: str) -> EmailTemplate:
    """The template in `language`, else in the default language, else in any language."""
    rows = list(EmailTemplate.objects.filter(key=key))
    if not rows:
        raise FieldErrors({"template": [_("There is no e-mail template %(key)s.") % {"key": key}]})
    by_language = {row.language: row for row in rows}
    return (
        by_language.get(language)
        or by_language.get((language or "").split("-")[0])
        or by_language.get(settings.LANGUAGE_CODE)
        or rows[0]
    )


def template_render(key: str, language: str, variables: Mapping[str, Any]) -> tuple[str, str]:
    template = template_for(key, language)
    subject = " ".join(render_text(template.subject, variables).split())
    return subject, render_text(template.body, variables)


def template_save(*, key: str, language: str, subject: str, body: str) -> EmailTemplate:
    errors: dict[str, list[str]] = {}
    if language not in dict(settings.LANGUAGES):
        errors["language"] = [_("Choose one of the languages of Konvergo.")]
    for name, text in (("subject", subject), ("body", body)):
        if not text.strip():
            errors[name] = [_("This field is required.")]
        else:
            try:
                _ENGINE.from_string(text)
            except TemplateSyntaxError as exc:
                errors[name] = [str(exc)]
    if errors:
        raise FieldErrors(errors)
    template, _created = EmailTemplate.objects.update_or_create(
        key=key, language=language, defaults={"subject": subject, "body": body}
    )
    return template


def _addresses(value: str | Iterable[str], field: str, errors: dict[str, list[str]]) -> list[str]:
    items = [value] if isinstance(value, str) else list(value)
    result = []
    for item in items:
        for address in str(item).replace(";", ",").split(","):
            address = address.strip()
            if not address:
                continue
            try:
                validate_email(address)
            except Exception:
                errors.setdefault(field, []).append(
                    _("%(value)s is not a valid e-mail address.") % {"value": address}
                )
                continue
            result.append(address)
    return result


def email_send(
    *,
    actor: User | None,
    to: str | Iterable[str],
    subject: str = "",
    body: str = "",
    template: str = "",
    language: str = "",
    variables: Mapping[str, Any] | None = None,
    cc: str | Iterable[str] = (),
    attachments: Iterable[Attachment] = (),
    organization: Organization | None = None,
    person: Person | None = None,
    ticket: Any = None,
    in_reply_to: str = "",
    references: str = "",
    ics: str = "",
) -> EmailMessage:
    """Queue an e-mail (sent by the worker) and log it on the client's timeline."""
    errors: dict[str, list[str]] = {}
    recipients = _addresses(to, "to", errors)
    copies = _addresses(cc, "cc", errors)
    if not recipients and "to" not in errors:
        errors["to"] = [_("Name at least one recipient.")]
    if template:
        subject, body = template_render(template, language, variables or {})
    elif variables:
        subject, body = render_text(subject, variables), render_text(body, variables)
    if not subject.strip():
        errors.setdefault("subject", []).append(_("Give the e-mail a subject."))
    files = list(attachments)
    for item in files:
        if len(item.content) > MAX_ATTACHMENT_BYTES:
            errors.setdefault("attachments", []).append(
                _("%(name)s is larger than 20 MB.") % {"name": item.name}
            )
    if errors:
        raise FieldErrors(errors)
    if organization is None and person is None:
        contact = contact_for_email(recipients[0])
        organization, person = contact.organization, contact.person
    from konvergo.integrations.tasks import send_email

    with transaction.atomic():
        message = EmailMessage.objects.create(
            direction=Direction.OUT,
            status=EmailStatus.QUEUED,
            message_id=make_msgid(domain=_domain()),
            in_reply_to=in_reply_to,
            references=references,
            from_address=settings.DEFAULT_FROM_EMAIL,
            to=", ".join(recipients),
            cc=", ".join(copies),
            subject=subject.strip()[:255],
            body=body,
            organization=organization,
            person=person,
            ticket=ticket,
            sent_by=actor if getattr(actor, "pk", None) else None,
            ics=ics,
        )
        for item in files:
            EmailAttachment.objects.create(
                message=message,
                file=ContentFile(item.content, name=item.name),
                name=item.name[:255],
                content_type=item.content_type,
                size=len(item.content),
            )
        send_email.enqueue(message.pk)
    return message


def _domain() -> str:
    sender = settings.DEFAULT_FROM_EMAIL
    address = sender.rsplit("<", 1)[-1].rstrip(">")
    return address.rsplit("@", 1)[-1] or "konvergo.localhost"


def _mime(message: EmailMessage) -> EmailMultiAlternatives:
    headers = {"Message-ID": message.message_id}
    if message.in_reply_to:
        headers["In-Reply-To"] = message.in_reply_to
        headers["References"] = (message.references + " " + message.in_reply_to).strip()
    mail = EmailMultiAlternatives(
        subject=message.subject,
        body=message.body,
        from_email=message.from_address,
        to=[a.strip() for a in message.to.split(",") if a.strip()],
        cc=[a.strip() for a in message.cc.split(",") if a.strip()],
        headers=headers,
    )
    for attachment in message.attachments.all():
        with attachment.file.open("rb") as handle:
            mail.attach(attachment.name, handle.read(), attachment.content_type or None)
    if message.ics:
        mail.attach("invite.ics", message.ics, "text/calendar; method=REQUEST; charset=utf-8")
    return mail


def email_deliver(*, message_id: int) -> None:
    """Send one queued message (the job). A failure is recorded and re-raised so the worker
    retries with backoff; after the last attempt the message is FAILED and admins are alerted.
    The row stays locked while it is sent, so two workers never send it twice."""
    failure: Exception | None = None
    with transaction.atomic():
        message = EmailMessage.objects.select_for_update().filter(pk=message_id).first()
        if message is None or message.status != EmailStatus.QUEUED:
            return
        message.attempts += 1
        try:
            _mime(message).send(fail_silently=False)
        except Exception as exc:
            failure = exc
            message.error = f"{exc.__class__.__name__}: {exc}"[:5000]
            if message.attempts >= max_attempts():
                message.status = EmailStatus.FAILED
            with translation.override(settings.LANGUAGE_CODE):
                alert_admins(
                    title=_("E-mail cannot be sent: the mail server does not answer"),
                    body=message.error,
                    url="/integrations/emails/",
                )
        else:
            message.status = EmailStatus.SENT
            message.sent_at = timezone.now()
            message.error = ""
        message.save(update_fields=["attempts", "error", "status", "sent_at", "updated_at"])
    if failure is not None and message.status == EmailStatus.QUEUED:
        raise failure


def email_retry(*, message: EmailMessage) -> EmailMessage:
    """Queue a FAILED message again (after the mail server is back); the same Message-ID, so
    the conversation still threads. Anything else is left alone."""
    from konvergo.integrations.tasks import send_email

    with transaction.atomic():
        updated = EmailMessage.objects.filter(pk=message.pk, status=EmailStatus.FAILED).update(
            status=EmailStatus.QUEUED, attempts=0
        )
        if not updated:
            raise FieldErrors({"status": [_("Only an e-mail that failed can be sent again.")]})
        send_email.enqueue(message.pk)
    message.refresh_from_db()
    return message


def email_ensure_template(*, key: str, texts: Mapping[str, tuple[str, str]]) -> None:
    """Create the texts of a template that are missing (demo and defaults)."""
    for language, (subject, body) in texts.items():
        EmailTemplate.objects.get_or_create(
            key=key, language=language, defaults={"subject": subject, "body": body}
        )
