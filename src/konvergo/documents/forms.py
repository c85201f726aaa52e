"""Forms of the document pages."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from konvergo.documents.models import DocumentStatus, DocumentType


class UploadForm(forms.Form):
    title = forms.CharField(label=_("Title"), max_length=255)
    document_type = forms.ModelChoiceField(
        label=_("Type"), queryset=DocumentType.objects.all(), to_field_name="code"
    )
    file = forms.FileField(label=_("File"))
    comment = forms.CharField(label=_("Comment"), required=False, max_length=2000)
    organization = forms.UUIDField(required=False, widget=forms.HiddenInput)
    person = forms.UUIDField(required=False, widget=forms.HiddenInput)
    deal = forms.UUIDField(required=False, widget=forms.HiddenInput)
    quote = forms.UUIDField(required=False, widget=forms.HiddenInput)
    ticket = forms.UUIDField(required=False, widget=forms.HiddenInput)


class VersionForm(forms.Form):
    file = forms.FileField(label=_("New version"))
    comment = forms.CharField(label=_("Comment"), required=False, max_length=2000)
    based_on = forms.IntegerField(widget=forms.HiddenInput)


class SendForm(forms.Form):
    approvers = forms.CharField(
        label=_("Approvers"),
        required=False,
        help_text=_("User names, separated by commas, in order."),
    )
    approver_group = forms.CharField(
        label=_("Approver group"),
        required=False,
        help_text=_("A role, department or team; any one of its members decides."),
    )

    def variables(self) -> dict[str, object]:
        names = [n.strip() for n in self.cleaned_data.get("approvers", "").split(",") if n.strip()]
        return {"approvers": names, "approver_group": self.cleaned_data.get("approver_group", "")}


class FilterForm(forms.Form):
    q = forms.CharField(label=_("Search in contents"), required=False)
    type = forms.ModelChoiceField(
        label=_("Type"),
        queryset=DocumentType.objects.all(),
        to_field_name="code",
        required=False,
    )
    status = forms.ChoiceField(
        label=_("Status"), choices=[("", "—"), *DocumentStatus.choices], required=False
    )
    date_from = forms.DateField(
        label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(
        label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class RenderForm(forms.Form):
    title = forms.CharField(label=_("Title"), required=False, max_length=255)
    organization = forms.UUIDField(required=False, widget=forms.HiddenInput)
    deal = forms.UUIDField(required=False, widget=forms.HiddenInput)
    quote = forms.UUIDField(required=False, widget=forms.HiddenInput)
