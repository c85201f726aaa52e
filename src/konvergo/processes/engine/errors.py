"""Errors of the engine layer, in our own terms (no SpiffWorkflow types leave this package)."""

from __future__ import annotations

from typing import Any


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


class BpmnError(Exception):
    """Raised by a connector to throw a BPMN error instead of failing.

    The error boundary event with this error code (or one without a code) on the service task,
    or on a sub-process around it, takes over; `variables` become variables of that path. An
    error nothing catches is an incident, like any other connector failure.
    """

    def __init__(
        self, code: str, message: str = "", variables: dict[str, Any] | None = None
    ) -> None:
        self.code = code
        self.message = message
        self.variables = dict(variables or {})
        super().__init__(f"BPMN error {code!r}" + (f": {message}" if message else ""))


class TokenMoveRefused(Exception):
    """A token cannot be moved as asked (no token there, or no such element)."""
