"""Small helpers shared by the page queries; every fact about a sweep's spec comes from the
typed reading in `scheduler.stored`."""

from __future__ import annotations

from typing import Any

from scheduler import planning, stored
from scheduler import spec as specs
from scheduler.models import Sweep


def metric_of(sweep: Sweep) -> specs.Metric | None:
    """Return the ranking metric of a sweep (name, optimization, maximize), or None.

    It sits in the algorithm's section: required for Hyperband, optional for random and grid
    search.
    """
    return stored.spec_of(sweep).metric


def resource_name(sweep: Sweep) -> str:
    """Return the name of the sweep's resource (e.g. num_steps), or 'resource'."""
    return planning.resource_name(stored.spec_of(sweep))


def maximizes(sweep: Sweep) -> bool:
    """Return True when a higher ranking-metric value is better."""
    metric = metric_of(sweep)
    return metric is not None and metric.maximize


def param_names(sweep: Sweep) -> list[str]:
    """Return the sweep's matrix parameter names in file order."""
    return [param.name for param in stored.spec_of(sweep).matrix.params]


def page_number(raw: Any, pages: int) -> int:
    """Read a 1-based page number, clamped to the pages there are."""
    try:
        number = int(raw)
    except (TypeError, ValueError):
        number = 1
    return min(max(number, 1), max(pages, 1))
