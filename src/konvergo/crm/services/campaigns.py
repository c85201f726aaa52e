"""Campaigns: a segment (a saved filter over persons), the members it brought in, their
status and responses, and an export of the members for mailing tools and spreadsheets.

The segment grammar: a JSON object whose keys all have to hold (AND); a list matches when any
of its values does (OR). Every key is optional; `{}` selects every person the campaign's owner
may see.

| key | value | a person matches when |
| --- | --- | --- |
| `q` | text | every word occurs in their first name, last name or an e-mail address |
| `tags` | tag names | they carry one of the tags |
| `organization_status` | lead, prospect, customer, former, partner | their organisation has one |
| `status` | the same | short for `organization_status` (both given: either list counts) |
| `organization_tags` | tag names | they work at an organisation carrying one of the tags |
| `languages` | language codes ("de", "pl") | their language is one of them |
| `countries` | ISO country codes | an address of theirs or of their organisation is in one |
| `has_email` | true | they have an e-mail address |
| `custom` | `{"key": value}` | their custom fields match (see `custom_field_filter`) |
| `include_opted_out` | true | (default false) persons who opted out of any campaign are left out |

Segments are evaluated through `visible()` as the campaign's owner: a campaign never reaches
persons its owner may not see.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from django.db import models, transaction
from django.db.models import Prefetch, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.utils import bulk_create_with_history

from konvergo.core.audit import acting_as
from konvergo.core.errors import FieldErrors
from konvergo.crm.choices import CampaignMemberStatus, CustomFieldTarget, OrganizationStatus
from konvergo.crm.models import (
    Address,
    Campaign,
    CampaignMember,
    Email,
    Employment,
    Organization,
    Person,
    Phone,
)
from konvergo.crm.services.custom_fields import custom_field_filter
from konvergo.org.models import User
from konvergo.org.permissions import visible

SEGMENT_LISTS = ("tags", "organization_status", "status", "organization_tags", "languages")
SEGMENT_KEYS = frozenset(
    {*SEGMENT_LISTS, "q", "countries", "has_email", "custom", "include_opted_out"}
)
RESPONDED = frozenset({CampaignMemberStatus.RESPONDED, CampaignMemberStatus.CONVERTED})
FILL_BATCH = 1000

CSV = "csv"
XLSX = "xlsx"
EXPORT_CONTENT_TYPES = {
    CSV: "text/csv; charset=utf-8",
    XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


# --- segments -------------------------------------------------------------------------------


def _text_list(value: Any, key: str, errors: dict[str, list[str]]) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        errors[f"segment.{key}"] = [_("Enter a list of texts.")]
        return []
    items = [v.strip() for v in value if isinstance(v, str) and v.strip()]
    if len(items) != len(value):
        errors[f"segment.{key}"] = [_("Enter a list of non-empty texts.")]
    return list(dict.fromkeys(items))


def segment_clean(segment: Mapping[str, Any] | None) -> dict[str, Any]:
    """The segment in canonical form (empty parts dropped), or FieldErrors "segment.<key>"."""
    if segment is None:
        return {}
    if not isinstance(segment, Mapping):
        raise FieldErrors({"segment": [_("A segment is an object of filters.")]})
    errors: dict[str, list[str]] = {
        f"segment.{key}": [_("Unknown filter.")] for key in segment if key not in SEGMENT_KEYS
    }
    cleaned: dict[str, Any] = {}
    for key in SEGMENT_LISTS:
        if segment.get(key) not in (None, []):
            cleaned[key] = _text_list(segment[key], key, errors)
    for key in ("organization_status", "status"):
        wrong = [s for s in cleaned.get(key, []) if s not in OrganizationStatus.values]
        if wrong:
            errors[f"segment.{key}"] = [
                _("Unknown status %(wrong)s; one of %(statuses)s.")
                % {"wrong": ", ".join(wrong), "statuses": ", ".join(OrganizationStatus.values)}
            ]
    if segment.get("countries") not in (None, []):
        countries = list(
            dict.fromkeys(c.upper() for c in _text_list(segment["countries"], "countries", errors))
        )
        if any(not re.fullmatch(r"[A-Z]{2}", c) for c in countries):
            errors["segment.countries"] = [_("Use two-letter ISO country codes, e.g. DE.")]
        cleaned["countries"] = countries
    q = segment.get("q")
    if q not in (None, ""):
        if not isinstance(q, str) or len(q) > 200:
            errors["segment.q"] = [_("Enter a text of at most 200 characters.")]
        elif q.strip():
            cleaned["q"] = " ".join(q.split())
    for key in ("has_email", "include_opted_out"):
        value = segment.get(key)
        if value is not None and not isinstance(value, bool):
            errors[f"segment.{key}"] = [_("Enter true or false.")]
        elif value:
            cleaned[key] = True
    custom = segment.get("custom")
    if custom not in (None, {}):
        if not isinstance(custom, Mapping):
            errors["segment.custom"] = [_("Enter an object of custom field values.")]
        else:
            cleaned["custom"] = dict(custom)
            try:  # validates keys and values against the person custom fields
                _custom_filtered(Person.objects.none(), cleaned["custom"])
            except FieldErrors as exc:
                for name, messages in exc.errors.items():
                    errors[f"segment.custom.{name.removeprefix('custom_data.')}"] = messages
    if errors:
        raise FieldErrors(errors)
    return cleaned


def _custom_filtered(
    persons: models.QuerySet[Person], custom: Mapping[str, Any]
) -> models.QuerySet[Person]:
    for key, value in custom.items():
        persons = custom_field_filter(persons, CustomFieldTarget.PERSON, key, value)
    return persons


def segment_persons(user: Any, segment: Mapping[str, Any] | None) -> models.QuerySet[Person]:
    """The persons `user` may see that the segment selects (each once)."""
    rules = segment_clean(segment)
    persons = visible(user, Person.objects.all())
    if "q" in rules:
        for word in rules["q"].split():
            persons = persons.filter(
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | Q(pk__in=Email.objects.filter(address__icontains=word).values("person_id"))
            )
    if "tags" in rules:
        tagged = Person.tags.through.objects.filter(tag__name__in=rules["tags"])
        persons = persons.filter(pk__in=tagged.values("person_id"))
    statuses = [*rules.get("organization_status", []), *rules.get("status", [])]
    if statuses:
        working = Employment.objects.filter(organization__status__in=statuses)
        persons = persons.filter(pk__in=working.values("person_id"))
    if "organization_tags" in rules:
        tagged_orgs = Organization.tags.through.objects.filter(
            tag__name__in=rules["organization_tags"]
        ).values("organization_id")
        working = Employment.objects.filter(organization__in=tagged_orgs)
        persons = persons.filter(pk__in=working.values("person_id"))
    if "languages" in rules:
        persons = persons.filter(language__in=rules["languages"])
    if "countries" in rules:
        addresses = Address.objects.filter(country__in=rules["countries"])
        persons = persons.filter(
            Q(pk__in=addresses.values("person_id"))
            | Q(
                pk__in=Employment.objects.filter(
                    organization__in=addresses.values("organization_id")
                ).values("person_id")
            )
        )
    if rules.get("has_email"):
        persons = persons.filter(pk__in=Email.objects.values("person_id"))
    if "custom" in rules:
        persons = _custom_filtered(persons, rules["custom"])
    if not rules.get("include_opted_out"):
        opted_out = CampaignMember.objects.filter(status=CampaignMemberStatus.OPTED_OUT)
        persons = persons.exclude(pk__in=opted_out.values("person_id"))
    return persons


# --- campaigns ------------------------------------------------------------------------------


def _campaign_clean(values: dict[str, Any], errors: dict[str, list[str]]) -> dict[str, Any]:
    if "name" in values:
        name = values["name"].strip() if isinstance(values["name"], str) else ""
        if not name or len(name) > 200:
            errors["name"] = [_("Enter a name of at most 200 characters.")]
        values["name"] = name
    if "description" in values:
        values["description"] = str(values["description"] or "").strip()
    for key in ("starts_on", "ends_on"):
        value = values.get(key)
        if value is not None and not isinstance(value, date):
            try:
                values[key] = date.fromisoformat(str(value))
            except ValueError:
                errors[key] = [_("Enter a date as YYYY-MM-DD.")]
        if isinstance(values.get(key), datetime):
            errors[key] = [_("Enter a date, not a time.")]
    if "segment" in values:
        try:
            values["segment"] = segment_clean(values["segment"])
        except FieldErrors as exc:
            errors.update(exc.errors)
    return values


def _check_dates(campaign: Campaign, errors: dict[str, list[str]]) -> None:
    if campaign.starts_on and campaign.ends_on and campaign.ends_on < campaign.starts_on:
        errors.setdefault("ends_on", []).append(_("The campaign cannot end before it starts."))


def campaign_create(
    *,
    actor: User,
    name: str,
    description: str = "",
    segment: Mapping[str, Any] | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
) -> Campaign:
    errors: dict[str, list[str]] = {}
    values = _campaign_clean(
        {
            "name": name,
            "description": description,
            "segment": segment,
            "starts_on": starts_on,
            "ends_on": ends_on,
        },
        errors,
    )
    campaign = Campaign(owner=actor, **values)
    _check_dates(campaign, errors)
    if errors:
        raise FieldErrors(errors)
    with acting_as(actor), transaction.atomic():
        campaign.save()
    return campaign


CAMPAIGN_FIELDS = frozenset({"name", "description", "segment", "starts_on", "ends_on"})


def campaign_update(*, actor: User, campaign: Campaign, **fields: Any) -> Campaign:
    errors: dict[str, list[str]] = {
        name: [_("Unknown field.")] for name in sorted(set(fields) - CAMPAIGN_FIELDS)
    }
    values = _campaign_clean(dict(fields), errors)
    for name, value in values.items():
        if name in CAMPAIGN_FIELDS:
            setattr(campaign, name, value)
    _check_dates(campaign, errors)
    if errors:
        campaign.refresh_from_db()
        raise FieldErrors(errors)
    with acting_as(actor), transaction.atomic():
        campaign.save()
    return campaign


def campaign_delete(*, actor: User, campaign: Campaign) -> None:
    with acting_as(actor), transaction.atomic():
        campaign.delete()


def campaign_fill_from_segment(*, campaign: Campaign) -> int:
    """Add the persons of the campaign's segment who are not members yet; returns how many.

    The segment is evaluated as the campaign's owner sees the directory. Filling twice adds
    nobody twice: the campaign row is locked while members are added.
    """
    with acting_as(campaign.owner), transaction.atomic():
        Campaign.objects.select_for_update().filter(pk=campaign.pk).first()
        already = CampaignMember.objects.filter(campaign=campaign).values("person_id")
        new_ids = list(
            segment_persons(campaign.owner, campaign.segment)
            .exclude(pk__in=already)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        for start in range(0, len(new_ids), FILL_BATCH):
            bulk_create_with_history(
                [
                    CampaignMember(campaign=campaign, person_id=person_id)
                    for person_id in new_ids[start : start + FILL_BATCH]
                ],
                CampaignMember,
                batch_size=FILL_BATCH,
                default_user=campaign.owner,
            )
    return len(new_ids)


def campaign_member_set_status(
    *, member: CampaignMember, status: str, response: str = ""
) -> CampaignMember:
    """Record where a member stands; the first response (or responded/converted) is dated."""
    errors: dict[str, list[str]] = {}
    if status not in CampaignMemberStatus.values:
        errors["status"] = [
            _("Unknown status %(status)s; one of %(statuses)s.")
            % {"status": status, "statuses": ", ".join(CampaignMemberStatus.values)}
        ]
    if not isinstance(response, str) or len(response) > 10_000:
        errors["response"] = [_("Enter a text of at most 10000 characters.")]
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        member.status = status
        if response.strip():
            member.response = response.strip()
        if member.responded_at is None and (status in RESPONDED or response.strip()):
            member.responded_at = timezone.now()
        member.save()
    return member


# --- export ---------------------------------------------------------------------------------


def export_headers() -> list[str]:
    return [
        _("First name"),
        _("Last name"),
        _("Organisation"),
        _("Position"),
        _("E-mail"),
        _("Phone"),
        _("Language"),
        _("Status"),
        _("Response"),
        _("Responded at"),
    ]


def campaign_members(campaign: Campaign) -> models.QuerySet[CampaignMember]:
    """The members with everything the export and the member list show, in a fixed number of
    queries."""
    return (
        CampaignMember.objects.filter(campaign=campaign)
        .select_related("person")
        .prefetch_related(
            Prefetch("person__emails", queryset=Email.objects.order_by("-is_primary", "pk")),
            Prefetch("person__phones", queryset=Phone.objects.order_by("-is_primary", "pk")),
            Prefetch(
                "person__employments",
                queryset=Employment.objects.select_related("organization").order_by(
                    "-is_primary", "pk"
                ),
            ),
        )
        .order_by("person__last_name", "person__first_name", "pk")
    )


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
PHONE_OR_NUMBER = re.compile(r"[+-]?[\d .()/-]+")


def safe_cell(value: str) -> str:
    """A text a spreadsheet will not run as a formula ("=HYPERLINK(...)" -> "'=HYPERLINK(...)");
    phone numbers ("+49 30 ...") and plain numbers stay as they are."""
    if value.startswith(FORMULA_START) and not PHONE_OR_NUMBER.fullmatch(value):
        return "'" + value
    return value


def _rows(campaign: Campaign) -> list[list[Any]]:
    rows = []
    for member in campaign_members(campaign):
        person = member.person
        emails = list(person.emails.all())
        phones = list(person.phones.all())
        employments = list(person.employments.all())
        responded = (
            timezone.localtime(member.responded_at).replace(tzinfo=None, microsecond=0)
            if member.responded_at
            else None
        )
        rows.append(
            [
                person.first_name,
                person.last_name,
                str(employments[0].organization) if employments else "",
                person.position,
                emails[0].address if emails else "",
                phones[0].number if phones else "",
                person.language,
                str(member.get_status_display()),
                member.response,
                responded,
            ]
        )
    return rows


def campaign_members_export(*, campaign: Campaign, file_format: str = CSV) -> bytes:
    """The members as a CSV (UTF-8 with BOM, so spreadsheets detect it) or XLSX file."""
    if file_format not in EXPORT_CONTENT_TYPES:
        formats = ", ".join(EXPORT_CONTENT_TYPES)
        raise FieldErrors({"format": [_("Choose one of: %(formats)s.") % {"formats": formats}]})
    headers = export_headers()
    rows = _rows(campaign)
    if file_format == CSV:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(headers)
        for row in rows:
            writer.writerow([_csv_value(v) for v in row])
        return buffer.getvalue().encode("utf-8-sig")
    return _xlsx(campaign.name, headers, rows)


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="minutes")
    return safe_cell(str(value))


def _xlsx(title: str, headers: list[str], rows: list[list[Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    # Sheet titles: at most 31 characters, none of []:*?/\
    sheet = workbook.create_sheet(re.sub(r"[\[\]:*?/\\]", " ", title)[:31] or "Members")
    bold = Font(bold=True)
    header_cells = []
    for text in headers:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in rows:
        cells = []
        for value in row:
            cell = WriteOnlyCell(sheet, value=value)
            if isinstance(value, str):
                cell.data_type = "s"  # never a formula, whatever the text starts with
            elif isinstance(value, datetime):
                cell.number_format = "yyyy-mm-dd hh:mm"
            cells.append(cell)
        sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
