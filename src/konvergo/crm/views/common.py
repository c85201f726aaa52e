"""What every CRM page shares: the permission checks, the signed-in user, htmx detection and
putting a service's refusal onto the fields of a form.

Every view first checks the action (`require_page`: 403 before anything is read or written),
then looks the record up among those the user may see (`visible_or_404`: 404 otherwise), and
writes only through a service.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, TypeVar
from uuid import UUID

from django import forms
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db.models import Model, QuerySet
from django.forms import BaseFormSet
from django.http import Http404, HttpRequest
from django.utils.http import url_has_allowed_host_and_scheme

from konvergo.core.errors import BusinessError, FieldErrors, NotAllowed
from konvergo.org.models import User
from konvergo.org.permissions import require, visible

M = TypeVar("M", bound=Model)


def require_page(request: HttpRequest, action: str, model: type[Model]) -> None:
    """`permissions.require` for pages: a refusal renders the 403 page."""
    try:
        require(request.user, action, model)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


def visible_or_404(request: HttpRequest, queryset: QuerySet[M], public_id: UUID | str) -> M:
    """The record with this public id among those the user may see; 404 otherwise."""
    try:
        return visible(request.user, queryset).get(public_id=public_id)
    except (ObjectDoesNotExist, ValidationError, ValueError) as exc:
        raise Http404 from exc


def actor(request: HttpRequest) -> User:
    """The signed-in user (every CRM view is behind login_required)."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user


def is_htmx(request: HttpRequest) -> bool:
    """True for a request htmx made to swap a fragment (not for a boosted navigation).
    (The same test as web.htmx; crm sits below web, so it cannot import it.)"""
    return request.headers.get("HX-Request") == "true" and "HX-Boosted" not in request.headers


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` of the request when it points into this site, else `fallback`."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


def error_messages(exc: BusinessError | ValidationError) -> list[str]:
    """Everything a refusal says, for a message box."""
    if isinstance(exc, ValidationError):
        return [str(message) for message in exc.messages]
    if isinstance(exc, FieldErrors):
        return [str(m) for messages in exc.errors.values() for m in messages] or [exc.message]
    return [exc.message]


def add_service_error(
    form: forms.BaseForm,
    exc: BusinessError | ValidationError,
    *,
    formsets: Mapping[str, BaseFormSet[Any]] | None = None,
    aliases: Mapping[str, str] | None = None,
) -> None:
    """Show what a service refused where it belongs.

    FieldErrors keys name a field of the form (`legal_name`), a row of a formset
    (`phones.0.number`: formset "phones", row 0, field "number") or a custom field
    (`custom_data.size` on the form field `cf_size`); `aliases` maps other keys to form fields.
    Anything else (and a BusinessError naming no field we show) goes on top of the form.
    """
    formsets = formsets or {}
    aliases = aliases or {}
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            for name, errors in exc.error_dict.items():
                form.add_error(name if name in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return
    if isinstance(exc, FieldErrors):
        for key, messages in exc.errors.items():
            _place(form, key, list(messages), formsets, aliases)
        return
    details = exc.details if isinstance(exc.details, Mapping) else {}
    field = details.get("field")
    _place(form, str(field) if field else "", [exc.message], formsets, aliases)


def _place(
    form: forms.BaseForm,
    key: str,
    messages: Iterable[str],
    formsets: Mapping[str, BaseFormSet[Any]],
    aliases: Mapping[str, str],
) -> None:
    messages = [str(message) for message in messages]
    key = aliases.get(key, key)
    parts = key.split(".")
    if parts[0] == "custom_data" and len(parts) > 1 and f"cf_{parts[1]}" in form.fields:
        form.add_error(f"cf_{parts[1]}", messages)
        return
    if key in form.fields:
        form.add_error(key, messages)
        return
    formset = formsets.get(parts[0])
    if formset is not None:
        row = _row(formset, parts[1] if len(parts) > 1 else "")
        field = parts[2] if len(parts) > 2 else ""
        if row is not None:
            row.add_error(field if field in row.fields else None, messages)
        else:
            formset.non_form_errors().extend(messages)
        return
    form.add_error(None, [f"{key}: {m}" if key and key != "__all__" else m for m in messages])


def _row(formset: BaseFormSet[Any], index: str) -> forms.BaseForm | None:
    """The formset's n-th filled-in row (services number the rows they were given)."""
    if not index.isdigit():
        return None
    kept = [row for row in formset.forms if _kept(formset, row)]
    number = int(index)
    return kept[number] if number < len(kept) else None


def _kept(formset: BaseFormSet[Any], row: forms.BaseForm) -> bool:
    data = getattr(row, "cleaned_data", None)
    if not data or row.errors:
        return False
    return not (formset.can_delete and data.get("DELETE"))
