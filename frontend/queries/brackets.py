"""The bracket table: brackets as columns, rungs as rows, live counts in every cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count

from scheduler import results
from scheduler import spec as specs
from scheduler.models import Sweep, TrialStatus

# The order of a cell's status bar and legend; lost trials count with failed ones.
STATUSES = ("pending", "queued", "running", "succeeded", "failed", "stopped")
# Trials that ran to their end: a stopped trial was cut short, so it is counted apart.
RAN = ("succeeded", "failed")


@dataclass(frozen=True)
class Cell:
    bracket: int
    rung: int
    configs: int
    resource: Any
    counts: dict[str, int] = field(default_factory=dict)
    promoted: int | None = None
    cutoff: float | None = None
    top: bool = False
    # Of the cell's stopped trials, those stopped before they started (queued or pending).
    stopped_unstarted: int = 0
    # The sweep has ended: configs without a trial, and trials stopped before starting,
    # will never run.
    ended: bool = False

    @property
    def key(self) -> str:
        return f"{self.bracket}:{self.rung}"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def ran(self) -> int:
        """Trials that ran to their end (succeeded or failed)."""
        return sum(self.counts.get(s, 0) for s in RAN)

    @property
    def stopped(self) -> int:
        """Trials stopped after they had started."""
        return self.counts.get("stopped", 0) - self.stopped_unstarted

    @property
    def shown_counts(self) -> dict[str, int]:
        """The counts per status, with only the stopped trials that had started as stopped:
        the ones stopped before starting count as never run."""
        return {**self.counts, "stopped": self.stopped}

    @property
    def never_run(self) -> int:
        """Planned runs that will not happen: trials stopped before they started and, once
        the sweep has ended, configs that never got a trial."""
        unplanted = max(self.configs - self.total, 0) if self.ended else 0
        return unplanted + self.stopped_unstarted

    @property
    def segments(self) -> list[tuple[str, float]]:
        """Return (status, percent of planned configs) for the cell's status bar."""
        width = max(self.configs, self.total, 1)
        shown = self.shown_counts
        return [(s, 100 * shown[s] / width) for s in STATUSES if shown.get(s)]

    @property
    def live(self) -> list[tuple[str, int, str]]:
        """Return (css key, count, label) for each non-zero count the cell shows."""
        shown = self.shown_counts
        found = [(s, shown[s], s) for s in STATUSES if shown.get(s)]
        return found + ([("never", self.never_run, "never run")] if self.never_run else [])


@dataclass(frozen=True)
class BracketTable:
    brackets: list[int]
    rows: list[tuple[int, list[Cell | None]]]
    resource_name: str
    metric: specs.Metric | None
    live: bool

    @property
    def cutoff_sign(self) -> str:
        return "≥" if self.metric and self.metric.maximize else "≤"


def from_plan(
    plan: dict[str, Any],
    resource_name: str = "resource",
    metric: specs.Metric | None = None,
    counts: dict[tuple[int, int], dict[str, int]] | None = None,
    decisions: dict[tuple[int, int], tuple[int, float | None]] | None = None,
    unstarted: dict[tuple[int, int], int] | None = None,
    ended: bool = False,
) -> BracketTable:
    """Lay out a stored plan; with counts and decisions it is the live table. `unstarted`
    counts each cell's trials stopped before they started; `ended` says the sweep is over."""
    brackets = plan.get("brackets") or []
    depth = max((len(b["rungs"]) for b in brackets), default=0)
    rows = []
    for i in range(depth):
        cells = [cell(b, i, counts or {}, decisions or {}, unstarted or {}, ended)
                 for b in brackets]  # fmt: skip
        rows.append((i, cells))
    return BracketTable(
        [b["s"] for b in brackets], rows, resource_name, metric, live=counts is not None
    )


def cell(
    bracket: dict[str, Any], i: int, counts: dict, decisions: dict, unstarted: dict, ended: bool
) -> Cell | None:
    if i >= len(bracket["rungs"]):
        return None
    rung, key = bracket["rungs"][i], (bracket["s"], i)
    promoted, cutoff = decisions.get(key, (None, None))
    per_status = dict(counts.get(key, {}))
    if per_status.get("lost"):
        per_status["failed"] = per_status.get("failed", 0) + per_status.pop("lost")
    return Cell(
        bracket=bracket["s"],
        rung=i,
        configs=rung["configs"],
        resource=rung["resource"],
        counts=per_status,
        promoted=promoted,
        cutoff=cutoff,
        top=i == len(bracket["rungs"]) - 1,
        stopped_unstarted=unstarted.get(key, 0),
        ended=ended,
    )


def stopped_before_start(sweep: Sweep) -> dict[tuple[int, int], int]:
    """Count each cell's trials that were stopped before they started (one query)."""
    rows = (
        sweep.trials.filter(status=TrialStatus.STOPPED, started_at__isnull=True)
        .values("bracket", "rung")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {(row["bracket"], row["rung"]): row["n"] for row in rows}


def live_table(sweep: Sweep, resource_name: str, metric: specs.Metric | None) -> BracketTable:
    """Return the sweep's bracket table with live counts (two queries, three once a trial
    was stopped)."""
    counts = results.status_counts(sweep)
    decided = {key: (d.promoted, d.cutoff) for key, d in results.decisions(sweep).items()}
    any_stopped = any(per.get("stopped") for per in counts.values())
    unstarted = stopped_before_start(sweep) if any_stopped else {}
    ended = not sweep.is_active
    return from_plan(sweep.plan, resource_name, metric, counts, decided, unstarted, ended)
