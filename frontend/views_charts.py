"""Chart data as JSON: learning curves, parallel coordinates, best so far, importance."""

from __future__ import annotations

from django.http import HttpRequest

from scheduler import access as acl
from scheduler import analysis

from .pageaccess import sweep_page
from .queries import charts
from .strictjson import JsonResponse


@sweep_page()
def curves(request: HttpRequest, found: acl.Access) -> JsonResponse:
    return JsonResponse(charts.curves(found.sweep, request.GET))


@sweep_page()
def parallel(request: HttpRequest, found: acl.Access) -> JsonResponse:
    return JsonResponse(charts.parallel(found.sweep))


@sweep_page()
def best(request: HttpRequest, found: acl.Access) -> JsonResponse:
    return JsonResponse(charts.best_so_far(found.sweep))


@sweep_page()
def importance(request: HttpRequest, found: acl.Access) -> JsonResponse:
    """Return importance and slice points at the rung `?resource=` (default: see analysis)."""
    try:
        resource = float(request.GET["resource"]) if request.GET.get("resource") else None
    except ValueError:
        return JsonResponse({"error": "resource must be a number"}, status=400)
    return JsonResponse(analysis.sweep_importance(found.sweep, resource))
