"""Configuration pages of the integrations: one list and one form per kind of record
(mailboxes, SMS gateways, inbound channels, webhook subscriptions, lead forms, e-mail
templates). Model permissions decide who may see and change each kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import FieldErrors
from konvergo.integrations.models import (
    EmailTemplate,
    InboundChannel,
    Mailbox,
    SmsGateway,
    WebForm,
    WebhookSubscription,
)
from konvergo.integrations.services.setup import setting_delete, setting_save
from konvergo.integrations.services.webhooks import subscription_create, subscription_update
from konvergo.org.permissions import can


@dataclass(frozen=True)
class Kind:
    key: str
    model: type[models.Model]
    fields: tuple[str, ...]
    columns: tuple[str, ...]


KINDS = {
    kind.key: kind
    for kind in (
        Kind(
            "mailboxes",
            Mailbox,
            (
                "name",
                "address",
                "host",
                "port",
                "use_ssl",
                "username",
                "password",
                "folder",
                "creates",
                "queue",
                "owner",
                "is_active",
            ),
            ("name", "host", "username", "creates", "is_active", "last_error"),
        ),
        Kind(
            "sms-gateways",
            SmsGateway,
            (
                "name",
                "provider",
                "url",
                "method",
                "body_template",
                "content_type",
                "auth_header",
                "auth_value",
                "sender",
                "is_default",
            ),
            ("name", "provider", "url", "is_default"),
        ),
        Kind(
            "channels", InboundChannel, ("kind", "name", "is_active"), ("name", "kind", "is_active")
        ),
        Kind(
            "webhooks",
            WebhookSubscription,
            ("name", "url", "events", "is_active", "owner"),
            ("name", "url", "events", "is_active", "consecutive_failures"),
        ),
        Kind(
            "forms",
            WebForm,
            ("name", "owner", "is_active", "max_per_hour", "thanks"),
            ("name", "owner", "is_active"),
        ),
        Kind(
            "templates",
            EmailTemplate,
            ("key", "language", "subject", "body"),
            ("key", "language", "subject"),
        ),
    )
}
SECRET_WIDGETS = {"password", "auth_value"}


def _kind(key: str, request: HttpRequest, action: str) -> Kind:
    kind = KINDS.get(key)
    if kind is None:
        raise Http404
    if not can(request.user, action, kind.model):
        raise PermissionDenied(_("You may not do this."))
    return kind


class EventsField(forms.CharField):
    def prepare_value(self, value: Any) -> Any:
        return ", ".join(value) if isinstance(value, list) else value

    def clean(self, value: Any) -> list[str]:
        text = super().clean(value)
        return [part.strip() for part in str(text).replace(",", " ").split() if part.strip()]


def _formfield(field: models.Field[Any, Any], **kwargs: Any) -> Any:
    if isinstance(field, models.URLField):
        kwargs["assume_scheme"] = "https"
    return field.formfield(**kwargs)


def _form_class(kind: Kind) -> type[forms.ModelForm[Any]]:
    widgets: dict[str, Any] = {
        name: forms.PasswordInput(render_value=False) for name in SECRET_WIDGETS & set(kind.fields)
    }
    meta = type(
        "Meta",
        (),
        {
            "model": kind.model,
            "fields": kind.fields,
            "widgets": widgets,
            "formfield_callback": staticmethod(_formfield),
        },
    )
    attrs: dict[str, Any] = {"Meta": meta}
    if "events" in kind.fields:
        attrs["events"] = EventsField(
            label=_("Events"), help_text=_("Event names, separated by commas; * matches any part.")
        )
    form_class: type[forms.ModelForm[Any]] = type(
        f"{kind.model.__name__}Form", (forms.ModelForm,), attrs
    )
    for name in SECRET_WIDGETS & set(kind.fields):
        form_class.base_fields[name].required = False
    return form_class


def _cell(record: models.Model, name: str) -> Any:
    value = getattr(record, f"get_{name}_display", None)
    if callable(value):
        return value()
    value = getattr(record, name)
    return ", ".join(value) if isinstance(value, list) else value


@login_required
@require_safe
def setting_list(request: HttpRequest, key: str) -> HttpResponse:
    kind = _kind(key, request, "view")
    rows = [
        {
            "record": record,
            "cells": [_cell(record, name) for name in kind.columns],
            "edit_url": reverse("integrations:setting_edit", args=[key, record.public_id]),  # type: ignore[attr-defined]
        }
        for record in kind.model._default_manager.all()[:500]
    ]
    return render(
        request,
        "integrations/setting_list.html",
        {
            "title": capfirst(str(kind.model._meta.verbose_name_plural)),
            "kind": kind,
            "headers": [
                capfirst(str(getattr(kind.model._meta.get_field(n), "verbose_name", n)))
                for n in kind.columns
            ],
            "rows": rows,
            "may_add": can(request.user, "add", kind.model),
            "kinds": settings_menu(request),
        },
    )


def settings_menu(request: HttpRequest) -> list[tuple[str, str]]:
    return [
        (
            capfirst(str(k.model._meta.verbose_name_plural)),
            reverse("integrations:setting_list", args=[k.key]),
        )
        for k in KINDS.values()
        if can(request.user, "view", k.model)
    ]


@login_required
@require_http_methods(["GET", "POST"])
def setting_edit(request: HttpRequest, key: str, public_id: UUID | None = None) -> HttpResponse:
    kind = _kind(key, request, "change" if public_id else "add")
    instance = kind.model()
    if public_id is not None:
        found = kind.model._default_manager.filter(public_id=public_id).first()
        if found is None:
            raise Http404
        instance = found
    # The form writes its values onto the instance while it validates: remember the stored
    # secrets first, so that a secret field left empty keeps its value.
    kept = {name: getattr(instance, name) for name in SECRET_WIDGETS & set(kind.fields)}
    form = _form_class(kind)(request.POST or None, instance=instance)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in kind.fields}
        try:
            if kind.model is WebhookSubscription:
                if instance.pk:
                    saved: models.Model = subscription_update(
                        actor=request.user,  # type: ignore[arg-type]
                        subscription=instance,  # type: ignore[arg-type]
                        **values,
                    )
                else:
                    saved = subscription_create(actor=request.user, **values)  # type: ignore[arg-type]
            else:
                saved = setting_save(
                    actor=request.user, instance=instance, values=values, kept=kept
                )
        except FieldErrors as exc:
            for field, problems in exc.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            messages.success(request, _("%(name)s is saved.") % {"name": saved})
            return redirect("integrations:setting_list", key)
    secret = ""
    if isinstance(instance, InboundChannel | WebhookSubscription) and instance.pk:
        secret = instance.secret
    endpoint = ""
    if isinstance(instance, InboundChannel) and instance.pk:
        name = (
            "integrations:telephony_webhook"
            if instance.kind == "telephony"
            else "integrations:sms_inbound"
        )
        endpoint = request.build_absolute_uri(reverse(name, args=[instance.public_id]))
    return render(
        request,
        "integrations/setting_form.html",
        {
            "title": capfirst(str(kind.model._meta.verbose_name)),
            "form": form,
            "kind": kind,
            "instance": instance if instance.pk else None,
            "secret": secret,
            "endpoint": endpoint,
            "may_delete": instance.pk and can(request.user, "delete", kind.model),
        },
    )


@login_required
@require_POST
def setting_remove(request: HttpRequest, key: str, public_id: UUID) -> HttpResponse:
    kind = _kind(key, request, "delete")
    instance = kind.model._default_manager.filter(public_id=public_id).first()
    if instance is None:
        raise Http404
    setting_delete(actor=request.user, instance=instance)
    messages.success(request, _("%(name)s is deleted.") % {"name": instance})
    return redirect("integrations:setting_list", key)
