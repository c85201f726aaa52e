"""Integrations pages and inbound endpoints.

Inbound endpoints (telephony, SMS, delivery reports) authenticate with their channel's secret
(401 otherwise), answer 400 to a payload they cannot read and keep it as a dead letter. The
public lead form and the calendar feed are open to anyone holding their URL; everything else
needs a signed-in user with the model permission."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from konvergo.core.errors import BusinessError, FieldErrors, NotAllowed
from konvergo.documents.models import Document
from konvergo.documents.selectors import documents_visible
from konvergo.integrations import setup_views
from konvergo.integrations.models import (
    CalendarFeed,
    Call,
    ChannelKind,
    DeadLetter,
    EmailMessage,
    Mailbox,
    WebForm,
    WebhookDelivery,
    WebhookSubscription,
)
from konvergo.integrations.services import calendars, sms, telephony, webforms
from konvergo.integrations.services.common import (
    Malformed,
    Unauthorized,
    channel_authenticate,
    dead_letter,
    read_payload,
)
from konvergo.integrations.services.mail import document_attachments, email_retry, email_send
from konvergo.org.permissions import require

PER_PAGE = 100


def _require(request: HttpRequest, action: str, model: type[Any]) -> None:
    try:
        require(request.user, action, model)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc


# --- inbound endpoints -------------------------------------------------------------------------


def _inbound(
    request: HttpRequest, kind: ChannelKind, channel_id: UUID, handle: Any
) -> HttpResponse:
    try:
        channel_authenticate(request, kind=kind, public_id=channel_id)
    except Unauthorized:
        return JsonResponse({"error": "unauthorized"}, status=401)
    source = f"{kind}:{request.path.rstrip('/').rsplit('/', 1)[-1]}"
    try:
        result = handle(read_payload(request))
    except Malformed as exc:
        dead_letter(source=source, request=request, error=str(exc))
        return JsonResponse({"error": "malformed", "message": str(exc)}, status=400)
    return JsonResponse({"ok": True, **(result or {})})


@csrf_exempt
@require_POST
def telephony_webhook(request: HttpRequest, channel_id: UUID) -> HttpResponse:
    def handle(data: dict[str, Any]) -> dict[str, Any]:
        call = telephony.call_event(data)
        return {"call": str(call.public_id), "status": call.status}

    return _inbound(request, ChannelKind.TELEPHONY, channel_id, handle)


@csrf_exempt
@require_POST
def sms_inbound(request: HttpRequest, channel_id: UUID) -> HttpResponse:
    def handle(data: dict[str, Any]) -> dict[str, Any]:
        return {"sms": str(sms.sms_receive(data).public_id)}

    return _inbound(request, ChannelKind.SMS, channel_id, handle)


@csrf_exempt
@require_POST
def sms_status(request: HttpRequest, channel_id: UUID) -> HttpResponse:
    def handle(data: dict[str, Any]) -> dict[str, Any]:
        return {"updated": sms.sms_status(data)}

    return _inbound(request, ChannelKind.SMS, channel_id, handle)


# --- the public lead form ----------------------------------------------------------------------


class LeadForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Your name"), max_length=200)
    company = forms.CharField(label=gettext_lazy("Company"), max_length=200, required=False)
    email = forms.EmailField(label=gettext_lazy("E-mail"), required=False)
    phone = forms.CharField(label=gettext_lazy("Phone"), max_length=40, required=False)
    message = forms.CharField(
        label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 4}), required=False
    )


def _client_ip(request: HttpRequest) -> str | None:
    return request.META.get("REMOTE_ADDR") or None


@csrf_exempt  # embedded in other sites; the honeypot and the rate limit keep bots out
@xframe_options_exempt
@require_http_methods(["GET", "POST"])
def webform(request: HttpRequest, form_id: UUID) -> HttpResponse:
    page = WebForm.objects.filter(public_id=form_id, is_active=True).first()
    if page is None:
        raise Http404
    form = LeadForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                webforms.webform_submit(
                    form=page,
                    data={**form.cleaned_data, "website": request.POST.get("website", "")},
                    ip=_client_ip(request),
                )
            except FieldErrors as exc:
                for field, problems in exc.errors.items():
                    name = field.split(".")[0].rstrip("s") if "." in field else field
                    form.add_error(name if name in form.fields else None, problems)
                status = 400
            except webforms.RateLimited as exc:
                form.add_error(None, exc.message)
                status = 429
            else:
                return render(request, "integrations/webform_thanks.html", {"page": page})
        else:
            status = 400
    return render(request, "integrations/webform.html", {"page": page, "form": form}, status=status)


# --- calendar feed -----------------------------------------------------------------------------


@require_safe
def calendar_feed(request: HttpRequest, token: str) -> HttpResponse:
    feed = CalendarFeed.objects.select_related("user").filter(token=token).first()
    if feed is None or not feed.user.is_active:
        raise Http404
    response = HttpResponse(
        calendars.feed_calendar(feed.user), content_type="text/calendar; charset=utf-8"
    )
    response["Content-Disposition"] = 'inline; filename="konvergo.ics"'
    return response


@login_required
@require_http_methods(["GET", "POST"])
def calendar_settings(request: HttpRequest) -> HttpResponse:
    user: Any = request.user
    feed = calendars.feed_for(user)
    if request.method == "POST":
        feed = calendars.feed_rotate(user=user)
        messages.success(
            request, _("A new calendar address was made; the old one no longer works.")
        )
        return redirect("integrations:calendar")
    url = request.build_absolute_uri(reverse("integrations:calendar_feed", args=[feed.token]))
    return render(
        request, "integrations/calendar.html", {"feed_url": url, "title": _("My calendar feed")}
    )


# --- incoming-call pop-up ------------------------------------------------------------------------


@login_required
@require_safe
def call_popup(request: HttpRequest) -> HttpResponse:
    calls = list(telephony.ringing_for(request.user))  # type: ignore[arg-type]
    return render(request, "integrations/_call_popup.html", {"calls": calls})


@login_required
@require_POST
def call_popup_dismiss(request: HttpRequest, call_id: UUID) -> HttpResponse:
    user: Any = request.user
    call = Call.objects.filter(public_id=call_id, user=user).first()
    if call is None:
        raise Http404
    telephony.popup_dismiss(user=user, call=call)
    return HttpResponse("")


# --- pages ---------------------------------------------------------------------------------------


@login_required
@require_safe
def index(request: HttpRequest) -> HttpResponse:
    _require(request, "view", WebhookSubscription)
    context = {
        "title": _("Integrations"),
        "mailboxes": Mailbox.objects.all(),
        "subscriptions": WebhookSubscription.objects.all(),
        "deliveries": WebhookDelivery.objects.select_related("subscription")[:20],
        "dead_letters": DeadLetter.objects.all()[:20],
        "webforms": WebForm.objects.all(),
        "kinds": setup_views.settings_menu(request),
    }
    return render(request, "integrations/index.html", context)


@login_required
@require_safe
def dead_letters(request: HttpRequest) -> HttpResponse:
    _require(request, "view", DeadLetter)
    rows = DeadLetter.objects.all()[:PER_PAGE]
    return render(
        request, "integrations/dead_letters.html", {"rows": rows, "title": _("Dead letters")}
    )


@login_required
@require_safe
def deliveries(request: HttpRequest) -> HttpResponse:
    _require(request, "view", WebhookDelivery)
    rows = WebhookDelivery.objects.select_related("subscription")[:PER_PAGE]
    return render(
        request, "integrations/deliveries.html", {"rows": rows, "title": _("Webhook deliveries")}
    )


@login_required
@require_safe
def emails(request: HttpRequest) -> HttpResponse:
    _require(request, "view", EmailMessage)
    rows = EmailMessage.objects.select_related("organization", "person", "ticket")[:PER_PAGE]
    return render(request, "integrations/emails.html", {"rows": rows, "title": _("E-mails")})


@login_required
@require_safe
def email_detail(request: HttpRequest, message_id: UUID) -> HttpResponse:
    _require(request, "view", EmailMessage)
    message = (
        EmailMessage.objects.select_related("organization", "person", "ticket")
        .prefetch_related("attachments")
        .filter(public_id=message_id)
        .first()
    )
    if message is None:
        raise Http404
    return render(
        request, "integrations/email_detail.html", {"message": message, "title": message.subject}
    )


@login_required
@require_POST
def email_resend(request: HttpRequest, message_id: UUID) -> HttpResponse:
    _require(request, "change", EmailMessage)
    message = EmailMessage.objects.filter(public_id=message_id).first()
    if message is None:
        raise Http404
    try:
        email_retry(message=message)
    except FieldErrors as exc:
        messages.error(request, " ".join(p for ps in exc.errors.values() for p in ps))
    else:
        messages.success(request, _("The e-mail is queued again."))
    return redirect("integrations:email_detail", message.public_id)


class ComposeForm(forms.Form):
    to = forms.CharField(label=gettext_lazy("To"), max_length=1000)
    subject = forms.CharField(label=gettext_lazy("Subject"), max_length=255)
    body = forms.CharField(label=gettext_lazy("Text"), widget=forms.Textarea(attrs={"rows": 10}))
    attachment = forms.FileField(label=gettext_lazy("Attachment"), required=False)
    documents = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Documents"),
        queryset=Document.objects.none(),
        required=False,
        help_text=gettext_lazy("Their latest versions go along."),
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["documents"].queryset = documents_visible(user).order_by("title")
        fields["documents"].to_field_name = "public_id"


@login_required
@require_http_methods(["GET", "POST"])
def email_compose(request: HttpRequest) -> HttpResponse:
    _require(request, "add", EmailMessage)
    form = ComposeForm(
        request.POST or None,
        request.FILES or None,
        initial={"to": request.GET.get("to", ""), "documents": request.GET.getlist("document")},
        user=request.user,
    )
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data.get("attachment")
        files = []
        if upload is not None:
            from konvergo.integrations.services.mail import Attachment

            files.append(
                Attachment(
                    upload.name or "file",
                    upload.read(),
                    upload.content_type or "application/octet-stream",
                )
            )
        try:
            files += document_attachments(form.cleaned_data["documents"])
            message = email_send(
                actor=request.user,  # type: ignore[arg-type]
                to=form.cleaned_data["to"],
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
                attachments=files,
            )
        except FieldErrors as exc:
            for field, problems in exc.errors.items():
                form.add_error(field if field in form.fields else None, problems)
        except (BusinessError, ValidationError) as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("The e-mail is on its way."))
            return redirect("integrations:email_detail", message.public_id)
    return render(request, "integrations/compose.html", {"form": form, "title": _("New e-mail")})
