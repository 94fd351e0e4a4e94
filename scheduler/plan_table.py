"""Render a Plan as a plain-text table or as JSON, for the ``sweep plan`` CLI.

The table follows the Polyaxon Hyperband page: brackets are columns (largest s first),
rungs are rows, and each cell reads ``configs × resource``. Only ``×`` is non-ASCII.
"""

from __future__ import annotations

import json

from scheduler.hyperband import TABLE1, Bracket, Plan

TIMES = "×"


def render_table(plan: Plan, resource_type: str = "int", resource_name: str = "resource") -> str:
    """Render the plan as an aligned text table followed by its totals and notes."""
    if _is_single_rung(plan):
        return _render_single(plan)
    columns = [f"bracket={bracket.s}" for bracket in plan.brackets]
    depth = max(len(bracket.rungs) for bracket in plan.brackets)
    rows = [
        [f"rung {i}"] + [_cell(bracket, i, resource_type) for bracket in plan.brackets]
        for i in range(depth)
    ]
    lines = [_title(plan, resource_name), ""]
    lines += _grid(["", *columns], rows)
    lines += [""] + _totals(plan, resource_type, resource_name) + _notes(plan)
    return "\n".join(lines)


def render_json(plan: Plan, resource_type: str = "int") -> str:
    """Render the plan as indented JSON (the shape of ``Plan.to_dict``)."""
    return json.dumps(plan.to_dict(resource_type), indent=2)


def _is_single_rung(plan: Plan) -> bool:
    return all(rung.resource is None for bracket in plan.brackets for rung in bracket.rungs)


def _render_single(plan: Plan) -> str:
    if plan.budget is not None:
        return _render_budget(plan, plan.budget)
    rows = [[f"rung {rung.index}", str(rung.configs)] for rung in plan.brackets[0].rungs]
    lines = [f"{plan.algorithm} plan: each config runs once, no resource schedule", ""]
    lines += _grid(["", "configs"], rows)
    lines += [""] + _label_values([("configs", plan.total_configs), ("trials", plan.total_trials)])
    return "\n".join(lines)


def _render_budget(plan: Plan, budget: tuple[int, int]) -> str:
    initial, iterations = budget
    lines = [
        f"{plan.algorithm} plan: {initial} random configs, then {iterations} iterations, each "
        "suggested by a Gaussian process; each config runs once",
        "",
    ]
    rows = [
        ["random (n_initial_trials)", str(initial)],
        ["suggested (n_iterations)", str(iterations)],
    ]
    lines += _grid(["", "configs"], rows)
    lines += [""] + _label_values([("configs", plan.total_configs), ("trials", plan.total_trials)])
    return "\n".join(lines)


def _title(plan: Plan, resource_name: str) -> str:
    max_iter = plan.max_iter
    if max_iter is not None and max_iter.denominator != 1:
        text = _number(float(max_iter))
    else:
        text = str(max_iter)
    return (
        f"{plan.algorithm} plan: max_iter={text}, eta={plan.eta}; "
        f"cells are configs {TIMES} {resource_name}"
    )


def _cell(bracket: Bracket, rung_index: int, resource_type: str) -> str:
    if rung_index >= len(bracket.rungs):
        return ""
    rung = bracket.rungs[rung_index]
    value = rung.resource_value(resource_type)
    if value is None:
        return str(rung.configs)
    return f"{rung.configs} {TIMES} {_number(value)}"


def _grid(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[col]) for row in [header, *rows]) for col in range(len(header))]
    rule = "-+-".join("-" * width for width in widths)
    return [_row(header, widths), rule] + [_row(row, widths) for row in rows]


def _row(cells: list[str], widths: list[int]) -> str:
    # rstrip so blank trailing cells leave no trailing whitespace.
    return " | ".join(cell.ljust(width) for cell, width in zip(cells, widths, strict=True)).rstrip()


def _totals(plan: Plan, resource_type: str, resource_name: str) -> list[str]:
    return _label_values(
        [
            ("configs", plan.total_configs),
            ("trials", plan.total_trials),
            (resource_name, plan.total_resource_value(resource_type)),
        ]
    )


def _label_values(pairs: list[tuple[str, int | float]]) -> list[str]:
    labels = [f"total {label}:" for label, _ in pairs]
    width = max(len(label) for label in labels)
    return [
        f"{label.ljust(width)} {_number(value)}"
        for label, (_, value) in zip(labels, pairs, strict=True)
    ]


def _notes(plan: Plan) -> list[str]:
    notes: list[str] = []
    capped = [bracket for bracket in plan.brackets if bracket.capped]
    if capped:
        names = ", ".join(f"bracket={bracket.s}" for bracket in capped)
        notes.append(
            f"capped: {names} start with {capped[0].n_configs} configs, all the search space holds"
        )
    if plan.sizing == TABLE1:
        notes.append("sizing: table1 (the paper's Table 1: (s_max+1)/(s+1) truncated to an int)")
    return notes


def _number(value: int | float) -> str:
    # Floats show 4 decimals at most: the table is for reading; to_dict keeps full precision.
    if isinstance(value, float):
        return repr(round(value, 4))
    return str(value)
