"""Saved views: a user's named filters and sorting of a CRM list (a query string).

Personal preferences, not business records: no events, no history.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

from django.db import transaction
from django.utils.translation import gettext as _

from konvergo.core.errors import FieldErrors
from konvergo.crm.models import SavedView
from konvergo.org.models import User

LISTS = frozenset({"organization", "person", "deal", "activity"})
IGNORED_PARAMETERS = frozenset({"page", "csrfmiddlewaretoken"})


def saved_view_query(query: str) -> str:
    """The query string without the page number (a view is filters and sorting)."""
    pairs = [
        (key, value)
        for key, value in parse_qsl(query.lstrip("?"), keep_blank_values=False)
        if key not in IGNORED_PARAMETERS
    ]
    return urlencode(pairs)


def saved_view_save(*, user: User, list_name: str, name: str, query: str) -> SavedView:
    """Save `query` under `name` for the user's `list_name`; an existing view of that name is
    replaced."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if list_name not in LISTS:
        errors["list_name"] = [_("Unknown list.")]
    if not name:
        errors["name"] = [_("Give the view a name.")]
    elif len(name) > 120:
        errors["name"] = [_("At most %(max)d characters.") % {"max": 120}]
    cleaned = saved_view_query(query or "")
    if len(cleaned) > 2000:
        errors["query"] = [_("These filters are too long to save.")]
    if errors:
        raise FieldErrors(errors)
    with transaction.atomic():
        view, _created = SavedView.objects.update_or_create(
            user=user, list_name=list_name, name=name, defaults={"query": cleaned}
        )
    return view


def saved_view_delete(*, view: SavedView) -> None:
    view.delete()
