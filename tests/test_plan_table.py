"""Tests for the text and JSON rendering of plans used by ``sweep plan``."""

from __future__ import annotations

import json
from fractions import Fraction

from scheduler.hyperband import TABLE1, hyperband_plan, single_rung_plan
from scheduler.plan_table import render_json, render_table


def grid(text: str) -> dict[str, dict[str, str]]:
    """Parse the table part of a rendering into {row label: {column header: cell}}."""
    lines = [line for line in text.splitlines() if " | " in line or line.endswith(" |")]
    rows = [[cell.strip() for cell in line.split("|")] for line in lines]
    header = rows[0]
    return {row[0]: dict(zip(header[1:], row[1:], strict=False)) for row in rows[1:]}


def test_it_lays_out_brackets_as_columns_and_rungs_as_rows() -> None:
    cells = grid(render_table(hyperband_plan(81, 3)))
    assert list(cells) == ["rung 0", "rung 1", "rung 2", "rung 3", "rung 4"]
    assert list(cells["rung 0"]) == [f"bracket={s}" for s in (4, 3, 2, 1, 0)]
    assert [cells[f"rung {i}"]["bracket=4"] for i in range(5)] == [
        "81 × 1",
        "27 × 3",
        "9 × 9",
        "3 × 27",
        "1 × 81",
    ]
    assert [cells["rung 0"][f"bracket={s}"] for s in (3, 2, 1, 0)] == [
        "34 × 3",
        "15 × 9",
        "8 × 27",
        "5 × 81",
    ]
    assert cells["rung 1"]["bracket=3"] == "11 × 9"


def test_it_leaves_cells_blank_below_a_brackets_top_rung() -> None:
    cells = grid(render_table(hyperband_plan(81, 3)))
    assert cells["rung 1"].get("bracket=0", "") == ""
    assert cells["rung 4"].get("bracket=3", "") == ""
    assert cells["rung 2"]["bracket=2"] == "1 × 81"


def test_it_aligns_every_column() -> None:
    table = [line for line in render_table(hyperband_plan(81, 3)).splitlines() if "|" in line]
    bar_positions = {tuple(i for i, ch in enumerate(line) if ch in "|+") for line in table}
    separator = render_table(hyperband_plan(81, 3)).splitlines()[3]
    assert set(separator) == {"-", "+"}
    # Blank trailing cells are stripped, so shorter rows share a prefix of the bar positions.
    longest = max(bar_positions, key=len)
    assert all(positions == longest[: len(positions)] for positions in bar_positions)


def test_it_prints_totals_with_the_resource_name() -> None:
    text = render_table(hyperband_plan(81, 3), resource_name="num_steps")
    assert "configs × num_steps" in text
    lines = text.splitlines()
    assert any(line.startswith("total configs:") and line.endswith(" 143") for line in lines)
    assert any(line.startswith("total trials:") and line.endswith(" 206") for line in lines)
    assert any(line.startswith("total num_steps:") and line.endswith(" 1902") for line in lines)


def test_it_shows_max_iter_and_eta_in_the_title() -> None:
    title = render_table(hyperband_plan(81, 3)).splitlines()[0]
    assert "max_iter=81" in title and "eta=3" in title
    assert "max_iter=10.5" in render_table(hyperband_plan(Fraction(21, 2), 2))


def test_it_renders_floored_int_resources() -> None:
    text = render_table(hyperband_plan(10, 3))
    cells = grid(text)
    assert [cells[f"rung {i}"]["bracket=2"] for i in range(3)] == ["9 × 1", "3 × 3", "1 × 10"]
    assert text.splitlines()[-1] == "total resource: 83"


def test_it_renders_float_resources_briefly() -> None:
    cells = grid(render_table(hyperband_plan(10, 3), resource_type="float"))
    assert cells["rung 0"]["bracket=2"] == "9 × 1.1111"
    assert cells["rung 0"]["bracket=0"] == "3 × 10.0"


def test_it_notes_capped_brackets() -> None:
    text = render_table(hyperband_plan(81, 3, max_configs=10))
    assert grid(text)["rung 0"]["bracket=4"] == "10 × 1"
    note = [line for line in text.splitlines() if line.startswith("capped:")]
    assert note == [
        "capped: bracket=4, bracket=3, bracket=2 start with 10 configs, all the search space holds"
    ]


def test_it_notes_table1_sizing_only_when_used() -> None:
    table1 = render_table(hyperband_plan(81, 3, sizing=TABLE1))
    assert grid(table1)["rung 0"]["bracket=3"] == "27 × 3"
    assert any(line.startswith("sizing: table1") for line in table1.splitlines())
    plain = render_table(hyperband_plan(81, 3))
    assert "sizing:" not in plain and "capped:" not in plain


def test_it_renders_single_rung_plans_as_one_cell() -> None:
    text = render_table(single_rung_plan("grid_search", 12))
    assert text.startswith("grid_search plan:")
    assert grid(text) == {"rung 0": {"configs": "12"}}
    assert "total trials:  12" in text.splitlines()
    assert "×" not in text


def test_it_keeps_the_table_ascii_apart_from_the_times_sign() -> None:
    text = render_table(hyperband_plan(81, 3, max_configs=10, sizing=TABLE1), "float")
    assert set(text) - {"×"} <= {chr(i) for i in range(32, 127)} | {"\n"}
    assert all(line == line.rstrip() for line in text.splitlines())


def test_it_renders_json_as_the_plan_dict() -> None:
    plan = hyperband_plan(10, 3)
    assert json.loads(render_json(plan)) == plan.to_dict()
    assert (
        json.loads(render_json(plan, "float"))["total_resource"]
        == plan.to_dict("float")["total_resource"]
    )
