"""The engine and the trial helper import neither Django nor numpy: they run anywhere.

`scheduler.bayes` (Bayesian optimization) is the one engine module left out: it is pure of
Django but computes on numpy and scikit-learn; `test_bayes_imports_without_django` checks it.
"""

import subprocess
import sys

import pytest

from tests.conftest import ROOT

PURE = [
    "scheduler.hyperband",
    "scheduler.metric_values",
    "scheduler.plan_table",
    "scheduler.space",
    "scheduler.spec",
    "scheduler.spec_limits",
    "scheduler.spec_bo",
    "scheduler.yamlsource",
    "scheduler.command",
    "scheduler.planning",
    "scheduler.space_traps",
    "scheduler.export",
    "scheduler.webhook_http",
    "scheduler.webhook_messages",
    "scheduler.tags",
    "scheduler.notes",
    "scheduler.importance",
    "hbclient",
]


@pytest.mark.parametrize("module", PURE)
def test_it_imports_without_django_or_numpy(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'django', 'numpy'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_bayes_imports_without_django() -> None:
    code = "import sys, scheduler.bayes; print('django' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
