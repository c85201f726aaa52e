"""Event subscribers of the integrations app: outbound webhooks for every event, and agents'
public ticket replies mailed to the requester, threaded to the conversation."""

from __future__ import annotations

from django.utils.html import strip_tags

from konvergo.core.events import EventMessage, subscribe
from konvergo.crm.selectors import primary
from konvergo.integrations.models import EmailMessage
from konvergo.integrations.services.mail import email_send
from konvergo.integrations.services.webhooks import deliveries_for_event
from konvergo.tickets.models import Comment
from konvergo.triggers.subscribers import BUSINESS_EVENTS


# Outbound webhooks can subscribe to any event of the business apps (the events that trigger
# rules see, too).
@subscribe("integrations.webhooks", events=BUSINESS_EVENTS)
def queue_webhooks(message: EventMessage) -> None:
    deliveries_for_event(message)


@subscribe("integrations.mail_ticket_reply", events=["tickets.ticket.replied"])
def mail_ticket_reply(message: EventMessage) -> None:
    comment_id = str(message.payload.get("comment") or "")
    if not comment_id:
        return
    comment = (
        Comment.objects.select_related("ticket__requester", "author")
        .filter(public_id=comment_id, is_public=True, from_customer=False)
        .first()
    )
    requester = comment.ticket.requester if comment is not None else None
    if comment is None or requester is None:
        return
    ticket = comment.ticket
    address = primary(requester.emails.order_by("-is_primary", "pk"))
    if address is None:
        return
    thread = list(
        EmailMessage.objects.filter(ticket=ticket)
        .order_by("created_at", "pk")
        .values_list("message_id", flat=True)
    )
    subject = (
        ticket.subject if ticket.subject.lower().startswith("re:") else f"Re: {ticket.subject}"
    )
    email_send(
        actor=comment.author,
        to=address.address,
        subject=f"{subject} [{ticket.reference}]",
        body=strip_tags(comment.body),
        person=requester,
        organization=ticket.organization,
        ticket=ticket,
        in_reply_to=thread[-1] if thread else "",
        references=" ".join(thread[:-1][-10:]),
    )
