"""Filters of the organisation and person lists, shared by the pages and the API.

`q` searches names, e-mail addresses, phone numbers and (organisations) tax ids. Matches in the
contact lists are found by subqueries, never joins, so a record with two matching e-mails is
listed once and the list's prefetches stay intact.
"""

from __future__ import annotations

import re
from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_lazy as _

from konvergo.crm import choices
from konvergo.crm.models import Email, Employment, Organization, Person, Phone, TaxId
from konvergo.crm.services.contacts import normalize_name
from konvergo.org.models import User


def _contact_matches(owner: str, word: str) -> Q:
    """Records owning an e-mail or phone that contains `word`."""
    match = Q(pk__in=Email.objects.filter(address__icontains=word).values(f"{owner}_id"))
    digits = re.sub(r"\D", "", word)
    if len(digits) >= 3:
        match |= Q(pk__in=Phone.objects.filter(number__contains=digits).values(f"{owner}_id"))
    return match


def _words(value: str) -> list[str]:
    return [w for w in value.split() if w][:8]


class _ContactFilter(django_filters.FilterSet):  # type: ignore[misc]
    owner = django_filters.ModelChoiceFilter(
        label=_("Owner"),
        queryset=User.objects.all(),
        to_field_name="public_id",
    )
    tag = django_filters.CharFilter(label=_("Tag"), method="filter_tag")
    created = django_filters.DateFromToRangeFilter(label=_("Created"), field_name="created_at")

    def filter_tag(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        if not value:
            return queryset
        # Tag names are unique, so this join yields each record at most once.
        return queryset.filter(tags__name__iexact=value.strip())


class OrganizationFilter(_ContactFilter):
    q = django_filters.CharFilter(
        label=_("Search"), method="filter_q", help_text=_("Name, e-mail, phone or tax id")
    )
    status = django_filters.MultipleChoiceFilter(
        label=_("Status"), choices=choices.OrganizationStatus.choices
    )
    ordering = django_filters.OrderingFilter(
        label=_("Sort by"),
        fields=(
            ("legal_name", "name"),
            ("status", "status"),
            ("created_at", "created"),
            ("updated_at", "updated"),
        ),
    )

    class Meta:
        model = Organization
        fields = ["q", "status", "owner", "tag", "created"]

    def filter_q(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        for word in _words(value):
            normalized = normalize_name(word, legal_forms=False)
            compact = re.sub(r"[\s\-./]", "", word).upper()
            match = (
                Q(legal_name__icontains=word)
                | Q(short_name__icontains=word)
                | _contact_matches("organization", word)
                | Q(pk__in=TaxId.objects.filter(value__contains=compact).values("organization_id"))
            )
            if normalized:
                match |= Q(normalized_name__contains=normalized)
            queryset = queryset.filter(match)
        return queryset


class PersonFilter(_ContactFilter):
    q = django_filters.CharFilter(
        label=_("Search"), method="filter_q", help_text=_("Name, e-mail or phone")
    )
    organization = django_filters.UUIDFilter(label=_("Organisation"), method="filter_organization")
    ordering = django_filters.OrderingFilter(
        label=_("Sort by"),
        fields=(
            ("last_name", "last_name"),
            ("first_name", "first_name"),
            ("created_at", "created"),
            ("updated_at", "updated"),
        ),
    )

    class Meta:
        model = Person
        fields = ["q", "organization", "owner", "tag", "created"]

    def filter_q(self, queryset: QuerySet[Any], name: str, value: str) -> QuerySet[Any]:
        for word in _words(value):
            normalized = normalize_name(word, legal_forms=False)
            match = (
                Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
                | _contact_matches("person", word)
            )
            if normalized:
                match |= Q(normalized_name__contains=normalized)
            queryset = queryset.filter(match)
        return queryset

    def filter_organization(self, queryset: QuerySet[Any], name: str, value: Any) -> QuerySet[Any]:
        if not value:
            return queryset
        employed = Employment.objects.filter(organization__public_id=value).values("person_id")
        return queryset.filter(pk__in=employed)
