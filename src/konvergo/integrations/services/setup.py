"""Writes of the integrations' configuration: mailboxes, SMS gateways, inbound channels, lead
forms and e-mail templates (webhook subscriptions have their own service). Secrets left empty
on an edit keep their stored value; history records who changed what."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction

from konvergo.core.audit import acting_as
from konvergo.integrations.models import SmsGateway

SECRET_FIELDS = frozenset({"password", "auth_value", "secret"})


def setting_save(
    *,
    actor: Any,
    instance: models.Model,
    values: dict[str, Any],
    kept: dict[str, Any] | None = None,
) -> models.Model:
    """Save a configuration record from validated form values; `kept` are the stored secrets,
    which an empty value leaves as they are."""
    with transaction.atomic(), acting_as(actor):
        for name, value in values.items():
            if name in SECRET_FIELDS and not value and instance.pk:
                value = (kept or {}).get(name, getattr(instance, name))
            setattr(instance, name, value)
        instance.full_clean()
        instance.save()
        if isinstance(instance, SmsGateway) and instance.is_default:
            # One default gateway.
            SmsGateway.objects.exclude(pk=instance.pk).update(is_default=False)
    return instance


def setting_delete(*, actor: Any, instance: models.Model) -> None:
    with transaction.atomic(), acting_as(actor):
        instance.delete()
