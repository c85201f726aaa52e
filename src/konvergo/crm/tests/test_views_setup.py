"""The campaign pages (list, form with its segment, members, fill, status by htmx, export) and
the administration of custom fields.

Every page is checked permitted and denied; a denied POST also leaves the data unchanged."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from konvergo.crm.models import Campaign, CampaignMember, CustomField, Organization, Person
from konvergo.crm.services.campaigns import (
    campaign_create,
    campaign_fill_from_segment,
    campaign_member_set_status,
)
from konvergo.crm.services.custom_fields import custom_field_create
from konvergo.crm.tests.factories_setup import crm_user, make_organization, make_person
from konvergo.org.models import User
from konvergo.org.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

DIRECTORY = ("crm.view_person", "crm.view_organization")
CAMPAIGN_ALL = tuple(f"crm.{a}_campaign" for a in ("view", "add", "change", "delete"))
FIELD_ALL = tuple(f"crm.{a}_customfield" for a in ("view", "add", "change", "delete"))
HTMX = {"HX-Request": "true"}


def signed_in(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


def html_of(response: Any) -> str:
    return str(response.content.decode())


def snapshot(*models: type[Model]) -> dict[str, list[dict[str, Any]]]:
    return {
        model.__name__: list(model._default_manager.order_by("pk").values()) for model in models
    }


EVERYTHING = (Campaign, CampaignMember, CustomField, Person, Organization)


@pytest.fixture
def marketer() -> User:
    return crm_user(*DIRECTORY, *CAMPAIGN_ALL, username="marketer", first_name="Mia")


@pytest.fixture
def viewer() -> User:
    return crm_user(*DIRECTORY, "crm.view_campaign", "crm.view_customfield", username="viewer")


@pytest.fixture
def admin() -> User:
    return crm_user(*FIELD_ALL, username="fieldadmin")


@pytest.fixture
def people(marketer) -> dict[str, Person]:
    customer = make_organization(marketer, "Wisła Software S.A.", status="customer", tags=["VIP"])
    prospect = make_organization(marketer, "Nordlicht Energie AG", status="prospect")
    return {
        "krzysztof": make_person(
            marketer,
            "Krzysztof",
            "Lewandowski",
            organization=customer,
            emails=["k.lewandowski@wislasoftware.pl"],
            phones=["+48603456789"],
            tags=["newsletter"],
        ),
        "magdalena": make_person(marketer, "Magdalena", "Wójcik", organization=customer),
        "petra": make_person(
            marketer,
            "Petra",
            "Klein",
            organization=prospect,
            emails=["petra.klein@nordlicht-energie.de"],
        ),
    }


@pytest.fixture
def campaign(marketer, people) -> Campaign:
    found = campaign_create(
        actor=marketer,
        name="Spring fair",
        description="Invitations",
        segment={"organization_status": ["customer"]},
    )
    campaign_fill_from_segment(campaign=found)
    return found


def member_of(campaign: Campaign, person: Person) -> CampaignMember:
    return CampaignMember.objects.get(campaign=campaign, person=person)


def campaign_post(**values: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Autumn newsletter",
        "description": "Quarterly news",
        "starts_on": "2026-09-01",
        "ends_on": "2026-09-30",
        "segment_q": "",
        "segment_tags": "",
        "segment_organization_tags": "",
        "segment_countries": "",
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


# --- every page renders; the menu ---------------------------------------------------------------


def test_every_page_renders(client, marketer, admin, campaign) -> None:
    field = custom_field_create(target="person", key="size", label="Size", field_type="text")
    signed_in(client, marketer)
    for url in [
        "/crm/campaigns/",
        "/crm/campaigns/new/",
        f"/crm/campaigns/{campaign.public_id}/",
        f"/crm/campaigns/{campaign.public_id}/edit/",
        f"/crm/campaigns/{campaign.public_id}/delete/",
    ]:
        assert client.get(url).status_code == 200, url
    signed_in(client, admin)
    for url in [
        "/crm/custom-fields/",
        "/crm/custom-fields/?target=deal",
        "/crm/custom-fields/new/?target=person",
        f"/crm/custom-fields/{field.public_id}/edit/",
        f"/crm/custom-fields/{field.public_id}/delete/",
    ]:
        assert client.get(url).status_code == 200, url


def test_the_menu_shows_campaigns_and_custom_fields_by_permission(client, marketer, admin) -> None:
    signed_in(client, marketer)
    html = html_of(client.get("/"))
    assert 'href="/crm/campaigns/"' in html
    assert "/crm/custom-fields/" not in html
    signed_in(client, admin)
    html = html_of(client.get("/"))
    assert 'id="kv-admin-menu"' in html and 'href="/crm/custom-fields/"' in html
    assert "/crm/campaigns/" not in html
    assert 'href="/manage/"' not in html  # no organisation section to list
    only_campaigns = crm_user("crm.view_campaign")
    signed_in(client, only_campaigns)
    html = html_of(client.get("/"))
    assert 'id="kv-clients-menu"' in html and 'href="/crm/campaigns/"' in html
    assert "kv-admin-menu" not in html
    signed_in(client, UserFactory.create())
    html = html_of(client.get("/"))
    assert "/crm/campaigns/" not in html and "/crm/custom-fields/" not in html


# --- permissions ---------------------------------------------------------------------------------


def test_pages_refuse_users_without_the_permission(client, campaign) -> None:
    member = CampaignMember.objects.filter(campaign=campaign).first()
    assert member is not None
    field = custom_field_create(target="deal", key="region", label="Region", field_type="text")
    urls = [
        "/crm/campaigns/",
        "/crm/campaigns/new/",
        f"/crm/campaigns/{campaign.public_id}/",
        f"/crm/campaigns/{campaign.public_id}/edit/",
        f"/crm/campaigns/{campaign.public_id}/delete/",
        f"/crm/campaigns/{campaign.public_id}/export.csv",
        f"/crm/campaigns/{campaign.public_id}/export.xlsx",
        "/crm/custom-fields/",
        "/crm/custom-fields/new/",
        f"/crm/custom-fields/{field.public_id}/edit/",
        f"/crm/custom-fields/{field.public_id}/delete/",
    ]
    for url in urls:
        assert client.get(url).status_code == 302, url  # to the sign-in page
    signed_in(client, UserFactory.create())
    for url in urls:
        response = client.get(url)
        assert response.status_code == 403, url
        assert "You may not" in html_of(response), url


def test_denied_posts_change_nothing(client, viewer, campaign, people) -> None:
    field = custom_field_create(target="person", key="size", label="Size", field_type="text")
    member = member_of(campaign, people["krzysztof"])
    before = snapshot(*EVERYTHING)
    signed_in(client, viewer)
    posts = [
        ("/crm/campaigns/new/", campaign_post()),
        (f"/crm/campaigns/{campaign.public_id}/edit/", campaign_post(name="Renamed")),
        (f"/crm/campaigns/{campaign.public_id}/delete/", {}),
        (f"/crm/campaigns/{campaign.public_id}/fill/", {}),
        (
            f"/crm/campaigns/{campaign.public_id}/members/{member.public_id}/status/",
            {f"m{member.public_id.hex[:12]}-status": "converted"},
        ),
        (
            "/crm/custom-fields/new/",
            {"target": "person", "key": "tier", "label": "Tier", "field_type": "text", "order": 0},
        ),
        (f"/crm/custom-fields/{field.public_id}/edit/", {"label": "Renamed", "order": 1}),
        (f"/crm/custom-fields/{field.public_id}/delete/", {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
        assert client.post(url, data, headers=HTMX).status_code == 403, url
    assert snapshot(*EVERYTHING) == before


def test_posts_without_the_csrf_token_are_refused(marketer, admin, campaign) -> None:
    before = snapshot(*EVERYTHING)
    client = Client(enforce_csrf_checks=True)
    client.force_login(marketer)
    assert client.post("/crm/campaigns/new/", campaign_post()).status_code == 403
    assert client.post(f"/crm/campaigns/{campaign.public_id}/fill/").status_code == 403
    assert client.post(f"/crm/campaigns/{campaign.public_id}/delete/").status_code == 403
    client.force_login(admin)
    response = client.post(
        "/crm/custom-fields/new/",
        {"target": "person", "key": "tier", "label": "Tier", "field_type": "text", "order": 0},
    )
    assert response.status_code == 403
    assert snapshot(*EVERYTHING) == before


def test_a_campaign_outside_the_scope_is_not_found(client, marketer, campaign) -> None:
    own = crm_user(*DIRECTORY, *CAMPAIGN_ALL, scope="own")
    mine = campaign_create(actor=own, name="My own campaign")
    signed_in(client, own)
    listed = html_of(client.get("/crm/campaigns/"))
    assert "My own campaign" in listed and "Spring fair" not in listed
    for url in [
        f"/crm/campaigns/{campaign.public_id}/",
        f"/crm/campaigns/{campaign.public_id}/edit/",
        f"/crm/campaigns/{campaign.public_id}/export.csv",
    ]:
        assert client.get(url).status_code == 404, url
    before = snapshot(*EVERYTHING)
    assert client.post(f"/crm/campaigns/{campaign.public_id}/fill/").status_code == 404
    assert client.post(f"/crm/campaigns/{campaign.public_id}/delete/").status_code == 404
    assert snapshot(*EVERYTHING) == before
    assert client.get(f"/crm/campaigns/{mine.public_id}/").status_code == 200


def test_members_need_the_permission_to_view_persons(client, campaign) -> None:
    blind = crm_user("crm.view_campaign", "crm.change_campaign")
    signed_in(client, blind)
    html = html_of(client.get(f"/crm/campaigns/{campaign.public_id}/"))
    assert "You may not view persons" in html
    assert "Lewandowski" not in html
    assert client.get(f"/crm/campaigns/{campaign.public_id}/export.csv").status_code == 403
    member = CampaignMember.objects.filter(campaign=campaign).first()
    assert member is not None
    response = client.post(
        f"/crm/campaigns/{campaign.public_id}/members/{member.public_id}/status/",
        {f"m{member.public_id.hex[:12]}-status": "converted"},
    )
    assert response.status_code == 403
    member.refresh_from_db()
    assert member.status == "planned"


# --- the campaign list ---------------------------------------------------------------------------


def test_the_list_searches_and_pages(client, marketer) -> None:
    for n in range(27):
        campaign_create(actor=marketer, name=f"Campaign {n:02d}", description=f"wave {n % 2}")
    signed_in(client, marketer)
    first = html_of(client.get("/crm/campaigns/"))
    assert "27 campaigns" in first and "Page 1 of 2" in first
    assert first.count('data-label="Members"') == 25
    second = html_of(client.get("/crm/campaigns/", {"page": 2}))
    assert second.count('data-label="Members"') == 2
    found = html_of(client.get("/crm/campaigns/", {"q": "campaign 1"}))
    assert "10 campaigns" in found  # 10 to 19
    by_description = html_of(client.get("/crm/campaigns/", {"q": "wave 1"}))
    assert "13 campaigns" in by_description
    nothing = html_of(client.get("/crm/campaigns/", {"q": "nothing like this"}))
    assert "Nothing matches" in nothing


def test_the_list_costs_the_same_queries_for_3_and_20_campaigns(client, marketer) -> None:
    signed_in(client, marketer)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/crm/campaigns/").status_code == 200
        return len(captured.captured_queries)

    for n in range(3):
        campaign_create(actor=marketer, name=f"C{n}")
    small = queries()
    for n in range(17):
        campaign_create(actor=marketer, name=f"D{n}")
    assert queries() == small


# --- create, edit, delete ------------------------------------------------------------------------


def test_create_a_campaign_with_its_segment(client, marketer, people) -> None:
    signed_in(client, marketer)
    response = client.post(
        "/crm/campaigns/new/",
        campaign_post(
            segment_q="  lewandowski ",
            segment_tags="Newsletter, vip",
            segment_organization_status=["customer", "partner"],
            segment_organization_tags="vip",
            segment_countries="pl de",
            segment_has_email="on",
        ),
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/crm/campaigns/{campaign.public_id}/"
    assert campaign.owner == marketer
    assert (campaign.name, campaign.description) == ("Autumn newsletter", "Quarterly news")
    assert (campaign.starts_on, campaign.ends_on) == (date(2026, 9, 1), date(2026, 9, 30))
    assert campaign.segment == {
        "q": "lewandowski",
        # spelled like the existing tags
        "tags": ["newsletter", "VIP"],
        "organization_status": ["customer", "partner"],
        "organization_tags": ["VIP"],
        "countries": ["PL", "DE"],
        "has_email": True,
    }
    page = html_of(client.get(response["Location"]))
    assert "The campaign “Autumn newsletter” was saved." in page
    assert "Customer, Partner" in page


def test_an_empty_segment_is_stored_empty(client, marketer) -> None:
    signed_in(client, marketer)
    client.post("/crm/campaigns/new/", campaign_post(starts_on="", ends_on=""))
    campaign = Campaign.objects.get()
    assert campaign.segment == {}
    assert (campaign.starts_on, campaign.ends_on) == (None, None)


def test_service_errors_land_under_their_fields_and_nothing_is_saved(client, marketer) -> None:
    signed_in(client, marketer)
    response = client.post(
        "/crm/campaigns/new/",
        campaign_post(starts_on="2026-09-30", ends_on="2026-09-01", segment_countries="Germany"),
    )
    html = html_of(response)
    assert response.status_code == 200
    assert 'id="id_ends_on_error"' in html
    assert "The campaign cannot end before it starts." in html
    assert 'id="id_segment_countries_error"' in html
    assert "Use two-letter ISO country codes" in html
    assert not Campaign.objects.exists()
    blank = client.post("/crm/campaigns/new/", campaign_post(name="   "))
    assert 'id="id_name_error"' in html_of(blank)
    assert not Campaign.objects.exists()


def test_edit_keeps_the_filters_the_form_does_not_show(client, marketer) -> None:
    campaign = campaign_create(
        actor=marketer,
        name="Polish customers",
        segment={"status": ["customer"], "languages": ["pl"], "include_opted_out": True},
    )
    signed_in(client, marketer)
    form = html_of(client.get(f"/crm/campaigns/{campaign.public_id}/edit/"))
    assert 'value="customer" id="id_segment_organization_status_2" checked' in form
    assert form.count("checked") == 1
    assert 'data-testid="kept-filters"' in form
    response = client.post(
        f"/crm/campaigns/{campaign.public_id}/edit/",
        campaign_post(name="Polish partners", segment_organization_status=["partner"]),
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.name == "Polish partners"
    assert campaign.segment == {
        "organization_status": ["partner"],
        "languages": ["pl"],
        "include_opted_out": True,
    }
    dropped = client.post(
        f"/crm/campaigns/{campaign.public_id}/edit/",
        campaign_post(segment_organization_status=["partner"], segment_drop_kept="on"),
    )
    assert dropped.status_code == 302
    campaign.refresh_from_db()
    assert campaign.segment == {"organization_status": ["partner"]}
    assert 'data-testid="kept-filters"' not in html_of(
        client.get(f"/crm/campaigns/{campaign.public_id}/edit/")
    )


def test_delete_a_campaign_with_its_members(client, marketer, campaign) -> None:
    signed_in(client, marketer)
    confirm = html_of(client.get(f"/crm/campaigns/{campaign.public_id}/delete/"))
    assert "its 2 members" in confirm
    response = client.post(f"/crm/campaigns/{campaign.public_id}/delete/")
    assert response.status_code == 302 and response["Location"] == "/crm/campaigns/"
    assert not Campaign.objects.exists() and not CampaignMember.objects.exists()
    assert "was deleted" in html_of(client.get("/crm/campaigns/"))


# --- the campaign page, fill, member status, export ---------------------------------------------


def test_fill_from_segment_says_how_many_were_added(client, marketer, people) -> None:
    campaign = campaign_create(
        actor=marketer, name="Customers", segment={"organization_status": ["customer"]}
    )
    signed_in(client, marketer)
    response = client.post(f"/crm/campaigns/{campaign.public_id}/fill/")
    assert response.status_code == 302
    assert response["Location"] == f"/crm/campaigns/{campaign.public_id}/"
    page = html_of(client.get(response["Location"]))
    assert "2 persons were added to the campaign." in page
    assert "Lewandowski" in page and "Wójcik" in page and "Klein" not in page
    client.post(f"/crm/campaigns/{campaign.public_id}/fill/")
    assert "0 persons were added to the campaign." in html_of(client.get(response["Location"]))
    assert CampaignMember.objects.filter(campaign=campaign).count() == 2
    make_person(
        marketer, "Nowy", "Klient", organization=people["krzysztof"].employments.get().organization
    )
    client.post(f"/crm/campaigns/{campaign.public_id}/fill/")
    assert "1 person was added to the campaign." in html_of(client.get(response["Location"]))


def test_the_campaign_page_shows_members_with_status_and_response(
    client, marketer, campaign, people
) -> None:
    member = member_of(campaign, people["krzysztof"])
    campaign_member_set_status(member=member, status="responded", response="Will come")
    signed_in(client, marketer)
    html = html_of(client.get(f"/crm/campaigns/{campaign.public_id}/"))
    assert 'data-testid="member-count">2<' in html
    assert html.count('data-testid="member"') == 2
    assert f'href="/crm/persons/{people["krzysztof"].public_id}/"' in html
    assert "k.lewandowski@wislasoftware.pl" in html and "Wisła Software S.A." in html
    assert 'value="Will come"' in html
    assert "<time datetime=" in html  # responded at
    only_responded = html_of(
        client.get(f"/crm/campaigns/{campaign.public_id}/", {"status": "responded"})
    )
    assert only_responded.count('data-testid="member"') == 1
    assert "Wójcik" not in only_responded


def test_a_reader_sees_statuses_without_forms_and_persons_they_may_not_open_unlinked(
    client, campaign, people
) -> None:
    reader = crm_user("crm.view_campaign", "crm.view_person", scope="own")
    mine = campaign_create(actor=reader, name="Reader's")
    CampaignMember.objects.create(campaign=mine, person=people["petra"])
    signed_in(client, reader)
    html = html_of(client.get(f"/crm/campaigns/{mine.public_id}/"))
    assert "Klein" in html
    assert f"/crm/persons/{people['petra'].public_id}/" not in html  # not theirs
    assert "/status/" not in html and "/fill/" not in html and "/edit/" not in html


def test_change_a_member_status_with_htmx(client, marketer, campaign, people) -> None:
    member = member_of(campaign, people["krzysztof"])
    prefix = f"m{member.public_id.hex[:12]}"
    url = f"/crm/campaigns/{campaign.public_id}/members/{member.public_id}/status/"
    signed_in(client, marketer)
    response = client.post(
        url, {f"{prefix}-status": "converted", f"{prefix}-response": "Ordered"}, headers=HTMX
    )
    html = html_of(response)
    assert response.status_code == 200
    assert html.startswith(f'<tr id="kv-member-{member.public_id}"')
    assert '<option value="converted" selected>' in html
    assert 'value="Ordered"' in html and "<time datetime=" in html
    member.refresh_from_db()
    assert (member.status, member.response) == ("converted", "Ordered")
    assert member.responded_at is not None


def test_a_refused_member_status_shows_the_error_and_changes_nothing(
    client, marketer, campaign, people
) -> None:
    member = member_of(campaign, people["krzysztof"])
    prefix = f"m{member.public_id.hex[:12]}"
    url = f"/crm/campaigns/{campaign.public_id}/members/{member.public_id}/status/"
    signed_in(client, marketer)
    before = snapshot(CampaignMember)
    response = client.post(url, {f"{prefix}-status": "enthusiastic"}, headers=HTMX)
    assert response.status_code == 200
    assert 'role="alert"' in html_of(response) and "is-invalid" in html_of(response)
    assert snapshot(CampaignMember) == before
    plain = client.post(url, {f"{prefix}-status": "enthusiastic"})
    assert plain.status_code == 302
    assert "Select a valid choice" in html_of(client.get(plain["Location"]))
    assert snapshot(CampaignMember) == before
    other = campaign_create(actor=marketer, name="Other")
    wrong = f"/crm/campaigns/{other.public_id}/members/{member.public_id}/status/"
    assert client.post(wrong, {f"{prefix}-status": "converted"}).status_code == 404
    assert snapshot(CampaignMember) == before


def test_change_a_member_status_without_javascript(client, marketer, campaign, people) -> None:
    member = member_of(campaign, people["magdalena"])
    prefix = f"m{member.public_id.hex[:12]}"
    url = f"/crm/campaigns/{campaign.public_id}/members/{member.public_id}/status/"
    signed_in(client, marketer)
    back = f"/crm/campaigns/{campaign.public_id}/?page=1"
    response = client.post(url, {f"{prefix}-status": "contacted", "next": back})
    assert response.status_code == 302 and response["Location"] == back
    assert "Magdalena Wójcik: Contacted." in html_of(client.get(back))
    member.refresh_from_db()
    assert member.status == "contacted" and member.responded_at is None
    outside = client.post(url, {f"{prefix}-status": "contacted", "next": "https://evil.example/"})
    assert outside["Location"] == f"/crm/campaigns/{campaign.public_id}/"


def test_the_campaign_page_costs_the_same_queries_for_3_and_30_members(
    client, marketer, people
) -> None:
    campaign = campaign_create(actor=marketer, name="Everyone")
    organization = make_organization(marketer, "Big Corp")
    signed_in(client, marketer)

    def add(count: int, start: int) -> None:
        for n in range(start, start + count):
            make_person(
                marketer,
                f"P{n}",
                f"Person {n:03d}",
                organization=organization,
                emails=[f"p{n}@big.example"],
                phones=[f"+4930{1000000 + n}"],
            )
        campaign_fill_from_segment(campaign=campaign)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(f"/crm/campaigns/{campaign.public_id}/").status_code == 200
        return len(captured.captured_queries)

    add(3, 0)
    small = queries()
    add(27, 3)
    assert CampaignMember.objects.filter(campaign=campaign).count() == 33
    assert queries() == small
    assert small <= 20


def test_members_are_paginated(client, marketer) -> None:
    campaign = campaign_create(actor=marketer, name="Many")
    for n in range(55):
        make_person(marketer, "", f"Member {n:03d}")
    campaign_fill_from_segment(campaign=campaign)
    signed_in(client, marketer)
    first = html_of(client.get(f"/crm/campaigns/{campaign.public_id}/"))
    assert first.count('data-testid="member"') == 50 and "Page 1 of 2" in first
    second = html_of(client.get(f"/crm/campaigns/{campaign.public_id}/", {"page": 2}))
    assert second.count('data-testid="member"') == 5
    assert "Member 054" in second and "Member 000" not in second


def test_export_members_as_csv_and_xlsx(client, marketer, campaign, people) -> None:
    member = member_of(campaign, people["krzysztof"])
    campaign_member_set_status(member=member, status="responded", response="=1+1")
    signed_in(client, marketer)
    response = client.get(f"/crm/campaigns/{campaign.public_id}/export.csv")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="Spring-fair-members.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["First name", "Last name"]
    assert [row[1] for row in rows[1:]] == ["Lewandowski", "Wójcik"]
    assert rows[1][7:9] == ["Responded", "'=1+1"]
    xlsx = client.get(f"/crm/campaigns/{campaign.public_id}/export.xlsx")
    assert xlsx.status_code == 200
    assert xlsx["Content-Disposition"].endswith('-members.xlsx"')
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert [row[1] for row in values[1:]] == ["Lewandowski", "Wójcik"]


# --- custom fields -------------------------------------------------------------------------------


def field_post(**values: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "target": "organization",
        "key": "tier",
        "label": "Tier",
        "field_type": "choice",
        "options": "Gold\r\n Silver \r\n\r\nBronze",
        "order": "5",
    }
    data.update(values)
    return {key: value for key, value in data.items() if value is not None}


def test_custom_fields_are_listed_per_target(client, viewer) -> None:
    custom_field_create(
        target="organization", key="tier", label="Tier", field_type="choice", options=["A", "B"]
    )
    custom_field_create(target="person", key="hobby", label="Hobby", field_type="text")
    signed_in(client, viewer)
    organizations = html_of(client.get("/crm/custom-fields/"))
    assert "Tier" in organizations and "Hobby" not in organizations
    assert "A, B" in organizations
    persons = html_of(client.get("/crm/custom-fields/", {"target": "person"}))
    assert "Hobby" in persons and "Tier" not in persons
    deals = html_of(client.get("/crm/custom-fields/", {"target": "deal"}))
    assert "Deals have no custom fields yet." in deals
    # a reader gets neither the add button nor edit and delete links
    assert "/crm/custom-fields/new/" not in organizations
    assert "/edit/" not in organizations and "/delete/" not in organizations


def test_create_a_choice_field_with_one_option_per_line(client, admin) -> None:
    signed_in(client, admin)
    form = html_of(client.get("/crm/custom-fields/new/", {"target": "deal"}))
    assert '<option value="deal" selected>' in form
    response = client.post("/crm/custom-fields/new/", field_post(required="on"))
    assert response.status_code == 302
    assert response["Location"] == "/crm/custom-fields/?target=organization"
    field = CustomField.objects.get()
    assert (field.target, field.key, field.label, field.field_type) == (
        "organization",
        "tier",
        "Tier",
        "choice",
    )
    assert field.options == ["Gold", "Silver", "Bronze"]
    assert (field.required, field.order) == (True, 5)
    assert "The custom field “Tier” was saved." in html_of(client.get(response["Location"]))


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"key": "Not A Key"}, "key", "Use lower-case letters"),
        ({"key": "contains"}, "key", "reserved word"),
        ({"options": ""}, "options", "needs at least one option"),
        ({"options": "Gold\nGold"}, "options", "listed twice"),
        ({"field_type": "text"}, "options", "Only choice fields have options."),
        ({"field_type": "link", "options": "crm.ticket"}, "options", "A link may point at"),
        ({"label": "  "}, "label", "This field is required."),
        ({"order": "-1"}, "order", "greater than or equal to 0"),
    ],
)
def test_bad_definitions_show_the_error_under_the_field(
    client, admin, values, field, message
) -> None:
    signed_in(client, admin)
    response = client.post("/crm/custom-fields/new/", field_post(**values))
    html = html_of(response)
    assert response.status_code == 200
    assert f'id="id_{field}_error"' in html
    assert message in html
    assert not CustomField.objects.exists()


def test_a_key_used_twice_for_the_same_target_is_refused(client, admin) -> None:
    custom_field_create(target="organization", key="tier", label="Tier", field_type="text")
    signed_in(client, admin)
    before = snapshot(CustomField)
    response = client.post("/crm/custom-fields/new/", field_post())
    assert 'id="id_key_error"' in html_of(response)
    assert "This key is already used" in html_of(response)
    assert snapshot(CustomField) == before
    other_target = client.post("/crm/custom-fields/new/", field_post(target="person"))
    assert other_target.status_code == 302
    assert CustomField.objects.count() == 2


def test_edit_changes_label_options_required_and_order_but_not_key_target_or_type(
    client, admin
) -> None:
    field = custom_field_create(
        target="organization", key="tier", label="Tier", field_type="choice", options=["A", "B"]
    )
    signed_in(client, admin)
    form = html_of(client.get(f"/crm/custom-fields/{field.public_id}/edit/"))
    assert "A\nB</textarea>" in form
    assert 'name="key" value="tier"' in form and "disabled" in form
    response = client.post(
        f"/crm/custom-fields/{field.public_id}/edit/",
        field_post(key="other", target="deal", field_type="text", label="Level", options="A\nB\nC"),
    )
    assert response.status_code == 302
    field.refresh_from_db()
    assert (field.target, field.key, field.field_type) == ("organization", "tier", "choice")
    assert (field.label, field.options, field.required, field.order) == (
        "Level",
        ["A", "B", "C"],
        False,
        5,
    )
    refused = client.post(f"/crm/custom-fields/{field.public_id}/edit/", field_post(options="A\nA"))
    assert 'id="id_options_error"' in html_of(refused)
    field.refresh_from_db()
    assert field.options == ["A", "B", "C"]


def test_delete_a_field_and_its_values(client, admin) -> None:
    field = custom_field_create(target="person", key="hobby", label="Hobby", field_type="text")
    owner = UserFactory.create()
    keeper = make_person(owner, "Ada", "Lovelace", custom_data={"hobby": "Maths"})
    make_person(owner, "Bob", "Nobody")
    signed_in(client, admin)
    confirm = html_of(client.get(f"/crm/custom-fields/{field.public_id}/delete/"))
    assert "of persons" in confirm
    response = client.post(f"/crm/custom-fields/{field.public_id}/delete/")
    assert response.status_code == 302
    assert response["Location"] == "/crm/custom-fields/?target=person"
    assert not CustomField.objects.exists()
    keeper.refresh_from_db()
    assert keeper.custom_data == {}
    assert "1 record lost its value" in html_of(client.get(response["Location"]))


def test_custom_field_permissions_are_checked_per_action(client) -> None:
    field = custom_field_create(target="person", key="hobby", label="Hobby", field_type="text")
    adder = crm_user("crm.view_customfield", "crm.add_customfield")
    signed_in(client, adder)
    assert client.get("/crm/custom-fields/new/").status_code == 200
    before = snapshot(CustomField)
    assert client.get(f"/crm/custom-fields/{field.public_id}/edit/").status_code == 403
    response = client.post(
        f"/crm/custom-fields/{field.public_id}/edit/", field_post(label="Other", options="")
    )
    assert response.status_code == 403
    assert client.post(f"/crm/custom-fields/{field.public_id}/delete/").status_code == 403
    assert snapshot(CustomField) == before
    assert (
        client.get("/crm/custom-fields/00000000-0000-0000-0000-000000000000/edit/").status_code
        == 403
    )
    changer = crm_user("crm.view_customfield", "crm.change_customfield")
    signed_in(client, changer)
    missing = "/crm/custom-fields/00000000-0000-0000-0000-000000000000/edit/"
    assert client.get(missing).status_code == 404
