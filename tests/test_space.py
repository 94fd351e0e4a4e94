"""Tests for the pure search-space module: every matrix kind, grids, sampling and errors."""

from __future__ import annotations

import dataclasses
import json
import math
import random
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from scheduler import space
from scheduler.space import (
    KINDS,
    Distribution,
    Space,
    SpaceError,
    parse_matrix,
    parse_param,
)

ROOT = Path(__file__).resolve().parent.parent
SEEDS = st.integers(min_value=0, max_value=2**32 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)


def draws(value: object, n: int = 2000, seed: int = 0) -> list[Any]:
    """Parse one matrix entry and draw n independent values from it."""
    dist = parse_param("x", value)
    rng = random.Random(seed)
    return [dist.sample(rng) for _ in range(n)]


def is_multiple(value: float, q: float) -> bool:
    ratio = value / q
    return math.isclose(ratio, round(ratio), rel_tol=1e-9, abs_tol=1e-9)


# --- kinds and forms -------------------------------------------------------------------------


def test_it_lists_every_polyaxon_kind_in_order() -> None:
    assert KINDS == (
        "values",
        "pvalues",
        "range",
        "linspace",
        "logspace",
        "geomspace",
        "uniform",
        "quniform",
        "loguniform",
        "qloguniform",
        "normal",
        "qnormal",
        "lognormal",
        "qlognormal",
    )


THREE_FORMS = [
    ("range", [1, 10, 2], {"start": 1, "stop": 10, "step": 2}, "1:10:2"),
    ("linspace", [0, 1, 5], {"start": 0, "stop": 1, "num": 5}, "0:1:5"),
    ("logspace", [-3, 0, 4], {"start": -3, "stop": 0, "num": 4}, "-3:0:4"),
    ("logspace", [0, 3, 4, 2], {"start": 0, "stop": 3, "num": 4, "base": 2}, "0:3:4:2"),
    ("geomspace", [1, 1000, 4], {"start": 1, "stop": 1000, "num": 4}, "1:1000:4"),
    ("uniform", [0, 0.9], {"low": 0, "high": 0.9}, "0:0.9"),
    ("quniform", [0, 1, 0.1], {"low": 0, "high": 1, "q": 0.1}, "0:1:0.1"),
    ("loguniform", [-5, 0], {"low": -5, "high": 0}, "-5:0"),
    ("qloguniform", [0, 5, 1], {"low": 0, "high": 5, "q": 1}, "0:5:1"),
    ("normal", [0, 1], {"loc": 0, "scale": 1}, "0:1"),
    ("qnormal", [0, 1, 0.5], {"loc": 0, "scale": 1, "q": 0.5}, "0:1:0.5"),
    ("lognormal", [0, 1], {"loc": 0, "scale": 1}, "0:1"),
    ("qlognormal", [0, 1, 0.1], {"loc": 0, "scale": 1, "q": 0.1}, " 0 : 1 : 0.1 "),
]


@pytest.mark.parametrize(("kind", "as_list", "as_dict", "as_str"), THREE_FORMS)
def test_it_reads_list_mapping_and_string_forms_alike(
    kind: str, as_list: list[Any], as_dict: dict[str, Any], as_str: str
) -> None:
    parsed = [parse_param("p", {kind: form}) for form in (as_list, as_dict, as_str)]
    assert parsed[0] == parsed[1] == parsed[2]
    assert parsed[0].kind == kind
    assert parsed[0].args[: len(as_list)] == tuple(as_list)
    samples = [[d.sample(random.Random(7)) for _ in range(5)] for d in parsed]
    assert samples[0] == samples[1] == samples[2]


def test_it_covers_every_numeric_kind_in_the_form_table() -> None:
    assert {row[0] for row in THREE_FORMS} == set(KINDS) - {"values", "pvalues"}


def test_it_reads_values_and_pvalues_lists() -> None:
    values = parse_param("act", {"values": ["relu", 0.5, 3, True, None]})
    pvalues = parse_param("act", {"pvalues": [["relu", 0.1], ["sigmoid", 0.9]]})
    assert values.grid() == ("relu", 0.5, 3, True, None)
    assert pvalues.grid() == ("relu", "sigmoid")
    assert pvalues.weights == (0.1, 0.9)


def test_it_accepts_a_probability_of_exactly_one_and_sums_within_tolerance() -> None:
    assert parse_param("a", {"pvalues": [["only", 1]]}).grid() == ("only",)
    near = parse_param("a", {"pvalues": [["x", 0.3333333], ["y", 0.3333333], ["z", 0.3333334]]})
    assert near.size == 3


def test_it_allows_probability_sums_off_by_at_most_one_millionth() -> None:
    assert parse_param("a", {"pvalues": [["x", 0.5], ["y", 0.5000009]]}).size == 2
    with pytest.raises(SpaceError, match="must sum to 1"):
        parse_param("a", {"pvalues": [["x", 0.5], ["y", 0.500002]]})


def test_it_draws_probabilities_below_one_in_proportion() -> None:
    # Polyaxon's own reference example sums to 0.9; it is accepted, not rejected.
    dist = parse_param("a", {"pvalues": [["x", 0.1], ["y", 0.8]]})
    rng = random.Random(3)
    draws = [dist.sample(rng) for _ in range(9000)]
    assert abs(draws.count("x") / len(draws) - 1 / 9) < 0.02


def test_it_defaults_the_logspace_base_to_ten() -> None:
    assert parse_param("lr", {"logspace": "-4:-1:4"}).args == (-4, -1, 4, 10)


def test_it_accepts_a_whole_float_num() -> None:
    assert parse_param("x", {"linspace": [0, 1, 3.0]}).args == (0, 1, 3)


@pytest.mark.parametrize(
    "entry",
    [
        {"values": [1, "a", None]},
        {"pvalues": [["a", 0.25], ["b", 0.75]]},
        *({kind: as_list} for kind, as_list, _, _ in THREE_FORMS),
    ],
)
def test_it_round_trips_through_to_dict(entry: dict[str, Any]) -> None:
    dist = parse_param("p", entry)
    assert parse_param("p", dist.to_dict()) == dist
    assert json.loads(json.dumps(dist.to_dict())) == dist.to_dict()


def test_it_is_frozen_and_hashable() -> None:
    dist = parse_param("lr", {"uniform": [0, 1]})
    assert hash(dist) == hash(parse_param("lr", {"uniform": [0, 1]}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        dist.kind = "normal"  # type: ignore[misc]


# --- grids -----------------------------------------------------------------------------------


def test_it_excludes_the_range_stop_and_keeps_ints() -> None:
    grid = parse_param("n", {"range": "1:10:2"}).grid()
    assert grid == (1, 3, 5, 7, 9)
    assert all(type(v) is int for v in grid)


def test_it_counts_down_with_a_negative_step() -> None:
    assert parse_param("n", {"range": [10, 0, -3]}).grid() == (10, 7, 4, 1)


def test_it_builds_float_ranges_without_drift() -> None:
    grid = parse_param("x", {"range": "0:1:0.1"}).grid()
    assert len(grid) == 10
    assert grid[-1] == pytest.approx(0.9)
    assert grid[3] == 0.3  # exactly, not 0.30000000000000004
    assert all(type(v) is float for v in grid)


def test_it_does_not_add_a_spurious_value_where_numpy_arange_would() -> None:
    # numpy.arange(1, 1.3, 0.1) has 4 values, the last one 1.3000000000000003 (the stop).
    assert parse_param("x", {"range": [1, 1.3, 0.1]}).grid() == (1.0, 1.1, 1.2)
    assert parse_param("x", {"range": "0.1:0.4:0.1"}).grid() == (0.1, 0.2, 0.3)


@given(
    start=st.integers(-50, 50),
    stop=st.integers(-50, 50),
    step=st.integers(-7, 7).filter(bool),
)
def test_it_matches_python_range_for_int_arguments(start: int, stop: int, step: int) -> None:
    expected = tuple(range(start, stop, step))
    assume(expected)
    assert parse_param("n", {"range": [start, stop, step]}).grid() == expected


def test_it_includes_both_linspace_endpoints() -> None:
    assert parse_param("x", {"linspace": "0:1:5"}).grid() == (0.0, 0.25, 0.5, 0.75, 1.0)
    assert parse_param("x", {"linspace": [1, 0, 3]}).grid() == (1.0, 0.5, 0.0)
    assert parse_param("x", {"linspace": [2, 7, 1]}).grid() == (2.0,)


@given(start=FINITE, stop=FINITE, num=st.integers(2, 30))
def test_it_hits_linspace_endpoints_exactly(start: float, stop: float, num: int) -> None:
    assume(start != stop)
    grid = parse_param("x", {"linspace": [start, stop, num]}).grid()
    assert len(grid) == num
    assert (grid[0], grid[-1]) == (start, stop)


def test_it_treats_logspace_bounds_as_exponents() -> None:
    grid = parse_param("lr", {"logspace": [-4, -1, 4]}).grid()
    assert grid == pytest.approx((1e-4, 1e-3, 1e-2, 1e-1))
    assert grid[-1] == 0.1
    assert parse_param("lr", {"logspace": {"start": 0, "stop": 3, "num": 4, "base": 2}}).grid() == (
        1.0,
        2.0,
        4.0,
        8.0,
    )


def test_it_builds_geometric_progressions_with_exact_endpoints() -> None:
    grid = parse_param("x", {"geomspace": [1, 1000, 4]}).grid()
    assert grid == pytest.approx((1, 10, 100, 1000))
    assert (grid[0], grid[-1]) == (1.0, 1000.0)
    assert parse_param("x", {"geomspace": [-2, -32, 5]}).grid() == pytest.approx(
        (-2, -4, -8, -16, -32)
    )
    assert parse_param("x", {"geomspace": [3, 0.3, 2]}).grid() == (3.0, 0.3)


def test_it_has_no_grid_for_continuous_kinds() -> None:
    dist = parse_param("lr", {"uniform": [0, 1]})
    assert not dist.is_discrete
    assert dist.size is None
    with pytest.raises(SpaceError, match="'lr'.*continuous"):
        dist.grid()


@pytest.mark.parametrize("kind", KINDS)
def test_it_classifies_discrete_kinds(kind: str) -> None:
    entry = {
        "values": [1, 2],
        "pvalues": [[1, 0.5], [2, 0.5]],
        "range": [0, 2, 1],
        "linspace": [0, 1, 2],
        "logspace": [0, 1, 2],
        "geomspace": [1, 2, 2],
    }.get(kind, [0, 1, 1] if kind.startswith("q") else [0, 1])
    dist = parse_param("p", {kind: entry})
    discrete = kind in {"values", "pvalues", "range", "linspace", "logspace", "geomspace"}
    assert dist.is_discrete is discrete
    assert (dist.size == 2) if discrete else (dist.size is None)


def test_it_reads_single_grid_values_without_building_the_grid() -> None:
    dist = parse_param("step", {"range": [0, 10**15, 3]})
    assert dist.size == math.ceil(10**15 / 3)
    assert dist.value_at(10**12) == 3 * 10**12
    with pytest.raises(IndexError):
        dist.value_at(dist.size)


def test_it_describes_parameters_briefly() -> None:
    assert parse_param("lr", {"uniform": [0, 0.9]}).describe() == "uniform(0, 0.9)"
    assert parse_param("lr", {"logspace": "-4:-1:4"}).describe() == "logspace(-4, -1, 4)"
    assert parse_param("lr", {"logspace": "0:3:4:2"}).describe() == "logspace(0, 3, 4, base=2)"
    pv = parse_param("a", {"pvalues": [["relu", 0.1], ["sigmoid", 0.9]]})
    assert pv.describe() == "pvalues(relu: 0.1, sigmoid: 0.9)"
    many = parse_param("n", {"values": list(range(10))})
    assert many.describe() == "values(0, 1, 2, 3, 4, 5, ... 4 more)"


# --- independent sampling --------------------------------------------------------------------


@settings(max_examples=200)
@given(low=FINITE, high=FINITE, seed=SEEDS)
def test_it_keeps_uniform_draws_within_bounds(low: float, high: float, seed: int) -> None:
    assume(low < high)
    values = draws({"uniform": [low, high]}, n=20, seed=seed)
    assert all(low <= v <= high for v in values)


def test_it_keeps_uniform_draws_finite_for_the_widest_bounds() -> None:
    values = draws({"uniform": [-1.7e308, 1.7e308]}, n=200)
    assert all(math.isfinite(v) and -1.7e308 <= v <= 1.7e308 for v in values)


@given(
    low=st.floats(-50, 50),
    width=st.floats(0.001, 50),
    seed=SEEDS,
)
def test_it_keeps_loguniform_draws_between_e_to_the_bounds(
    low: float, width: float, seed: int
) -> None:
    high = low + width
    assume(low < high)
    values = draws({"loguniform": [low, high]}, n=20, seed=seed)
    for v in values:
        assert math.exp(low) * (1 - 1e-12) <= v <= math.exp(high) * (1 + 1e-12)


def test_it_spreads_loguniform_evenly_in_log_space() -> None:
    logs = [math.log(v) for v in draws({"loguniform": [-6, -2]}, n=20_000)]
    assert statistics.fmean(logs) == pytest.approx(-4, abs=0.05)
    assert min(logs) >= -6 and max(logs) <= -2


@settings(max_examples=100)
@given(
    kind=st.sampled_from(["quniform", "qloguniform", "qnormal", "qlognormal"]),
    q=st.sampled_from([0.1, 0.25, 0.5, 1, 2, 5, 0.001]),
    seed=SEEDS,
)
def test_it_returns_multiples_of_q(kind: str, q: float, seed: int) -> None:
    args = [-1, 3, q] if kind != "qnormal" else [0, 10, q]
    for v in draws({kind: args}, n=20, seed=seed):
        assert is_multiple(v, q)


def test_it_rounds_q_kinds_to_the_nearest_multiple() -> None:
    # Polyaxon floored (x // q); round() is the documented meaning.
    values = draws({"quniform": [0, 1, 1]}, n=2000)
    counts = Counter(values)
    assert set(counts) == {0, 1}
    assert counts[0] == pytest.approx(1000, rel=0.1)


def test_it_returns_ints_from_q_kinds_only_when_every_argument_is_an_int() -> None:
    assert all(type(v) is int for v in draws({"quniform": [0, 100, 5]}, n=50))
    assert all(type(v) is int for v in draws({"qloguniform": [0, 5, 1]}, n=50))
    assert all(type(v) is int for v in draws({"qnormal": [10, 3, 1]}, n=50))
    assert all(type(v) is float for v in draws({"quniform": [0, 100, 5.0]}, n=50))
    assert all(type(v) is float for v in draws({"qnormal": [0.5, 3, 1]}, n=50))


def test_it_keeps_float_q_multiples_tidy() -> None:
    values = draws({"quniform": "0:1:0.1"}, n=500)
    assert set(values) <= {round(k / 10, 1) for k in range(11)}


def test_it_applies_q_to_qlognormal() -> None:
    values = draws({"qlognormal": [0, 1, 0.5]}, n=2000)
    assert all(is_multiple(v, 0.5) and v >= 0 for v in values)
    assert len(set(values)) < 100


def test_it_draws_normals_with_the_given_mean_and_scale() -> None:
    values = draws({"normal": [3, 2]}, n=20_000)
    assert statistics.fmean(values) == pytest.approx(3, abs=0.06)
    assert statistics.stdev(values) == pytest.approx(2, abs=0.06)


def test_it_draws_lognormals_as_exp_of_normals() -> None:
    values = draws({"lognormal": [-1, 0.5]}, n=20_000)
    assert all(v > 0 for v in values)
    logs = [math.log(v) for v in values]
    assert statistics.fmean(logs) == pytest.approx(-1, abs=0.02)
    assert statistics.stdev(logs) == pytest.approx(0.5, abs=0.02)


def test_it_keeps_lognormal_tails_finite() -> None:
    assert all(math.isfinite(v) for v in draws({"qlognormal": [709, 5, 1]}, n=200))
    assert all(math.isfinite(v) for v in draws({"lognormal": [709, 5]}, n=200))


def test_it_draws_pvalues_with_their_probabilities() -> None:
    probs = {"relu": 0.1, "sigmoid": 0.7, "tanh": 0.2}
    counts = Counter(draws({"pvalues": [[k, p] for k, p in probs.items()]}, n=20_000))
    for value, prob in probs.items():
        assert counts[value] / 20_000 == pytest.approx(prob, abs=0.015)


def test_it_never_draws_a_zero_probability_value_independently() -> None:
    values = draws({"pvalues": [["a", 0.5], ["b", 0.0], ["c", 0.5]]}, n=2000)
    assert "b" not in values


def test_it_draws_discrete_values_from_the_grid() -> None:
    dist = parse_param("x", {"range": [0, 1, 0.25]})
    assert set(draws({"range": [0, 1, 0.25]}, n=200)) == set(dist.grid())


# --- whole spaces ----------------------------------------------------------------------------


MIXED = {
    "learning_rate": {"uniform": [0, 0.9]},
    "dropout": {"values": [0.25, 0.3]},
    "activation": {"pvalues": [["relu", 0.1], ["sigmoid", 0.9]]},
}


def test_it_keeps_matrix_order() -> None:
    space_ = parse_matrix(MIXED)
    assert [p.name for p in space_.params] == ["learning_rate", "dropout", "activation"]
    assert list(space_.sample(random.Random(0), 1)[0]) == ["learning_rate", "dropout", "activation"]


def test_it_draws_mixed_spaces_independently() -> None:
    space_ = parse_matrix(MIXED)
    assert not space_.is_discrete and space_.size is None
    configs = space_.sample(random.Random(0), 50)
    assert len(configs) == 50  # more than the 4 discrete combinations: repeats are allowed
    assert {c["dropout"] for c in configs} == {0.25, 0.3}
    assert all(0 <= c["learning_rate"] <= 0.9 for c in configs)


def test_it_respects_pvalues_in_mixed_spaces() -> None:
    configs = parse_matrix(MIXED).sample(random.Random(3), 20_000)
    share = sum(c["activation"] == "relu" for c in configs) / 20_000
    assert share == pytest.approx(0.1, abs=0.015)


@pytest.mark.parametrize("matrix", [MIXED, {"a": {"range": [0, 100, 1]}, "b": {"values": [1, 2]}}])
def test_it_reproduces_samples_from_the_same_seed(matrix: dict[str, Any]) -> None:
    space_ = parse_matrix(matrix)
    first = space_.sample(random.Random(42), 30)
    assert space_.sample(random.Random(42), 30) == first
    assert space_.sample(random.Random(43), 30) != first


def test_it_returns_json_serializable_plain_values() -> None:
    matrix = {kind + str(i): {kind: args} for i, (kind, args, _, _) in enumerate(THREE_FORMS)}
    configs = parse_matrix(matrix | MIXED).sample(random.Random(1), 20)
    assert json.loads(json.dumps(configs)) == configs
    scalar = (int, float, str, bool, type(None))
    assert all(type(v) in scalar for c in configs for v in c.values())


def test_it_enumerates_the_cartesian_product_in_order() -> None:
    space_ = parse_matrix({"a": {"values": [1, 2]}, "b": {"range": "0:3:1"}})
    assert space_.is_discrete and space_.size == 6
    assert space_.grid() == [
        {"a": 1, "b": 0},
        {"a": 1, "b": 1},
        {"a": 1, "b": 2},
        {"a": 2, "b": 0},
        {"a": 2, "b": 1},
        {"a": 2, "b": 2},
    ]


def test_it_refuses_a_grid_for_a_continuous_space() -> None:
    with pytest.raises(SpaceError, match="learning_rate"):
        parse_matrix(MIXED).grid()


def test_it_samples_a_discrete_space_without_replacement() -> None:
    space_ = parse_matrix({"a": {"values": [1, 2, 3]}, "b": {"linspace": [0, 1, 5]}})
    configs = space_.sample(random.Random(0), 10)
    assert len(configs) == 10
    assert len({tuple(c.values()) for c in configs}) == 10
    assert all(c in space_.grid() for c in configs)


def test_it_returns_every_config_once_when_asked_for_more_than_the_size() -> None:
    space_ = parse_matrix({"a": {"values": [1, 2, 3]}, "b": {"range": [0, 4, 1]}})
    configs = space_.sample(random.Random(5), 100)
    grid = space_.grid()
    assert len(configs) == 12
    assert sorted(configs, key=lambda c: (c["a"], c["b"])) == grid
    assert configs != grid  # shuffled, not in grid order


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=4),
    n=st.integers(0, 300),
    seed=SEEDS,
)
def test_it_draws_min_n_size_distinct_configs(sizes: list[int], n: int, seed: int) -> None:
    space_ = parse_matrix({f"p{i}": {"range": [0, s, 1]} for i, s in enumerate(sizes)})
    configs = space_.sample(random.Random(seed), n)
    assert len(configs) == min(n, math.prod(sizes))
    assert len({tuple(c.values()) for c in configs}) == len(configs)
    assert all(0 <= c[f"p{i}"] < s for c in configs for i, s in enumerate(sizes))


def test_it_samples_a_huge_discrete_space() -> None:
    space_ = parse_matrix({f"p{i}": {"range": [0, 1000, 1]} for i in range(4)})
    assert space_.size == 10**12
    configs = space_.sample(random.Random(0), 5000)
    assert len({tuple(c.values()) for c in configs}) == 5000
    assert configs == space_.sample(random.Random(0), 5000)


def test_it_weights_sampling_without_replacement_by_pvalues() -> None:
    small = parse_matrix(
        {"act": {"pvalues": [["a", 0.9], ["b", 0.1]]}, "n": {"range": [0, 1000, 1]}}
    )
    huge = parse_matrix(
        {"act": {"pvalues": [["a", 0.9], ["b", 0.1]]}, "n": {"range": [0, 10**9, 1]}}
    )
    for space_ in (small, huge):  # ranked and rejection paths
        configs = space_.sample(random.Random(1), 400)
        assert len({tuple(c.values()) for c in configs}) == 400
        assert sum(c["act"] == "a" for c in configs) / 400 == pytest.approx(0.9, abs=0.05)


def test_it_draws_zero_probability_configs_only_after_all_others() -> None:
    space_ = parse_matrix({"act": {"pvalues": [["a", 1.0], ["b", 0.0]]}, "n": {"values": [1, 2]}})
    assert {c["act"] for c in space_.sample(random.Random(0), 2)} == {"a"}
    everything = space_.sample(random.Random(0), 10)
    assert [c["act"] for c in everything] == ["a", "a", "b", "b"]


def test_it_falls_back_to_ranking_when_weights_concentrate() -> None:
    # 2,000 configs carry all the weight, 18,000 none: rejection alone cannot find 3,000.
    zeros = [[f"z{i}", 0.0] for i in range(9)]
    space_ = parse_matrix({"act": {"pvalues": [["a", 1.0], *zeros]}, "n": {"range": [0, 2000, 1]}})
    configs = space_.sample(random.Random(0), 3000)
    assert len({tuple(c.values()) for c in configs}) == 3000
    assert sum(c["act"] == "a" for c in configs) == 2000
    assert all(c["act"] == "a" for c in configs[:2000])


def test_it_refuses_hopelessly_concentrated_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(space, "_FALLBACK_AT_MOST", 1000)
    zeros = [[f"z{i}", 0.0] for i in range(9)]
    space_ = parse_matrix({"act": {"pvalues": [["a", 1.0], *zeros]}, "n": {"range": [0, 2000, 1]}})
    with pytest.raises(SpaceError, match="Cannot draw 3000 distinct configurations"):
        space_.sample(random.Random(0), 3000)


def test_it_samples_nothing_for_n_zero_and_rejects_negative_n() -> None:
    space_ = parse_matrix(MIXED)
    assert space_.sample(random.Random(0), 0) == []
    with pytest.raises(ValueError, match="n must be >= 0"):
        space_.sample(random.Random(0), -1)


def test_it_rejects_duplicate_parameter_names() -> None:
    dist = parse_param("lr", {"uniform": [0, 1]})
    with pytest.raises(SpaceError, match="'lr'.*twice"):
        Space((dist, dist))


# --- errors ----------------------------------------------------------------------------------


ERRORS = [
    (0.1, "expected a mapping with one kind"),
    ([0, 1], "expected a mapping with one kind"),
    ({}, "exactly one kind is needed"),
    ({"uniform": [0, 1], "values": [1]}, "got uniform, values"),
    ({"unifrom": [0, 1]}, "unknown kind 'unifrom' (did you mean 'uniform'?)"),
    ({"Values": [1]}, "did you mean 'values'?"),
    ({"banana": [1]}, "unknown kind 'banana' (expected one of values, pvalues"),
    ({"uniform": [0]}, "uniform takes 2 numbers [low, high], got 1"),
    ({"uniform": [0, 1, 2]}, "uniform takes 2 numbers [low, high], got 3"),
    ({"logspace": [0, 1]}, "logspace takes 3 or 4 numbers [start, stop, num, base], got 2"),
    ({"quniform": "0:1"}, "quniform takes 3 numbers [low, high, q], got 2"),
    ({"uniform": [True, 1]}, "uniform low must be a number, got true"),
    ({"normal": [0, None]}, "normal scale must be a number, got null"),
    ({"uniform": ["0", "1"]}, "uniform low must be a number, got the string '0'"),
    ({"uniform": [0, [1]]}, "uniform high must be a number, got a list [1]"),
    ({"uniform": [0, float("inf")]}, "uniform high must be a finite number"),
    ({"uniform": [float("nan"), 1]}, "uniform low must be a finite number"),
    ({"uniform": "0:abc"}, "uniform string '0:abc' contains 'abc', which is not a number"),
    ({"uniform": "0:1e400"}, "uniform high must be a finite number"),
    ({"uniform": ""}, "contains '', which is not a number"),
    ({"uniform": 1}, "uniform expects a list [low, high], a mapping with keys low, high"),
    ({"uniform": {"low": 0, "hgih": 1}}, "uniform has no argument 'hgih' (did you mean 'high'?)"),
    ({"uniform": {"low": 0}}, "uniform is missing high"),
    ({"normal": {"loc": 0, "scale": 1, "size": 3}}, "normal has no argument 'size'"),
    ({"uniform": [1, 0]}, "uniform low must be less than high, got low=1, high=0"),
    ({"uniform": [1, 1]}, "low must be less than high"),
    ({"loguniform": [2, -2]}, "loguniform low must be less than high"),
    ({"loguniform": [0, 1000]}, "loguniform high must be at most 709"),
    ({"qloguniform": [0, 1, 0]}, "qloguniform q must be positive, got 0"),
    ({"quniform": [0, 1, -0.5]}, "quniform q must be positive, got -0.5"),
    ({"qnormal": [0, 1, 0]}, "qnormal q must be positive"),
    ({"qlognormal": [0, 1, -1]}, "qlognormal q must be positive"),
    ({"normal": [0, 0]}, "normal scale must be positive, got 0"),
    ({"lognormal": [0, -1]}, "lognormal scale must be positive, got -1"),
    ({"lognormal": [800, 1]}, "lognormal loc must be at most 709"),
    ({"range": [0, 10, 0]}, "range step must not be 0"),
    ({"range": "10:0:1"}, "range start=10, stop=0, step=1 yields no value"),
    ({"range": [0, 10, -1]}, "yields no value"),
    ({"range": [5, 5, 1]}, "yields no value"),
    ({"linspace": [0, 1, 0]}, "linspace num must be a whole number >= 1, got 0"),
    ({"linspace": [0, 1, -3]}, "num must be a whole number >= 1, got -3"),
    ({"geomspace": [1, 10, 2.5]}, "geomspace num must be a whole number >= 1, got 2.5"),
    ({"linspace": [1, 1, 3]}, "start and stop are both 1, so all 3 values would be equal"),
    ({"logspace": [0, 2, 3, 0]}, "logspace base must be positive and not 1, got 0"),
    ({"logspace": [0, 2, 3, 1]}, "base must be positive and not 1, got 1"),
    ({"logspace": [0, 2, 3, -2]}, "base must be positive"),
    ({"geomspace": [0, 10, 3]}, "geomspace start and stop must be non-zero and of the same sign"),
    ({"geomspace": [1, 0, 3]}, "must be non-zero and of the same sign"),
    ({"geomspace": [-1, 10, 3]}, "got start=-1, stop=10"),
    ({"values": []}, "values must list at least one value"),
    ({"values": "relu"}, "values expects a list like [a, b], got the string 'relu'"),
    ({"values": None}, "values expects a list like [a, b], got null"),
    ({"values": [1, [2]]}, "values entries must be strings, numbers, booleans or null"),
    ({"values": [{"a": 1}]}, "got a mapping {'a': 1}"),
    ({"values": [float("nan")]}, "values entries must be strings, numbers, booleans or null"),
    ({"values": ["a", "b", "a"]}, "values lists the string 'a' twice"),
    ({"pvalues": []}, "pvalues must list at least one value"),
    ({"pvalues": [["a", 0.6], ["b", 0.6]]}, "must sum to 1, got 1.2"),
    ({"pvalues": [["a", 1.5], ["b", -0.5]]}, "between 0 and 1, got 1.5"),
    ({"pvalues": [["a", -0.5], ["b", 1.5]]}, "between 0 and 1, got -0.5"),
    ({"pvalues": [["a", "0.5"], ["b", 0.5]]}, "probabilities must be numbers, got the string"),
    ({"pvalues": [["a", True]]}, "probabilities must be numbers, got true"),
    ({"pvalues": [["a"]]}, "each pvalues entry must be a [value, probability] pair"),
    ({"pvalues": ["a", "b"]}, "must be a [value, probability] pair, got the string 'a'"),
    ({"pvalues": [["a", 0.5], ["a", 0.5]]}, "pvalues lists the string 'a' twice"),
]


@pytest.mark.parametrize(("value", "problem"), ERRORS)
def test_it_explains_every_invalid_entry(value: object, problem: str) -> None:
    with pytest.raises(SpaceError) as info:
        parse_param("lr", value)
    message = str(info.value)
    assert message.startswith("Parameter 'lr': ")
    assert problem in message
    assert info.value.param == "lr"
    assert "Traceback" not in message and "\n" not in message


def test_it_treats_one_and_true_as_different_values() -> None:
    assert parse_param("x", {"values": [1, True, 1.0]}).size == 3
    with pytest.raises(SpaceError, match="values lists 1 twice"):
        parse_param("x", {"values": [1, True, 1]})


def test_it_rejects_a_bad_parameter_name() -> None:
    with pytest.raises(SpaceError, match="non-empty strings"):
        parse_param("", {"uniform": [0, 1]})


@pytest.mark.parametrize(
    ("matrix", "problem"),
    [
        ([{"lr": {"uniform": [0, 1]}}], "The matrix must map parameter names to kinds"),
        ({}, "The matrix is empty"),
        ({"lr": {"uniform": [0, 1]}, "dropout": {"values": []}}, "Parameter 'dropout'"),
        ({"a": {"uniform": [1, 0]}, "b": {"values": []}}, "Parameter 'a'"),
    ],
)
def test_it_reports_the_first_matrix_problem(matrix: Any, problem: str) -> None:
    with pytest.raises(SpaceError, match=problem.replace("(", r"\(")):
        parse_matrix(matrix)


def test_it_is_a_value_error_for_callers_that_catch_broadly() -> None:
    assert issubclass(SpaceError, ValueError)


# --- purity ----------------------------------------------------------------------------------


def test_it_builds_distributions_directly_for_callers_that_need_to() -> None:
    dist = Distribution("n", "values", (1, 2))
    assert Space((dist,)).grid() == [{"n": 1}, {"n": 2}]
