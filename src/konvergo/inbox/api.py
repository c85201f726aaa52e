"""The /api/v1/inbox part of the API: the signed-in user's inbox, as on the page.

Process tasks themselves (list with filters, claim, unclaim, delegate, return, complete) are at
/api/v1/tasks (processes/api.py); this answers "what do I have to do", across sources.
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Router, Schema

from konvergo.core.errors import NotAllowed
from konvergo.inbox.selectors import SECTIONS, Item, inbox_for
from konvergo.org.models import User

router = Router(tags=["inbox"])


class ItemOut(Schema):
    kind: str = Field(description="task, activity or ticket")
    id: UUID
    title: str
    url: str
    due_at: datetime | None
    priority: int
    context: str
    claimable: bool
    on_behalf_of: str
    overdue: bool


class InboxOut(Schema):
    section: str
    counts: dict[str, int]
    items: list[ItemOut]


def item_out(item: Item, now: datetime) -> ItemOut:
    return ItemOut(
        kind=item.kind,
        id=item.public_id,
        title=item.title,
        url=item.url,
        due_at=item.due_at,
        priority=item.priority,
        context=item.context,
        claimable=item.claimable,
        on_behalf_of=item.on_behalf_of,
        overdue=item.overdue(now),
    )


@router.get(
    "",
    response=InboxOut,
    summary="My inbox: one section, and the count of each",
    description="`section`: mine, groups, overdue, today or delegated.",
)
def my_inbox(
    request: HttpRequest,
    section: str = "mine",
) -> InboxOut:
    user = request.user
    if not isinstance(user, User):
        raise NotAllowed("Sign in first.")
    if section not in SECTIONS:
        section = "mine"
    inbox = inbox_for(user)
    return InboxOut(
        section=section,
        counts=inbox.counts(),
        items=[item_out(i, inbox.now) for i in inbox.section(section)],
    )
