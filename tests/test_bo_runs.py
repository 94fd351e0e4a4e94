"""hbsite/examples/bo.yml, shrunk, runs end to end on a real Celery worker with real trials."""

from __future__ import annotations

import pytest

from scheduler import sweeps
from scheduler.models import Config, Sweep
from tests.conftest import ROOT, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def small_bo_example() -> str:
    """hbsite/examples/bo.yml with 3 random configs, 3 iterations, concurrency 2 and 2 epochs."""
    text = (ROOT / "hbsite" / "examples" / "bo.yml").read_text()
    changes = {
        "n_initial_trials: 5": "n_initial_trials: 3",
        "n_iterations: 25": "n_iterations: 3",
        "epochs: 10": "epochs: 2",
    }
    for old, new in changes.items():
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def test_it_runs_the_bo_example_to_the_end_with_exact_counts(celery_worker, cast):
    sweep = sweeps.create_sweep(small_bo_example(), team=cast.team)
    wait_for(lambda: not Sweep.objects.get(pk=sweep.pk).is_active, timeout=300, every=0.5)
    sweep.refresh_from_db()

    assert sweep.status == "succeeded", sweep.status_reason
    configs = list(Config.objects.filter(sweep=sweep).order_by("index"))
    assert [c.origin["how"] for c in configs] == ["random"] * 3 + ["suggested"] * 3
    for config in configs[3:]:
        assert isinstance(config.origin["acquisition"], float)
        assert config.origin["function"] == "ei"
        assert config.origin["observed"] + config.origin["pending"] == config.index
    trials = list(sweep.trials.all())
    assert len(trials) == 6 and {t.status for t in trials} == {"succeeded"}
    assert all(t.metric_value is not None and t.metric_value > 0 for t in trials)
