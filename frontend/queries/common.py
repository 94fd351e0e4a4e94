"""Small helpers shared by the page queries."""

from __future__ import annotations

from typing import Any

from scheduler.models import Sweep, Trial

ENDED = tuple(Trial.ENDED)


def metric_of(sweep: Sweep) -> dict[str, str] | None:
    """Return the ranking metric {name, optimization} stored with a sweep, or None.

    It sits in the algorithm's section, as `SweepSpec.metric` reads it: required for
    Hyperband, optional for random and grid search.
    """
    spec = sweep.spec or {}
    metric = (spec.get(spec.get("algorithm") or "hyperband") or {}).get("metric")
    return metric if isinstance(metric, dict) else None


def resource_name(sweep: Sweep) -> str:
    """Return the name of the sweep's resource (e.g. num_steps), or 'resource'."""
    hb = (sweep.spec or {}).get("hyperband") or {}
    return (hb.get("resource") or {}).get("name") or "resource"


def maximizes(sweep: Sweep) -> bool:
    metric = metric_of(sweep)
    return bool(metric) and metric.get("optimization") == "maximize"


def param_names(sweep: Sweep) -> list[str]:
    """Return the sweep's matrix parameter names in file order."""
    return list(((sweep.spec or {}).get("matrix") or {}).keys())


def page_number(raw: Any, pages: int) -> int:
    """Read a 1-based page number, clamped to the pages there are."""
    try:
        number = int(raw)
    except (TypeError, ValueError):
        number = 1
    return min(max(number, 1), max(pages, 1))
