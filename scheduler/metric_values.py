"""Metric values that are not finite numbers: their one JSON form, and how they rank.

Training diverges, so a metric value may be NaN, +inf or -inf. JSON has no such numbers, so
hbsite writes and reads them, everywhere (metrics posted to the API, stdout metric lines,
every JSON body, websocket message, event payload and export it writes), as the JSON strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"``: the spellings JavaScript's ``Number()`` and
Python's ``float()`` both turn back into the number. A stdout metric line may also carry
Python's ``json.dumps`` output, the bare tokens ``NaN``, ``Infinity`` and ``-Infinity``.

Ranking (the only definition; promotion, the best trial and every chart use it): values rank
in the metric's direction, so for a minimized metric -inf is best and +inf is worst of the
numbers; NaN ranks after every number and never counts as a result (it is never promoted and
never "best"); a missing value (None) ranks after NaN.

This module imports no Django.
"""

from __future__ import annotations

import math
from typing import Any

NAN, INFINITY, MINUS_INFINITY = "NaN", "Infinity", "-Infinity"
FROM_WIRE = {NAN: math.nan, INFINITY: math.inf, MINUS_INFINITY: -math.inf}


def to_wire(value: float) -> float | str:
    """Return a float as JSON may hold it: itself when finite, else its string form."""
    if math.isnan(value):
        return NAN
    if math.isinf(value):
        return INFINITY if value > 0 else MINUS_INFINITY
    return value


def wire_point(name: str, step: float, value: float) -> dict[str, Any]:
    """Return a metric point as the API and the websockets carry it: {name, step, value}."""
    return {"name": name, "step": step, "value": to_wire(value)}


def from_wire(value: Any) -> float:
    """Read a metric value: an int or float, or one of the three strings.

    Raises ValueError for anything else, and for an int too large for a float.
    """
    if isinstance(value, str) and value in FROM_WIRE:
        return FROM_WIRE[value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise ValueError("is too large for a float") from None
    shown = repr(value) if len(repr(value)) <= 40 else repr(value)[:37] + "..."
    raise ValueError(f"must be a number or 'NaN', 'Infinity' or '-Infinity', got {shown}")


def wire_tree(data: Any) -> Any:
    """Return JSON-ready data with every non-finite float, at any depth, in its string form.

    Dicts, lists and tuples are copied only where they hold such a float; other values pass.
    """
    if isinstance(data, float):
        return data if math.isfinite(data) else to_wire(data)
    if isinstance(data, dict):
        return {key: wire_tree(item) for key, item in data.items()}
    if isinstance(data, (list, tuple)):
        return [wire_tree(item) for item in data]
    return data


def counts(value: float | None) -> bool:
    """Tell whether a value counts as a result: any number but NaN (infinities count)."""
    return value is not None and not math.isnan(value)


def rank_key(value: float | None, maximize: bool) -> tuple[int, float]:
    """Return a sort key that puts values best first: numbers in the metric's direction,
    then NaN, then None."""
    if value is None:
        return (2, 0.0)
    if math.isnan(value):
        return (1, 0.0)
    return (0, -value if maximize else value)


def better(value: float | None, than: float | None, maximize: bool) -> bool:
    """Tell whether `value` ranks strictly before `than` (see `rank_key`)."""
    return rank_key(value, maximize) < rank_key(than, maximize)
