"""Filters of the deal and activity lists, shared by the web lists and the API.

Related records are named by their public UUID, as everywhere outside the database.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from konvergo.crm.choices import ActivityKind, DealStatus
from konvergo.crm.models import Activity, Deal


def _words(queryset: QuerySet[Any], fields: tuple[str, ...], value: str) -> QuerySet[Any]:
    for word in value.split():
        match = Q()
        for field in fields:
            match |= Q(**{f"{field}__icontains": word})
        queryset = queryset.filter(match)
    return queryset


class DealFilter(django_filters.FilterSet):  # type: ignore[misc]
    q = django_filters.CharFilter(method="filter_q", label=_("Search"))
    pipeline = django_filters.UUIDFilter(field_name="pipeline__public_id", label=_("Pipeline"))
    stage = django_filters.UUIDFilter(field_name="stage__public_id", label=_("Stage"))
    status = django_filters.ChoiceFilter(choices=DealStatus.choices, label=_("Status"))
    owner = django_filters.UUIDFilter(field_name="owner__public_id", label=_("Owner"))
    organization = django_filters.UUIDFilter(
        field_name="organization__public_id", label=_("Organisation")
    )
    person = django_filters.UUIDFilter(field_name="person__public_id", label=_("Person"))
    currency = django_filters.CharFilter(field_name="currency", lookup_expr="iexact")
    amount_min = django_filters.NumberFilter(
        field_name="amount", lookup_expr="gte", label=_("Amount from")
    )
    amount_max = django_filters.NumberFilter(
        field_name="amount", lookup_expr="lte", label=_("Amount up to")
    )
    close_from = django_filters.DateFilter(
        field_name="expected_close", lookup_expr="gte", label=_("Expected close from")
    )
    close_to = django_filters.DateFilter(
        field_name="expected_close", lookup_expr="lte", label=_("Expected close up to")
    )
    ordering = django_filters.OrderingFilter(
        fields=(
            ("title", "title"),
            ("amount", "amount"),
            ("expected_close", "expected_close"),
            ("created_at", "created"),
            ("updated_at", "updated"),
            ("stage__order", "stage"),
        ),
        label=_("Sort by"),
    )

    class Meta:
        model = Deal
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Deal], name: str, value: str) -> QuerySet[Deal]:
        return _words(
            queryset,
            ("title", "organization__legal_name", "organization__short_name", "person__last_name"),
            value,
        )


class ActivityFilter(django_filters.FilterSet):  # type: ignore[misc]
    q = django_filters.CharFilter(method="filter_q", label=_("Search"))
    kind = django_filters.ChoiceFilter(choices=ActivityKind.choices, label=_("Kind"))
    owner = django_filters.UUIDFilter(field_name="owner__public_id", label=_("Responsible"))
    organization = django_filters.UUIDFilter(
        field_name="organization__public_id", label=_("Organisation")
    )
    person = django_filters.UUIDFilter(field_name="person__public_id", label=_("Person"))
    deal = django_filters.UUIDFilter(field_name="deal__public_id", label=_("Deal"))
    done = django_filters.BooleanFilter(
        field_name="done_at", lookup_expr="isnull", exclude=True, label=_("Done")
    )
    overdue = django_filters.BooleanFilter(method="filter_overdue", label=_("Overdue"))
    due_from = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="gte", label=_("Due from")
    )
    due_to = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="lte", label=_("Due up to")
    )
    archived = django_filters.BooleanFilter(field_name="archived", label=_("Archived"))
    ordering = django_filters.OrderingFilter(
        fields=(("due_at", "due"), ("done_at", "done"), ("created_at", "created")),
        label=_("Sort by"),
    )

    class Meta:
        model = Activity
        fields: list[str] = []

    def filter_q(self, queryset: QuerySet[Activity], name: str, value: str) -> QuerySet[Activity]:
        return _words(queryset, ("subject", "description", "result"), value)

    def filter_overdue(
        self, queryset: QuerySet[Activity], name: str, value: bool | None
    ) -> QuerySet[Activity]:
        if value is None:
            return queryset
        overdue = Q(done_at__isnull=True, due_at__lt=timezone.now())
        return queryset.filter(overdue) if value else queryset.exclude(overdue)
