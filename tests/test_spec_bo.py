"""The `bo` section: Polyaxon v0.5's fields, defaults and checks, with line and column."""

from __future__ import annotations

import pytest

from scheduler.spec import SpecError, parse
from scheduler.spec_types import MAX_BO_TRIALS, GaussianProcess
from tests.sweeps import position

UTILITY = "{acquisition_function: ucb, kappa: 2.5}"


def bo_file(
    utility: str = UTILITY,
    counts: str = "n_initial_trials: 4\n    n_iterations: 6",
    matrix: str = "    lr: {uniform: [0.001, 0.1]}\n    act: {values: [relu, tanh]}\n",
) -> str:
    return (
        "version: 1\nkind: group\nhptuning:\n  bo:\n"
        f"    {counts}\n"
        "    metric: {name: loss, optimization: minimize}\n"
        f"    utility_function: {utility}\n"
        f"  matrix:\n{matrix}"
        "run:\n  cmd: x {{ lr }} {{ act }}\n"
    )


def messages(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(SpecError) as info:
        parse(text)
    return [(i.line, i.column, i.message) for i in info.value.issues]


def test_it_reads_a_bo_section_with_polyaxons_defaults() -> None:
    spec = parse(bo_file())

    assert spec.algorithm == "bo" and spec.bo is not None
    assert (spec.bo.n_initial_trials, spec.bo.n_iterations, spec.bo.n_trials) == (4, 6, 10)
    assert spec.metric is not None and not spec.metric.maximize
    utility = spec.bo.utility_function
    assert (utility.acquisition_function, utility.kappa, utility.eps) == ("ucb", 2.5, None)
    assert (utility.n_warmup, utility.n_iter) == (5000, 150)
    assert utility.gaussian_process == GaussianProcess("matern", 1.0, 1.5, 0)
    text = bo_file()
    warning = [w for w in spec.warnings if "gaussian_process not given" in w.message]
    assert [(w.line, w.column) for w in warning] == [position(text, "utility_function")]
    assert spec.to_dict()["bo"]["utility_function"]["kappa"] == 2.5


def test_it_reads_every_gaussian_process_field_in_polyaxons_spellings() -> None:
    process = "{kernel: RBF, length_scale: 0.5, nu: 2.5, n_restarts_optimizer: 3}"
    utility = f"{{acquisition_function: EI, eps: 0.1, gaussian_process: {process}}}"

    spec = parse(bo_file(utility))

    assert spec.bo is not None
    assert spec.bo.utility_function.acquisition_function == "ei"
    assert spec.bo.utility_function.gaussian_process == GaussianProcess("rbf", 0.5, 2.5, 3)
    assert not [w for w in spec.warnings if "gaussian_process" in w.message]


NEEDS = "the acquisition function `{}` requires a parameter `{}`"


@pytest.mark.parametrize(
    ("utility", "expected"),
    [
        ("{acquisition_function: ucb}", NEEDS.format("ucb", "kappa")),
        ("{kappa: 1}", None),  # ucb is the default
        ("{acquisition_function: poi, kappa: 1}", NEEDS.format("poi", "eps")),
        ("{acquisition_function: ei}", NEEDS.format("ei", "eps")),
    ],
)
def test_it_asks_for_the_parameter_each_acquisition_function_needs(utility, expected) -> None:
    text = bo_file(utility)
    if expected is None:
        assert parse(text).bo is not None
        return
    assert messages(text) == [(*position(text, utility), expected)]


def test_it_rejects_non_uniform_distributions_as_polyaxon_did() -> None:
    matrix = "    lr: {loguniform: [-7, -1]}\n    act: {pvalues: [[relu, 0.5], [tanh, 0.5]]}\n"
    text = bo_file(matrix=matrix)

    found = messages(text)

    assert [(line, col) for line, col, _ in found] == [
        position(text, "{loguniform"),
        position(text, "{pvalues"),
    ]
    assert "'lr' defines a non uniform distribution (loguniform)" in found[0][2]
    assert "cannot be used with bayesian optimization" in found[1][2]


def test_it_requires_the_counts_the_metric_and_the_utility_function() -> None:
    text = (
        "version: 1\nkind: group\nhptuning:\n  bo: {n_iterations: 2}\n"
        "  matrix:\n    lr: {uniform: [0, 1]}\nrun:\n  cmd: x {{ lr }}\n"
    )
    found = [message for _, _, message in messages(text)]
    for name in ("n_initial_trials", "metric", "utility_function"):
        assert f"hptuning.bo is missing '{name}'" in found


def test_it_caps_the_trial_budget() -> None:
    half = MAX_BO_TRIALS // 2 + 1
    text = bo_file(counts=f"n_initial_trials: {half}\n    n_iterations: {half}")

    ((line, column, message),) = messages(text)

    assert (line, column) == position(text, "bo:")
    assert f"is {2 * half}; hbsite runs at most {MAX_BO_TRIALS} trials" in message
