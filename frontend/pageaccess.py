"""Access checks for pages and JSON endpoints: one decorator over `scheduler.access`.

Every sweep and trial URL goes through `sweep_page`/`trial_page`; a sweep the caller may not
see is a 404, and a signed-out visitor without a share token is sent to the login page.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlencode

from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse

from scheduler import access as acl
from scheduler.models import Trial


def share_token(request: HttpRequest) -> str:
    """Return the share token of the request (`?share=`), or ''."""
    return request.GET.get("share", "")[:500]


def share_query(request: HttpRequest) -> str:
    """Return `share=<token>` to keep on internal links, or ''."""
    token = share_token(request)
    return urlencode({"share": token}) if token else ""


def resolve(request: HttpRequest, sweep_id: int, need: str) -> acl.Access:
    """Return the caller's access to a sweep, or raise 404 when it is missing or too weak."""
    found = acl.sweep_access(request.user, sweep_id, share_token(request) or None)
    if found is None or not found.allows(need):
        raise Http404("No such sweep")
    return found


def sweep_page(need: str = acl.VIEWER) -> Callable:
    """Decorate a view taking `(request, access, ...)` for a URL with `sweep_id`."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, sweep_id: int, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated and not share_token(request):
                return redirect_to_login(request.get_full_path())
            return view(request, resolve(request, sweep_id, need), *args, **kwargs)

        return wrapper

    return decorate


def trial_page(need: str = acl.VIEWER) -> Callable:
    """Decorate a view taking `(request, access, trial_id)` for a URL with `trial_id`."""

    def decorate(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, trial_id: int, *args, **kwargs) -> HttpResponse:
            if not request.user.is_authenticated and not share_token(request):
                return redirect_to_login(request.get_full_path())
            sweep_id = Trial.objects.filter(pk=trial_id).values_list("sweep_id", flat=True)
            if not sweep_id:
                raise Http404("No such trial")
            return view(request, resolve(request, sweep_id[0], need), trial_id, *args, **kwargs)

        return wrapper

    return decorate
