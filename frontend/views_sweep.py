"""The sweep page, its live state, and the stop and download controls."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import sweeps
from scheduler.models import TrialStatus

from .pageaccess import sweep_page
from .queries import brackets
from .queries import sweep as q
from .queries.common import resource_name
from .queries.control import controls, may_retry
from .strictjson import JsonResponse
from .views_assets import plotly_url

LEGEND = brackets.STATUSES


def page_context(request: HttpRequest, page: q.SweepPage) -> dict:
    sweep = page.access.sweep
    filters = page.trials.filters
    return {
        "page": page,
        "sweep": sweep,
        "resource_name": resource_name(sweep),
        "trial_statuses": TrialStatus.values,
        "legend_statuses": LEGEND,
        "selected_cell": f"{filters.get('bracket')}:{filters.get('rung')}",
        "urls": live_urls(request, sweep.pk),
        "ctl": controls(page.access),
        "can_retry": may_retry(sweep, acl.can_control(page.access)),
    }


def live_urls(request: HttpRequest, sweep_id: int) -> dict[str, str]:
    return {
        "socket": f"/ws/sweeps/{sweep_id}/",
        "state": reverse("ui-state", args=[sweep_id]),
        "trials": reverse("ui-trials", args=[sweep_id]),
        "curves": reverse("ui-curves", args=[sweep_id]),
        "best": reverse("ui-best", args=[sweep_id]),
        "parallel": reverse("ui-parallel", args=[sweep_id]),
        "importance": reverse("ui-importance", args=[sweep_id]),
        "plotly": plotly_url(),
        "trial": reverse("trial-detail", args=[0]),
    }


@sweep_page()
def sweep_detail(request: HttpRequest, found: acl.Access) -> HttpResponse:
    page = q.sweep_page(found, request.GET)
    return render(request, "frontend/sweep_detail.html", page_context(request, page))


@sweep_page()
def sweep_state(request: HttpRequest, found: acl.Access) -> JsonResponse:
    """Return the live parts of the sweep page, rendered, with the seq they are current to."""
    sweep = found.sweep
    state = q.sweep_state(sweep)
    filters = {"bracket": request.GET.get("bracket"), "rung": request.GET.get("rung")}
    context = {
        "state": state,
        "table": state.iterations or state.table,
        "legend_statuses": LEGEND,
        "selected_cell": f"{filters['bracket']}:{filters['rung']}",
    }
    return JsonResponse({
        "seq": sweep.last_seq,
        "status": sweep.status,
        "active": sweep.is_active,
        "paused": sweep.is_paused,
        "concurrency": sweep.concurrency,
        "run": sweep.run,
        "controls": render_to_string(
            "frontend/_sweep_controls.html", {"ctl": controls(found)}, request
        ),
        "stats": render_to_string("frontend/_sweep_stats.html", context, request),
        "brackets": render_to_string(live_table_template(state), context, request),
        "notes": render_to_string(
            "frontend/_sweep_notes.html", {"notes": q.sweep_notes(found)}, request
        ),
    })  # fmt: skip


def live_table_template(state: q.SweepState) -> str:
    """Name the template of the live table: a bo sweep's iterations, else the brackets."""
    if state.iterations is not None:
        return "frontend/_iteration_table.html"
    return "frontend/_bracket_table.html"


@require_POST
@sweep_page(acl.MEMBER)
def sweep_stop(request: HttpRequest, found: acl.Access) -> HttpResponse:
    stopped = sweeps.stop_sweep(found.sweep.pk)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"stopped": stopped})
    return redirect("sweep-detail", found.sweep.pk)
