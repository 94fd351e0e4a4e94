"""Compare pages: 2–10 trials (curves overlaid, params side by side) and 2–5 sweeps (best so
far on one chart, plans side by side). What may be read is decided by `scheduler.access`."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from scheduler import compare, metric_values

from .pageaccess import share_token
from .views_assets import plotly_url


def picked(request: HttpRequest, bounds: tuple[int, int], what: str) -> list[int] | HttpResponse:
    """Read `?ids=1,2` (or repeated `ids`), or answer 400 with a page saying what is wrong."""
    try:
        return compare.pick(request.GET.getlist("ids"), bounds, what)
    except compare.BadPick as error:
        context = {"code": 400, "headline": f"Pick {what}s to compare", "explain": str(error)}
        return render(request, "frontend/compare_error.html", context, status=400)


def compare_trials(request: HttpRequest) -> HttpResponse:
    token = share_token(request)
    if not request.user.is_authenticated and not token:
        return redirect_to_login(request.get_full_path())
    ids = picked(request, compare.TRIALS, "trial")
    if isinstance(ids, HttpResponse):
        return ids
    chosen = compare.readable_trials(request.user, ids, token or None)
    if chosen is None:
        raise Http404("No such trials")
    data = metric_values.wire_tree(compare.trials(chosen))  # json_script writes no NaN
    context = {"data": data, "rows": param_rows(data["params"], data["trials"]),
               "plotly": plotly_url(), "sweep": chosen[0].sweep}  # fmt: skip
    return render(request, "frontend/compare_trials.html", context)


@login_required
def compare_sweeps(request: HttpRequest) -> HttpResponse:
    ids = picked(request, compare.SWEEPS, "sweep")
    if isinstance(ids, HttpResponse):
        return ids
    chosen = compare.readable_sweeps(request.user, ids)
    if chosen is None:
        raise Http404("No such sweeps")
    data = metric_values.wire_tree(compare.sweeps(chosen))
    matrices = [{"params": s["matrix"]} for s in data["sweeps"]]
    context = {"data": data, "rows": param_rows(data["params"], matrices), "plotly": plotly_url()}
    return render(request, "frontend/compare_sweeps.html", context)


def param_rows(names: list[str], items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per param: its value in each item (None when absent) and whether the
    items differ in it (shown highlighted)."""
    rows = []
    for name in names:
        values = [item["params"].get(name) for item in items]
        rows.append({"name": name, "values": values, "differs": len({repr(v) for v in values}) > 1})
    return rows
