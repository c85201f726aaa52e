"""Errors that services raise for a user to read; the web and the API turn them into 4xx."""

from __future__ import annotations

from typing import Any


class BusinessError(Exception):
    """A rule of the business refused the request; `message` is shown to the user."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotAllowed(BusinessError):
    status = 403
    code = "forbidden"


class Conflict(BusinessError):
    status = 409
    code = "conflict"


class FieldErrors(BusinessError):
    """Input that fails validation: `details` maps each field to its messages (422)."""

    status = 422
    code = "validation_error"

    def __init__(
        self, errors: dict[str, list[str]], message: str = "The input has invalid fields."
    ) -> None:
        super().__init__(message, details=errors)
        self.errors = errors
