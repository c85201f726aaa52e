"""User-task forms made with @bpmn-io/form-js: stored with the process version, checked here.

A deploy may bring ``*.form`` files (form-js JSON schemas) next to the BPMN. A user task names
its form by ``camunda:formKey``: ``camunda-forms:deployment:<file name>`` (Camunda 7's way),
or the form's ``id`` or file name alone.

The browser renders the schema with the form-js viewer; the server checks the submitted data
against the same schema before they become process variables (required, types, patterns,
min/max, lengths, options). Fields the form does not have, and read-only or disabled ones,
are dropped, so a form cannot overwrite variables it only shows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext as _

from konvergo.core.errors import BusinessError, FieldErrors
from konvergo.processes.models import FormSchema, HumanTask, ProcessDefinition, ProcessInstance

MAX_FORM_BYTES = 1024 * 1024
DEPLOYMENT_PREFIX = "camunda-forms:deployment:"
# Components that hold no data.
LAYOUT = {"text", "html", "image", "spacer", "separator", "button", "iframe", "table", "expression"}
CONTAINERS = {"group", "dynamiclist"}
OPTION_TYPES = {"radio", "select", "checklist", "taglist"}
PHONE = re.compile(r"^\+?[0-9 ()./-]{5,20}$")


class FormRefused(BusinessError):
    status = 422
    code = "invalid_form"


# --- deploy ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedForm:
    form_id: str
    file_name: str
    schema: dict[str, Any]


def parse_form(file_name: str, content: bytes | str) -> ParsedForm:
    """Read a form-js schema file; refuse anything that is not one, naming the file."""
    raw = content.encode() if isinstance(content, str) else content
    if len(raw) > MAX_FORM_BYTES:
        raise FormRefused(f"the form {file_name} is larger than 1 MB", details={"file": file_name})
    try:
        schema = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormRefused(
            f"the form {file_name} is not JSON: {exc}", details={"file": file_name}
        ) from None
    if not isinstance(schema, dict) or not isinstance(schema.get("components"), list):
        raise FormRefused(
            f"the form {file_name} is not a form-js schema (no components)",
            details={"file": file_name},
        )
    for component in _walk(schema["components"]):
        if not isinstance(component, dict) or not isinstance(component.get("type"), str):
            raise FormRefused(
                f"the form {file_name} has a component without a type", details={"file": file_name}
            )
        pattern = (component.get("validate") or {}).get("pattern")
        if pattern:
            try:
                re.compile(str(pattern))
            except re.error as exc:
                raise FormRefused(
                    f"the form {file_name}: field {component.get('key')!r} has a bad pattern: "
                    f"{exc}",
                    details={"file": file_name, "field": component.get("key")},
                ) from None
    form_id = str(schema.get("id") or file_name.rsplit("/", 1)[-1])
    return ParsedForm(form_id=form_id, file_name=file_name.rsplit("/", 1)[-1], schema=schema)


# How Camunda Modeler names a form deployed with the process: the file name after the prefix.
DEPLOYED_FORM_KEY = re.compile(rb'camunda:formKey="camunda-forms:deployment:([^"]+)"')


def form_files_beside(bpmn_path: Path) -> dict[str, bytes]:
    """The form-js files a BPMN file's user tasks name as deployed with it, read from the
    BPMN file's folder (the library's and the demo's way to deploy a process with its forms)."""
    names = sorted({m.decode() for m in DEPLOYED_FORM_KEY.findall(bpmn_path.read_bytes())})
    return {name: (bpmn_path.parent / name).read_bytes() for name in names}


def parse_forms(forms: Mapping[str, bytes | str]) -> list[ParsedForm]:
    parsed = [parse_form(name, content) for name, content in sorted(forms.items())]
    seen: set[str] = set()
    for form in parsed:
        if form.form_id in seen:
            raise FormRefused(
                f"two forms have the id {form.form_id!r}", details={"file": form.file_name}
            )
        seen.add(form.form_id)
    return parsed


def forms_store(definition: ProcessDefinition, forms: list[ParsedForm]) -> None:
    FormSchema.objects.bulk_create(
        FormSchema(definition=definition, form_id=f.form_id, file_name=f.file_name, schema=f.schema)
        for f in forms
    )


def forms_digest(forms: list[ParsedForm]) -> bytes:
    """The forms' part of a version's content hash (a changed form makes a new version)."""
    return b"".join(
        b"\0form\0" + f.file_name.encode() + b"\0" + json.dumps(f.schema, sort_keys=True).encode()
        for f in forms
    )


# --- lookup ---------------------------------------------------------------------------------


def form_for(task: HumanTask, definition: ProcessDefinition | None = None) -> FormSchema | None:
    """The form-js schema a task's formKey names in its process version, if any (by form id,
    else by file name). Pass the instance's `definition` when at hand to save its lookup."""
    key = (task.form_key or "").strip()
    if not key:
        return None
    if key.startswith(DEPLOYMENT_PREFIX):
        key = key[len(DEPLOYMENT_PREFIX) :]
    if definition is None:
        definition = ProcessDefinition.objects.only("pk", "public_id").get(
            instances__pk=task.instance_id
        )
    forms = _version_forms(definition.pk, str(definition.public_id))
    return forms.get(("id", key)) or forms.get(("file", key))


@lru_cache(maxsize=256)
def _version_forms(definition_id: int, public_id: str) -> dict[tuple[str, str], FormSchema]:
    """A version's forms by id and by file name. A version and its forms never change, so
    they are read once per process (keyed by UUID too: an integer id can come back after a
    rolled-back deploy); completing a task is on the engine's hot path."""
    forms: dict[tuple[str, str], FormSchema] = {}
    for form in FormSchema.objects.filter(definition_id=definition_id):
        forms[("id", form.form_id)] = form
        forms[("file", form.file_name)] = form
    return forms


# --- validation -----------------------------------------------------------------------------


def _walk(components: Any) -> Iterator[Any]:
    for component in components or []:
        yield component
        if isinstance(component, dict) and component.get("type") in CONTAINERS:
            yield from _walk(component.get("components"))


def _options(component: Mapping[str, Any], variables: Mapping[str, Any]) -> list[Any] | None:
    """The allowed values of an option field (static `values`, or `valuesKey` from variables);
    None when they are not known here (e.g. a FEEL `valuesExpression`)."""
    if isinstance(component.get("values"), list):
        return [v.get("value") if isinstance(v, dict) else v for v in component["values"]]
    values_key = component.get("valuesKey")
    if values_key and isinstance(variables.get(values_key), list):
        return [v.get("value") if isinstance(v, dict) else v for v in variables[values_key]]
    return None


def _number(value: Any) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str) and value.strip():
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            return None
        if not number.is_finite():
            return None
        return int(number) if number == number.to_integral_value() else float(number)
    return None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value is False


def _check_datetime(value: str, subtype: str) -> bool:
    try:
        if subtype == "date":
            date.fromisoformat(value)
        elif subtype == "time":
            time.fromisoformat(value)
        else:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


class _Checker:
    def __init__(self, variables: Mapping[str, Any]) -> None:
        self.variables = variables
        self.errors: dict[str, list[str]] = {}

    def fail(self, path: str, message: str) -> None:
        self.errors.setdefault(path, []).append(message)

    def components(
        self, components: Any, submitted: Mapping[str, Any], out: dict[str, Any], prefix: str
    ) -> None:
        for component in components or []:
            kind = component.get("type")
            if kind in LAYOUT:
                continue
            if kind == "group":
                path = component.get("path")
                if path:
                    inner = submitted.get(path)
                    target: dict[str, Any] = {}
                    self.components(
                        component.get("components"),
                        inner if isinstance(inner, dict) else {},
                        target,
                        f"{prefix}{path}.",
                    )
                    out[path] = target
                else:
                    self.components(component.get("components"), submitted, out, prefix)
                continue
            if kind == "dynamiclist":
                self.dynamic_list(component, submitted, out, prefix)
                continue
            key = component.get("key")
            if not key:
                continue
            if component.get("readonly") is True or component.get("disabled") is True:
                continue  # shown, not edited: the variable keeps its value
            cleaned = self.field(component, submitted.get(key), f"{prefix}{key}")
            if key in submitted or cleaned is not None:
                out[key] = cleaned

    def dynamic_list(
        self,
        component: Mapping[str, Any],
        submitted: Mapping[str, Any],
        out: dict[str, Any],
        prefix: str,
    ) -> None:
        path = component.get("path")
        if not path:
            return
        items = submitted.get(path, [])
        if not isinstance(items, list):
            self.fail(f"{prefix}{path}", _("Must be a list."))
            return
        cleaned_items = []
        for index, item in enumerate(items):
            target: dict[str, Any] = {}
            self.components(
                component.get("components"),
                item if isinstance(item, dict) else {},
                target,
                f"{prefix}{path}.{index}.",
            )
            cleaned_items.append(target)
        out[path] = cleaned_items

    def field(self, component: Mapping[str, Any], value: Any, path: str) -> Any:
        kind = component.get("type")
        rules = component.get("validate") or {}
        # A field that a condition can hide may be legitimately empty: its FEEL condition is
        # evaluated in the browser only, so the server does not insist on it.
        required = bool(rules.get("required")) and not (component.get("conditional") or {}).get(
            "hide"
        )
        if _empty(value) and kind != "checkbox":
            if required:
                self.fail(path, _("This field is required."))
            return None if value is None or value == "" else value
        if kind == "checkbox":
            if value is None:
                if required:
                    self.fail(path, _("This field is required."))
                return None
            if not isinstance(value, bool):
                self.fail(path, _("Must be true or false."))
                return None
            if required and value is not True:
                self.fail(path, _("This field is required."))
            return value
        if kind == "number":
            number = _number(value)
            if number is None:
                self.fail(path, _("Must be a number."))
                return None
            if rules.get("min") not in (None, "") and number < float(rules["min"]):
                self.fail(path, _("Must be at least %(min)s.") % {"min": rules["min"]})
            if rules.get("max") not in (None, "") and number > float(rules["max"]):
                self.fail(path, _("Must be at most %(max)s.") % {"max": rules["max"]})
            return number
        if kind in ("checklist", "taglist"):
            if not isinstance(value, list):
                self.fail(path, _("Must be a list of choices."))
                return None
            allowed = _options(component, self.variables)
            if allowed is not None and any(v not in allowed for v in value):
                self.fail(path, _("Contains a value that is not one of the choices."))
            return value
        if kind in ("radio", "select"):
            allowed = _options(component, self.variables)
            if allowed is not None and value not in allowed:
                self.fail(path, _("Choose one of the offered values."))
            return value
        if not isinstance(value, str):
            self.fail(path, _("Must be text."))
            return None
        if kind == "datetime":
            subtype = str(component.get("subtype") or "date")
            if not _check_datetime(value, subtype):
                self.fail(path, _("Not a valid date or time."))
            return value
        self.text_rules(rules, value, path)
        return value

    def text_rules(self, rules: Mapping[str, Any], value: str, path: str) -> None:
        if rules.get("minLength") not in (None, "") and len(value) < int(rules["minLength"]):
            self.fail(
                path,
                _("Must be at least %(count)s characters long.") % {"count": rules["minLength"]},
            )
        if rules.get("maxLength") not in (None, "") and len(value) > int(rules["maxLength"]):
            self.fail(
                path,
                _("Must be at most %(count)s characters long.") % {"count": rules["maxLength"]},
            )
        pattern = rules.get("pattern")
        if pattern and re.fullmatch(str(pattern), value) is None:
            self.fail(path, _("Does not have the expected format."))
        validation_type = rules.get("validationType")
        if validation_type == "email":
            try:
                validate_email(value)
            except ValidationError:
                self.fail(path, _("Enter a valid e-mail address."))
        elif validation_type == "phone" and not PHONE.match(value):
            self.fail(path, _("Enter a valid phone number."))


def validate_data(
    schema: Mapping[str, Any], data: Mapping[str, Any], *, variables: Mapping[str, Any] = {}
) -> dict[str, Any]:
    """The submitted `data` checked against a form-js `schema`: the cleaned values of the
    form's editable fields, or FieldErrors (422) naming each failing field by its key."""
    checker = _Checker(variables)
    cleaned: dict[str, Any] = {}
    checker.components(schema.get("components"), data, cleaned, "")
    if checker.errors:
        raise FieldErrors(checker.errors, message=_("The form has invalid fields."))
    return cleaned


def validate_task_data(
    task: HumanTask, data: Mapping[str, Any], instance: ProcessInstance | None = None
) -> dict[str, Any]:
    """Data for completing `task`: checked against its form if it has one, else as given.
    `instance` is the task's instance when the caller has it (locked, with its definition)."""
    instance = instance or task.instance
    form = form_for(task, instance.definition)
    if form is None:
        return dict(data)
    return validate_data(form.schema, data, variables=instance.variables)
