"""A bo sweep's iterations: each config, random or suggested, with its acquisition value."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scheduler import spec as specs
from scheduler.models import Config, Sweep


@dataclass(frozen=True)
class Iteration:
    index: int
    config: int
    how: str
    why: str
    acquisition: float | None
    mean: float | None
    std: float | None
    params: dict[str, Any]
    trial: int | None
    number: int | None
    status: str
    value: float | None


@dataclass(frozen=True)
class IterationTable:
    rows: list[Iteration]
    planned: int
    initial: int
    function: str
    metric: specs.Metric | None
    params: list[str]

    @property
    def random(self) -> int:
        return sum(1 for row in self.rows if row.how == "random")

    @property
    def suggested(self) -> int:
        return sum(1 for row in self.rows if row.how == "suggested")


def iteration_table(sweep: Sweep, spec: specs.SweepSpec) -> IterationTable:
    """Return every config of a bo sweep in the order it was made (one query)."""
    assert spec.bo is not None
    configs = (
        Config.objects.filter(sweep=sweep)
        .order_by("index")
        .values("id", "index", "origin", "params", "trials__id", "trials__number", "trials__status",
                "trials__metric_value")
    )  # fmt: skip
    rows = [_row(c) for c in configs]
    budget = (sweep.plan or {}).get("budget") or {}
    return IterationTable(
        rows,
        int((sweep.plan or {}).get("total_configs") or 0),
        int(budget.get("n_initial_trials") or 0),
        spec.bo.utility_function.acquisition_function,
        spec.bo.metric,
        [p.name for p in spec.matrix.params],
    )


def _row(c: dict[str, Any]) -> Iteration:
    origin = c["origin"] or {}
    return Iteration(
        index=c["index"],
        config=c["id"],
        how=origin.get("how", "random"),
        why=origin.get("why", ""),
        acquisition=origin.get("acquisition"),
        mean=origin.get("mean"),
        std=origin.get("std"),
        params=c["params"],
        trial=c["trials__id"],
        number=c["trials__number"],
        status=c["trials__status"] or "",
        value=c["trials__metric_value"],
    )
