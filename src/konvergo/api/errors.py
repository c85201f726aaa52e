"""One error shape for every 4xx of the API: {"error": {"code", "message", "details"}}."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from konvergo.core.errors import BusinessError

STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "too_many_requests",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def json_error(
    status: int, message: str, *, code: str | None = None, details: Any = None
) -> JsonResponse:
    return JsonResponse(
        error_body(code or STATUS_CODES.get(status, "error"), message, details), status=status
    )


def install_error_handlers(api: NinjaAPI) -> None:
    # ninja's stubs type handlers loosely (exception or its class), hence `Any` below.
    def on_http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        cause = exc.__cause__
        if isinstance(cause, json.JSONDecodeError | UnicodeDecodeError):
            # ninja hides the parser's message outside DEBUG; the client needs it to fix the body.
            return json_error(
                400,
                "Request body is not valid JSON.",
                code="invalid_json",
                details={"reason": str(cause)},
            )
        return json_error(exc.status_code, str(exc))

    def on_authentication_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return json_error(401, "Authentication required: send 'Authorization: Bearer <token>'.")

    def on_authorization_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return json_error(403, str(exc) or "You may not do this.")

    def on_validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return json_error(422, "The request has invalid fields.", details=exc.errors)

    def on_not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return json_error(404, "Not found.")

    def on_business_error(request: HttpRequest, exc: Any) -> HttpResponse:
        return json_error(exc.status, exc.message, code=exc.code, details=exc.details)

    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(AuthenticationError, on_authentication_error)
    api.add_exception_handler(AuthorizationError, on_authorization_error)
    api.add_exception_handler(PermissionDenied, on_authorization_error)
    api.add_exception_handler(ValidationError, on_validation_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(BusinessError, on_business_error)

    def on_model_validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        # A model's full_clean() refused the data: field messages, nothing was saved.
        details = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        return json_error(422, "The request has invalid fields.", details=details)

    api.add_exception_handler(DjangoValidationError, on_model_validation_error)


def api_not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    """Unknown paths under /api/ answer in the API's error shape, not with an HTML page."""
    return json_error(404, f"No API endpoint at {request.path}.")
