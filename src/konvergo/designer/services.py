"""Writes of the designer: create, save and deploy drafts; compare deployed versions.

Saving keeps whatever well-formed XML the designer sends (a draft may be half-drawn) together
with the problems found in it; deploying refuses a draft with any problem, so nothing broken
reaches the engine.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from lxml import etree

from konvergo.core.errors import BusinessError, Conflict
from konvergo.designer.models import ProcessDraft
from konvergo.designer.validation import (
    BPMN_NS,
    InvalidXml,
    Problem,
    process_info,
    read_xml,
    validate,
)
from konvergo.processes.models import ProcessDefinition
from konvergo.processes.services import definition_deploy

MAX_FILES = 50


class DraftRefused(BusinessError):
    """A draft that cannot be deployed; `details.problems` lists them by element."""

    status = 422
    code = "invalid_model"


BLANK = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" \
xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" \
xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" \
xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_{key}" \
targetNamespace="https://konvergo.example/processes" exporter="Konvergo" exporterVersion="1">
  <bpmn:process id="{key}" name="{name}" isExecutable="true">
    <bpmn:startEvent id="start" name="" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_{key}">
    <bpmndi:BPMNPlane id="plane_{key}" bpmnElement="{key}">
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="180" y="160" width="36" height="36" />
      </bpmndi:BPMNShape>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _files(value: Mapping[str, Any] | None, what: str) -> dict[str, str]:
    files = dict(value or {})
    if len(files) > MAX_FILES:
        raise BusinessError(_("A draft holds at most %(n)s files.") % {"n": MAX_FILES})
    for name, content in files.items():
        if not isinstance(name, str) or not name.strip() or not isinstance(content, str):
            raise BusinessError(
                _("Each %(what)s needs a file name and its text.") % {"what": what},
                details={"field": what},
            )
    return files


def _user(actor: Any) -> Any:
    return actor if getattr(actor, "pk", None) else None


def draft_create(
    *,
    name: str,
    actor: Any,
    bpmn_xml: str = "",
    dmn: Mapping[str, str] | None = None,
    forms: Mapping[str, str] | None = None,
) -> ProcessDraft:
    """A new draft: an imported file (its process id and name kept) or a blank diagram."""
    name = name.strip()
    if bpmn_xml:
        root = read_xml(bpmn_xml)
        key, file_name = process_info(root)
        if not key:
            raise InvalidXml(_("The file has no BPMN process."))
        _check_key(key)
        name = name or file_name
    else:
        if not name:
            raise BusinessError(_("Give the process a name."), details={"field": "name"})
        key = "process_" + uuid.uuid4().hex[:8]
        bpmn_xml = BLANK.format(key=key, name=_escape(name))
    dmn_files, form_files = _files(dmn, "dmn"), _files(forms, "forms")
    problems = validate(bpmn_xml=bpmn_xml, dmn=dmn_files, forms=form_files)
    return ProcessDraft.objects.create(
        key=key,
        name=name[:200],
        bpmn_xml=bpmn_xml,
        dmn=dmn_files,
        forms=form_files,
        problems=[p.as_dict() for p in problems],
        created_by=_user(actor),
        updated_by=_user(actor),
    )


def _escape(text: str) -> str:
    return (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def _check_key(key: str) -> None:
    if len(key) > 200:
        raise InvalidXml(_("The process id is longer than 200 characters."))


def draft_save(
    *,
    draft: ProcessDraft,
    revision: int,
    bpmn_xml: str,
    dmn: Mapping[str, str] | None = None,
    forms: Mapping[str, str] | None = None,
    actor: Any,
) -> tuple[ProcessDraft, list[Problem]]:
    """Store a new revision of a draft and the problems found in it.

    XML that is not well-formed is refused (422, nothing stored); a save based on an older
    revision than the stored one is a Conflict (409): someone else saved in between.
    """
    root = read_xml(bpmn_xml)
    key, name = process_info(root)
    if not key:
        raise InvalidXml(_("The diagram has no BPMN process."))
    _check_key(key)
    dmn_files, form_files = _files(dmn, "dmn"), _files(forms, "forms")
    problems = validate(bpmn_xml=bpmn_xml, dmn=dmn_files, forms=form_files)
    with transaction.atomic():
        locked = ProcessDraft.objects.select_for_update().get(pk=draft.pk)
        if locked.revision != revision:
            raise Conflict(
                _("Someone else saved this draft meanwhile (revision %(rev)s); reload it.")
                % {"rev": locked.revision}
            )
        locked.key = key
        locked.name = (name or locked.name)[:200]
        locked.bpmn_xml = bpmn_xml
        locked.dmn = dmn_files
        locked.forms = form_files
        locked.problems = [p.as_dict() for p in problems]
        locked.revision += 1
        locked.updated_by = _user(actor)
        locked.save()
    return locked, problems


def draft_deploy(*, draft: ProcessDraft, actor: Any) -> ProcessDefinition:
    """Deploy the saved draft as the next version of its process (or the same version when
    nothing changed); refused with every problem named by element when it is not valid."""
    problems = validate(bpmn_xml=draft.bpmn_xml, dmn=draft.dmn, forms=draft.forms)
    if problems:
        raise DraftRefused(
            _("The draft has %(n)s problem(s); fix them before deploying.") % {"n": len(problems)},
            details={"problems": [p.as_dict() for p in problems]},
        )
    with transaction.atomic():
        result = definition_deploy(
            xml=draft.bpmn_xml, dmn=list(draft.dmn.values()), forms=draft.forms, actor=actor
        )
        definition = next(
            (d for d in result.definitions if d.key == draft.key), result.definitions[0]
        )
        ProcessDraft.objects.filter(pk=draft.pk).update(deployed_version=definition.version)
        draft.deployed_version = definition.version
    return definition


def draft_from_definition(*, definition: ProcessDefinition, actor: Any) -> ProcessDraft:
    """A new draft to change a deployed version (its BPMN, decision tables and forms)."""
    dmn = {f"decision_{n}.dmn": xml for n, xml in enumerate(definition.dmn_xml, start=1)}
    forms = {f.file_name: _json(f.schema) for f in definition.forms.all()}
    draft = draft_create(
        name=definition.name, actor=actor, bpmn_xml=definition.bpmn_xml, dmn=dmn, forms=forms
    )
    ProcessDraft.objects.filter(pk=draft.pk).update(deployed_version=definition.version)
    draft.deployed_version = definition.version
    return draft


def _json(value: Any) -> str:
    import json

    return json.dumps(value, indent=2, ensure_ascii=False)


# --- what changed between two versions ----------------------------------------------------------


@dataclass
class VersionDiff:
    added: list[tuple[str, str]] = field(default_factory=list)  # (element id, label)
    removed: list[tuple[str, str]] = field(default_factory=list)
    changed: list[tuple[str, str, list[str]]] = field(default_factory=list)  # + what changed
    other: list[str] = field(default_factory=list)  # decision tables, forms

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.other)


def _elements(xml: str) -> dict[str, tuple[str, dict[str, str], str]]:
    """id -> (kind, attributes, text of its children) of every BPMN element with an id."""
    root = etree.fromstring(
        xml.encode(), parser=etree.XMLParser(resolve_entities=False, no_network=True)
    )
    found = {}
    for node in root.iter():
        if not isinstance(node.tag, str) or not node.get("id"):
            continue
        qname = etree.QName(node)
        if qname.namespace != BPMN_NS:
            continue  # diagram coordinates are layout, not behaviour
        if qname.localname == "definitions":
            continue
        # Children with their own id are compared on their own; the rest (conditions,
        # extension elements, documentation) belongs to this element.
        children = b"".join(
            etree.tostring(child)
            for child in node
            if isinstance(child.tag, str)
            and not child.get("id")
            and etree.QName(child).localname not in {"incoming", "outgoing"}
        ).decode()
        attributes = {str(etree.QName(k).localname): v for k, v in node.attrib.items() if k != "id"}
        found[node.get("id")] = (str(qname.localname), attributes, children)
    return found


def _label(kind: str, attributes: Mapping[str, str], element_id: str) -> str:
    return f"{kind} {attributes.get('name') or element_id}"


def versions_diff(old: ProcessDefinition, new: ProcessDefinition) -> VersionDiff:
    """Which elements a version added, removed or changed against another (by element id)."""
    before, after = _elements(old.bpmn_xml), _elements(new.bpmn_xml)
    diff = VersionDiff()
    for element_id, (kind, attributes, _children) in after.items():
        if element_id not in before:
            diff.added.append((element_id, _label(kind, attributes, element_id)))
            continue
        old_kind, old_attributes, old_children = before[element_id]
        what = [
            name
            for name in sorted(set(attributes) | set(old_attributes))
            if attributes.get(name) != old_attributes.get(name)
        ]
        if old_kind != kind:
            what.insert(0, "type")
        if old_children != _children:
            what.append("details")
        if what:
            diff.changed.append((element_id, _label(kind, attributes, element_id), what))
    for element_id, (kind, attributes, _children) in before.items():
        if element_id not in after:
            diff.removed.append((element_id, _label(kind, attributes, element_id)))
    if old.dmn_xml != new.dmn_xml:
        diff.other.append(_("decision tables"))
    old_forms = {f.file_name: f.schema for f in old.forms.all()}
    new_forms = {f.file_name: f.schema for f in new.forms.all()}
    if old_forms != new_forms:
        diff.other.append(_("forms"))
    return diff
