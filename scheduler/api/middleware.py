"""JSON for every unexpected error under /api/, including those raised outside DRF's views."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse

logger = logging.getLogger("scheduler.api")

API_PREFIX = "/api/"
INTERNAL = "internal server error; the failure was logged"


class ApiErrorMiddleware:
    """Answer an exception a view under /api/ did not handle with `{"error": ...}` and 500."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        return json_error(request, exception)


def json_error(request: HttpRequest, exception: Exception) -> HttpResponse | None:
    """Return the JSON 500 for an exception under /api/ (logged), or None elsewhere."""
    if not request.path.startswith(API_PREFIX):
        return None
    logger.error("unhandled error on %s %s", request.method, request.path, exc_info=exception)
    return JsonResponse({"error": INTERNAL}, status=500)
