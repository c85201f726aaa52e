"""The approval processes documents ship with (BPMN, the DMN thresholds, the decision form)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from konvergo.processes.models import ProcessDefinition
from konvergo.processes.services import definition_deploy

LIBRARY = Path(__file__).resolve().parent
PROCESSES = (
    "document_approval",
    "document_approval_sequential",
    "document_approval_parallel",
)


def forms() -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(LIBRARY.glob("*.form"))}


def deploy(key: str, *, actor: Any = None) -> ProcessDefinition:
    """Deploy one of the library's approval processes with its forms (and DMN); idempotent."""
    if key not in PROCESSES:
        raise LookupError(key)
    dmn_path = LIBRARY / f"{key}.dmn"
    result = definition_deploy(
        xml=(LIBRARY / f"{key}.bpmn").read_bytes(),
        dmn=[dmn_path.read_bytes()] if dmn_path.exists() else [],
        forms=forms(),
        actor=actor,
    )
    return result.definitions[0]


def deploy_all(*, actor: Any = None) -> list[ProcessDefinition]:
    return [deploy(key, actor=actor) for key in PROCESSES]
