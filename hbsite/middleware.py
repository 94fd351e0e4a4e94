"""Web requests ride out a database that drops its connections for a few seconds.

Django's pool (settings DATABASES OPTIONS pool, with CONN_HEALTH_CHECKS) checks each
connection as it is handed out and replaces a broken one, so a connection that died while it
sat in the pool never reaches a view. A connection that breaks while a view uses it raises
OperationalError or InterfaceError in the view: this middleware, last in MIDDLEWARE, runs the
view again on a fresh connection for up to HBSITE_WEB_DB_RETRY_SECONDS (10). A view that may
write (any method but GET, HEAD and OPTIONS) runs in one transaction, as ATOMIC_REQUESTS would
run it, so a broken attempt leaves nothing behind.
A database still away after that answers 503 with Retry-After, never a 500.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.request import RawPostDataException

from scheduler import dbretry
from scheduler.api.middleware import json_error

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
RETRY_AFTER_SECONDS = 5
UNAVAILABLE = "the database is unavailable; try again in a few seconds"


class RetryOnDatabaseErrors:
    """Run each view in a transaction, again while the database is unreachable; else 503."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: tuple, kwargs: dict
    ) -> HttpResponse | None:
        if iscoroutinefunction(view):
            return None  # an async view runs as Django runs it
        # A retried view reads the body again: keep it in memory. A body over Django's limit
        # is left to the view, which answers 413; a form already parsed (by the CSRF check)
        # stays parsed in request.POST.
        with contextlib.suppress(RequestDataTooBig, RawPostDataException):
            request.body  # noqa: B018
        budget = float(getattr(settings, "HBSITE_WEB_DB_RETRY_SECONDS", 10))
        try:
            return dbretry.call_within(budget, run_view, request, view, args, kwargs)
        except dbretry.TRANSIENT:
            return unavailable(request)
        except Exception as exc:
            # The view ran here, not in Django's handler, so no process_exception sees this:
            # the API's error is still JSON.
            handled = json_error(request, exc)
            if handled is None:
                raise
            return handled


def run_view(request: HttpRequest, view: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """Call the view and render its response; in one transaction unless the method is safe."""
    safe = request.method in SAFE_METHODS
    with contextlib.nullcontext() if safe else transaction.atomic():
        response = view(request, *args, **kwargs)
        render = getattr(response, "render", None)
        if callable(render) and not getattr(response, "is_rendered", True):
            render()
        return response


def unavailable(request: HttpRequest) -> HttpResponse:
    """Return the 503 for a database that stayed away: JSON for the API, text for pages."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"error": UNAVAILABLE}, status=503)
    else:
        response = HttpResponse(UNAVAILABLE, status=503, content_type="text/plain")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
