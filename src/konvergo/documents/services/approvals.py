"""Approval routes run by the process engine.

Sending a version for approval starts the document type's process with the document as its
subject. The BPMN calls three connectors (registered from AppConfig.ready()), which run inside
the engine's own transaction, so the document status changes atomically with the process step:

- `documents.record_decision` after each approval user task: a line of the approval sheet;
- `documents.approval_outcome` after a round: "approve" unless someone rejected or asked for
  changes (so parallel rounds need every approval);
- `documents.set_status`: the document follows the process (approved / rejected / changes).
"""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from simple_history.models import HistoricalRecords

from konvergo.core.errors import BusinessError, Conflict, NotAllowed
from konvergo.core.events import emit
from konvergo.documents.models import (
    Approval,
    ApprovalStatus,
    ApprovalStep,
    Decision,
    Document,
    DocumentStatus,
    DocumentVersion,
    NewVersionRule,
)
from konvergo.org.models import User
from konvergo.processes.models import InstanceStatus, ProcessInstance
from konvergo.processes.registry import register_connector
from konvergo.processes.services import instance_cancel, process_start

logger = logging.getLogger(__name__)


def _amount(document: Document) -> float:
    """The amount the thresholds (DMN) decide on: the type's "amount" field, else the deal's."""
    raw: Any = document.custom_data.get("amount")
    if raw in (None, "") and document.deal_id is not None and document.deal is not None:
        raw = document.deal.amount
    try:
        return float(Decimal(str(raw))) if raw not in (None, "") else 0.0
    except InvalidOperation:
        return 0.0


def _start(
    document: Document,
    version: DocumentVersion,
    actor: Any,
    variables: dict[str, Any] | None,
) -> Approval:
    key = document.document_type.approval_process_key
    approval = Approval.objects.create(document=document, version=version, started_by=actor)
    data = {
        "approvers": [],
        "approver_group": "",
        **(document.document_type.approval_variables or {}),
        # What the sender chose wins over the type's defaults; empty choices do not.
        **{k: v for k, v in (variables or {}).items() if v not in ("", [], None)},
        "document": str(document.public_id),
        "approval": str(approval.public_id),
        "title": document.title,
        "version": version.number,
        "amount": _amount(document),
        "initiator": actor.username,
        "owner": document.owner.username,
    }
    instance = process_start(
        key,
        business_key=f"document:{document.public_id}",
        subject=document,
        variables=data,
        actor=actor,
    )
    approval.process_instance = instance
    approval.save(update_fields=["process_instance", "updated_at"])
    # The process may have decided already (a route with no human step).
    document.refresh_from_db()
    if Approval.objects.filter(pk=approval.pk, status=ApprovalStatus.RUNNING).exists():
        document.status = DocumentStatus.IN_APPROVAL
    document.process_instance = instance
    document.save(update_fields=["status", "process_instance", "updated_at"])
    return approval


def approval_send(
    *,
    document: Document,
    actor: Any,
    variables: dict[str, Any] | None = None,
) -> Approval:
    """Send the current version for approval through the type's process."""
    if not document.document_type.approval_process_key:
        raise BusinessError(
            _("Documents of type %(type)s have no approval process.")
            % {"type": document.document_type}
        )
    with transaction.atomic():
        locked = Document.objects.select_for_update().get(pk=document.pk)
        if locked.status == DocumentStatus.ARCHIVED:
            raise NotAllowed(_("The document is archived and read-only."))
        if locked.status not in (DocumentStatus.DRAFT, DocumentStatus.REJECTED):
            raise Conflict(
                _("A document that is %(status)s cannot be sent for approval.")
                % {"status": locked.get_status_display().lower()}
            )
        version = locked.versions.order_by("-number").first()
        if version is None:
            raise BusinessError(_("The document has no file yet."))
        approval = _start(locked, version, actor, variables)
    document.refresh_from_db()
    return approval


def running_approval(document: Document) -> Approval | None:
    return (
        document.approvals.filter(status=ApprovalStatus.RUNNING)
        .select_related("process_instance")
        .last()
    )


def approval_new_version(*, document: Document, version: DocumentVersion, actor: Any) -> None:
    """A new version while in approval: the type says restart (cancel, start again for the
    new version) or continue (later decisions are about the new version)."""
    approval = running_approval(document)
    if approval is None:
        return
    if document.document_type.on_new_version == NewVersionRule.CONTINUE:
        approval.version = version
        approval.save(update_fields=["version", "updated_at"])
        return
    _cancel(approval, actor, reason=_("Restarted for version %(n)d") % {"n": version.number})
    variables = {}
    if approval.process_instance is not None:
        variables = {
            k: v
            for k, v in approval.process_instance.variables.items()
            if k in ("approvers", "approver_group")
        }
    _start(document, version, actor, variables)


def _cancel(approval: Approval, actor: Any, *, reason: str) -> None:
    instance = approval.process_instance
    if instance is not None and instance.status == InstanceStatus.RUNNING:
        instance_cancel(instance=instance, reason=reason, actor=actor)
    approval.status = ApprovalStatus.CANCELLED
    approval.ended_at = timezone.now()
    approval.save(update_fields=["status", "ended_at", "updated_at"])


@transaction.atomic
def approval_withdraw(*, document: Document, actor: Any) -> Document:
    """The author takes the document back out of approval (it becomes a draft)."""
    locked = Document.objects.select_for_update().get(pk=document.pk)
    approval = running_approval(locked)
    if approval is None or locked.status != DocumentStatus.IN_APPROVAL:
        raise Conflict(_("The document is not in approval."))
    _cancel(approval, actor, reason=_("Withdrawn"))
    locked.status = DocumentStatus.DRAFT
    locked.save(update_fields=["status", "updated_at"])
    return locked


# --- connectors -----------------------------------------------------------------------------


def _approval(inputs: dict[str, Any]) -> Approval:
    return Approval.objects.select_related("document", "version").get(
        public_id=str(inputs["approval"])
    )


def _current_user(fallback: str) -> tuple[User | None, str]:
    """Who completed the task: the request's user (the inbox or the API set it for the audit
    trail), else the approver the route named."""
    request = getattr(HistoricalRecords.context, "request", None)
    user = getattr(request, "user", None)
    if isinstance(user, User) and user.is_authenticated:
        return user, user.get_full_name() or user.username
    named = User.objects.filter(username=fallback).first() if fallback else None
    if named is not None:
        return named, named.get_full_name() or named.username
    return None, fallback


@register_connector(
    "documents.record_decision",
    description="Writes a line of a document's approval sheet (approval, decision, comment).",
)
def record_decision(inputs: dict[str, Any]) -> dict[str, Any]:
    approval = _approval(inputs)
    decision = str(inputs.get("decision") or "")
    if decision not in Decision.values:
        raise ValueError(f"unknown decision {decision!r}")
    user, name = _current_user(str(inputs.get("approver") or ""))
    ApprovalStep.objects.create(
        approval=approval,
        version=approval.version,
        step=str(inputs.get("step") or "")[:200],
        approver=user,
        approver_name=name[:200],
        decision=decision,
        comment=str(inputs.get("comment") or ""),
        decided_at=timezone.now(),
    )
    return {}


@register_connector(
    "documents.approval_outcome",
    description="The result of an approval round so far: approve, reject or changes.",
)
def approval_outcome(inputs: dict[str, Any]) -> dict[str, Any]:
    approval = _approval(inputs)
    decisions = set(approval.steps.values_list("decision", flat=True))
    if Decision.REJECT in decisions:
        return {"outcome": "reject"}
    if Decision.CHANGES in decisions:
        return {"outcome": "changes"}
    return {"outcome": "approve"}


ENDINGS = {
    "approve": (ApprovalStatus.APPROVED, DocumentStatus.APPROVED, "documents.document.approved"),
    "reject": (ApprovalStatus.REJECTED, DocumentStatus.REJECTED, "documents.document.rejected"),
    "changes": (ApprovalStatus.CHANGES, DocumentStatus.DRAFT, "documents.document.changes"),
}


@register_connector(
    "documents.set_status",
    description="Ends a document's approval: outcome approve, reject or changes.",
)
def set_status(inputs: dict[str, Any]) -> dict[str, Any]:
    approval = _approval(inputs)
    outcome = str(inputs.get("outcome") or "")
    if outcome not in ENDINGS:
        raise ValueError(f"unknown outcome {outcome!r}")
    approval_status, document_status, event = ENDINGS[outcome]
    if approval.status != ApprovalStatus.RUNNING:
        return {}  # cancelled meanwhile: the document is no longer this run's
    approval.status = approval_status
    approval.ended_at = timezone.now()
    approval.save(update_fields=["status", "ended_at", "updated_at"])
    document = Document.objects.select_for_update().get(pk=approval.document_id)
    document.status = document_status
    document.save(update_fields=["status", "updated_at"])
    emit(
        event,
        subject=document,
        payload={
            "document": str(document.public_id),
            "version": approval.version.number,
            "approval": str(approval.public_id),
        },
    )
    return {"document_status": document_status}


def instance_of(approval: Approval) -> ProcessInstance | None:
    return approval.process_instance
