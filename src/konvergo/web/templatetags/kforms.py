"""Bootstrap classes for Django's form widgets, so every form renders the same way
(`web/_field.html`, `web/_formset.html`)."""

from __future__ import annotations

from django import forms, template
from django.forms import BoundField
from django.utils.safestring import SafeString

register = template.Library()


def _kind(widget: forms.Widget) -> str:
    if isinstance(widget, forms.CheckboxSelectMultiple | forms.RadioSelect):
        return "choices"
    if isinstance(widget, forms.CheckboxInput):
        return "checkbox"
    if isinstance(widget, forms.Select | forms.SelectMultiple):
        return "select"
    if isinstance(widget, forms.HiddenInput):
        return "hidden"
    return "input"


@register.filter
def widget_kind(field: BoundField) -> str:
    """checkbox / choices (a group of checkboxes or radios) / select / hidden / input."""
    return _kind(field.field.widget)


@register.filter
def bootstrap(field: BoundField, size: str = "") -> SafeString:
    """The field's widget with Bootstrap's class (and `is-invalid` when it has errors)."""
    kind = _kind(field.field.widget)
    css = {
        "checkbox": "form-check-input",
        "choices": "",  # Django puts the class on the group's wrapper too: styled by CSS
        "select": "form-select",
        "hidden": "",
        "input": "form-control",
    }[kind]
    if css and size and kind in ("select", "input"):
        css = f"{css} {css}-{size}"
    if field.errors and css:
        css = f"{css} is-invalid"
    existing = field.field.widget.attrs.get("class", "")
    classes = " ".join(part for part in (existing, css) if part)
    return field.as_widget(attrs={"class": classes} if classes else None)
