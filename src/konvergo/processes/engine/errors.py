"""Errors of the engine layer, in our own terms (no SpiffWorkflow types leave this package)."""

from __future__ import annotations


class DeployError(Exception):
    """A model cannot be deployed. `element_id` names the offending BPMN/DMN element."""

    def __init__(self, message: str, *, element_id: str = "", line: int | None = None) -> None:
        self.message = message
        self.element_id = element_id
        self.line = line
        where = f" (element {element_id!r})" if element_id else ""
        super().__init__(f"{message}{where}")


class StepError(Exception):
    """Running an element failed; the service layer turns it into an incident."""

    def __init__(self, message: str, *, element_id: str, task_id: str = "") -> None:
        self.message = message
        self.element_id = element_id
        self.task_id = task_id
        super().__init__(f"{element_id}: {message}")


class TaskNotOpen(Exception):
    """The human task is not waiting for completion (already completed or cancelled)."""
