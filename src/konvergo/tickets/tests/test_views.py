"""Service desk pages: permission first, what the agent sees (SLA badges, the client's
dossier), refusals shown without saving, the customer's secret link."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from konvergo.crm.tests.factories import OrganizationFactory
from konvergo.org.models import User
from konvergo.org.tests.factories import UserFactory
from konvergo.tickets.models import SlaPolicy, Ticket
from konvergo.tickets.services.tickets import ticket_create, ticket_update
from konvergo.tickets.tests.factories import desk

pytestmark = pytest.mark.django_db


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_queue_view_lists_open_tickets_with_sla_badges() -> None:
    d = desk()
    ticket_create(
        actor=None, subject="Server down", queue=d.queue, priority=d.priorities["P1"],
        assignee=d.agents[0],
    )  # fmt: skip

    page = signed_in(d.agents[0]).get(reverse("tickets:list"), {"queue": str(d.queue.public_id)})

    assert page.status_code == 200
    html = page.content.decode()
    assert "Server down" in html
    assert 'data-testid="sla-badge"' in html


def test_pages_refuse_users_without_the_permission_and_change_nothing() -> None:
    d = desk()
    ticket = ticket_create(actor=None, subject="Secret", queue=d.queue)
    stranger = signed_in(UserFactory.create())

    assert stranger.get(reverse("tickets:list")).status_code == 403
    assert stranger.get(reverse("tickets:detail", args=[ticket.public_id])).status_code == 403
    refused = stranger.post(
        reverse("tickets:transition", args=[ticket.public_id]), {"status": "open"}
    )
    assert refused.status_code == 403
    assert Ticket.objects.get().status == "new"


def test_the_ticket_page_shows_the_clients_dossier_beside_it() -> None:
    d = desk()
    customer = OrganizationFactory.create(legal_name="Acme GmbH", owner=d.agents[0])
    ticket = ticket_create(actor=None, subject="Invoice wrong", queue=d.queue,
                           organization=customer, assignee=d.agents[0])  # fmt: skip

    page = signed_in(d.head).get(reverse("tickets:detail", args=[ticket.public_id]))

    html = page.content.decode()
    assert page.status_code == 200
    assert reverse("crm:organization_detail", args=[customer.public_id]) in html
    assert reverse("crm:organization_timeline", args=[customer.public_id]) in html


def test_a_stale_edit_on_the_page_is_refused_with_a_message() -> None:
    d = desk()
    ticket = ticket_create(actor=None, subject="A", queue=d.queue, assignee=d.agents[0])
    stale = ticket.version
    ticket_update(actor=None, ticket=ticket, version=stale, subject="B")

    response = signed_in(d.agents[0]).post(
        reverse("tickets:edit", args=[ticket.public_id]),
        {
            "version": stale,
            "priority": d.priorities["P1"].pk,
            "assignee": d.agents[0].pk,
            "queue": d.queue.pk,
        },
        follow=True,
    )

    assert "was changed by someone else meanwhile" in response.content.decode()
    assert Ticket.objects.get().priority.key == "P4"


def test_the_customer_follows_and_answers_by_the_secret_link() -> None:
    d = desk()
    ticket = ticket_create(actor=None, subject="Where is my order", queue=d.queue)
    anonymous = Client()
    url = reverse("tickets:follow", args=[ticket.secret])

    answered = anonymous.post(url, {"body": "Order 4711"}, follow=True)

    assert answered.status_code == 200
    assert "Order 4711" in answered.content.decode()
    assert ticket.comments.get().from_customer is True
    assert anonymous.get(reverse("tickets:follow", args=["wrong"])).status_code == 404


def test_the_clients_tickets_appear_in_their_crm_dossier_timeline() -> None:
    d = desk()
    customer = OrganizationFactory.create(legal_name="Acme GmbH", owner=d.head)
    ticket = ticket_create(
        actor=None, subject="Invoice wrong", queue=d.queue, organization=customer
    )

    page = signed_in(d.head).get(reverse("crm:organization_timeline", args=[customer.public_id]))

    html = page.content.decode()
    assert f"Ticket #{ticket.number}: Invoice wrong (New)" in html
    assert reverse("tickets:detail", args=[ticket.public_id]) in html


def test_the_setup_page_refuses_a_zero_target_with_the_services_message() -> None:
    d = desk(policies=False)
    client = signed_in(d.head)

    refused = client.post(
        reverse("tickets:setup"),
        {
            "add_policy": "1", "name": "Broken", "priority": d.priorities["P1"].pk,
            "first_response_minutes": 0, "next_response_minutes": 30, "resolution_minutes": 60,
        },
    )  # fmt: skip

    assert refused.status_code == 200
    assert "A target must be a positive number of minutes." in refused.content.decode()
    assert SlaPolicy.objects.count() == 0
    added = client.post(
        reverse("tickets:setup"),
        {"add_queue": "1", "name": "Second line", "reopen_window_days": 7},
    )
    assert added.status_code == 302
    assert "Second line" in client.get(reverse("tickets:setup")).content.decode()


def test_the_list_and_the_api_list_cost_the_same_queries_for_3_or_30_tickets() -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from konvergo.org.services import api_token_create

    d = desk()
    client = signed_in(d.head)
    headers = {"Authorization": f"Bearer {api_token_create(user=d.head).raw}"}

    def cost() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as page:
            assert client.get(reverse("tickets:list")).status_code == 200
        with CaptureQueriesContext(connection) as api:
            assert Client().get("/api/v1/tickets/", headers=headers).status_code == 200
        return len(page), len(api)

    for n in range(3):
        ticket_create(actor=None, subject=f"T{n}", queue=d.queue, assignee=d.agents[n % 2])
    cost()  # warm: the token's first use is recorded once
    few = cost()
    for n in range(27):
        ticket_create(actor=None, subject=f"U{n}", queue=d.queue, assignee=d.agents[n % 2])

    assert cost() == few


def test_the_sla_badge_says_overdue_after_hours_and_time_left_in_business_hours() -> None:
    import zoneinfo
    from datetime import datetime

    from konvergo.tickets.views import sla_badge

    berlin = zoneinfo.ZoneInfo("Europe/Berlin")
    d = desk()
    ticket = ticket_create(
        actor=None,
        subject="x",
        queue=d.queue,
        priority=d.priorities["P1"],
        now=datetime(2026, 3, 2, 15, tzinfo=berlin),
    )  # fmt: skip  (Monday 15:00, first response due 16:00)

    def label(hour: int, day: int = 2) -> str:
        badge = sla_badge(ticket, datetime(2026, 3, day, hour, tzinfo=berlin))
        return badge.label if badge else ""

    assert label(15) == "1 h 00 min left"
    assert label(20) == "overdue 1 h 00 min"  # 16-17 on Monday
    assert label(9, day=3) == "overdue 1 h 00 min"  # Tuesday 9:00, nothing worked yet
    ticket.first_response_due_at = datetime(2026, 3, 2, 17, tzinfo=berlin)
    assert label(20) == "overdue"  # fell due at closing time: no business time late yet


def test_attachments_download_for_agents_and_public_ones_by_the_customer_link() -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    d = desk()
    ticket = ticket_create(actor=None, subject="x", queue=d.queue, assignee=d.agents[0])
    agent_client = signed_in(d.agents[0])
    agent_client.post(
        reverse("tickets:comment", args=[ticket.public_id]),
        {"body": "Here is the manual", "public": "on",
         "files": [SimpleUploadedFile("manual.txt", b"read me")]},
    )  # fmt: skip
    agent_client.post(
        reverse("tickets:comment", args=[ticket.public_id]),
        {"body": "Internal log", "files": [SimpleUploadedFile("log.txt", b"secret")]},
    )
    public, internal = ticket.attachments.order_by("created_at", "id")

    download = agent_client.get(reverse("tickets:attachment", args=[internal.public_id]))
    assert download.status_code == 200
    assert download.getvalue() == b"secret"
    assert download["Content-Disposition"] == 'attachment; filename="log.txt"'
    anonymous = Client()
    assert (
        anonymous.get(reverse("tickets:attachment", args=[internal.public_id])).status_code == 302
    )
    follow = reverse("tickets:follow_download", args=[ticket.secret, public.public_id])
    assert anonymous.get(follow).status_code == 200
    hidden = reverse("tickets:follow_download", args=[ticket.secret, internal.public_id])
    assert anonymous.get(hidden).status_code == 404
    page = anonymous.get(reverse("tickets:follow", args=[ticket.secret])).content.decode()
    assert "manual.txt" in page and "log.txt" not in page and "Internal log" not in page


def test_bulk_assign_from_the_queue_view() -> None:
    d = desk()
    tickets = [ticket_create(actor=None, subject=f"T{n}", queue=d.queue) for n in range(3)]
    client = signed_in(d.head)

    response = client.post(
        reverse("tickets:bulk"),
        {
            "ticket": [str(t.public_id) for t in tickets[:2]], "action": "assign",
            "assignee": d.agents[1].pk, "next": "https://evil.example/",
        },
    )  # fmt: skip

    assert response.status_code == 302
    assert response["Location"] == reverse("tickets:list")
    assert list(Ticket.objects.order_by("pk").values_list("assignee", flat=True)) == [
        d.agents[1].pk,
        d.agents[1].pk,
        None,
    ]


def test_split_and_link_on_the_ticket_page() -> None:
    d = desk()
    ticket = ticket_create(actor=None, subject="Two problems", queue=d.queue)
    other = ticket_create(actor=None, subject="Related", queue=d.queue)
    client = signed_in(d.head)
    client.post(reverse("tickets:comment", args=[ticket.public_id]), {"body": "Printer"})
    client.post(reverse("tickets:comment", args=[ticket.public_id]), {"body": "Scanner"})
    scanner = ticket.comments.get(body="<p>Scanner</p>")

    split = client.post(
        reverse("tickets:split", args=[ticket.public_id]),
        {"subject": "Scanner broken", "comment": [str(scanner.public_id)]},
        follow=True,
    )
    linked = client.post(
        reverse("tickets:link", args=[ticket.public_id]),
        {"target": f"#{other.number}", "kind": "relates"},
        follow=True,
    )

    new = Ticket.objects.get(subject="Scanner broken")
    assert "split off" in split.content.decode()
    assert list(new.comments.values_list("body", flat=True)) == ["<p>Scanner</p>"]
    assert f"Linked to #{other.number}." in linked.content.decode()
    assert ticket.links_out.filter(target=other, kind="relates").exists()
