"""Move a running instance's state to another version of its process.

The stored state names each task's element; migration renames them through an activity-id
mapping (unchanged ids map to themselves) and checks that every task lands on an element of the
target version. Tasks not yet reached are re-predicted from the target version as the instance
moves on (SpiffWorkflow syncs a task's children with its spec when the task completes).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from konvergo.processes.engine.runtime import CompiledProcess


class MigrationRefused(Exception):
    def __init__(self, message: str, *, element_ids: list[str]) -> None:
        self.message = message
        self.element_ids = element_ids
        super().__init__(message)


def element_names(compiled: CompiledProcess) -> set[str]:
    spec, _subprocess_specs = compiled.fresh_specs()
    return set(spec.task_specs)


def migrate_state(
    state: Mapping[str, Any], *, target: CompiledProcess, mapping: Mapping[str, str]
) -> dict[str, Any]:
    """The state re-pointed at `target`'s elements; refuses when a task would land on nothing."""
    if state.get("subprocesses"):
        raise MigrationRefused(
            "instances inside sub-processes or call activities cannot be migrated yet",
            element_ids=[],
        )
    available = element_names(target)
    migrated = copy.deepcopy(dict(state))
    missing: set[str] = set()
    for task in migrated["tasks"].values():
        name = mapping.get(task["task_spec"], task["task_spec"])
        if name not in available:
            missing.add(task["task_spec"])
        task["task_spec"] = name
    if missing:
        raise MigrationRefused(
            "no element of the target version for: "
            + ", ".join(sorted(missing))
            + " (map them to elements of the new version)",
            element_ids=sorted(missing),
        )
    return migrated
