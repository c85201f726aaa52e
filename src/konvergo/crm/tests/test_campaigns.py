"""Campaigns: segments over persons, filling members, statuses and responses, export, API."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from django.test import Client
from openpyxl import load_workbook

from konvergo.core.audit import audit_trail
from konvergo.core.errors import FieldErrors
from konvergo.crm.models import Address, Campaign, CampaignMember, Person
from konvergo.crm.services.campaigns import (
    campaign_create,
    campaign_fill_from_segment,
    campaign_member_set_status,
    campaign_members_export,
    campaign_update,
    safe_cell,
    segment_clean,
    segment_persons,
)
from konvergo.crm.services.custom_fields import custom_field_create
from konvergo.crm.tests.factories_setup import crm_user, make_organization, make_person
from konvergo.org.services import api_token_create

pytestmark = pytest.mark.django_db

PERSON_VIEW = ("crm.view_person", "crm.view_organization")


@pytest.fixture
def seller():
    return crm_user(*PERSON_VIEW, "crm.view_campaign", "crm.add_campaign", "crm.change_campaign")


@pytest.fixture
def people(seller) -> dict[str, Person]:
    customer = make_organization(seller, "Wisła Software S.A.", status="customer", tags=["VIP"])
    Address.objects.create(organization=customer, country="PL", city="Warszawa")
    prospect = make_organization(seller, "Nordlicht Energie AG", status="prospect")
    Address.objects.create(organization=prospect, country="DE", city="Hamburg")
    return {
        "krzysztof": make_person(
            seller,
            "Krzysztof",
            "Lewandowski",
            organization=customer,
            emails=["k.lewandowski@wislasoftware.pl"],
            phones=["+48603456789"],
            tags=["newsletter"],
            language="pl",
            position="CTO",
        ),
        "magdalena": make_person(
            seller, "Magdalena", "Wójcik", organization=customer, language="pl"
        ),
        "petra": make_person(
            seller,
            "Petra",
            "Klein",
            organization=prospect,
            emails=["petra.klein@nordlicht-energie.de"],
            language="de",
        ),
        "loner": make_person(seller, "Olga", "Volkova", tags=["newsletter"], language="ru"),
    }


def names(persons: Any) -> set[str]:
    return {p.last_name for p in persons}


# --- segments -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        ({}, {"Lewandowski", "Wójcik", "Klein", "Volkova"}),
        ({"organization_status": ["customer"]}, {"Lewandowski", "Wójcik"}),
        ({"status": ["prospect"]}, {"Klein"}),
        (
            {"status": ["prospect"], "organization_status": ["customer"]},
            {"Lewandowski", "Wójcik", "Klein"},
        ),
        ({"tags": ["newsletter"]}, {"Lewandowski", "Volkova"}),
        ({"organization_tags": ["VIP"]}, {"Lewandowski", "Wójcik"}),
        ({"languages": ["de", "ru"]}, {"Klein", "Volkova"}),
        ({"countries": ["de"]}, {"Klein"}),
        ({"has_email": True}, {"Lewandowski", "Klein"}),
        ({"q": "wis"}, {"Lewandowski"}),  # k.lewandowski@wislasoftware.pl
        ({"q": "Petra KLEIN"}, {"Klein"}),
        ({"organization_status": ["customer"], "has_email": True}, {"Lewandowski"}),
        ({"tags": ["nobody"]}, set()),
    ],
)
def test_a_segment_selects_persons(seller, people, segment, expected) -> None:
    assert names(segment_persons(seller, segment)) == expected


def test_a_segment_by_custom_field(seller, people) -> None:
    custom_field_create(target="person", key="newsletter", label="News", field_type="boolean")
    Person.objects.filter(pk=people["petra"].pk).update(custom_data={"newsletter": True})

    assert names(segment_persons(seller, {"custom": {"newsletter": True}})) == {"Klein"}


def test_a_segment_only_reaches_persons_the_user_may_see(people) -> None:
    own = crm_user(*PERSON_VIEW, scope="own")
    mine = make_person(own, "Ewa", "Zając")

    assert list(segment_persons(own, {})) == [mine]
    assert list(segment_persons(crm_user(), {})) == []


@pytest.mark.parametrize(
    ("segment", "keys"),
    [
        ({"colour": ["red"]}, {"segment.colour"}),
        ({"status": ["vip"]}, {"segment.status"}),
        ({"tags": "vip"}, {"segment.tags"}),
        ({"countries": ["Poland"]}, {"segment.countries"}),
        ({"has_email": "yes"}, {"segment.has_email"}),
        ({"q": 5}, {"segment.q"}),
        ({"custom": {"shoe": "42"}}, {"segment.custom.shoe"}),
    ],
)
def test_bad_segments_are_field_errors(segment, keys) -> None:
    with pytest.raises(FieldErrors) as caught:
        segment_clean(segment)

    assert set(caught.value.errors) == keys


def test_segments_are_stored_in_canonical_form() -> None:
    assert segment_clean(
        {"countries": ["pl", "PL"], "tags": [" vip "], "q": "  a  b ", "has_email": False}
    ) == {"countries": ["PL"], "tags": ["vip"], "q": "a b"}


# --- campaigns and members ------------------------------------------------------------------


def test_create_and_fill_without_duplicates(seller, people) -> None:
    campaign = campaign_create(
        actor=seller, name=" Trade fair ", segment={"organization_status": ["customer"]}
    )
    assert campaign.name == "Trade fair" and campaign.owner == seller

    assert campaign_fill_from_segment(campaign=campaign) == 2
    assert campaign_fill_from_segment(campaign=campaign) == 0

    campaign_update(actor=seller, campaign=campaign, segment={})
    assert campaign_fill_from_segment(campaign=campaign) == 2
    assert names(Person.objects.filter(campaign_memberships__campaign=campaign)) == {
        "Lewandowski",
        "Wójcik",
        "Klein",
        "Volkova",
    }
    member = CampaignMember.objects.filter(campaign=campaign).first()
    assert member is not None and member.status == "planned"
    assert audit_trail(member)[0].action == "created"  # members are in the audit trail too


def test_persons_who_opted_out_are_not_added_again(seller, people) -> None:
    earlier = campaign_create(actor=seller, name="Earlier")
    campaign_fill_from_segment(campaign=earlier)
    member = CampaignMember.objects.get(campaign=earlier, person=people["petra"])
    campaign_member_set_status(member=member, status="opted_out", response="No more, thanks.")

    later = campaign_create(actor=seller, name="Later")
    assert campaign_fill_from_segment(campaign=later) == 3

    both = campaign_create(actor=seller, name="Everyone", segment={"include_opted_out": True})
    assert campaign_fill_from_segment(campaign=both) == 4


def test_campaign_dates_and_names_are_checked(seller) -> None:
    with pytest.raises(FieldErrors) as caught:
        campaign_create(actor=seller, name="", starts_on=date(2026, 5, 1), ends_on=date(2026, 4, 1))

    assert set(caught.value.errors) == {"name", "ends_on"}
    assert not Campaign.objects.exists()


def test_member_status_and_response(seller, people) -> None:
    campaign = campaign_create(actor=seller, name="Fair")
    campaign_fill_from_segment(campaign=campaign)
    member = CampaignMember.objects.get(campaign=campaign, person=people["krzysztof"])

    campaign_member_set_status(member=member, status="contacted")
    assert member.responded_at is None

    campaign_member_set_status(member=member, status="responded", response=" Will come. ")
    member.refresh_from_db()
    assert (member.status, member.response) == ("responded", "Will come.")
    first_response = member.responded_at
    assert first_response is not None

    campaign_member_set_status(member=member, status="converted")
    member.refresh_from_db()
    assert member.responded_at == first_response and member.response == "Will come."

    with pytest.raises(FieldErrors) as caught:
        campaign_member_set_status(member=member, status="maybe")
    assert list(caught.value.errors) == ["status"]
    member.refresh_from_db()
    assert member.status == "converted"


# --- export ---------------------------------------------------------------------------------


@pytest.fixture
def filled(seller, people) -> Campaign:
    campaign = campaign_create(actor=seller, name="Spring fair: 2026/27")
    campaign_fill_from_segment(campaign=campaign)
    member = CampaignMember.objects.get(campaign=campaign, person=people["krzysztof"])
    campaign_member_set_status(member=member, status="responded", response="=HYPERLINK(1)")
    return campaign


def test_csv_export(filled) -> None:
    content = campaign_members_export(campaign=filled, file_format="csv")

    assert content.startswith(b"\xef\xbb\xbf")  # BOM: spreadsheets read it as UTF-8
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["First name", "Last name", "Organisation"]
    assert [row[1] for row in rows[1:]] == ["Klein", "Lewandowski", "Volkova", "Wójcik"]
    krzysztof = rows[2]
    assert krzysztof[:8] == [
        "Krzysztof",
        "Lewandowski",
        "Wisła Software S.A.",
        "CTO",
        "k.lewandowski@wislasoftware.pl",
        "+48603456789",  # a phone number stays as it is
        "pl",
        "Responded",
    ]
    assert krzysztof[8] == "'=HYPERLINK(1)"  # never a formula
    assert len(krzysztof[9]) == 16  # "YYYY-MM-DD HH:MM"


def test_xlsx_export(filled) -> None:
    content = campaign_members_export(campaign=filled, file_format="xlsx")

    workbook = load_workbook(io.BytesIO(content))
    sheet = workbook.active
    assert sheet.title == "Spring fair  2026 27"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "First name"
    assert [row[1] for row in rows[1:]] == ["Klein", "Lewandowski", "Volkova", "Wójcik"]
    assert rows[2][8] == "=HYPERLINK(1)"
    assert sheet.cell(row=3, column=9).data_type == "s"  # stored as text, not a formula


def test_export_in_an_unknown_format_is_refused(filled) -> None:
    with pytest.raises(FieldErrors):
        campaign_members_export(campaign=filled, file_format="pdf")


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("=1+2", "'=1+2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("+49 30 901820", "+49 30 901820"),
        ("-12.5", "-12.5"),
        ("-cmd|' /C calc'!A0", "'-cmd|' /C calc'!A0"),
        ("plain", "plain"),
    ],
)
def test_safe_cell(value, safe) -> None:
    assert safe_cell(value) == safe


# --- the API --------------------------------------------------------------------------------


class Api:
    def __init__(self, user: Any) -> None:
        self.user = user
        self.client = Client(headers={"Authorization": f"Bearer {api_token_create(user=user).raw}"})

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(f"/api/v1/crm{path}", params)

    def send(self, method: str, path: str, body: Any = None) -> Any:
        return getattr(self.client, method)(
            f"/api/v1/crm{path}", body, content_type="application/json"
        )


def test_api_campaign_lifecycle(seller, people) -> None:
    api = Api(seller)

    created = api.send(
        "post",
        "/campaigns",
        {
            "name": "Fair",
            "segment": {"organization_status": ["customer"]},
            "starts_on": "2026-03-01",
        },
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["members"] == 0 and body["segment"] == {"organization_status": ["customer"]}
    campaign_id = body["id"]

    count = api.send("post", "/campaigns/segment-count", {"segment": {"has_email": True}})
    assert count.json() == {"count": 2}

    filled = api.send("post", f"/campaigns/{campaign_id}/fill")
    assert filled.json() == {"added": 2, "members": 2}

    members = api.get(f"/campaigns/{campaign_id}/members")
    assert members.status_code == 200, members.content
    items = members.json()["items"]
    assert [m["person"]["name"] for m in items] == ["Krzysztof Lewandowski", "Magdalena Wójcik"]
    assert items[0]["email"] == "k.lewandowski@wislasoftware.pl"
    assert items[0]["organization"] == "Wisła Software S.A."

    changed = api.send(
        "patch",
        f"/campaigns/{campaign_id}/members/{items[0]['id']}",
        {"status": "responded", "response": "Yes"},
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["status"] == "responded" and changed.json()["responded_at"]

    renamed = api.send("patch", f"/campaigns/{campaign_id}", {"name": "Fair 2026"})
    assert renamed.json()["name"] == "Fair 2026" and renamed.json()["members"] == 2
    assert api.get(f"/campaigns/{campaign_id}").json()["starts_on"] == "2026-03-01"
    assert api.get("/campaigns").json()["count"] == 1


def test_api_export_files(seller, filled) -> None:
    api = Api(seller)
    campaign_id = filled.public_id

    as_csv = api.get(f"/campaigns/{campaign_id}/export", format="csv")
    as_xlsx = api.get(f"/campaigns/{campaign_id}/export", format="xlsx")
    default = api.get(f"/campaigns/{campaign_id}/export")

    assert as_csv.status_code == 200
    assert as_csv["Content-Type"] == "text/csv; charset=utf-8"
    assert as_csv["Content-Disposition"] == (
        'attachment; filename="Spring-fair-2026-27-members.csv"'
    )
    assert as_csv["Cache-Control"] == "private, no-store"
    assert as_xlsx["Content-Type"] == (
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert as_xlsx["Content-Disposition"].endswith('-members.xlsx"')
    assert as_xlsx.content[:2] == b"PK"  # a zip container
    assert default["Content-Type"].startswith("text/csv")
    assert api.get(f"/campaigns/{campaign_id}/export", format="pdf").status_code == 422


def test_api_bad_input_is_422_and_saves_nothing(seller) -> None:
    api = Api(seller)

    response = api.send(
        "post", "/campaigns", {"name": "Fair", "segment": {"status": ["vip"], "colour": 1}}
    )

    assert response.status_code == 422
    assert set(response.json()["error"]["details"]) == {"segment.status", "segment.colour"}
    assert not Campaign.objects.exists()


def test_api_permissions_and_visibility(seller, filled) -> None:
    reader = Api(crm_user(*PERSON_VIEW, "crm.view_campaign"))
    campaign_id = filled.public_id

    assert reader.get(f"/campaigns/{campaign_id}").status_code == 200
    assert reader.send("post", f"/campaigns/{campaign_id}/fill").status_code == 403
    assert reader.send("patch", f"/campaigns/{campaign_id}", {"name": "x"}).status_code == 403
    assert reader.send("delete", f"/campaigns/{campaign_id}").status_code == 403
    assert reader.send("post", "/campaigns", {"name": "Mine"}).status_code == 403

    stranger = Api(crm_user(*PERSON_VIEW, "crm.view_campaign", "crm.change_campaign", scope="own"))
    assert stranger.get(f"/campaigns/{campaign_id}").status_code == 404
    assert stranger.send("post", f"/campaigns/{campaign_id}/fill").status_code == 404
    assert stranger.get("/campaigns").json()["count"] == 0

    no_persons = Api(crm_user("crm.view_campaign"))
    assert no_persons.get(f"/campaigns/{campaign_id}/export").status_code == 403
    assert no_persons.get(f"/campaigns/{campaign_id}/members").status_code == 403

    filled.refresh_from_db()
    assert filled.name == "Spring fair: 2026/27"


def test_api_deletes_a_campaign(seller, filled) -> None:
    deleter = Api(crm_user(*PERSON_VIEW, "crm.view_campaign", "crm.delete_campaign"))

    assert deleter.send("delete", f"/campaigns/{filled.public_id}").status_code == 204

    assert not Campaign.objects.exists()
    assert not CampaignMember.objects.exists()


@pytest.mark.parametrize("path", ["/campaigns", "/campaigns/{id}/members"])
def test_api_lists_cost_a_fixed_number_of_queries(
    seller, people, path, django_assert_max_num_queries
) -> None:
    api = Api(seller)
    campaign = campaign_create(actor=seller, name="Fair")
    campaign_fill_from_segment(campaign=campaign)
    url = path.format(id=campaign.public_id)
    api.get(url)

    def count_queries() -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert api.get(url, limit=100).status_code == 200
        return len(captured)

    few = count_queries()
    owner = crm_user()
    for n in range(20):
        make_person(seller, f"P{n}", "Extra", emails=[f"p{n}@example.com"], phones=["+4930901820"])
        campaign_create(actor=owner if n % 2 else seller, name=f"Other {n}")
    campaign_fill_from_segment(campaign=campaign)

    with django_assert_max_num_queries(few):
        response = api.get(url, limit=100)

    assert response.json()["count"] >= 11
