"""Tests for the pure Hyperband engine: known plans, exact math, validation and promotion."""

from __future__ import annotations

import json
import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scheduler.hyperband import (
    ALGORITHM1,
    TABLE1,
    Bracket,
    Plan,
    Rung,
    bracket_size,
    hyperband_plan,
    promote,
    rank,
    s_max,
    single_rung_plan,
)


def shape(plan: Plan) -> list[list[tuple[int, int | float | None]]]:
    """Return each bracket's rungs as (configs, int resource) pairs, largest s first."""
    return [[(r.configs, r.resource_value("int")) for r in b.rungs] for b in plan.brackets]


# --- known answers ----------------------------------------------------------------------


def test_it_plans_81_3_like_the_paper() -> None:
    plan = hyperband_plan(81, 3)
    assert [b.s for b in plan.brackets] == [4, 3, 2, 1, 0]
    assert shape(plan) == [
        [(81, 1), (27, 3), (9, 9), (3, 27), (1, 81)],
        [(34, 3), (11, 9), (3, 27), (1, 81)],
        [(15, 9), (5, 27), (1, 81)],
        [(8, 27), (2, 81)],
        [(5, 81)],
    ]
    assert plan.total_configs == 143
    assert plan.total_trials == 206
    assert plan.total_resource == 1902


def test_it_uses_algorithm1_sizing_by_default() -> None:
    assert hyperband_plan(81, 3).sizing == ALGORITHM1
    assert hyperband_plan(81, 3) == hyperband_plan(81, 3, sizing=ALGORITHM1)


def test_it_plans_10_3_with_floored_int_resources() -> None:
    plan = hyperband_plan(10, 3)
    assert shape(plan) == [[(9, 1), (3, 3), (1, 10)], [(5, 3), (1, 10)], [(3, 10)]]
    assert plan.bracket(2).rungs[0].resource == Fraction(10, 9)
    assert plan.bracket(1).rungs[0].resource == Fraction(10, 3)


def test_it_keeps_float_resources_exact_until_rendered() -> None:
    rung = hyperband_plan(10, 3).bracket(2).rungs[0]
    assert rung.resource_value("float") == pytest.approx(10 / 9)
    assert rung.resource_value("int") == 1
    assert isinstance(rung.resource_value("int"), int)


@pytest.mark.parametrize(("max_iter", "eta", "expected"), [(243, 3, 5), (1000, 10, 3)])
def test_it_computes_s_max_exactly_where_float_log_is_off_by_one(
    max_iter: int, eta: int, expected: int
) -> None:
    # These are the cases that make floor(log(R, eta)) wrong; keep them meaningful.
    assert math.floor(math.log(max_iter, eta)) == expected - 1
    assert s_max(max_iter, eta) == expected
    assert len(hyperband_plan(max_iter, eta).brackets) == expected + 1
    assert hyperband_plan(max_iter, eta).brackets[0].rungs[-1].resource == max_iter


def test_it_gives_one_bracket_when_max_iter_is_below_eta() -> None:
    plan = hyperband_plan(2, 3)
    assert s_max(1, 3) == 0
    assert shape(plan) == [[(1, 2)]]


def test_it_accepts_fraction_max_iter() -> None:
    plan = hyperband_plan(Fraction(21, 2), 2)
    assert s_max(Fraction(21, 2), 2) == 3
    assert plan.bracket(3).rungs[0].resource == Fraction(21, 16)
    assert all(b.rungs[-1].resource == Fraction(21, 2) for b in plan.brackets)


def test_it_sizes_table1_like_the_polyaxon_page() -> None:
    plan = hyperband_plan(81, 3, sizing=TABLE1)
    assert plan.sizing == TABLE1
    assert [b.n_configs for b in plan.brackets] == [81, 27, 9, 6, 5]
    assert shape(plan)[1] == [(27, 3), (9, 9), (3, 27), (1, 81)]
    assert shape(plan)[3] == [(6, 27), (2, 81)]


def test_it_exposes_bracket_size_for_both_sizings() -> None:
    assert [bracket_size(s, 4, 3) for s in range(4, -1, -1)] == [81, 34, 15, 8, 5]
    assert [bracket_size(s, 4, 3, TABLE1) for s in range(4, -1, -1)] == [81, 27, 9, 6, 5]
    with pytest.raises(ValueError, match="s must be in 0..4"):
        bracket_size(5, 4, 3)
    with pytest.raises(ValueError, match="sizing must be one of"):
        bracket_size(1, 4, 3, "paper")


def test_it_caps_brackets_to_a_small_discrete_space() -> None:
    plan = hyperband_plan(81, 3, max_configs=10)
    assert [b.capped for b in plan.brackets] == [True, True, True, False, False]
    assert shape(plan)[0] == [(10, 1), (3, 3), (1, 9), (1, 27), (1, 81)]
    assert shape(plan)[2] == [(10, 9), (3, 27), (1, 81)]
    assert plan.bracket(1) == hyperband_plan(81, 3).bracket(1)


def test_it_leaves_brackets_alone_when_the_space_is_big_enough() -> None:
    assert hyperband_plan(81, 3, max_configs=81) == hyperband_plan(81, 3)


def test_it_tells_how_many_each_rung_keeps() -> None:
    bracket = hyperband_plan(81, 3).bracket(3)
    assert [bracket.keep(i) for i in range(4)] == [11, 3, 1, 0]
    with pytest.raises(IndexError):
        bracket.keep(4)
    with pytest.raises(IndexError):
        bracket.keep(-1)


def test_it_finds_brackets_by_s() -> None:
    plan = hyperband_plan(81, 3)
    assert plan.bracket(2).n_configs == 15
    assert plan.bracket(2).n_trials == 21
    with pytest.raises(KeyError):
        plan.bracket(5)


# --- to_dict ------------------------------------------------------------------------------


def test_it_serialises_int_plans() -> None:
    data = hyperband_plan(10, 3).to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["algorithm"] == "hyperband"
    assert data["max_iter"] == 10
    assert data["eta"] == 3
    assert data["brackets"][0]["s"] == 2
    assert data["brackets"][0]["rungs"] == [
        {"rung": 0, "configs": 9, "resource": 1},
        {"rung": 1, "configs": 3, "resource": 3},
        {"rung": 2, "configs": 1, "resource": 10},
    ]
    assert (data["total_configs"], data["total_trials"]) == (17, 22)


def test_it_totals_the_rendered_int_resources() -> None:
    data = hyperband_plan(10, 3).to_dict("int")
    # 9*1 + 3*3 + 10 + 5*3 + 10 + 3*10, not the exact 250/3 + ... sum.
    assert data["total_resource"] == 83
    assert isinstance(data["total_resource"], int)
    assert hyperband_plan(10, 3).total_resource > 83


def test_it_totals_the_rendered_float_resources() -> None:
    data = hyperband_plan(10, 3).to_dict("float")
    assert data["max_iter"] == 10.0
    assert data["brackets"][0]["rungs"][0]["resource"] == pytest.approx(10 / 9)
    assert isinstance(data["total_resource"], float)
    assert data["total_resource"] == pytest.approx(float(hyperband_plan(10, 3).total_resource))


def test_it_marks_capped_brackets_and_sizing_in_the_dict() -> None:
    data = hyperband_plan(81, 3, max_configs=10, sizing=TABLE1).to_dict()
    assert data["sizing"] == TABLE1
    assert [b["capped"] for b in data["brackets"]] == [True, True, False, False, False]


def test_it_rejects_unknown_resource_types() -> None:
    with pytest.raises(ValueError, match="resource_type"):
        hyperband_plan(81, 3).to_dict("str")
    with pytest.raises(ValueError, match="resource_type"):
        Rung(0, 1, None).resource_value("double")


# --- single-rung plans ------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["random_search", "grid_search"])
def test_it_plans_single_rung_searches(algorithm: str) -> None:
    plan = single_rung_plan(algorithm, 12)
    assert plan.brackets == (Bracket(0, (Rung(0, 12, None),)),)
    assert (plan.total_configs, plan.total_trials, plan.total_resource) == (12, 12, Fraction(0))
    data = plan.to_dict()
    assert data["max_iter"] is None and data["eta"] is None
    assert data["brackets"] == [
        {"s": 0, "capped": False, "rungs": [{"rung": 0, "configs": 12, "resource": None}]}
    ]
    assert data["total_resource"] == 0


def test_it_rejects_bad_single_rung_input() -> None:
    with pytest.raises(ValueError, match="algorithm"):
        single_rung_plan("hyperband", 3)
    with pytest.raises(ValueError, match="n_configs"):
        single_rung_plan("random_search", 0)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_iter": 81, "eta": 1}, "eta must be >= 2"),
        ({"max_iter": 81, "eta": 0}, "eta must be >= 2"),
        ({"max_iter": 81, "eta": 2.5}, "eta must be an integer"),
        ({"max_iter": 81, "eta": True}, "eta must be an integer"),
        ({"max_iter": 0, "eta": 3}, "max_iter must be >= 1"),
        ({"max_iter": Fraction(1, 2), "eta": 3}, "max_iter must be >= 1"),
        ({"max_iter": 81.0, "eta": 3}, "max_iter must be an int or Fraction"),
        ({"max_iter": 81, "eta": 3, "sizing": "paper"}, "sizing must be one of"),
        ({"max_iter": 81, "eta": 3, "max_configs": 0}, "max_configs must be"),
    ],
)
def test_it_rejects_bad_input_with_a_clear_message(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        hyperband_plan(**kwargs)  # type: ignore[arg-type]


def test_it_validates_s_max_input() -> None:
    with pytest.raises(ValueError, match="eta"):
        s_max(81, 1)
    with pytest.raises(ValueError, match="max_iter"):
        s_max(0, 3)


# --- properties ---------------------------------------------------------------------------

max_iters = st.integers(min_value=1, max_value=100_000)
etas = st.integers(min_value=2, max_value=20)


@settings(max_examples=400, deadline=None)
@given(max_iter=max_iters, eta=etas, sizing=st.sampled_from([ALGORITHM1, TABLE1]))
def test_it_builds_well_formed_brackets(max_iter: int, eta: int, sizing: str) -> None:
    plan = hyperband_plan(max_iter, eta, sizing=sizing)
    top = s_max(max_iter, eta)
    assert eta**top <= max_iter < eta ** (top + 1)
    assert [b.s for b in plan.brackets] == list(range(top, -1, -1))
    for bracket in plan.brackets:
        assert len(bracket.rungs) == bracket.s + 1
        assert [r.index for r in bracket.rungs] == list(range(bracket.s + 1))
        assert bracket.rungs[-1].resource == max_iter
        assert bracket.rungs[0].resource == Fraction(max_iter, eta**bracket.s)
        assert not bracket.capped
    assert plan.bracket(0).n_configs == top + 1


@settings(max_examples=400, deadline=None)
@given(max_iter=max_iters, eta=etas, sizing=st.sampled_from([ALGORITHM1, TABLE1]))
def test_it_shrinks_configs_and_grows_resource_by_eta(max_iter: int, eta: int, sizing: str) -> None:
    for bracket in hyperband_plan(max_iter, eta, sizing=sizing).brackets:
        for lower, upper in zip(bracket.rungs, bracket.rungs[1:], strict=False):
            assert upper.resource == lower.resource * eta  # type: ignore[operator]
            assert 1 <= upper.configs <= lower.configs
            assert bracket.keep(lower.index) == upper.configs == lower.configs // eta
        assert bracket.keep(bracket.s) == 0
        assert bracket.rungs[-1].configs >= 1


@settings(max_examples=300, deadline=None)
@given(max_iter=max_iters, eta=etas)
def test_it_sizes_brackets_by_the_algorithm1_formula(max_iter: int, eta: int) -> None:
    plan = hyperband_plan(max_iter, eta)
    top = s_max(max_iter, eta)
    for bracket in plan.brackets:
        exact = Fraction((top + 1) * eta**bracket.s, bracket.s + 1)
        assert bracket.n_configs == math.ceil(exact)
        assert bracket.n_configs >= eta**bracket.s


@settings(max_examples=300, deadline=None)
@given(max_iter=max_iters, eta=etas)
def test_it_keeps_totals_consistent(max_iter: int, eta: int) -> None:
    plan = hyperband_plan(max_iter, eta)
    rungs = [r for b in plan.brackets for r in b.rungs]
    assert plan.total_configs == sum(b.rungs[0].configs for b in plan.brackets)
    assert plan.total_trials == sum(r.configs for r in rungs)
    assert plan.total_resource == sum(r.configs * (r.resource or 0) for r in rungs)
    data = plan.to_dict()
    assert data["total_trials"] == sum(r["configs"] for b in data["brackets"] for r in b["rungs"])
    assert data["total_resource"] == sum(
        r["configs"] * r["resource"] for b in data["brackets"] for r in b["rungs"]
    )
    assert data["total_resource"] <= plan.total_resource


@settings(max_examples=300, deadline=None)
@given(max_iter=max_iters, eta=etas, max_configs=st.integers(min_value=1, max_value=300))
def test_it_never_exceeds_max_configs(max_iter: int, eta: int, max_configs: int) -> None:
    capped_plan = hyperband_plan(max_iter, eta, max_configs=max_configs)
    plain = hyperband_plan(max_iter, eta)
    for bracket, original in zip(capped_plan.brackets, plain.brackets, strict=True):
        assert all(1 <= r.configs <= max_configs for r in bracket.rungs)
        assert bracket.capped == (original.n_configs > max_configs)
        if bracket.capped:
            assert bracket.n_configs == max_configs
            assert [r.resource for r in bracket.rungs] == [r.resource for r in original.rungs]
        else:
            assert bracket == original


@settings(max_examples=200, deadline=None)
@given(
    max_iter=st.fractions(min_value=1, max_value=10_000, max_denominator=50),
    eta=etas,
)
def test_it_handles_fraction_max_iter_exactly(max_iter: Fraction, eta: int) -> None:
    top = s_max(max_iter, eta)
    assert eta**top <= max_iter < eta ** (top + 1)
    for bracket in hyperband_plan(max_iter, eta).brackets:
        assert bracket.rungs[-1].resource == max_iter
        assert bracket.rungs[0].resource_value("int") >= 1  # type: ignore[operator]


# --- promotion ----------------------------------------------------------------------------


def test_it_promotes_the_lowest_values_when_minimizing() -> None:
    results = [(1, 0.5, True), (2, 0.1, True), (3, 0.9, True), (4, 0.3, True)]
    assert promote(results, 2, maximize=False) == [2, 4]


def test_it_promotes_the_highest_values_when_maximizing() -> None:
    results = [(1, 0.5, True), (2, 0.1, True), (3, 0.9, True), (4, 0.3, True)]
    assert promote(results, 2, maximize=True) == [3, 1]


def test_it_breaks_ties_by_smaller_trial_id() -> None:
    results = [(7, 1.0, True), (3, 1.0, True), (5, 1.0, True)]
    assert promote(results, 2, maximize=False) == [3, 5]
    assert promote(results, 2, maximize=True) == [3, 5]


def test_it_never_promotes_failed_or_metric_less_trials() -> None:
    results = [(1, 0.1, False), (2, None, True), (3, math.nan, True), (4, 0.9, True)]
    assert promote(results, 3, maximize=False) == [4]
    assert promote([(1, None, True), (2, 0.0, False)], 1, maximize=True) == []


def test_it_promotes_nothing_when_keep_is_zero() -> None:
    assert promote([(1, 0.5, True)], 0, maximize=False) == []
    with pytest.raises(ValueError, match="keep"):
        promote([(1, 0.5, True)], -1, maximize=False)


def test_it_ranks_failed_and_metric_less_trials_last_by_id() -> None:
    results = [(9, None, True), (4, 0.2, True), (2, 0.1, False), (5, 0.7, True), (1, 0.3, False)]
    assert rank(results, maximize=True) == [5, 4, 1, 2, 9]


results_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=1000),
        st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)),
        st.booleans(),
    ),
    max_size=40,
    unique_by=lambda item: item[0],
)


@settings(max_examples=500, deadline=None)
@given(
    results=results_strategy, keep=st.integers(min_value=0, max_value=50), maximize=st.booleans()
)
def test_it_promotes_only_the_best_successful_trials(
    results: list[tuple[int, float | None, bool]], keep: int, maximize: bool
) -> None:
    promoted = promote(results, keep, maximize)
    valid = {
        tid: value
        for tid, value, ok in results
        if ok and value is not None and not math.isnan(value)
    }
    assert set(promoted) <= set(valid)
    assert len(promoted) == len(set(promoted)) == min(keep, len(valid))
    sign = -1 if maximize else 1
    for tid in promoted:
        for other, value in valid.items():
            if other not in promoted:
                assert sign * valid[tid] <= sign * value


@settings(max_examples=300, deadline=None)
@given(results=results_strategy, maximize=st.booleans())
def test_it_ranks_every_trial_once_with_promotions_first(
    results: list[tuple[int, float | None, bool]], maximize: bool
) -> None:
    ranked = rank(results, maximize)
    assert sorted(ranked) == sorted(tid for tid, _, _ in results)
    promoted = promote(results, len(results), maximize)
    assert ranked[: len(promoted)] == promoted
