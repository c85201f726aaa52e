"""Incoming e-mail: IMAP mailboxes polled by the worker (a sweep, each mailbox at most every
`POLL_SECONDS`). Each message is taken in once: the (mailbox, Message-ID) pair is unique and
the last UID seen is kept per mailbox, in the same transaction as what the message created, so
a crash or an IMAP server coming back never processes a message twice nor skips one.

A message is threaded to its ticket (In-Reply-To/References naming a message of the ticket, or
a subject token such as "[#123]"), else logged on the contact whose address sent it, else it
creates what the mailbox says: a ticket in its queue, a lead, or nothing but the log entry.
Its attachments are kept (on the ticket too).
"""

from __future__ import annotations

import contextlib
import logging
import re
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage as MimeMessage
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from imapclient import IMAPClient  # type: ignore[import-untyped, unused-ignore]

from konvergo.core.events import emit
from konvergo.core.jobs import register_sweep
from konvergo.crm.services.contacts import person_create
from konvergo.documents.services.documents import document_from_email
from konvergo.integrations.models import (
    DeadLetter,
    Direction,
    EmailAttachment,
    EmailMessage,
    EmailStatus,
    Mailbox,
    MailboxCreates,
)
from konvergo.integrations.services.common import Contact, alert_admins, contact_for_email
from konvergo.org.models import User
from konvergo.tickets.models import Ticket
from konvergo.tickets.services.tickets import attachment_add, comment_add, ticket_create

logger = logging.getLogger(__name__)

POLL_SECONDS = 60
BATCH = 50
TOKEN = re.compile(r"\[#(\d{1,9})\]")
MAX_ATTACHMENT_BYTES = 20 * 1024 * 1024


def _parse(raw: bytes) -> MimeMessage:
    # With policy.default the parser builds email.message.EmailMessage objects.
    message: MimeMessage = BytesParser(_class=MimeMessage, policy=policy.default).parsebytes(raw)
    return message


def _text(message: MimeMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        content = part.get_content()
    except (LookupError, ValueError):
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    return str(content)


def _attachments(message: MimeMessage) -> list[tuple[str, bytes, str]]:
    found = []
    for part in message.iter_attachments():
        payload = part.get_payload(decode=True)
        if not isinstance(payload, bytes) or len(payload) > MAX_ATTACHMENT_BYTES:
            continue
        name = part.get_filename() or "attachment"
        found.append((name[:255], payload, part.get_content_type()))
    return found


def _ids(value: str) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def _thread(in_reply_to: str, references: str, subject: str) -> Ticket | None:
    ids = _ids(in_reply_to) + _ids(references)
    if ids:
        known = (
            EmailMessage.objects.filter(message_id__in=ids, ticket__isnull=False)
            .select_related("ticket")
            .order_by("-created_at")
            .first()
        )
        if known is not None:
            return known.ticket
    token = TOKEN.search(subject or "")
    if token:
        return Ticket.objects.filter(number=int(token.group(1))).first()
    return None


def email_receive(*, mailbox: Mailbox, raw: bytes, uid: int | None = None) -> EmailMessage | None:
    """Take in one message; None if this mailbox has it already."""
    message = _parse(raw)
    message_id = str(message.get("Message-ID") or "").strip()[:255]
    if not message_id:
        message_id = f"<uid-{mailbox.uid_validity}-{uid}@{mailbox.public_id}>"
    if EmailMessage.objects.filter(mailbox=mailbox, message_id=message_id).exists():
        return None
    name, sender = parseaddr(str(message.get("From") or ""))
    sender = sender.lower()
    subject = " ".join(str(message.get("Subject") or "").split())[:255]
    body = _text(message)
    in_reply_to = str(message.get("In-Reply-To") or "")[:255]
    references = str(message.get("References") or "")
    to = ", ".join(a for _n, a in getaddresses([str(message.get("To") or "")]))
    contact = contact_for_email(sender)
    files = _attachments(message)
    try:
        with transaction.atomic():
            ticket = _thread(in_reply_to, references, subject)
            logged = EmailMessage.objects.create(
                direction=Direction.IN,
                status=EmailStatus.RECEIVED,
                mailbox=mailbox,
                imap_uid=uid,
                message_id=message_id,
                in_reply_to=in_reply_to,
                references=references,
                from_address=sender,
                to=to,
                subject=subject,
                body=body,
                organization=contact.organization or (ticket.organization if ticket else None),
                person=contact.person or (ticket.requester if ticket else None),
                ticket=ticket,
            )
            stored = [
                EmailAttachment.objects.create(
                    message=logged,
                    file=ContentFile(content, name=filename),
                    name=filename,
                    content_type=content_type,
                    size=len(content),
                )
                for filename, content, content_type in files
            ]
            uploads = [ContentFile(content, name=filename) for filename, content, _t in files]
            if ticket is not None:
                comment_add(
                    actor=None,
                    ticket=ticket,
                    body=body or subject,
                    is_public=True,
                    from_customer=True,
                    author_name=name or sender,
                    files=uploads,
                )
            elif not contact and mailbox.creates != MailboxCreates.NOTHING:
                contact, ticket = _create(mailbox, name, sender, subject, body, uploads)
                logged.organization, logged.person, logged.ticket = (
                    contact.organization,
                    contact.person,
                    ticket,
                )
                logged.save(update_fields=["organization", "person", "ticket"])
            elif contact and mailbox.creates == MailboxCreates.TICKET and mailbox.queue:
                # A known client writing anew: a new ticket for them.
                _contact, ticket = _create(mailbox, name, sender, subject, body, uploads, contact)
                logged.ticket = ticket
                logged.save(update_fields=["ticket"])
            _keep_as_documents(mailbox, logged, files)
            if uid is not None and uid > mailbox.last_uid:
                Mailbox.objects.filter(pk=mailbox.pk, last_uid__lt=uid).update(last_uid=uid)
            emit(
                "integrations.email.received",
                subject=logged,
                payload={
                    "from": sender,
                    "subject": subject,
                    "mailbox": mailbox.name,
                    "ticket": logged.ticket.number if logged.ticket else None,
                    "owner": contact.owner.username if contact.owner else "",
                    "organization": str(logged.organization.public_id)
                    if logged.organization
                    else "",
                    "person": str(logged.person.public_id) if logged.person else "",
                    "attachments": len(stored),
                },
            )
    except IntegrityError:
        # Another worker took it in at the same moment.
        return None
    return logged


def _keep_as_documents(
    mailbox: Mailbox, logged: EmailMessage, files: list[tuple[str, bytes, str]]
) -> None:
    """Attachments become documents of the ticket or client the message landed on (those the
    document checks refuse stay only on the e-mail and the ticket)."""
    if not files or (logged.ticket is None and logged.organization is None and not logged.person):
        return
    owner = (
        mailbox.owner
        or (logged.ticket.assignee if logged.ticket else None)
        or (mailbox.queue.team.lead if mailbox.queue and mailbox.queue.team else None)
        or User.objects.filter(is_active=True).order_by("-is_superuser", "pk").first()
    )
    if owner is None:
        return
    for filename, content, _content_type in files:
        document_from_email(
            file_name=filename,
            data=content,
            owner=owner,
            subject=logged.subject,
            ticket=logged.ticket,
            organization=logged.organization,
            person=logged.person,
        )


def _create(
    mailbox: Mailbox,
    name: str,
    sender: str,
    subject: str,
    body: str,
    uploads: list[ContentFile[bytes]],
    contact: Contact | None = None,
) -> tuple[Contact, Ticket | None]:
    if contact is None or not contact:
        owner = mailbox.owner or (
            mailbox.queue.team.lead if mailbox.queue and mailbox.queue.team else None
        )
        if owner is None:
            owner = User.objects.filter(is_active=True).order_by("-is_superuser", "pk").first()
        first, _sep, last = (name or sender.split("@")[0]).rpartition(" ")
        person = person_create(
            actor=owner,  # type: ignore[arg-type]
            first_name=first,
            last_name=last or name or sender,
            emails=[{"address": sender}],
            notes=_("From an e-mail to %(mailbox)s") % {"mailbox": mailbox.name}
            if mailbox.creates == MailboxCreates.LEAD
            else "",
        )
        contact = Contact(person=person)
    ticket = None
    if mailbox.creates == MailboxCreates.TICKET and mailbox.queue is not None:
        ticket = ticket_create(
            actor=None,
            subject=subject or _("(no subject)"),
            description=body,
            queue=mailbox.queue,
            requester=contact.person,
            organization=contact.organization,
        )
        for upload in uploads:
            attachment_add(actor=None, ticket=ticket, upload=upload, is_public=True)
    return contact, ticket


# --- polling -----------------------------------------------------------------------------------


def connect(mailbox: Mailbox) -> IMAPClient:
    client = IMAPClient(mailbox.host, port=mailbox.port, ssl=mailbox.use_ssl, timeout=30)
    client.login(mailbox.username, mailbox.password)
    return client


def mailbox_poll(mailbox: Mailbox) -> int:
    """Fetch what is new in one mailbox; returns how many messages were taken in."""
    taken = 0
    try:
        client = connect(mailbox)
        try:
            folder = client.select_folder(mailbox.folder, readonly=True)
            validity = int(folder.get(b"UIDVALIDITY", 0))
            if validity != mailbox.uid_validity:
                # The server renumbered the folder: look at everything again; Message-IDs
                # already taken in are still recognised.
                mailbox.uid_validity = validity
                mailbox.last_uid = 0
                Mailbox.objects.filter(pk=mailbox.pk).update(uid_validity=validity, last_uid=0)
            uids = [
                u
                for u in client.search(["UID", f"{mailbox.last_uid + 1}:*"])
                if u > mailbox.last_uid
            ]
            for uid in sorted(uids)[:BATCH]:
                fetched = client.fetch([uid], ["RFC822"]).get(uid, {})
                raw = fetched.get(b"RFC822")
                if not isinstance(raw, bytes):
                    continue
                if _receive_or_keep(mailbox, raw, uid):
                    taken += 1
                mailbox.last_uid = max(mailbox.last_uid, uid)
                Mailbox.objects.filter(pk=mailbox.pk, last_uid__lt=uid).update(last_uid=uid)
        finally:
            with contextlib.suppress(Exception):  # the connection is going away anyway
                client.logout()
    except Exception as exc:
        _failed(mailbox, exc)
        return taken
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=timezone.now(), failing_since=None, last_error=""
    )
    return taken


def _receive_or_keep(mailbox: Mailbox, raw: bytes, uid: int) -> bool:
    """Take in one message; one that cannot be taken in is kept whole as a dead letter (and
    the poll moves on), so a single bad message never blocks the mailbox nor gets lost."""
    try:
        return email_receive(mailbox=mailbox, raw=raw, uid=uid) is not None
    except Exception as exc:
        logger.exception("Message %s of mailbox %s cannot be taken in", uid, mailbox.name)
        with transaction.atomic():
            DeadLetter.objects.create(
                source=f"imap:{mailbox.name}"[:60],
                headers={"uid": uid},
                body=raw.decode("utf-8", "replace")[:1_000_000],
                error=f"{exc.__class__.__name__}: {exc}"[:5000],
            )
        return False


def _failed(mailbox: Mailbox, exc: Exception) -> None:
    logger.warning("Mailbox %s cannot be read: %s", mailbox.name, exc)
    now = timezone.now()
    Mailbox.objects.filter(pk=mailbox.pk).update(
        last_polled_at=now, last_error=f"{exc.__class__.__name__}: {exc}"[:2000]
    )
    Mailbox.objects.filter(pk=mailbox.pk, failing_since__isnull=True).update(failing_since=now)
    with translation.override(settings.LANGUAGE_CODE):
        alert_admins(
            title=_("Mailbox %(name)s cannot be read") % {"name": mailbox.name},
            body=f"{exc.__class__.__name__}: {exc}",
            url="/integrations/",
        )


def mailboxes_due(now: datetime) -> list[Mailbox]:
    since = now - timedelta(seconds=POLL_SECONDS)
    return [
        m
        for m in Mailbox.objects.filter(is_active=True).order_by("pk")
        if m.last_polled_at is None or m.last_polled_at <= since
    ]


@register_sweep("integrations.poll_mailboxes")
def poll_mailboxes(now: datetime) -> int:
    return sum(mailbox_poll(mailbox) for mailbox in mailboxes_due(now))
