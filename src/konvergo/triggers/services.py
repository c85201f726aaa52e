"""Writes of the triggers app: rules (validated before they are saved) and firing them on events.

A rule's condition, variable mappings and correlation key are texts in the engine's safe
expression language, evaluated against the event: `event.name`, `event.subject_type`,
`event.subject_id`, `event.occurred_at`, `payload.<key>`, and every payload key on its own.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.utils.translation import gettext as _

from konvergo.core.audit import acting_as
from konvergo.core.errors import FieldErrors
from konvergo.core.events import EventMessage
from konvergo.processes.engine.expressions import (
    ExpressionError,
    evaluate,
    evaluate_condition,
    to_json_value,
    validate_expression,
)
from konvergo.processes.models import ProcessDefinition
from konvergo.processes.services import message_correlate, process_start
from konvergo.triggers.models import Action, FiringStatus, TriggerFiring, TriggerRule

logger = logging.getLogger(__name__)

RULE_FIELDS = (
    "name",
    "event",
    "condition",
    "action",
    "process_key",
    "message_name",
    "correlation_key",
    "webhook_url",
    "webhook_secret",
    "variables",
    "is_active",
)

# The events the UI offers (any other name, or a glob, is accepted too).
KNOWN_EVENTS: tuple[str, ...] = (
    "crm.organization.created",
    "crm.organization.updated",
    "crm.person.created",
    "crm.person.updated",
    "crm.deal.created",
    "crm.deal.updated",
    "crm.deal.stage_changed",
    "crm.deal.won",
    "crm.deal.lost",
    "crm.activity.created",
    "crm.quote.created",
    "crm.proforma.created",
    "tickets.ticket.created",
    "documents.document.approved",
    "integrations.call.received",
    "integrations.call.answered",
    "integrations.call.missed",
    "integrations.sms.received",
    "integrations.email.received",
    "integrations.webform.submitted",
)

WebhookCaller = Callable[[TriggerRule, dict[str, Any]], None]
_webhook_caller: list[WebhookCaller] = []


def register_webhook_caller(fn: WebhookCaller) -> WebhookCaller:
    """The integrations app delivers the "call a webhook" action (signed, retried, logged);
    triggers cannot import it, so it registers itself here from its AppConfig.ready()."""
    _webhook_caller[:] = [fn]
    return fn


# --- rules -----------------------------------------------------------------------------------


def _expression_error(text: str) -> str | None:
    try:
        validate_expression(text)
    except ExpressionError as exc:
        return str(exc)
    return None


def rule_clean(values: Mapping[str, Any]) -> dict[str, Any]:
    """The rule's fields checked together; raises FieldErrors naming each bad field."""
    errors: dict[str, list[str]] = {}
    clean = {key: values[key] for key in RULE_FIELDS if key in values}
    for key in ("name", "event", "condition", "process_key", "message_name", "correlation_key"):
        if key in clean:
            clean[key] = str(clean[key] or "").strip()
    if not clean.get("name"):
        errors.setdefault("name", []).append(_("Give the rule a name."))
    event = clean.get("event", "")
    if not event:
        errors.setdefault("event", []).append(_("Choose the event that fires the rule."))
    elif len(event) > 120 or any(c.isspace() for c in event):
        errors.setdefault("event", []).append(_("An event name has no spaces (crm.deal.won)."))
    for key in ("condition", "correlation_key"):
        if clean.get(key) and (problem := _expression_error(clean[key])):
            errors.setdefault(key, []).append(problem)
    variables = clean.get("variables") or {}
    if not isinstance(variables, dict):
        errors.setdefault("variables", []).append(_("Map variable names to expressions."))
        variables = {}
    for name, expression in variables.items():
        if not str(name).isidentifier() or str(name).startswith("_"):
            errors.setdefault("variables", []).append(
                _("%(name)s is not a variable name.") % {"name": name}
            )
        elif not isinstance(expression, str) or not expression.strip():
            errors.setdefault("variables", []).append(
                _("Give %(name)s an expression.") % {"name": name}
            )
        elif problem := _expression_error(expression):
            errors.setdefault("variables", []).append(f"{name}: {problem}")
    clean["variables"] = {str(k): str(v).strip() for k, v in variables.items()}
    action = clean.get("action", Action.START_PROCESS)
    if action not in Action.values:
        errors.setdefault("action", []).append(_("Choose an action."))
    elif action == Action.START_PROCESS:
        key = clean.get("process_key", "")
        if not key:
            errors.setdefault("process_key", []).append(_("Choose the process to start."))
        elif not ProcessDefinition.objects.filter(key=key).exists():
            errors.setdefault("process_key", []).append(
                _("No process %(key)s is deployed.") % {"key": key}
            )
    elif action == Action.CORRELATE and not clean.get("message_name"):
        errors.setdefault("message_name", []).append(_("Name the message to correlate."))
    elif action == Action.WEBHOOK and not clean.get("webhook_url"):
        errors.setdefault("webhook_url", []).append(_("Give the URL to call."))
    if errors:
        raise FieldErrors(errors)
    return clean


def rule_create(*, actor: Any, **fields: Any) -> TriggerRule:
    values = {"action": Action.START_PROCESS, "is_active": True, **fields}
    clean = rule_clean(values)
    rule = TriggerRule(**clean, created_by=actor if getattr(actor, "pk", None) else None)
    with transaction.atomic(), acting_as(actor):
        rule.save()
    return rule


def rule_update(*, actor: Any, rule: TriggerRule, **fields: Any) -> TriggerRule:
    current = {key: getattr(rule, key) for key in RULE_FIELDS}
    clean = rule_clean({**current, **fields})
    with transaction.atomic(), acting_as(actor):
        for key, value in clean.items():
            setattr(rule, key, value)
        rule.save()
    return rule


def rule_delete(*, actor: Any, rule: TriggerRule) -> None:
    with transaction.atomic(), acting_as(actor):
        rule.delete()


# --- firing ----------------------------------------------------------------------------------


def event_data(message: EventMessage) -> dict[str, Any]:
    """The names a rule's expressions see."""
    payload = dict(message.payload or {})
    return {
        **{k: v for k, v in payload.items() if isinstance(k, str) and not k.startswith("_")},
        "payload": payload,
        "event": {
            "name": message.name,
            "subject_type": message.subject_type or "",
            "subject_id": message.subject_id,
            "occurred_at": message.occurred_at.isoformat(),
            "id": str(message.id),
        },
    }


def rules_for(message: EventMessage) -> list[TriggerRule]:
    """The active rules for this event. A rule never fires for events older than itself (the
    outbox may deliver yesterday's events after a rule is written, e.g. while the demo loads)."""
    rules = TriggerRule.objects.filter(is_active=True, created_at__lte=message.occurred_at)
    return [rule for rule in rules.order_by("pk") if fnmatch.fnmatchcase(message.name, rule.event)]


def _subject(message: EventMessage) -> models.Model | None:
    if not message.subject_type or not message.subject_id:
        return None
    app_label, _dot, model = message.subject_type.partition(".")
    try:
        model_class = ContentType.objects.get_by_natural_key(app_label, model).model_class()
    except ContentType.DoesNotExist:
        return None
    if model_class is None:
        return None
    return model_class._default_manager.filter(pk=message.subject_id).first()


def _run(rule: TriggerRule, message: EventMessage, data: dict[str, Any]) -> TriggerFiring:
    firing = TriggerFiring(rule=rule, event_id=message.id, event_name=message.name)
    if rule.condition and not evaluate_condition(rule.condition, data):
        firing.status = FiringStatus.SKIPPED
        return firing
    variables = {name: to_json_value(evaluate(text, data)) for name, text in rule.variables.items()}
    firing.variables = variables
    key = str(evaluate(rule.correlation_key, data)) if rule.correlation_key else ""
    if rule.action == Action.START_PROCESS:
        firing.instance = process_start(
            rule.process_key, business_key=key, subject=_subject(message), variables=variables
        )
    elif rule.action == Action.CORRELATE:
        firing.matched = message_correlate(
            rule.message_name, correlation_key=key, variables=variables
        )
    elif rule.action == Action.WEBHOOK:
        if not _webhook_caller:
            raise LookupError("no webhook caller is installed")
        _webhook_caller[0](rule, {"event": data["event"], "payload": data["payload"], **variables})
    firing.status = FiringStatus.DONE
    return firing


def event_fire(message: EventMessage) -> list[TriggerFiring]:
    """Run every active rule for this event once. A failing rule is logged as failed with its
    error and does not hold up the others (its partial work is rolled back)."""
    data = event_data(message)
    firings = []
    done = set(TriggerFiring.objects.filter(event_id=message.id).values_list("rule_id", flat=True))
    for rule in rules_for(message):
        if rule.pk in done:
            continue
        try:
            with transaction.atomic():
                firing = _run(rule, message, data)
                firing.save()
        except Exception as exc:
            if not isinstance(exc, ExpressionError):
                logger.exception("Trigger rule %s failed on event %s", rule.pk, message.id)
            firing = TriggerFiring.objects.create(
                rule=rule,
                event_id=message.id,
                event_name=message.name,
                status=FiringStatus.FAILED,
                error=f"{exc.__class__.__name__}: {exc}"[:5000],
            )
        firings.append(firing)
    return firings
