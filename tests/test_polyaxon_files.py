"""Polyaxon v0.5 files parse as Polyaxon read them: defaults, inputs beside the matrix, traps."""

from __future__ import annotations

import pytest

from scheduler import command
from scheduler.spec import GridSearch, SpecError, parse
from tests.conftest import ROOT
from tests.sweeps import position

QUICK_START = (ROOT / "hbsite" / "examples" / "quick_start.yml").read_text()


def group(hptuning: str, extra: str = "", cmd: str = "x {{ lr }}") -> str:
    """Return a group file: `hptuning` lines indented by two spaces, `extra` top-level lines."""
    return f"version: 1\nkind: group\n{extra}hptuning:\n{hptuning}run:\n  cmd: {cmd}\n"


def warnings_at(text: str) -> list[tuple[int, int, str]]:
    return [(w.line, w.column, w.message) for w in parse(text).warnings]


# --- defaults -------------------------------------------------------------------------------


def test_it_reads_a_matrix_without_algorithm_as_a_grid_of_every_point() -> None:
    text = group("  matrix:\n    lr: {values: [0.1, 0.01]}\n    act: {values: [relu, tanh]}\n")
    spec = parse(text)
    assert (spec.algorithm, spec.grid_search, spec.concurrency) == (
        "grid_search",
        GridSearch(None),
        1,
    )
    assert spec.matrix.size == 4
    assert len(spec.matrix.grid()) == 4
    assert [(line, col) for line, col, _ in warnings_at(text)] == [position(text, "hptuning:")]


def test_it_rejects_a_distribution_in_the_default_grid_search() -> None:
    text = group("  matrix:\n    lr: {uniform: [0, 1]}\n")
    with pytest.raises(SpecError) as info:
        parse(text)
    [issue] = info.value.issues
    assert (issue.line, issue.column) == (5, 9)
    assert issue.message == (
        "grid search (no algorithm section) needs discrete parameters, but 'lr' is uniform"
    )


def test_it_reads_the_quick_start_example() -> None:
    spec = parse(QUICK_START)
    assert spec.algorithm == "grid_search" and spec.matrix.size == 4
    assert dict(spec.params) == {
        "epochs": 3,
        "batch_size": 64,
        "learning_rate": 0.01,
        "alpha": 0.0001,
        "loss": "log_loss",
    }
    assert all("error" not in w.message for w in spec.warnings)


# --- inputs and declarations beside the matrix ------------------------------------------------


def test_it_lets_an_input_share_its_name_with_a_matrix_parameter_with_a_warning() -> None:
    extra = "inputs:\n  - {name: lr, type: float, default: 0.5, is_optional: true}\n"
    text = group("  matrix:\n    lr: {values: [0.1, 0.01]}\n", extra)
    assert warnings_at(text)[0] == (
        *position(text, "lr, type"),
        "input 'lr' is also a matrix parameter: each trial gets its matrix value, "
        "not the value given here",
    )
    assert dict(parse(text).params) == {"lr": 0.5}  # the runner lays the matrix value over it


def test_it_lets_an_input_be_the_hyperband_resource_with_a_warning() -> None:
    hyperband = (
        "  hyperband:\n    max_iter: 9\n    eta: 3\n"
        "    resource: {name: steps, type: int}\n"
        "    metric: {name: loss, optimization: minimize}\n"
        "  matrix:\n    lr: {values: [0.1, 0.01]}\n"
    )
    extra = "inputs:\n  - {name: steps, type: int, default: 300, is_optional: true}\n"
    text = group(hyperband, extra, cmd="x {{ lr }} {{ steps }}")
    [(line, column, message)] = warnings_at(text)
    assert (line, column) == position(text, "steps, type: int, default")
    assert message.startswith("input 'steps' is also the hyperband resource")


def test_it_lets_declarations_and_bare_params_share_a_matrix_name_with_a_warning() -> None:
    for extra in ("declarations:\n  lr: 0.5\n", "params:\n  lr: 0.5\n"):
        text = group("  matrix:\n    lr: {values: [0.1, 0.01]}\n", extra)
        found = warnings_at(text)
        assert found[0][:2] == position(text, "lr: 0.5"), extra
        assert "is also a matrix parameter" in found[0][2]


def test_it_reads_params_without_inputs_as_plain_values() -> None:
    text = group("  matrix:\n    lr: {values: [0.1]}\n", "params:\n  batch: 128\n", "x {{ batch }}")
    assert dict(parse(text).params) == {"batch": 128}


def test_it_still_rejects_a_matrix_parameter_named_as_the_resource() -> None:
    hyperband = (
        "  hyperband: {max_iter: 9, eta: 3, resource: {name: lr, type: int},\n"
        "              metric: {name: loss, optimization: minimize}}\n"
        "  matrix:\n    lr: {values: [0.1, 0.01]}\n"
    )
    with pytest.raises(SpecError, match="has the name of the hyperband resource"):
        parse(group(hyperband))


# --- commands the shell cannot be trusted with ----------------------------------------------------


def test_it_reports_a_placeholder_in_backquotes_at_the_command() -> None:
    text = group("  matrix:\n    lr: {values: [0.1]}\n", cmd="echo `{{ lr }}`")
    with pytest.raises(SpecError) as info:
        parse(text)
    [issue] = info.value.issues
    assert (issue.line, issue.column) == position(text, "echo")
    assert issue.message == command.problems("echo `{{ lr }}`")[0]


# --- matrix entries whose numbers probably mean something else --------------------------------


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        (
            "loguniform: [0.0001, 0.1]",
            "Parameter 'p': loguniform bounds are natural-log exponents: [0.0001, 0.1] samples "
            "exp(0.0001)..exp(0.1) = 1.0001..1.1052; for values from 0.0001 to 0.1 write "
            "[-9.21, -2.30] (ln of each)",
        ),
        ("qloguniform: [0.001, 1, 0.01]", "write [-6.91, 0.00, 0.01] (ln of each)"),
        (
            "logspace: [0.0001, 0.1, 5]",
            "Parameter 'p': logspace bounds are exponents of 10: [0.0001, 0.1, 5] gives "
            "1.0002..1.2589; for values from 0.0001 to 0.1 write [-4, -1, 5] (log10 of each)",
        ),
        ("logspace: [0.25, 0.5, 3, 2]", "write [-2, -1, 3, 2] (log2 of each)"),
        ("lognormal: [0.001, 0.0001]", "95% within 1.0008..1.0012; for values around 0.001"),
        ("qlognormal: [0.5, 0.1, 0.1]", "write loc -0.69 (its ln)"),
        (
            "range: [0.1, 1.0, 0.1]",
            "Parameter 'p': range excludes its stop (as numpy.arange): 9 values from 0.1 to 0.9, "
            "not 1.0; linspace: [0.1, 1.0, 10] includes it",
        ),
    ],
)
def test_it_warns_of_matrix_numbers_that_probably_mean_something_else(
    entry: str, expected: str
) -> None:
    text = group(
        f"  random_search: {{n_experiments: 3}}\n  matrix:\n    p: {{{entry}}}\n", cmd="x {{ p }}"
    )
    found = [w for w in warnings_at(text) if w[2].startswith("Parameter 'p'")]
    assert len(found) == 1, found
    line, column, message = found[0]
    assert (line, column) == position(text, "{" + entry)
    assert expected in message


@pytest.mark.parametrize(
    "entry",
    [
        "loguniform: [-9.21, -2.3]",
        "loguniform: [0, 2]",
        "qloguniform: [-11, -5, 0.0001]",
        "logspace: [-4, -1, 4]",
        "lognormal: [0, 1]",
        "lognormal: [0.5, 0.9]",
        "range: [0, 10, 2]",
        "range: [0, 1, 0.3]",
        "uniform: [0.0001, 0.1]",
    ],
)
def test_it_keeps_quiet_about_plain_matrix_entries(entry: str) -> None:
    text = group(
        f"  random_search: {{n_experiments: 3}}\n  matrix:\n    p: {{{entry}}}\n", cmd="x {{ p }}"
    )
    assert warnings_at(text) == []
