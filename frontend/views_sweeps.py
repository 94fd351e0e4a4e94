"""The sweeps list page and its live row refresh."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from scheduler.models import SweepStatus

from .queries import sweeps
from .strictjson import JsonResponse

STATUS_TABS = [("active", "Active"), *((s.value, s.label.replace("_", " ")) for s in SweepStatus)]


@login_required
def sweep_list(request: HttpRequest) -> HttpResponse:
    found = sweeps.sweep_list(request.user, request.GET.get("status"), request.GET.get("page"))
    return render(request, "frontend/sweep_list.html", {"list": found, "status_tabs": STATUS_TABS})


@login_required
def sweep_rows(request: HttpRequest) -> JsonResponse:
    """Return fresh row HTML for the sweeps named in `?ids=1,2,3` (ages included), with the
    status tabs and summary line for the list filtered by `?status=`."""
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit()]
    rows = sweeps.rows_by_id(request.user, ids)
    html = {
        row.sweep.pk: render_to_string("frontend/_sweep_row.html", {"row": row}, request)
        for row in rows
    }
    status = {row.sweep.pk: row.sweep.status for row in rows}
    context = {"list": sweeps.tab_counts(request.user, request.GET.get("status")),
               "status_tabs": STATUS_TABS}  # fmt: skip
    return JsonResponse({
        "rows": html,
        "status": status,
        "tabs": render_to_string("frontend/_sweep_tabs.html", context, request),
        "summary": render_to_string("frontend/_sweep_summary.html", context, request),
    })  # fmt: skip
