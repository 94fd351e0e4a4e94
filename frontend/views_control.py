"""The sweep page's controls: pause, resume, retry failed trials, concurrency; trial retry.

Each answers JSON for the page's scripts (`{"ok": true}`, or 409 with `{"error"}`), or
redirects back with the outcome as a message when posted without JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import control

from .pageaccess import sweep_page, trial_page
from .strictjson import JsonResponse


def acted(request: HttpRequest, action: Callable[[], object], back: HttpResponse) -> HttpResponse:
    """Run a control action; answer JSON, or `back` with a message on error."""
    try:
        action()
    except control.ControlError as exc:
        if request.headers.get("Accept") == "application/json":
            return JsonResponse({"ok": False, "error": str(exc)}, status=409)
        messages.error(request, str(exc))
        return back
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"ok": True})
    return back


def flag(request: HttpRequest, name: str) -> bool:
    """Read a checkbox or hidden yes/no field of the posted form."""
    return request.POST.get(name) in ("1", "true", "on")


def number(value: str | None) -> int | None:
    """Read a whole number from a form field; None when empty or not a number."""
    text = (value or "").strip()
    return int(text) if text.isdigit() else None


@require_POST
@sweep_page(acl.MEMBER)
def sweep_pause(request: HttpRequest, found: acl.Access) -> HttpResponse:
    pk, requeue = found.sweep.pk, flag(request, "requeue")
    return acted(request, lambda: control.pause(pk, request.user, requeue), back(pk))


@require_POST
@sweep_page(acl.MEMBER)
def sweep_resume(request: HttpRequest, found: acl.Access) -> HttpResponse:
    pk, retry_failed = found.sweep.pk, flag(request, "retry_failed")
    return acted(request, lambda: control.resume(pk, request.user, retry_failed), back(pk))


@require_POST
@sweep_page(acl.MEMBER)
def sweep_retry(request: HttpRequest, found: acl.Access) -> HttpResponse:
    """Retry every failed trial of the sweep, or of one rung (`rung` = "bracket:rung")."""
    bracket, _, rung = request.POST.get("rung", "").partition(":")
    pk = found.sweep.pk
    return acted(
        request,
        lambda: control.retry(pk, request.user, None, number(bracket), number(rung)),
        back(pk),
    )


@require_POST
@sweep_page(acl.MEMBER)
def sweep_concurrency(request: HttpRequest, found: acl.Access) -> HttpResponse:
    value = number(request.POST.get("concurrency"))
    pk = found.sweep.pk

    def change() -> object:
        if value is None:
            raise control.ControlError("concurrency must be a whole number")
        return control.set_concurrency(pk, value, request.user)

    return acted(request, change, back(pk))


@require_POST
@trial_page(acl.MEMBER)
def trial_retry(request: HttpRequest, found: acl.Access, trial_id: int) -> HttpResponse:
    pk = found.sweep.pk
    target = redirect("trial-detail", trial_id)
    return acted(request, lambda: control.retry(pk, request.user, [trial_id]), target)


def back(sweep_id: int) -> HttpResponse:
    return redirect("sweep-detail", sweep_id)
