"""Benchmark: the best validation loss bo reaches against random search, at equal trials.

The digits task of hbsite/examples/bo.yml (its matrix, its utility function, 10 epochs per trial),
30 trials per search, over 5 sweep seeds. Both searches draw and suggest their configs
exactly as the scheduling step does (random search: `Space.sample` seeded `"{seed}:0"`;
bo: those 5 random configs, then `bayes.suggest` seeded `(seed, index)`, with concurrency 1
so each suggestion sees every earlier result), and each config is trained in-process by
examples/train_digits.py's own `train`. Run with `make benchmark`; it prints a table and
asserts only that every trial gave a finite loss.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import random
import statistics
import time
from typing import Any

import numpy as np
import pytest

from scheduler import bayes
from scheduler import spec as specs
from tests.conftest import ROOT

TRIALS = 30
SEEDS = (1, 2, 3, 4, 5)


@functools.cache
def digits() -> Any:
    path = ROOT / "hbsite" / "examples" / "train_digits.py"
    loaded = importlib.util.spec_from_file_location("train_digits", path)
    assert loaded is not None and loaded.loader is not None
    module = importlib.util.module_from_spec(loaded)
    loaded.loader.exec_module(module)
    return module


@functools.cache
def data() -> Any:
    return digits().load_data(0)


def validation_loss(config: dict[str, Any], epochs: int) -> float:
    """Train one config as a trial would and return its last reported loss."""
    args = type("Args", (), {"learning_rate": config["learning_rate"], "alpha": config["alpha"],
                             "loss_function": config["loss_function"], "seed": 0})  # fmt: skip
    model, _ = digits().restore(ROOT / "var" / "no-such-checkpoint", args)
    classes = np.unique(data()[2])
    steps = digits().train(model, data(), classes, epochs, np.random.default_rng(0))
    return [loss for _, loss, _ in steps][-1]


def random_search(spec: specs.SweepSpec, seed: int, epochs: int) -> list[float]:
    configs = spec.matrix.sample(random.Random(f"{seed}:0"), TRIALS)
    return [validation_loss(c, epochs) for c in configs]


def bo_search(spec: specs.SweepSpec, seed: int, epochs: int) -> list[float]:
    assert spec.bo is not None
    initial = spec.matrix.sample(random.Random(f"{seed}:0"), spec.bo.n_initial_trials)
    observed = [(c, validation_loss(c, epochs)) for c in initial]
    while len(observed) < TRIALS:
        made = bayes.suggest(
            spec.matrix, spec.bo.utility_function, False, observed, [], (seed, len(observed))
        )
        observed.append((made.params, validation_loss(made.params, epochs)))
    return [loss for _, loss in observed]


@pytest.mark.timeout(3600)
def test_bo_against_random_search_on_digits() -> None:
    spec = specs.parse((ROOT / "hbsite" / "examples" / "bo.yml").read_text())
    assert spec.bo is not None and spec.bo.n_trials == TRIALS
    epochs = int(spec.params["epochs"])
    rows = []
    for seed in SEEDS:
        started = time.monotonic()
        by_random, by_bo = random_search(spec, seed, epochs), bo_search(spec, seed, epochs)
        assert all(math.isfinite(v) for v in by_random + by_bo)
        rows.append((seed, min(by_random), min(by_bo), time.monotonic() - started))
    print(f"\nbest validation loss after {TRIALS} trials (digits, {epochs} epochs each)")
    print(f"{'seed':>4} | {'random_search':>13} | {'bo':>8} | {'wall s':>6}")
    for seed, rs, bo, wall in rows:
        print(f"{seed:>4} | {rs:>13.4f} | {bo:>8.4f} | {wall:>6.1f}")
    means = [statistics.mean(r[i] for r in rows) for i in (1, 2)]
    wins = sum(1 for r in rows if r[2] < r[1])
    print(f"mean | {means[0]:>13.4f} | {means[1]:>8.4f} | bo better on {wins} of {len(rows)}")
