"""The read side that the API, the dashboard, the CLI and the exports share.

Each fact is computed here once: trial counts per rung and status, a sweep's progress per
bracket and rung, its best trial, its events after a sequence number, and downsampled metric
series (thinned in PostgreSQL, so a chart never reads every point of a big sweep).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db import connection
from django.db.models import Count

from . import events, metric_values, stored
from . import spec as specs
from .models import Event, Sweep, Trial, ranks

Counts = dict[tuple[int, int], dict[str, int]]


def status_counts(sweep: Sweep) -> Counts:
    """Count a sweep's trials per (bracket, rung) and status in one query."""
    rows = sweep.trials.values("bracket", "rung", "status").annotate(n=Count("id")).order_by()
    counts: Counts = defaultdict(dict)
    for row in rows:
        counts[(row["bracket"], row["rung"])][row["status"]] = row["n"]
    return counts


def decisions(sweep: Sweep) -> dict[tuple[int, int], Any]:
    """Map (bracket, rung) to its RungDecision, for the rungs already promoted (one query)."""
    return {(d.bracket, d.rung): d for d in sweep.decisions.all()}


def progress(sweep: Sweep) -> dict[str, Any]:
    """Return the stored plan with live counts: brackets -> rungs, totals (two queries).

    Each rung is its planned `configs` and `resource` plus `trials` (created so far),
    `counts` (per status) and `decision` (the RungDecision, or None while undecided).
    """
    counts, decided = status_counts(sweep), decisions(sweep)
    brackets = []
    for bracket in sweep.plan["brackets"]:
        rungs = []
        for planned in bracket["rungs"]:
            key = (bracket["s"], planned["rung"])
            per_status = counts.get(key, {})
            rungs.append({**planned, "trials": sum(per_status.values()), "counts": per_status,
                          "decision": decided.get(key)})  # fmt: skip
        brackets.append({"s": bracket["s"], "capped": bracket.get("capped", False), "rungs": rungs})
    by_status: dict[str, int] = defaultdict(int)
    for per_status in counts.values():
        for status, n in per_status.items():
            by_status[status] += n
    totals = {
        "planned_configs": sweep.plan.get("total_configs", 0),
        "planned_trials": sweep.plan.get("total_trials", 0),
        "trials": sum(by_status.values()),
        "counts": dict(by_status),
    }
    return {"brackets": brackets, "totals": totals}


def best_trial(sweep: Sweep) -> Trial | None:
    """Return the best trial so far: the one definition of "best" every page, export,
    event and command uses.

    Only the trials `models.ranked_q` admits count (succeeded or stopped, with a value that
    is not NaN; points stop with their trial, so the value is final), ranked in the metric's
    direction with infinities (see metric_values); ties go to the lower trial id. Without a
    ranking metric, the first such trial.
    """
    try:
        metric = stored.spec_of(sweep).metric
    except specs.SpecError:  # stored under older rules and failed at start: nothing ranked
        metric = None
    ranked = sweep.trials.ranked().select_related("config")
    if metric is None:
        return ranked.order_by("id").first()
    order = "-metric_value" if metric.maximize else "metric_value"
    return ranked.order_by(order, "id").first()


def best(sweep: Sweep) -> events.Best | None:
    """Describe the best trial so far (id, number, value, params, bracket, rung, resource),
    or None."""
    trial = best_trial(sweep)
    if trial is None:
        return None
    return {
        "trial": trial.pk,
        "number": trial.number,
        "value": trial.metric_value,
        "params": trial.config.params,
        "bracket": trial.bracket,
        "rung": trial.rung,
        "resource": trial.resource,
    }


def best_so_far(sweep: Sweep) -> dict[str, list]:
    """Return the best ranking-metric value so far against the cumulative resource spent.

    Parallel lists, one item per ended trial in finishing order: `spent` (resource so far,
    in the resource's units; with `resume` a promoted trial adds only what it ran beyond its
    parent), `best` (best value among ranked trials so far, or None), `value` (the trial's
    own, non-finite as on the wire is left to the caller), `trial` (its id) and `number`
    (its number within the sweep).
    """
    spec = stored.spec_of(sweep)
    resume = spec.hyperband is not None and spec.hyperband.resume
    maximize = spec.metric is not None and spec.metric.maximize
    rows = (
        sweep.trials.ended()
        .filter(finished_at__isnull=False)
        .order_by("finished_at", "id")
        .values_list("id", "number", "status", "resource", "parent__resource", "metric_value")
    )
    spent, top = 0.0, None
    out: dict[str, list] = {"spent": [], "best": [], "value": [], "trial": [], "number": []}
    for trial_id, number, status, resource, parent_resource, value in rows:
        spent += (resource or 0) - ((parent_resource or 0) if resume else 0)
        if ranks(status, value):
            top = value if top is None or metric_values.better(value, top, maximize) else top
        for key, item in (("spent", spent), ("best", top), ("value", value), ("trial", trial_id),
                          ("number", number)):  # fmt: skip
            out[key].append(item)
    return out


def events_after(sweep_id: int, after: int, limit: int) -> tuple[list[dict[str, Any]], bool]:
    """Return up to `limit` event messages with seq > `after`, in order, and whether more wait."""
    rows = list(Event.objects.filter(sweep_id=sweep_id, seq__gt=after).order_by("seq")[: limit + 1])
    return [events.event_message(e) for e in rows[:limit]], len(rows) > limit


def latest_events(sweep_id: int, limit: int) -> list[dict[str, Any]]:
    """Return the newest `limit` event messages, newest first."""
    rows = Event.objects.filter(sweep_id=sweep_id).order_by("-seq")[:limit]
    return [events.event_message(e) for e in rows]


# Thinning keeps a curve's shape, spikes included (the "min/max" rule of time-series
# downsampling): a series of n > per points, ordered by step, is cut into B = (per - 2) // 2
# buckets of consecutive points (point j, from 0, is in bucket floor(j * B / n)); each bucket
# keeps its lowest and its highest value, and the first and last points are always kept, so at
# most 2B + 2 <= per points remain. With per < 4 no bucket fits: the first and last point stay
# (only the last when per = 1). PostgreSQL orders NaN above every number, so a bucket's highest
# value is NaN when it holds one: a diverged point is never thinned away.
THIN_SQL = """
SELECT trial_id, name, step, value FROM (
  SELECT trial_id, name, step, value, j, n,
         row_number() OVER (PARTITION BY trial_id, name, bucket ORDER BY value, j) AS low,
         row_number() OVER (PARTITION BY trial_id, name, bucket ORDER BY value DESC, j) AS high
  FROM (
    SELECT trial_id, name, step, value, j, n,
           j * GREATEST((%(per)s - 2) / 2, 1) / n AS bucket
    FROM (
      SELECT trial_id, name, step, value,
             row_number() OVER (PARTITION BY trial_id, name ORDER BY step, id) - 1 AS j,
             count(*) OVER (PARTITION BY trial_id, name) AS n
      FROM scheduler_metricpoint
      WHERE trial_id = ANY(%(ids)s) AND (%(name)s::text IS NULL OR name = %(name)s)
    ) numbered
  ) bucketed
) ranked
WHERE %(per)s = 0 OR n <= %(per)s OR j = n - 1
   OR (%(per)s > 1 AND j = 0)
   OR (%(per)s >= 4 AND (low = 1 OR high = 1))
ORDER BY trial_id, name, step, j
"""


def series(ids: list[int], name: str | None = None, per: int = 0) -> dict[int, dict[str, list]]:
    """Return {trial id: {metric name: [[step, value], ...]}} ordered by step.

    `per` > 0 keeps at most `per` points a series: the first, the last, and each bucket's
    lowest and highest value (see THIN_SQL), so spikes survive; 0 keeps every point. `name`
    limits the series to one metric. A non-finite value is in its JSON string form ("NaN",
    "Infinity", "-Infinity"; see metric_values), which a chart draws as a gap.
    """
    out: dict[int, dict[str, list]] = {}
    if not ids:
        return out
    with connection.cursor() as cursor:
        cursor.execute(THIN_SQL, {"ids": ids, "name": name, "per": max(per, 0)})
        for trial_id, metric, step, value in cursor.fetchall():
            point = [step, metric_values.to_wire(value)]
            out.setdefault(trial_id, {}).setdefault(metric, []).append(point)
    return out
