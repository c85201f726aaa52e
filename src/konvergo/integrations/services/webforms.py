"""The public lead form: a submission creates a lead (an organisation with the status "lead",
or a person when no company is given) owned by the form's owner, and emits
`integrations.webform.submitted`. Bots filling the hidden honeypot field are thanked and
ignored; more than `max_per_hour` submissions from one address are refused (429)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.core.events import emit
from konvergo.crm.choices import OrganizationStatus
from konvergo.crm.services.contacts import organization_create, person_create
from konvergo.integrations.models import WebForm, WebFormSubmission

HONEYPOT = "website"  # hidden from people by CSS; bots fill every field
FIELDS = ("name", "company", "email", "phone", "message")


class RateLimited(BusinessError):
    status = 429
    code = "rate_limited"


def webform_submit(*, form: WebForm, data: dict[str, Any], ip: str | None) -> WebFormSubmission:
    values = {key: str(data.get(key) or "").strip()[:2000] for key in FIELDS}
    since = timezone.now() - timedelta(hours=1)
    if ip and form.submissions.filter(ip=ip, created_at__gte=since).count() >= form.max_per_hour:
        raise RateLimited(_("Too many submissions; please try again later."))
    if str(data.get(HONEYPOT) or "").strip():
        return WebFormSubmission.objects.create(form=form, ip=ip, data=values, spam=True)
    errors: dict[str, list[str]] = {}
    if not values["name"]:
        errors["name"] = [_("Please give your name.")]
    if not values["email"] and not values["phone"]:
        errors["email"] = [_("Please give an e-mail address or a phone number.")]
    if errors:
        raise FieldErrors(errors)
    emails = [{"address": values["email"]}] if values["email"] else []
    phones = [{"number": values["phone"]}] if values["phone"] else []
    notes = _("Web form %(form)s: %(message)s") % {"form": form.name, "message": values["message"]}
    with transaction.atomic():
        organization = person = None
        if values["company"]:
            organization = organization_create(
                actor=form.owner,
                legal_name=values["company"],
                status=OrganizationStatus.LEAD,
                emails=emails,
                phones=phones,
                notes=notes,
            )
        else:
            first, _sep, last = values["name"].rpartition(" ")
            person = person_create(
                actor=form.owner,
                first_name=first,
                last_name=last or values["name"],
                emails=emails,
                phones=phones,
                notes=notes,
            )
        submission = WebFormSubmission.objects.create(
            form=form, ip=ip, data=values, organization=organization, person=person
        )
        emit(
            "integrations.webform.submitted",
            subject=submission,
            payload={
                "form": form.name,
                **values,
                "owner": form.owner.username,
                "organization": str(organization.public_id) if organization else "",
                "person": str(person.public_id) if person else "",
            },
        )
    return submission
