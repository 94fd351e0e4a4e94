"""Chart data as JSON: learning curves, parallel coordinates, best so far."""

from __future__ import annotations

from django.http import HttpRequest

from scheduler import access as acl

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
