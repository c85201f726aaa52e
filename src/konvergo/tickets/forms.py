"""Forms of the service desk pages: they parse input; the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from konvergo.core.models import BusinessCalendar
from konvergo.crm.models import Organization, Person
from konvergo.org.models import Team, User
from konvergo.org.permissions import visible
from konvergo.tickets import choices
from konvergo.tickets.models import Category, Priority, Queue


class TicketForm(forms.Form):
    subject = forms.CharField(label=_("Subject"), max_length=255)
    description = forms.CharField(
        label=_("Description"), required=False, widget=forms.Textarea(attrs={"rows": 5})
    )
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=Queue.objects.none())
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False
    )
    priority = forms.ModelChoiceField(
        label=_("Priority"), queryset=Priority.objects.none(), required=False
    )
    organization = forms.ModelChoiceField(
        label=_("Organisation"), queryset=Organization.objects.none(), required=False
    )
    requester = forms.ModelChoiceField(
        label=_("Requester"), queryset=Person.objects.none(), required=False
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Empty: the assignment rules choose."),
    )

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["queue"].queryset = Queue.objects.order_by("name")
        fields["category"].queryset = Category.objects.order_by("name")
        fields["priority"].queryset = Priority.objects.order_by("rank")
        fields["organization"].queryset = visible(user, Organization.objects.order_by("legal_name"))
        fields["requester"].queryset = visible(user, Person.objects.order_by("last_name"))
        fields["assignee"].queryset = User.objects.filter(is_active=True).order_by("username")


class EditForm(forms.Form):
    """The ticket page's side form: one submit changes what differs (optimistically)."""

    version = forms.IntegerField(widget=forms.HiddenInput)
    priority = forms.ModelChoiceField(label=_("Priority"), queryset=Priority.objects.none())
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False
    )
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=Queue.objects.none())
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["priority"].queryset = Priority.objects.order_by("rank")
        fields["assignee"].queryset = User.objects.filter(is_active=True).order_by("username")
        fields["queue"].queryset = Queue.objects.order_by("name")
        fields["category"].queryset = Category.objects.order_by("name")


class CustomFieldsForm(forms.Form):
    """The category's custom fields (their keys as field names)."""

    version = forms.IntegerField(widget=forms.HiddenInput)

    def __init__(self, *args: Any, category: Category | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for spec in (category.fields if category else []) or []:
            key = str(spec.get("key"))
            label = str(spec.get("label") or key)
            self.fields[f"cf_{key}"] = forms.CharField(
                label=f"{label} *" if spec.get("required") else label,
                required=False,
                max_length=500,
            )

    def custom_data(self) -> dict[str, str]:
        return {
            name[3:]: value
            for name, value in self.cleaned_data.items()
            if name.startswith("cf_") and value
        }


class CommentForm(forms.Form):
    body = forms.CharField(
        label=_("Message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=100_000
    )
    public = forms.BooleanField(label=_("Public reply (the customer sees it)"), required=False)
    # Attachments come as request.FILES.getlist("files") (several per reply).


class CustomerReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Your message"), widget=forms.Textarea(attrs={"rows": 4}), max_length=20_000
    )


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            ("assign", _("Assign to")),
            ("status", _("Set status")),
            ("priority", _("Set priority")),
        ],
    )
    assignee = forms.ModelChoiceField(
        label=_("Assignee"), queryset=User.objects.none(), required=False
    )
    status = forms.ChoiceField(label=_("Status"), choices=choices.Status.choices, required=False)
    priority = forms.ModelChoiceField(
        label=_("Priority"), queryset=Priority.objects.none(), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["assignee"].queryset = User.objects.filter(is_active=True).order_by("username")
        fields["priority"].queryset = Priority.objects.order_by("rank")

    def value(self) -> Any:
        action = self.cleaned_data["action"]
        return self.cleaned_data.get(
            {"assign": "assignee", "status": "status", "priority": "priority"}[action]
        )


class QueueForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none(), required=False)
    calendar = forms.ModelChoiceField(
        label=_("Business calendar"),
        queryset=BusinessCalendar.objects.none(),
        required=False,
        help_text=_("Empty: the default calendar."),
    )
    reopen_window_days = forms.IntegerField(
        label=_("Reopen window (days)"), min_value=0, max_value=3650, initial=14
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["team"].queryset = Team.objects.order_by("name")
        fields["calendar"].queryset = BusinessCalendar.objects.order_by("name")


class SlaPolicyForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=120)
    priority = forms.ModelChoiceField(label=_("Priority"), queryset=Priority.objects.none())
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False
    )
    customer_tier = forms.CharField(label=_("Customer tier"), max_length=40, required=False)
    # Integers without a lower bound here: the service refuses zero or negative targets with
    # its own message, the same on this page and in the API.
    first_response_minutes = forms.IntegerField(label=_("First response (business minutes)"))
    next_response_minutes = forms.IntegerField(label=_("Next response (business minutes)"))
    resolution_minutes = forms.IntegerField(label=_("Resolution (business minutes)"))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["priority"].queryset = Priority.objects.order_by("rank")
        fields["category"].queryset = Category.objects.order_by("name")


class EscalationLevelForm(forms.Form):
    level = forms.IntegerField(label=_("Level"), min_value=0, max_value=99)
    name = forms.CharField(label=_("Name"), max_length=60)
    # No lower bound here: the service refuses a non-positive share with its own message.
    # Translators: a label, never formatted ("% o" is not a placeholder).
    # xgettext:no-python-format
    percent = forms.IntegerField(label=_("% of the target"), initial=100, max_value=1000)
    after_minutes = forms.IntegerField(label=_("then business minutes"), initial=0)
    notify = forms.ChoiceField(label=_("Notify"), choices=choices.Notify.choices)
    raise_priority = forms.BooleanField(label=_("Raise the priority"), required=False)
    reassign_to = forms.ModelChoiceField(
        label=_("Reassign to"), queryset=User.objects.none(), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["reassign_to"].queryset = User.objects.filter(is_active=True).order_by(
            "last_name", "first_name", "username"
        )


class AssignmentRuleForm(forms.Form):
    position = forms.IntegerField(label=_("Position"), min_value=0, max_value=999, initial=0)
    queue = forms.ModelChoiceField(label=_("Queue"), queryset=Queue.objects.none(), required=False)
    category = forms.ModelChoiceField(
        label=_("Category"), queryset=Category.objects.none(), required=False
    )
    team = forms.ModelChoiceField(label=_("Team"), queryset=Team.objects.none())
    strategy = forms.ChoiceField(label=_("Strategy"), choices=choices.Strategy.choices)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["queue"].queryset = Queue.objects.order_by("name")
        fields["category"].queryset = Category.objects.order_by("name")
        fields["team"].queryset = Team.objects.order_by("name")
