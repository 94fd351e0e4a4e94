"""The trial page, the kill control, and the trial table, output and metrics as JSON."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from scheduler import access as acl
from scheduler import trials
from scheduler.models import Trial, TrialStatus

from .pageaccess import sweep_page, trial_page
from .queries import charts
from .queries import trial as q
from .queries.common import metric_of, resource_name
from .queries.control import may_retry
from .queries.trial_table import trial_table
from .strictjson import JsonResponse
from .views_assets import plotly_url


@trial_page()
def trial_detail(request: HttpRequest, found: acl.Access, trial_id: int) -> HttpResponse:
    page = q.trial_page(found, trial_id)
    urls = {
        "socket": f"/ws/sweeps/{found.sweep.pk}/",
        "output": reverse("ui-trial-output", args=[trial_id]),
        "metrics": reverse("ui-trial-metrics", args=[trial_id]),
        "live": reverse("ui-trial-live", args=[trial_id]),
        "plotly": plotly_url(),
    }
    context = {
        "page": page,
        "t": page.trial,
        "sweep": found.sweep,
        "active_statuses": Trial.UNFINISHED,
        "tail_kb": settings.HBSITE_OUTPUT_TAIL_BYTES // 1024,
        "urls": urls,
    }
    return render(request, "frontend/trial_detail.html", context)


@trial_page()
def trial_live(request: HttpRequest, found: acl.Access, trial_id: int) -> JsonResponse:
    """Return the trial page's changing parts, rendered: facts (metric, times, exit code),
    lineage rows and the promoted chip, with the status and the config's trial ids."""
    page = q.trial_page(found, trial_id)
    context = {"page": page, "t": page.trial}
    trial = page.trial
    return JsonResponse({
        "seq": found.sweep.last_seq,
        "status": trial.status,
        "promoted": trial.promoted,
        "lineage_ids": [row.pk for row in page.lineage],
        "facts": render_to_string("frontend/_trial_facts.html", context, request),
        "lineage": render_to_string("frontend/_trial_lineage.html", context, request),
        "attempts": render_to_string("frontend/_trial_attempts.html", context, request),
    })  # fmt: skip


@require_POST
@trial_page(acl.MEMBER)
def trial_kill(request: HttpRequest, found: acl.Access, trial_id: int) -> HttpResponse:
    killed = trials.kill(trial_id)
    if request.headers.get("Accept") == "application/json":
        return JsonResponse({"killed": killed})
    target = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(target, {request.get_host()}):
        return redirect(target)
    return redirect("trial-detail", trial_id)


@trial_page()
def trial_output(request: HttpRequest, found: acl.Access, trial_id: int) -> JsonResponse:
    return JsonResponse(q.output(found, trial_id))


@trial_page()
def trial_metrics(request: HttpRequest, found: acl.Access, trial_id: int) -> JsonResponse:
    trial = Trial.objects.only("id", "status").get(pk=trial_id)
    return JsonResponse(charts.trial_series(trial))


@sweep_page()
def trial_rows(request: HttpRequest, found: acl.Access) -> JsonResponse:
    """Return one page of the trial table, rendered, for the same query string as the page."""
    sweep = found.sweep
    table = trial_table(sweep, request.GET)
    context = {
        "trials": table,
        "metric": metric_of(sweep),
        "resource_name": resource_name(sweep),
        "can_run": found.allows(acl.MEMBER),
        "can_retry": may_retry(sweep, acl.can_control(found)),
        "trial_statuses": TrialStatus.values,
    }
    html = render_to_string("frontend/_trial_table.html", context, request)
    return JsonResponse({"seq": sweep.last_seq, "total": table.total, "html": html})
