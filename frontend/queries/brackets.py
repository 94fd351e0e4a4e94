"""The bracket table: brackets as columns, rungs as rows, live counts in every cell."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scheduler import results
from scheduler import spec as specs
from scheduler.models import Sweep, Trial

# The order of a cell's status bar and legend; lost trials count with failed ones.
STATUSES = ("pending", "queued", "running", "succeeded", "failed", "stopped")


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

    @property
    def key(self) -> str:
        return f"{self.bracket}:{self.rung}"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def done(self) -> int:
        return sum(self.counts.get(s, 0) for s in Trial.ENDED)

    @property
    def segments(self) -> list[tuple[str, float]]:
        """Return (status, percent of planned configs) for the cell's status bar."""
        width = max(self.configs, self.total, 1)
        return [(s, 100 * self.counts[s] / width) for s in STATUSES if self.counts.get(s)]

    @property
    def live(self) -> list[tuple[str, int]]:
        return [(s, self.counts[s]) for s in STATUSES if self.counts.get(s)]


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
) -> BracketTable:
    """Lay out a stored plan; with counts and decisions it is the live table."""
    brackets = plan.get("brackets") or []
    depth = max((len(b["rungs"]) for b in brackets), default=0)
    rows = []
    for i in range(depth):
        cells = [cell(b, i, counts or {}, decisions or {}) for b in brackets]
        rows.append((i, cells))
    return BracketTable(
        [b["s"] for b in brackets], rows, resource_name, metric, live=counts is not None
    )


def cell(bracket: dict[str, Any], i: int, counts: dict, decisions: dict) -> Cell | None:
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
    )


def live_table(sweep: Sweep, resource_name: str, metric: specs.Metric | None) -> BracketTable:
    """Return the sweep's bracket table with live counts (two queries)."""
    counts = results.status_counts(sweep)
    decided = {key: (d.promoted, d.cutoff) for key, d in results.decisions(sweep).items()}
    return from_plan(sweep.plan, resource_name, metric, counts, decided)
