"""One error body for the whole API: `{"error": "<sentence>", ...details}`.

`exception_handler` wraps DRF's: it turns Django's and the engine's exceptions into API
errors first (a spec error becomes a 400 listing every issue with its line and column), then
rewrites whatever DRF would have sent into the one shape.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from scheduler import dbretry, intake
from scheduler import spec as specs
from scheduler.metrics import MetricError

from .middleware import INTERNAL, logger

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY


class ApiError(exceptions.APIException):
    """An API error with a sentence and extra keys for the error body."""

    def __init__(self, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.extra = extra


class Conflict(ApiError):
    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"


class PayloadTooLarge(ApiError):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "too_large"


class BadRequest(ApiError):
    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "bad_request"


def invalid_sweep(error: specs.SpecError) -> BadRequest:
    """Return the 400 for invalid sweep YAML: every issue with its line and column."""
    issues = [{"line": i.line, "column": i.column, "message": i.message} for i in error.issues]
    return BadRequest("invalid sweep", errors=issues)


def too_large(what: str, size: int, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"{what} is {size} bytes; the limit is {limit} bytes", limit=limit)


def as_api_exception(exc: Exception) -> Exception:
    """Translate Django's and the engine's exceptions into API exceptions."""
    if isinstance(exc, Http404):
        return exceptions.NotFound("not found")
    if isinstance(exc, specs.SpecError):
        return invalid_sweep(exc)
    if isinstance(exc, intake.IntakeError):
        return BadRequest(str(exc))
    if isinstance(exc, MetricError):
        return BadRequest(f"invalid metrics: {exc}")
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge("the request body is too large")
    return exc


def exception_handler(exc: Exception, context: dict[str, Any]):
    """Answer every API error with `{"error": ..., ...}` and DRF's status and headers.

    An exception DRF does not handle is logged and answered with a 500 in the same shape,
    except a lost database connection: that is raised again, so the view is retried on a
    fresh connection (hbsite.middleware.RetryOnDatabaseErrors) or answered 503.
    """
    if isinstance(exc, dbretry.TRANSIENT):
        raise exc
    exc = as_api_exception(exc)
    response = drf_exception_handler(exc, context)
    if response is None:
        request = context.get("request")
        where = f"{request.method} {request.path}" if request is not None else "a view"
        logger.error("unhandled error on %s", where, exc_info=exc)
        set_rollback()
        return Response({"error": INTERNAL}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    if isinstance(exc, exceptions.APIException):
        response.data = error_body(exc)
    return response


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {"error": str(exc.detail), **exc.extra}
    if isinstance(exc, exceptions.ValidationError):
        return validation_body(exc.detail)
    if isinstance(exc, exceptions.Throttled):
        return {"error": "too many requests; try again later", "retry_after": exc.wait}
    return {"error": str(exc.detail)}


def validation_body(detail: Any) -> dict[str, Any]:
    """Describe a serializer's errors in one sentence, keeping every field's messages."""
    if isinstance(detail, dict):
        parts = [
            first_message(messages) if field == NON_FIELD else f"{field}: {first_message(messages)}"
            for field, messages in detail.items()
        ]
        return {"error": "invalid request: " + "; ".join(parts), "fields": detail}
    return {"error": "invalid request: " + first_message(detail), "fields": {}}


def first_message(messages: Any) -> str:
    while isinstance(messages, (list, dict)) and messages:
        messages = messages[0] if isinstance(messages, list) else next(iter(messages.values()))
    return str(messages)
