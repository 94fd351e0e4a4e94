"""Issue 13's goals, printed next to each benchmark's figure with "met" or "not met"."""

from __future__ import annotations

import statistics


def verdict(label: str, value: float, goal: float, unit: str, at_least: bool = False) -> str:
    """Return one line: the figure, the goal (≤ or ≥ `goal` in `unit`) and met / not met."""
    met = value >= goal if at_least else value <= goal
    sign = "≥" if at_least else "≤"
    outcome = "met" if met else "not met"
    return f"{label}: {value:,.1f} {unit} (goal {sign} {goal:,g} {unit}): {outcome}"


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of `values` (share in 0..1)."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(share * len(ordered) + 0.5)))
    return ordered[rank - 1]


def distribution(values_ms: list[float]) -> str:
    """Return min, median, p90, p99 and max of millisecond figures, as one line."""
    return (
        f"n={len(values_ms)} min {min(values_ms):.1f}  median {statistics.median(values_ms):.1f}  "
        f"p90 {percentile(values_ms, 0.9):.1f}  p99 {percentile(values_ms, 0.99):.1f}  "
        f"max {max(values_ms):.1f} ms"
    )
