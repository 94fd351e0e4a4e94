"""Every JSON body the server writes is strict JSON, even for a sweep full of NaN and ±inf.

The test builds a diverged sweep (metric points, ranking values, last values, a rung's
cut-off, the best value and event payloads all non-finite) and walks every URL the project
routes, with each id filled in, parsing each JSON body with a parser that refuses the bare
`NaN`/`Infinity` tokens Python's json module would otherwise write and read.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from scheduler import events, export, sharing, sweeps
from scheduler.models import MetricPoint, RungDecision, Sweep, Trial
from tests.test_api_sweeps import add_trials, make_sweep

NON_FINITE = (math.nan, math.inf, -math.inf)
# Query strings that reach more of each endpoint: thinning, filters, export formats.
EXTRA_QUERIES = {
    "api/trials/": ["?sweep={sweep}"],
    "api/trials/{trial}/metrics/": ["?limit=2", "?name=loss&limit=5"],
    "api/sweeps/{sweep}/export/": [f"?format={fmt}" for fmt in export.FORMATS],
    "api/sweeps/{sweep}/events/": ["?after=0&limit=1000"],
    "ui/sweeps/rows/": ["?ids={sweep}"],
    "ui/sweeps/{sweep}/curves/": ["?rung=0"],
}


def refuse(token: str) -> None:
    raise ValueError(f"{token} is not JSON")


def routes(resolver: URLResolver | None = None, prefix: str = "") -> list[str]:
    """Return every routed path pattern, as Django writes it, e.g. `api/sweeps/<int:pk>/`."""
    found = []
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        # The readiness probe answers for the workers (none run here), not for a sweep's data.
        if isinstance(entry, URLPattern) and route != "readyz":
            found.append(route)
        elif isinstance(entry, URLResolver) and not route.startswith("admin/"):
            found += routes(entry, route)
    return found


def concrete(route: str) -> list[str]:
    """Fill a route's ids with the diverged sweep's (named by the route), in every format."""
    if route.endswith("<str:fmt>/"):
        return [route.replace("<str:fmt>", fmt) for fmt in export.FORMATS]
    if "trials" in route:
        route = re.sub(r"<int:(pk|trial_id)>", "{trial}", route)
    elif "share-links/<int:pk>" in route:
        route = route.replace("<int:pk>", "{link}")
    route = re.sub(r"<int:(pk|sweep_id)>", "{sweep}", route)
    for name in ("link_id", "team_id", "member_id", "token_id"):
        route = route.replace(f"<int:{name}>", "{" + name.removesuffix("_id") + "}")
    return [route, *(route + query for query in EXTRA_QUERIES.get(route, []))]


@pytest.fixture
def diverged(cast) -> dict[str, int]:
    """A minimized sweep whose values are NaN, +inf and -inf wherever a value can be."""
    sweep = make_sweep(cast.team, cast.admin)
    Sweep.objects.filter(pk=sweep.pk).update(status="running")
    values = [*NON_FINITE, 0.5]
    trials = add_trials(sweep, 4, status="succeeded")
    running = add_trials(sweep, 1, rung=1, status="running")[0]
    for trial, value in zip([*trials, running], [*values, math.nan], strict=True):
        Trial.objects.filter(pk=trial.pk).update(
            metric_value=value,
            last_metrics={"loss": events.metric_values.to_wire(value), "acc": "Infinity"},
            rejected_points=2,
            finished_at=timezone.now(),
            rejections=["stdout line 3: value of 'loss' must be a number"],
        )
        MetricPoint.objects.bulk_create(
            MetricPoint(trial=trial, name=name, step=step, value=v)
            for name in ("loss", "acc")
            for step, v in enumerate([*values, value, *NON_FINITE])
        )
    RungDecision.objects.create(sweep=sweep, bracket=4, rung=0, promoted=1, cutoff=math.inf)
    with transaction.atomic():
        locked = sweeps.lock_sweep(sweep.pk)
        nan_trial = Trial.objects.get(pk=trials[0].pk)
        events.emit(locked, events.TRIAL_FINISHED, events.trial_state(nan_trial))
        promoted = {"bracket": 4, "rung": 0, "to_rung": 1, "resource": 3, "promoted": [],
                    "configs": [], "cutoff": math.inf}  # fmt: skip
        events.emit(locked, events.RUNG_PROMOTED, promoted)  # type: ignore[arg-type]
        stop = {"trial": trials[2].pk, "metric": "loss", "value": -math.inf,
                "rule": "loss <= 0.35", "bracket": 4, "rung": 0}  # fmt: skip
        sweeps.end_sweep(locked, "early_stopped", "trial met a rule", early_stop=stop)  # type: ignore[arg-type]
    link = sharing.create_link(sweep, cast.admin)
    return {"sweep": sweep.pk, "trial": trials[1].pk, "link": link.pk, "team": cast.team.pk,
            "member": cast.member.pk, "token": 0}  # fmt: skip


def test_every_json_body_is_strict_json_for_a_diverged_sweep(cast, diverged):
    client = Client()
    client.force_login(cast.admin)
    bodies: dict[str, object] = {}
    for route in routes():
        for path in concrete(route):
            url = "/" + path.format(**diverged)
            response = client.get(url)
            assert response.status_code < 500, url
            if response.get("Content-Type", "").startswith("application/json"):
                bodies[url] = json.loads(response.content, parse_constant=refuse)

    s, t = diverged["sweep"], diverged["trial"]
    expected = {
        f"/api/sweeps/{s}/", f"/api/sweeps/{s}/events/", f"/api/trials/?sweep={s}",
        f"/api/trials/{t}/", f"/api/trials/{t}/metrics/", f"/api/sweeps/{s}/export/?format=json",
        f"/ui/sweeps/{s}/curves/", f"/ui/sweeps/{s}/best/", f"/ui/sweeps/{s}/parallel/",
        f"/ui/sweeps/{s}/state/", f"/ui/trials/{t}/metrics/", f"/ui/sweeps/rows/?ids={s}",
    }  # fmt: skip
    assert expected <= set(bodies)
    # The diverged values reached the bodies, in their one string form.
    assert bodies[f"/api/sweeps/{s}/"]["best"]["value"] == "-Infinity"
    assert [0.0, "NaN"] in bodies[f"/api/trials/{t}/metrics/"]["metrics"]["acc"]
    assert bodies[f"/api/trials/{t}/"]["metric_value"] == "Infinity"
    assert bodies[f"/ui/sweeps/{s}/best/"]["best"][-1] == "-Infinity"
    finished = [
        e for e in bodies[f"/api/sweeps/{s}/events/"]["events"] if e["kind"] == "sweep_finished"
    ]
    assert finished[0]["payload"]["best"]["value"] == "-Infinity"


def test_the_sweep_and_trial_pages_show_diverged_values(cast, diverged):
    client = Client()
    client.force_login(cast.admin)

    sweep_page = client.get(f"/sweeps/{diverged['sweep']}/").content.decode()
    trial_page = client.get(f"/trials/{diverged['trial']}/").content.decode()

    assert "−∞" in sweep_page and "NaN" in sweep_page  # best, early stop, trial table
    assert "+∞" in trial_page
    assert "2 metric points or lines from this trial were not stored" in trial_page
