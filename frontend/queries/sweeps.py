"""The sweeps list: one page of sweeps with progress and best value, in four queries."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Max, Min, Q

from scheduler import access
from scheduler.models import Sweep, SweepStatus, Trial, TrialStatus, ranked_q

from .common import metric_of, page_number

PAGE_SIZE = 50


@dataclass(frozen=True)
class SweepRow:
    sweep: Sweep
    done: int
    planned: int
    best: float | None
    metric: str
    stopped: int = 0

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.planned)) if self.planned else 0


@dataclass(frozen=True)
class SweepList:
    rows: list[SweepRow]
    status: str
    counts: dict[str, int]
    page: int
    pages: int
    total: int


def status_filter(raw: str | None) -> str:
    """Return a known sweep status, 'active', or '' (all)."""
    return raw if raw in (*SweepStatus.values, "active") else ""


@dataclass(frozen=True)
class TabCounts:
    """What the status tabs and the summary line show: sweeps per status, and the total
    under the chosen status filter."""

    status: str
    counts: dict[str, int]
    total: int


def tab_counts(user, status: str | None = None) -> TabCounts:
    """Count the sweeps a user can see per status (one query)."""
    status = status_filter(status)
    visible = access.visible_sweeps(user)
    counts = dict(visible.values_list("status").annotate(n=Count("id")).order_by())
    total = sum(n for s, n in counts.items() if not status or s in statuses(status))
    return TabCounts(status, counts, total)


def sweep_list(user, status: str | None = None, page: Any = 1) -> SweepList:
    """Return one page of the sweeps a user can see, newest first."""
    tabs = tab_counts(user, status)
    status, counts, total = tabs.status, tabs.counts, tabs.total
    visible = access.visible_sweeps(user)
    chosen = visible.filter(**status_query(status)) if status else visible
    pages = max(1, math.ceil(total / PAGE_SIZE))
    number = page_number(page, pages)
    start = (number - 1) * PAGE_SIZE
    ordered = chosen.select_related("owner", "team").order_by("-created_at", "-id")
    sweeps = list(ordered[start : start + PAGE_SIZE])
    return SweepList(rows(sweeps), status, counts, number, pages, total)


def statuses(status: str) -> tuple[str, ...]:
    return tuple(Sweep.ACTIVE) if status == "active" else (status,)


def status_query(status: str) -> dict[str, Any]:
    return {"status__in": statuses(status)}


def rows(sweeps: list[Sweep]) -> list[SweepRow]:
    """Attach progress and best values to sweeps with one aggregate query."""
    if not sweeps:
        return []
    ranked = ranked_q()  # the trials results.best_trial ranks, so the list shows its value
    stats = {
        row["sweep_id"]: row
        for row in Trial.objects.filter(sweep__in=[s.pk for s in sweeps])
        .values("sweep_id")
        .annotate(
            done=Count("id", filter=Q(status__in=Trial.ENDED) & ~Q(status=TrialStatus.STOPPED)),
            stopped=Count("id", filter=Q(status=TrialStatus.STOPPED)),
            low=Min("metric_value", filter=ranked),
            high=Max("metric_value", filter=ranked),
        )
        .order_by()
    }
    return [row_of(sweep, stats.get(sweep.pk, {})) for sweep in sweeps]


def row_of(sweep: Sweep, stat: dict[str, Any]) -> SweepRow:
    metric = metric_of(sweep)
    best = stat.get("high" if metric.maximize else "low") if metric else None
    planned = int((sweep.plan or {}).get("total_trials") or 0)
    name = metric.name if metric else ""
    done, stopped = int(stat.get("done") or 0), int(stat.get("stopped") or 0)
    return SweepRow(sweep, done, planned, best, name, stopped)


def rows_by_id(user, ids: list[int]) -> list[SweepRow]:
    """Return fresh rows for the given sweeps the user can see (for live updates)."""
    sweeps = list(
        access.visible_sweeps(user).filter(pk__in=ids[:100]).select_related("owner", "team")
    )
    return rows(sweeps)
