"""The sweeps list page (search, filters) and its live row refresh."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string

from scheduler import catalog
from scheduler.models import SweepStatus

from .queries import sweeps
from .strictjson import JsonResponse

STATUS_TABS = [("active", "Active"), *((s.value, s.label.replace("_", " ")) for s in SweepStatus)]


def status_tabs(wanted: catalog.SweepSearch) -> list[tuple[str, str, str]]:
    """Return each status tab as (key, label, link), the link keeping the rest of the search."""
    tabs = [("", "All", sweeps.link(wanted, status=""))]
    return tabs + [(key, label, sweeps.link(wanted, status=key)) for key, label in STATUS_TABS]


def list_context(request: HttpRequest) -> dict:
    wanted = catalog.SweepSearch.from_query(request.GET)
    owners, teams = sweeps.owners_and_teams(request.user)
    return {
        "list": sweeps.sweep_list(request.user, wanted, request.GET.get("page")),
        "status_tabs": status_tabs(wanted),
        "owners": owners,
        "teams": teams,
    }


@login_required
def sweep_list(request: HttpRequest) -> HttpResponse:
    """The sweeps page; with `?results=1`, only its results (tabs, summary, table) as JSON."""
    context = list_context(request)
    if request.GET.get("results") != "1":
        return render(request, "frontend/sweep_list.html", context)
    return JsonResponse({
        "results": render_to_string("frontend/_sweep_results.html", context, request),
        "tabs": render_to_string("frontend/_sweep_tabs.html", context, request),
        "summary": render_to_string("frontend/_sweep_summary.html", context, request),
    })  # fmt: skip


@login_required
def sweep_rows(request: HttpRequest) -> JsonResponse:
    """Return fresh row HTML for the sweeps named in `?ids=1,2,3` (ages included), whether
    each still matches the search in the rest of the query string (`q`, `tag`, `status`,
    `owner`, `team`), and the status tabs and summary line for that search."""
    ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.isdigit() and len(i) < 19]
    wanted = catalog.SweepSearch.from_query(request.GET)
    rows = sweeps.rows_by_id(request.user, ids)
    html = {
        row.sweep.pk: render_to_string("frontend/_sweep_row.html", {"row": row}, request)
        for row in rows
    }
    status = {row.sweep.pk: row.sweep.status for row in rows}
    matching = sweeps.matching_ids(request.user, wanted, ids)
    context = {"list": sweeps.tab_counts(request.user, wanted), "status_tabs": status_tabs(wanted)}
    return JsonResponse({
        "rows": html,
        "status": status,
        "matches": {pk: pk in matching for pk in html},
        "tabs": render_to_string("frontend/_sweep_tabs.html", context, request),
        "summary": render_to_string("frontend/_sweep_summary.html", context, request),
    })  # fmt: skip
