"""The integrations of the demo company: the office phone system and an SMS gateway that only
logs (with their secrets), the website's lead form, a welcome e-mail in five languages, and a
missed call from a client, which the demo's call-back rule turns into a process."""

from __future__ import annotations

from collections.abc import Callable

from konvergo.core.demo import register_demo_step
from konvergo.crm.models import Phone
from konvergo.integrations.models import ChannelKind, InboundChannel, SmsGateway, WebForm
from konvergo.integrations.services.mail import email_ensure_template
from konvergo.integrations.services.telephony import call_event
from konvergo.org.models import User

WELCOME = {
    "en": ("Welcome to {{ company }}", "Dear {{ name }},\n\nthank you for choosing us."),
    "de": ("Willkommen bei {{ company }}", "Guten Tag {{ name }},\n\ndanke für Ihr Vertrauen."),
    "pl": ("Witamy w {{ company }}", "Szanowni Państwo,\n\ndziękujemy za zaufanie, {{ name }}."),
    "ru": ("Добро пожаловать в {{ company }}", "Здравствуйте, {{ name }}!\n\nСпасибо за доверие."),  # noqa: RUF001
    "fa": ("به {{ company }} خوش آمدید", "{{ name }} گرامی،\n\nاز اعتماد شما سپاسگزاریم."),  # noqa: RUF001
}


@register_demo_step(55, "integrations")
def demo_integrations(say: Callable[[str], None]) -> None:
    InboundChannel.objects.get_or_create(kind=ChannelKind.TELEPHONY, name="Office phone system")
    InboundChannel.objects.get_or_create(kind=ChannelKind.SMS, name="SMS gateway")
    SmsGateway.objects.get_or_create(
        name="Development (log only)", defaults={"provider": "log", "is_default": True}
    )
    owner = User.objects.filter(username="anna.nowak").first()
    if owner is not None:
        WebForm.objects.get_or_create(name="Website contact form", defaults={"owner": owner})
    email_ensure_template(key="welcome", texts=WELCOME)
    phone = (
        Phone.objects.filter(person__isnull=False).select_related("person").order_by("pk").first()
    )
    if phone is not None and owner is not None:
        # A client called Anna while she was out: the call-back rule starts its process.
        call_event(
            {
                "call_id": "demo-missed-1",
                "event": "ringing",
                "caller": phone.number,
                "user": owner.username,
            }
        )
        call_event({"call_id": "demo-missed-1", "event": "ended"})
    say(
        "phone system and SMS channels, a lead form, a welcome e-mail in five languages, "
        "a missed call"
    )
