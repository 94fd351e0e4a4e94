"""Bounded work at validation: plan size, counts, sampleable values and storable text."""

from __future__ import annotations

import itertools

import pytest

from scheduler import spec as specs
from scheduler import spec_limits
from scheduler.space import parse_matrix
from tests.sweeps import hyperband_yaml, position, search_yaml


def issues(text: str, **options) -> list[specs.Issue]:
    with pytest.raises(specs.SpecError) as caught:
        specs.parse(text, **options)
    return list(caught.value.issues)


def test_a_plan_over_the_limit_is_refused_at_max_iter_naming_both_sizes() -> None:
    text = hyperband_yaml(max_iter=1_000_000, eta=2)

    [issue] = issues(text)

    assert (issue.line, issue.column) == position(text, "1000000")
    assert "2222719 trials" in issue.message and "limit is 100000" in issue.message


def test_the_plan_limit_is_a_parameter_and_none_lifts_it() -> None:
    text = hyperband_yaml()  # 206 trials

    [issue] = issues(text, max_plan_trials=200)

    assert "206 trials" in issue.message and "limit is 200" in issue.message
    assert specs.parse(text, max_plan_trials=None).hyperband is not None


def test_random_search_over_the_plan_limit_is_refused_at_n_experiments() -> None:
    text = search_yaml("random_search: {n_experiments: 500}")

    [issue] = issues(text, max_plan_trials=100)

    assert (issue.line, issue.column) == position(text, "500")


@pytest.mark.parametrize(
    ("matrix", "rules", "expected"),
    [
        ({f"p{i}": "uniform: [0, 1]" for i in range(1001)}, 0, "limit of 1000 parameters"),
        ({"x": "uniform: [0, 1]"}, 101, "limit of 100 rules"),
        ({"x": "values: [" + ",".join(map(str, range(10_001))) + "]"}, 0, "10000 entries"),
    ],
)
def test_counts_are_bounded_at_the_first_entry_over(matrix, rules, expected) -> None:
    text = hyperband_yaml(matrix=matrix)
    rule = "    - {metric: loss, value: 0.1, optimization: minimize}\n"
    text = (
        text.replace("run:\n", "  early_stopping:\n" + rule * rules + "run:\n") if rules else text
    )

    [issue] = issues(text)

    assert expected in issue.message
    assert issue.line > 1


def test_the_number_of_values_in_a_file_is_bounded() -> None:
    values = "values: [" + ",".join(map(str, range(9000))) + "]"
    text = hyperband_yaml(matrix={"a": values, "b": values, "c": values})

    [issue] = issues(text)

    assert f"more than {spec_limits.MAX_NODES} values" in issue.message


@pytest.mark.parametrize(
    ("dist", "expected"),
    [
        ("logspace: [0, 400, 5]", "cannot be computed"),
        ("quniform: [0, 1, 1e-300]", "too small"),
        ("quniform: [0, 1, 1e-320]", "cannot be computed"),
        ("normal: [0, 1e308]", "not a finite number"),
        ("qnormal: [1e308, 1e307, 1]", "cannot be computed"),
        ("uniform: [-1e308, 1e308]", None),
        ("lognormal: [0, 100]", None),
        ("qlognormal: [0, 1, 0.5]", None),
        ("geomspace: [1e-300, 1e300, 7]", None),
    ],
)
def test_a_matrix_that_validates_can_be_drawn(dist: str, expected: str | None) -> None:
    text = hyperband_yaml(matrix={"x": dist})
    if expected is None:
        assert specs.parse(text).matrix.params[0].kind == dist.split(":")[0]
        return

    [issue] = issues(text)

    assert expected in issue.message
    assert (issue.line, issue.column) == position(text, "{" + dist)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("uniform: [0, 1]", 'values: ["a\\x00b", 2]'),
        ("uniform: [0, 1]", 'values: ["a\\ud800", 2]'),
        ("name: n", 'name: "n\\0"'),
        ("  cmd: >-\n    ", '  cmd: "echo \\x00"\n  # '),
        ("metric: {name: loss,", 'metric: {name: "lo\\udfffss",'),
        ("declarations: {d: 1}", 'declarations: {d: "\\x00"}'),
        ("{metric: loss, value: 0.5", '{metric: "lo\\x00ss", value: 0.5'),
    ],
)
def test_text_no_database_can_store_is_refused_where_it_is_written(old: str, new: str) -> None:
    text = hyperband_yaml(name="n", declarations="{d: 1}", early_stopping=0.5)
    assert old in text
    text = text.replace(old, new, 1)

    found = issues(text)

    assert any("cannot be stored as text" in i.message for i in found), found
    line = position(text, new.split("\\")[0])[0]
    assert any(i.line == line for i in found)


def test_first_grid_points_follow_the_grid_without_building_it() -> None:
    from scheduler.scheduling import first_grid_points

    space = parse_matrix({"a": {"values": [1, 2, 3]}, "b": {"range": [0, 4, 1]}})
    expected = [
        dict(zip(("a", "b"), p, strict=True)) for p in itertools.product([1, 2, 3], range(4))
    ]

    assert first_grid_points(space.params, 7) == expected[:7]
    assert first_grid_points(space.params, 100) == expected
    huge = parse_matrix({"r": {"range": [0, 10**15, 1]}, "v": {"values": ["x", "y"]}})
    assert first_grid_points(huge.params, 3) == [
        {"r": 0, "v": "x"}, {"r": 0, "v": "y"}, {"r": 1, "v": "x"}
    ]  # fmt: skip
