"""`konvergo doctor`: mailboxes that cannot be read, e-mails that could not be sent, webhook
subscriptions switched off after repeated failures."""

from __future__ import annotations

from konvergo.core.doctor import Finding, register_check
from konvergo.integrations.models import EmailMessage, EmailStatus, Mailbox, WebhookSubscription


@register_check("integrations")
def check_integrations() -> list[Finding]:
    findings = []
    failing = list(Mailbox.objects.filter(is_active=True, failing_since__isnull=False)[:10])
    if failing:
        names = ", ".join(f"{m.name} ({m.last_error[:80]})" for m in failing)
        findings.append(Finding("integrations", False, f"mailbox(es) cannot be read: {names}"))
    failed = EmailMessage.objects.filter(status=EmailStatus.FAILED).count()
    if failed:
        findings.append(
            Finding("integrations", False, f"{failed} e-mail(s) could not be sent; send them again")
        )
    off = list(WebhookSubscription.objects.filter(disabled_at__isnull=False, is_active=False)[:10])
    if off:
        names = ", ".join(s.name for s in off)
        findings.append(Finding("integrations", False, f"webhooks switched off: {names}"))
    return findings or [Finding("integrations", True, "mailboxes, mail and webhooks work")]
