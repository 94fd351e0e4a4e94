"""Exports of a sweep: its trials as CSV or JSON rows, the best config and the sweep as YAML.

The formatting functions take plain data, so they are tested without a database; `export`
loads a sweep's data and picks one of them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

import yaml

from . import metric_values

FORMATS = {
    "csv": ("text/csv", "trials.csv"),
    "json": ("application/json", "trials.json"),
    "best-yaml": ("application/yaml", "best.yaml"),
    "yaml": ("application/yaml", "sweep.yaml"),
}
# `trial` is the trial's number within the sweep (#1..#N); `trial_id` its global id (URLs, API).
HEAD = (
    "trial", "trial_id", "config", "bracket", "rung", "resource", "status", "attempt", "metric"
)  # fmt: skip
FIELDS = (
    "number", "id", "config_id", "bracket", "rung", "resource", "status", "attempt", "metric_value"
)  # fmt: skip


def columns(params: Iterable[str]) -> list[str]:
    """Return the column names: the trial's fields, then `param.<name>` per parameter."""
    return [*HEAD, *(f"param.{name}" for name in params)]


def flat_row(trial: dict[str, Any], params: Iterable[str]) -> dict[str, Any]:
    """Flatten one trial (its FIELDS plus `params`) into a row keyed by `columns`."""
    row = {head: trial.get(field) for head, field in zip(HEAD, FIELDS, strict=True)}
    values = trial.get("params") or {}
    row.update({f"param.{name}": values.get(name) for name in params})
    # NaN and infinities as "NaN", "Infinity", "-Infinity", in CSV as in JSON.
    wired: dict[str, Any] = metric_values.wire_tree(row)
    return wired


def to_csv(rows: Iterable[dict[str, Any]], header: list[str]) -> str:
    """Render rows as CSV text with a header line; None becomes an empty cell."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=header, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    return buffer.getvalue()


def to_json(rows: list[dict[str, Any]], header: list[str]) -> str:
    """Render rows as a JSON document: the column names and the trials."""
    return json.dumps({"columns": header, "trials": rows}, indent=2, allow_nan=False, default=str)


def best_yaml(best: dict[str, Any] | None, sweep_name: str, metric: str | None) -> str:
    """Render the best config so far as YAML: its params, metric value and where it ran.

    An infinite best value is YAML's own `.inf` or `-.inf` (NaN is never best).
    """
    if best is None:
        return yaml.safe_dump({"sweep": sweep_name, "best": None}, sort_keys=False)
    body = {
        "sweep": sweep_name,
        "trial": best.get("number"),
        "trial_id": best["trial"],
        "metric": {"name": metric, "value": best["value"]},
        "bracket": best["bracket"],
        "rung": best["rung"],
        "resource": best["resource"],
        "params": best["params"],
    }
    return yaml.safe_dump(body, sort_keys=False)


def trial_rows(sweep) -> tuple[list[str], list[dict[str, Any]]]:
    """Load a sweep's trials as flat rows, in number order, with their column names."""
    from django.db.models import F  # here, so the formatting functions need no Django

    from .stored import spec_of

    params = [param.name for param in spec_of(sweep).matrix.params]
    trials = sweep.trials.order_by("number").values(*FIELDS, params=F("config__params"))
    return columns(params), [flat_row(trial, params) for trial in trials.iterator(2000)]


def export(sweep, fmt: str) -> str:
    """Return a sweep's export in one of FORMATS."""
    if fmt == "yaml":
        return sweep.yaml
    if fmt == "best-yaml":
        from .results import best
        from .stored import spec_of

        metric = spec_of(sweep).metric
        return best_yaml(best(sweep), sweep.name, metric.name if metric else None)
    header, rows = trial_rows(sweep)
    return to_csv(rows, header) if fmt == "csv" else to_json(rows, header)


def filename(sweep, fmt: str) -> str:
    """Return the download name of an export, e.g. `sweep-12-trials.csv`."""
    return f"sweep-{sweep.pk}-{FORMATS[fmt][1]}"
