"""The trial table: filter by status, bracket, rung, any param or the metric; sort; page.

Filters come from the query string, so every view of the table is a plain link:
`status=running&bracket=2&rung=0&p_lr=>0.01&metric=0.1..0.5&sort=-metric&page=3`.
A param or metric filter is `v` or `=v` (equal), `>v`, `>=v`, `<v`, `<=v` or `a..b`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q, QuerySet
from django.db.models.fields.json import KeyTransform

from scheduler.models import Sweep, Trial, TrialStatus

from .common import page_number, param_names

PAGE_SIZE = 100
OPS = ((">=", "gte"), ("<=", "lte"), (">", "gt"), ("<", "lt"), ("=", "exact"))
SORTS = {
    "id": "id",
    "status": "status",
    "bracket": "bracket",
    "rung": "rung",
    "resource": "resource",
    "metric": "metric_value",
    "attempt": "attempt",
    "started": "started_at",
}


@dataclass(frozen=True)
class TrialTable:
    rows: list[Trial]
    total: int
    page: int
    pages: int
    sort: str
    params: list[str]
    filters: dict[str, str]
    errors: list[str] = field(default_factory=list)

    @property
    def first(self) -> int:
        return (self.page - 1) * PAGE_SIZE + 1 if self.total else 0

    @property
    def last(self) -> int:
        return min(self.page * PAGE_SIZE, self.total)


def scalar(text: str) -> Any:
    """Read a filter value as an int, float, bool or string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def parse_expr(text: str) -> list[tuple[str, Any]]:
    """Turn a filter expression into (lookup, value) pairs."""
    text = text.strip()
    if ".." in text:
        low, high = (part.strip() for part in text.split("..", 1))
        return [("gte", scalar(low)), ("lte", scalar(high))]
    for sign, lookup in OPS:
        if text.startswith(sign):
            return [(lookup, scalar(text[len(sign) :].strip()))]
    return [("exact", scalar(text))]


def numeric(pairs: list[tuple[str, Any]]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for _, v in pairs)


def read_filters(sweep: Sweep, get: Any) -> tuple[Q, dict[str, str], list[str]]:
    """Build the trial filter from a query string; return it with the values and errors."""
    query, values, errors = Q(), {}, []
    status = get.get("status", "")
    if status in TrialStatus.values:
        query &= Q(status=status)
        values["status"] = status
    for name in ("bracket", "rung"):
        raw = get.get(name, "")
        if raw.isdigit():
            query &= Q(**{name: int(raw)})
            values[name] = raw
    query &= expr_filter(get.get("metric", ""), "metric_value", "metric", values, errors)
    for name in param_names(sweep):
        key = f"p_{name}"
        query &= expr_filter(get.get(key, ""), f"config__params__{name}", key, values, errors)
    return query, values, errors


def expr_filter(raw: str, column: str, key: str, values: dict, errors: list[str]) -> Q:
    if not raw.strip():
        return Q()
    pairs = parse_expr(raw)
    if column == "metric_value" and not numeric(pairs):
        errors.append(f"metric filter {raw!r} needs numbers")
        return Q()
    values[key] = raw
    return Q(**{f"{column}__{lookup}": value for lookup, value in pairs})


def ordering(sweep: Sweep, sort: str) -> tuple[str, list[Any]]:
    """Return the sort key as given (if valid) and the ORDER BY expressions."""
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key in SORTS:
        expr = F(SORTS[key])
    elif key.startswith("p_") and key[2:] in param_names(sweep):
        expr = KeyTransform(key[2:], "config__params")
    else:
        return "id", [F("id").asc()]
    ordered = expr.desc(nulls_last=True) if desc else expr.asc(nulls_last=True)
    return sort, [ordered, F("id").asc()]


def trial_table(sweep: Sweep, get: Any) -> TrialTable:
    """Return one page of a sweep's trials for the query string `get` (two queries)."""
    query, values, errors = read_filters(sweep, get)
    sort, order = ordering(sweep, get.get("sort", "id"))
    trials: QuerySet[Trial] = sweep.trials.filter(query)
    total = trials.count()
    pages = max(1, math.ceil(total / PAGE_SIZE))
    page = page_number(get.get("page"), pages)
    start = (page - 1) * PAGE_SIZE
    rows = list(
        trials.select_related("config")
        .defer("stdout_tail", "stderr_tail", "command", "config__sweep_id")
        .order_by(*order)[start : start + PAGE_SIZE]
    )
    return TrialTable(rows, total, page, pages, sort, param_names(sweep), values, errors)
