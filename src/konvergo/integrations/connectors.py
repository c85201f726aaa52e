"""Service-task connectors of the integrations app, and the "call a webhook" action of
trigger rules."""

from __future__ import annotations

from typing import Any

from konvergo.core.errors import BusinessError
from konvergo.crm.models import Organization, Person
from konvergo.documents.models import Document
from konvergo.integrations.services.mail import document_attachments, email_send
from konvergo.integrations.services.sms import sms_send
from konvergo.integrations.services.webhooks import webhook_call
from konvergo.processes.registry import register_connector
from konvergo.triggers.models import TriggerRule
from konvergo.triggers.services import register_webhook_caller


def _record(model: type[Organization] | type[Person] | type[Document], public_id: Any) -> Any:
    if not public_id:
        return None
    return model.objects.filter(public_id=public_id).first()


@register_connector(
    "integrations.send_email",
    description="Send an e-mail (inputs: to, and subject + body or template + language + "
    "variables; optional cc, organization, person, documents: ids of documents whose latest "
    "version goes along); logged on the client's timeline.",
)
def send_email(inputs: dict[str, Any]) -> dict[str, Any]:
    variables = inputs.get("variables")
    wanted = inputs.get("documents") or []
    documents = [_record(Document, i) for i in (wanted if isinstance(wanted, list) else [wanted])]
    if any(d is None for d in documents):
        raise BusinessError(f"no such document among {wanted!r}")
    message = email_send(
        actor=None,
        to=str(inputs.get("to") or ""),
        cc=str(inputs.get("cc") or ""),
        subject=str(inputs.get("subject") or ""),
        body=str(inputs.get("body") or ""),
        template=str(inputs.get("template") or ""),
        language=str(inputs.get("language") or ""),
        variables=variables if isinstance(variables, dict) else None,
        organization=_record(Organization, inputs.get("organization")),
        person=_record(Person, inputs.get("person")),
        attachments=document_attachments(documents),
    )
    return {"email_id": str(message.public_id), "message_id": message.message_id}


@register_connector(
    "integrations.send_sms",
    description="Send an SMS through the default gateway (inputs: to, text).",
)
def send_sms(inputs: dict[str, Any]) -> dict[str, Any]:
    sms = sms_send(to=str(inputs.get("to") or ""), text=str(inputs.get("text") or ""))
    return {"sms_id": str(sms.public_id)}


@register_webhook_caller
def call_rule_webhook(rule: TriggerRule, payload: dict[str, Any]) -> None:
    webhook_call(
        url=rule.webhook_url,
        secret=rule.webhook_secret,
        event_name=str(payload.get("event", {}).get("name", "")),
        payload=payload,
    )
