"""scheduler.bayes: the encoding of a matrix, and suggestions from a Gaussian process."""

from __future__ import annotations

import random

import pytest

from scheduler import bayes
from scheduler.space import parse_matrix
from scheduler.spec_types import GaussianProcess, UtilityFunction

SPACE = parse_matrix(
    {
        "lr": {"uniform": [0.0, 2.0]},
        "act": {"values": ["relu", "tanh", "elu"]},
        "batch": {"values": [16, 64, 32]},
        "alpha": {"logspace": [-3, -1, 3]},
    }
)


def utility(function: str = "ucb", **changes) -> UtilityFunction:
    fields = {"kappa": 2.0, "eps": 0.0, "n_warmup": 300, "n_iter": 3}
    fields.update(changes)
    return UtilityFunction(function, gaussian_process=GaussianProcess(nu=2.5), **fields)


def test_it_encodes_parameters_in_name_order_one_hot_for_categorical_values() -> None:
    encoding = bayes.Encoding.of(SPACE)
    config = {"lr": 0.5, "act": "tanh", "batch": 32, "alpha": 0.01}

    assert [f.name for f in encoding.features] == ["act", "alpha", "batch", "lr"]
    assert [f.kind for f in encoding.features] == ["categorical", "discrete", "discrete", "uniform"]
    assert encoding.dim == 6
    assert encoding.encode(config) == pytest.approx([0, 1, 0, 0.009 / 0.099, 16 / 48, 0.25])
    assert encoding.decode(encoding.encode(config)) == config


def test_it_decodes_to_the_nearest_allowed_value_and_the_largest_one_hot() -> None:
    encoding = bayes.Encoding.of(SPACE)
    # alpha 0.3 of [0.001, 0.1] is 0.0307: nearer 0.01 than 0.1; batch 0.55 of [16, 64]
    # is 42.4: nearer 32 than 64; lr is clipped to its box.
    config = encoding.decode([0.2, 0.1, 0.7, 0.3, 0.55, 1.4])

    assert config == {"act": "elu", "alpha": 0.01, "batch": 32, "lr": 2.0}


def test_it_refuses_kinds_bayesian_optimization_cannot_search() -> None:
    space = parse_matrix({"lr": {"loguniform": [-5, -1]}})
    with pytest.raises(bayes.BayesError, match="cannot search loguniform"):
        bayes.Encoding.of(space)


def test_it_needs_an_observation() -> None:
    with pytest.raises(bayes.BayesError, match="nothing observed yet"):
        bayes.suggest(SPACE, utility(), False, [], [], 0)


def loss(config: dict) -> float:
    return (config["lr"] - 1.3) ** 2 + (0.0 if config["act"] == "elu" else 0.5)


def observed(n: int) -> list[tuple[dict, float]]:
    return [(c, loss(c)) for c in SPACE.sample(random.Random(3), n)]


def test_ucb_is_the_predicted_value_plus_kappa_deviations() -> None:
    made = bayes.suggest(SPACE, utility(kappa=1.5), False, observed(5), [], 7)

    # On y = -loss: ucb = -mean + kappa * std, with mean and std reported in loss units.
    assert made.acquisition == pytest.approx(-made.mean + 1.5 * made.std, rel=1e-6)
    assert made.std >= 0
    assert set(made.params) == {"lr", "act", "batch", "alpha"}


@pytest.mark.parametrize("function", ["ei", "poi"])
def test_improvement_functions_are_positive_where_improvement_is_possible(function) -> None:
    made = bayes.suggest(SPACE, utility(function, eps=0.0), False, observed(6), [], 1)
    assert made.acquisition > 0
    if function == "poi":
        assert made.acquisition <= 1


def test_the_same_inputs_and_seed_give_the_same_suggestion() -> None:
    runs = [bayes.suggest(SPACE, utility(), False, observed(5), [], (9, 5)) for _ in "ab"]
    assert runs[0] == runs[1]


def test_a_pending_config_moves_the_next_suggestion_elsewhere() -> None:
    seen = observed(5)
    first = bayes.suggest(SPACE, utility(kappa=0.5), False, seen, [], 4)

    second = bayes.suggest(SPACE, utility(kappa=0.5), False, seen, [first.params], 4)

    assert second.params != first.params


def test_it_closes_in_on_the_optimum_of_a_smooth_function() -> None:
    space = parse_matrix({"lr": {"uniform": [0.0, 2.0]}})
    seen = [(c, (c["lr"] - 1.3) ** 2) for c in space.sample(random.Random(5), 3)]
    start = min(value for _, value in seen)
    for index in range(6):
        made = bayes.suggest(space, utility(kappa=1.0), False, seen, [], (1, index))
        seen.append((made.params, (made.params["lr"] - 1.3) ** 2))

    assert min(value for _, value in seen[3:]) < start
    assert min(value for _, value in seen) < 1e-3


def test_it_maximizes_when_the_metric_is_maximized() -> None:
    seen = [(c, -v) for c, v in observed(6)]  # accuracy-like: larger is better
    made = bayes.suggest(SPACE, utility(kappa=1.0), True, seen, [], 2)
    assert made.acquisition == pytest.approx(made.mean + 1.0 * made.std, rel=1e-6)
