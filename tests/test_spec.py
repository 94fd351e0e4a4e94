"""Tests for scheduler.spec: Polyaxon v0 group polyaxonfiles -> SweepSpec or positioned errors."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.spec import (
    EarlyStoppingRule,
    GridSearch,
    Hyperband,
    Issue,
    Metric,
    RandomSearch,
    Resource,
    Run,
    SpecError,
    SweepSpec,
    parse,
    template_names,
)

ROOT = Path(__file__).resolve().parent.parent

# Line numbers matter: tests replace single lines of BASE and assert exact positions.
BASE_LINES = [
    "version: 1",  # 1
    "kind: group",  # 2
    "hptuning:",  # 3
    "  concurrency: 5",  # 4
    "  hyperband:",  # 5
    "    max_iter: 81",  # 6
    "    eta: 3",  # 7
    "    resource:",  # 8
    "      name: num_steps",  # 9
    "      type: int",  # 10
    "    metric:",  # 11
    "      name: loss",  # 12
    "      optimization: minimize",  # 13
    "    resume: False",  # 14
    "  matrix:",  # 15
    "    learning_rate:",  # 16
    "      uniform: [0, 0.9]",  # 17
    "    dropout:",  # 18
    "      values: [0.25, 0.3]",  # 19
    "run:",  # 20
    "  cmd: python train.py --lr={{ learning_rate }} --steps={{ num_steps }}",  # 21
]
BASE = "\n".join(BASE_LINES) + "\n"

HYPERBAND_SECTION = """\
hptuning:
  concurrency: 5

  hyperband:
    max_iter: 81
    eta: 3
    resource:
      name: num_steps
      type: int
    metric:
      name: loss
      optimization: minimize
    resume: False

  matrix:
    learning_rate:
      uniform: [0, 0.9]
    dropout:
      values: [0.25, 0.3]
    activation:
      pvalues: [[relu, 0.1], [sigmoid, 0.8]]
"""

EARLY_STOPPING = """
  early_stopping:
    - metric: accuracy
      value: 0.9
      optimization: maximize
    - metric: loss
      value: 0.05
      optimization: minimize
"""

HEADER = "version: 1\nkind: group\n"
RUN = (
    "run:\n  cmd: python train.py --lr={{ learning_rate }} --dropout={{ dropout }}"
    " --activation={{ activation }} --steps={{ num_steps }}\n"
)


def reference(early_stopping: bool = False, fix_pvalues: bool = True) -> str:
    """Return the reference page's example, completed with version, kind and run.cmd."""
    section = HYPERBAND_SECTION
    if fix_pvalues:  # the page's probabilities sum to 0.9, which parses with a warning
        section = section.replace("[relu, 0.1]", "[relu, 0.2]")
    return HEADER + section + (EARLY_STOPPING if early_stopping else "") + RUN


def with_lines(text: str, **replacements: str) -> str:
    """Replace lines of `text` by number: with_lines(BASE, l7="    eta: 1")."""
    lines = text.splitlines()
    for key, line in replacements.items():
        lines[int(key[1:]) - 1] = line
    return "\n".join(lines) + "\n"


def issues(text: str) -> list[tuple[int, int, str]]:
    with pytest.raises(SpecError) as info:
        parse(text)
    assert info.value.issues, "a SpecError must carry at least one issue"
    return [(i.line, i.column, i.message) for i in info.value.issues]


def only_issue(text: str) -> tuple[int, int, str]:
    found = issues(text)
    assert len(found) == 1, found
    return found[0]


# --- the reference example ------------------------------------------------------------------


def test_it_parses_the_reference_hyperband_example() -> None:
    spec = parse(reference())
    assert (spec.version, spec.kind, spec.name) == (1, "group", None)
    assert (spec.concurrency, spec.seed, spec.algorithm) == (5, None, "hyperband")
    assert spec.hyperband == Hyperband(
        max_iter=81,
        eta=3,
        resource=Resource("num_steps", "int"),
        metric=Metric("loss", "minimize"),
        resume=False,
        sizing="algorithm1",
    )
    assert spec.random_search is None and spec.grid_search is None
    assert [(p.name, p.kind) for p in spec.matrix.params] == [
        ("learning_rate", "uniform"),
        ("dropout", "values"),
        ("activation", "pvalues"),
    ]
    assert spec.matrix.params[1].args == (0.25, 0.3)
    assert not spec.matrix.is_discrete
    assert spec.early_stopping == ()
    assert dict(spec.params) == {}
    assert spec.run == Run(cmd=spec.run.cmd, workdir=None, timeout=None, max_retries=None)
    assert template_names(spec.run.cmd) == {"learning_rate", "dropout", "activation", "num_steps"}
    assert spec.warnings == ()
    assert spec.metric == Metric("loss", "minimize")


def test_it_parses_the_reference_early_stopping_example() -> None:
    spec = parse(reference(early_stopping=True))
    assert spec.early_stopping == (
        EarlyStoppingRule("accuracy", 0.9, "maximize"),
        EarlyStoppingRule("loss", 0.05, "minimize"),
    )
    assert [r.describe() for r in spec.early_stopping] == ["accuracy >= 0.9", "loss <= 0.05"]


def test_it_accepts_the_reference_pvalues_that_sum_to_0_9_with_a_warning() -> None:
    # The page's own example has relu 0.1 + sigmoid 0.8, which Polyaxon accepted.
    spec = parse(reference(fix_pvalues=False))
    warnings = [w for w in spec.warnings if "activation" in w.message]
    assert [(w.line, w.column) for w in warnings] == [(23, 7)]
    assert "sum to 0.9" in warnings[0].message


def test_it_parses_the_base_file_with_line_numbers_used_below() -> None:
    spec = parse(BASE)
    assert spec.algorithm == "hyperband"
    assert [p.name for p in spec.matrix.params] == ["learning_rate", "dropout"]


# --- algorithms -----------------------------------------------------------------------------


def algorithm_file(section: str, matrix: str = "    lr: {values: [0.1, 0.01]}\n") -> str:
    return HEADER + "hptuning:\n" + section + "  matrix:\n" + matrix + "run:\n  cmd: x {{ lr }}\n"


def test_it_parses_random_search() -> None:
    spec = parse(algorithm_file("  random_search: {n_experiments: 20}\n"))
    assert (spec.algorithm, spec.random_search) == ("random_search", RandomSearch(20))
    assert spec.hyperband is None and spec.metric is None


def test_it_parses_grid_search_with_and_without_n_experiments() -> None:
    assert parse(algorithm_file("  grid_search: {n_experiments: 50}\n")).grid_search == (
        GridSearch(50)
    )
    spec = parse(algorithm_file("  grid_search:\n"))
    assert (spec.algorithm, spec.grid_search) == ("grid_search", GridSearch(None))
    assert spec.matrix.size == 2


def test_it_rejects_each_continuous_param_of_a_grid_search_at_its_value() -> None:
    matrix = "    lr: {uniform: [0, 1]}\n    k: {values: [1, 2]}\n    d: {normal: [0, 1]}\n"
    text = algorithm_file("  grid_search: {}\n", matrix)
    found = issues(text.replace("x {{ lr }}", "x {{ lr }} {{ k }} {{ d }}"))
    assert found == [
        (6, 9, "grid_search needs discrete parameters, but 'lr' is uniform"),
        (8, 8, "grid_search needs discrete parameters, but 'd' is normal"),
    ]


def test_it_requires_n_experiments_for_random_search() -> None:
    assert only_issue(algorithm_file("  random_search: {}\n")) == (
        4,
        3,
        "hptuning.random_search is missing 'n_experiments'",
    )


@pytest.mark.parametrize("value", ["0", "-1", "true", "2.5", "'3'"])
def test_it_rejects_bad_n_experiments(value: str) -> None:
    line, column, message = only_issue(
        algorithm_file(f"  random_search: {{n_experiments: {value}}}\n")
    )
    assert (line, column) == (4, 34)
    assert message.startswith("hptuning.random_search.n_experiments must be an integer from 1")


def test_it_runs_a_grid_search_without_an_algorithm_section_as_polyaxon_did() -> None:
    spec = parse(algorithm_file(""))
    assert (spec.algorithm, spec.grid_search) == ("grid_search", GridSearch(None))
    assert [(w.line, w.column) for w in spec.warnings] == [(3, 1)]
    assert "no search algorithm section: a grid search" in spec.warnings[0].message


def test_it_rejects_two_search_algorithms_at_the_second() -> None:
    text = algorithm_file("  random_search: {n_experiments: 3}\n  grid_search: {}\n")
    assert only_issue(text) == (
        5,
        3,
        "only one search algorithm is allowed, found random_search and grid_search",
    )


def test_it_caps_a_huge_grid_without_n_experiments() -> None:
    matrix = "".join(f"    p{i}: {{range: [0, 10, 1]}}\n" for i in range(6))  # 10**6 points
    text = algorithm_file("  grid_search: {}\n", matrix).replace("{{ lr }}", "{{ p0 }}")
    line, column, message = only_issue(text)
    assert (line, column) == (4, 3)
    assert "the grid has 1000000 points" in message


# --- hyperband ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    eta: 1", (7, 10, "hptuning.hyperband.eta must be an integer >= 2, got 1")),
        ("    eta: 2.5", (7, 10, "hptuning.hyperband.eta must be an integer >= 2, got 2.5")),
        ("    eta: true", (7, 10, "hptuning.hyperband.eta must be an integer >= 2, got true")),
    ],
)
def test_it_rejects_bad_eta(line: str, expected: tuple[int, int, str]) -> None:
    assert only_issue(with_lines(BASE, l7=line)) == expected


@pytest.mark.parametrize("value", ["0", "0.5", "-3", "true", "'81'", ".inf", "2000000"])
def test_it_rejects_bad_max_iter(value: str) -> None:
    line, column, message = only_issue(with_lines(BASE, l6=f"    max_iter: {value}"))
    assert (line, column) == (6, 15)
    assert message.startswith("hptuning.hyperband.max_iter must be a number >= 1")


def test_it_allows_a_float_max_iter_only_for_a_float_resource() -> None:
    text = with_lines(BASE, l6="    max_iter: 40.5")
    assert only_issue(text) == (
        6,
        15,
        "hptuning.hyperband.max_iter must be an integer when the resource type is int, got 40.5",
    )
    spec = parse(with_lines(text, l10="      type: float"))
    assert spec.hyperband is not None
    assert (spec.hyperband.max_iter, spec.hyperband.resource.type) == (40.5, "float")


def test_it_reads_a_whole_float_max_iter_as_an_int_for_an_int_resource() -> None:
    spec = parse(with_lines(BASE, l6="    max_iter: 81.0"))
    assert spec.hyperband is not None
    assert spec.hyperband.max_iter == 81 and type(spec.hyperband.max_iter) is int


def test_it_reports_missing_resource_and_metric_at_the_hyperband_key() -> None:
    lines = BASE_LINES[:7] + BASE_LINES[13:]
    text = "\n".join(lines) + "\n"
    assert issues(text) == [
        (5, 3, "hptuning.hyperband is missing 'metric'"),
        (5, 3, "hptuning.hyperband is missing 'resource'"),
        (15, 8, "run.cmd uses unknown template variable(s) 'num_steps'"),
    ]


def test_it_reports_every_missing_field_of_an_empty_hyperband() -> None:
    text = "\n".join(BASE_LINES[:5] + BASE_LINES[14:]) + "\n"
    found = issues(text)
    assert [(line, col) for line, col, _ in found[:4]] == [(5, 3)] * 4
    assert {m.rsplit(" ", 1)[1] for _, _, m in found[:4]} == {
        "'eta'",
        "'max_iter'",
        "'metric'",
        "'resource'",
    }


def test_it_reports_an_unknown_resource_key_and_the_missing_name() -> None:
    found = issues(with_lines(BASE, l9="      nam: num_steps"))
    assert (8, 5, "hptuning.hyperband.resource is missing 'name'") in found
    assert (9, 7, "unknown key 'nam' in hptuning.hyperband.resource; did you mean 'name'?") in found


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("      type: double", "hptuning.hyperband.resource.type must be 'float' or 'int'"),
        ("      type: 1", "hptuning.hyperband.resource.type must be 'float' or 'int', got 1"),
    ],
)
def test_it_rejects_a_bad_resource_type(line: str, expected: str) -> None:
    line_no, column, message = only_issue(with_lines(BASE, l10=line))
    assert (line_no, column) == (10, 13)
    assert message.startswith(expected)


@pytest.mark.parametrize("spelling", ["maximize", "MAXIMIZE", "Maximize"])
def test_it_accepts_polyaxon_optimization_spellings(spelling: str) -> None:
    spec = parse(with_lines(BASE, l13=f"      optimization: {spelling}"))
    assert spec.metric == Metric("loss", "maximize")


@pytest.mark.parametrize("spelling", ["INT", "Int"])
def test_it_accepts_polyaxon_resource_type_spellings(spelling: str) -> None:
    spec = parse(with_lines(BASE, l10=f"      type: {spelling}"))
    assert spec.hyperband is not None and spec.hyperband.resource.type == "int"


def test_it_suggests_the_closest_optimization() -> None:
    assert only_issue(with_lines(BASE, l13="      optimization: minimise")) == (
        13,
        21,
        "hptuning.hyperband.metric.optimization must be 'maximize' or 'minimize', "
        "got 'minimise'; did you mean 'minimize'?",
    )


def test_it_defaults_optimization_and_resource_type_as_polyaxon_with_warnings() -> None:
    lines = [line for i, line in enumerate(BASE_LINES, 1) if i not in (10, 13)]
    spec = parse("\n".join(lines) + "\n")
    assert spec.hyperband is not None
    assert spec.hyperband.resource == Resource("num_steps", "float")
    assert spec.hyperband.metric == Metric("loss", "maximize")
    assert [(w.line, w.column) for w in spec.warnings] == [(8, 5), (10, 5)]
    assert "'float', as in Polyaxon v0" in spec.warnings[0].message
    assert "'loss' is maximized, as in Polyaxon v0" in spec.warnings[1].message


def test_it_reads_resume_and_sizing() -> None:
    spec = parse(with_lines(BASE, l14="    resume: true\n    sizing: table1"))
    assert spec.hyperband is not None
    assert (spec.hyperband.resume, spec.hyperband.sizing) == (True, "table1")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("    resume: yes", (14, 13, "hptuning.hyperband.resume must be true or false, got 'yes'")),
        ("    resume: 1", (14, 13, "hptuning.hyperband.resume must be true or false, got 1")),
        (
            "    sizing: table2",
            (
                14,
                13,
                "hptuning.hyperband.sizing must be 'algorithm1' or 'table1', got 'table2'; "
                "did you mean 'table1'?",
            ),
        ),
    ],
)
def test_it_rejects_bad_resume_and_sizing(line: str, expected: tuple[int, int, str]) -> None:
    assert only_issue(with_lines(BASE, l14=line)) == expected


def test_it_warns_when_max_iter_is_below_eta() -> None:
    spec = parse(with_lines(BASE, l6="    max_iter: 2"))
    assert [(w.line, w.column) for w in spec.warnings] == [(6, 15)]
    assert "single bracket" in spec.warnings[0].message


def test_it_rejects_a_matrix_param_named_like_the_resource() -> None:
    text = with_lines(BASE, l18="    num_steps:")
    assert only_issue(text.replace("{{ dropout }}", "")) == (
        18,
        5,
        "matrix parameter 'num_steps' has the name of the hyperband resource",
    )


# --- hptuning scalars -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  concurrency: 0", "hptuning.concurrency must be an integer from 1 to 10000, got 0"),
        (
            "  concurrency: true",
            "hptuning.concurrency must be an integer from 1 to 10000, got true",
        ),
        ("  concurrency: 2.0", "hptuning.concurrency must be an integer from 1 to 10000, got 2.0"),
        ("  seed: -1", "hptuning.seed must be an integer from 0 to 9223372036854775807, got -1"),
        (
            "  seed: false",
            "hptuning.seed must be an integer from 0 to 9223372036854775807, got false",
        ),
    ],
)
def test_it_rejects_bad_concurrency_and_seed(line: str, expected: str) -> None:
    line_no, column, message = only_issue(with_lines(BASE, l4=line))
    assert line_no == 4 and column == line.index(":") + 3
    assert message == expected


def test_it_reads_seed_and_defaults_concurrency_to_one() -> None:
    spec = parse(with_lines(BASE, l4="  seed: 42"))
    assert (spec.seed, spec.concurrency) == (42, 1)


# --- matrix ---------------------------------------------------------------------------------


def test_it_reads_yaml12_floats_in_values() -> None:
    text = with_lines(BASE, l19="      values: [1e-4, 1e-3, 1E5, -2.5e+3]")
    dropout = parse(text).matrix.params[1]
    assert dropout.args == (0.0001, 0.001, 100000.0, -2500.0)
    assert all(type(v) is float for v in dropout.args)


def test_it_reads_the_string_form_of_range() -> None:
    spec = parse(with_lines(BASE, l19="      range: 1:10:2"))
    assert spec.matrix.params[1].grid() == (1, 3, 5, 7, 9)


def test_it_reads_a_sexagesimal_looking_range() -> None:
    spec = parse(with_lines(BASE, l19="      range: 190:20:-30"))
    assert spec.matrix.params[1].grid() == (190, 160, 130, 100, 70, 40)


def test_it_reports_space_errors_at_the_param_value() -> None:
    line, column, message = only_issue(with_lines(BASE, l19="      values: []"))
    assert (line, column) == (19, 7)
    assert message == "Parameter 'dropout': values must list at least one value."


def test_it_reports_probabilities_that_do_not_sum_to_one() -> None:
    text = with_lines(BASE, l19="      pvalues: [[a, 0.7], [b, 0.6]]")
    assert only_issue(text) == (
        19,
        7,
        "Parameter 'dropout': pvalues probabilities must sum to 1, got 1.3.",
    )


def test_it_reports_every_bad_param_at_once() -> None:
    text = with_lines(BASE, l17="      uniform: [1, 0]", l19="      normal: [0, -1]")
    assert [(line, col) for line, col, _ in issues(text)] == [(17, 7), (19, 7)]


def test_it_requires_a_non_empty_matrix() -> None:
    text = "\n".join(BASE_LINES[:14] + ["  matrix: {}"] + BASE_LINES[19:]) + "\n"
    found = issues(text.replace("--lr={{ learning_rate }} ", ""))
    assert found == [(15, 11, "hptuning.matrix must map parameter names to kinds, got empty")]


def test_it_requires_a_matrix() -> None:
    text = "\n".join(BASE_LINES[:14] + BASE_LINES[19:]) + "\n"
    found = issues(text.replace("--lr={{ learning_rate }} ", ""))
    assert found == [(3, 1, "hptuning is missing 'matrix'")]


def test_it_rejects_non_identifier_param_names() -> None:
    text = with_lines(BASE, l18="    drop-out:")
    assert only_issue(text) == (
        18,
        5,
        "matrix parameter names must be identifiers (letters, digits, _), got 'drop-out'",
    )


def test_it_rejects_a_matrix_entry_that_is_not_a_mapping() -> None:
    line, column, message = only_issue(with_lines(BASE, l17="      0.1", l16="    learning_rate:"))
    assert (line, column) == (17, 7)
    assert message.startswith("Parameter 'learning_rate': expected a mapping")


# --- early stopping -------------------------------------------------------------------------


def early_stopping_file(rules: str) -> str:
    """Return BASE with an early_stopping section whose first rule is on line 21."""
    return with_lines(BASE, l19="      values: [0.25, 0.3]\n  early_stopping:\n" + rules)


def test_it_maximizes_an_early_stopping_rule_without_optimization_as_polyaxon() -> None:
    spec = parse(early_stopping_file("    - {metric: accuracy, value: 0.9}"))
    assert spec.early_stopping == (EarlyStoppingRule("accuracy", 0.9, "maximize"),)
    assert [(w.line, w.column) for w in spec.warnings] == [(21, 7)]
    assert "'accuracy' is maximized" in spec.warnings[0].message


@pytest.mark.parametrize(
    ("rule", "column", "message"),
    [
        ("{metric: acc, value: high, optimization: maximize}", 28, "must be a finite number"),
        ("{metric: acc, value: .nan, optimization: maximize}", 28, "must be a finite number"),
        ("{metric: acc, value: true, optimization: maximize}", 28, "must be a finite number"),
        ("{metric: 3, value: 1, optimization: maximize}", 16, "must be a non-empty string"),
        ("{metric: acc, value: 1, optimization: up}", 45, "must be 'maximize' or 'minimize'"),
        ("{metric: acc, value: 1, optimization: maximize, policy: experiment}", 63, "'all'"),
    ],
)
def test_it_rejects_bad_early_stopping_rules(rule: str, column: int, message: str) -> None:
    line, col, found = only_issue(early_stopping_file(f"    - {rule}"))
    assert (line, col) == (21, column)
    assert message in found


def test_it_rejects_early_stopping_that_is_not_a_list() -> None:
    text = with_lines(BASE, l19="      values: [0.25, 0.3]\n  early_stopping: {metric: acc}")
    assert only_issue(text) == (
        20,
        19,
        "hptuning.early_stopping must be a list of rules, got a mapping",
    )


def test_it_accepts_the_all_policy() -> None:
    text = early_stopping_file("    - {metric: acc, value: 1, optimization: maximize, policy: all}")
    assert parse(text).early_stopping == (EarlyStoppingRule("acc", 1.0, "maximize"),)


def test_it_reaches_early_stopping_rules_inclusively_and_never_for_nan() -> None:
    up = EarlyStoppingRule("accuracy", 0.9, "maximize")
    down = EarlyStoppingRule("loss", 0.05, "minimize")
    assert up.reached(0.9) and up.reached(0.95) and not up.reached(0.89)
    assert down.reached(0.05) and down.reached(0.01) and not down.reached(0.06)
    assert not up.reached(math.nan) and not down.reached(math.nan)


def test_it_compares_metric_values_in_the_metric_direction() -> None:
    loss, acc = Metric("loss", "minimize"), Metric("acc", "maximize")
    assert loss.better(0.1, 0.2) and not loss.better(0.2, 0.1) and not loss.better(0.1, 0.1)
    assert acc.better(0.9, 0.8) and not acc.better(0.8, 0.9)
    assert loss.better(0.5, math.nan) and not loss.better(math.nan, 0.5)
    assert loss.reached(0.05, 0.05) and not loss.reached(0.06, 0.05)
    assert acc.reached(0.9, 0.9) and not acc.reached(math.nan, 0.9)


# --- unknown keys and ignored sections ------------------------------------------------------


@pytest.mark.parametrize(
    ("replace", "expected"),
    [
        (
            {"l1": "verison: 1"},
            (1, 1, "unknown key 'verison' at the top level; did you mean 'version'?"),
        ),
        (
            {"l4": "  concurency: 5"},
            (4, 3, "unknown key 'concurency' in hptuning; did you mean 'concurrency'?"),
        ),
        (
            {"l7": "    etta: 3"},
            (7, 5, "unknown key 'etta' in hptuning.hyperband; did you mean 'eta'?"),
        ),
        (
            {"l10": "      typ: int"},
            (10, 7, "unknown key 'typ' in hptuning.hyperband.resource; did you mean 'type'?"),
        ),
        (
            {"l13": "      optimisation: minimize"},
            (
                13,
                7,
                "unknown key 'optimisation' in hptuning.hyperband.metric; "
                "did you mean 'optimization'?",
            ),
        ),
        ({"l14": "    zzz: 1"}, (14, 5, "unknown key 'zzz' in hptuning.hyperband")),
    ],
)
def test_it_rejects_unknown_keys_with_a_hint(
    replace: dict[str, str], expected: tuple[int, int, str]
) -> None:
    found = issues(with_lines(BASE, **replace))
    assert expected in found


def test_it_rejects_unknown_keys_in_run_and_algorithm_sections() -> None:
    text = with_lines(BASE, l21=BASE_LINES[20] + "\n  wokdir: /tmp")
    assert only_issue(text) == (22, 3, "unknown key 'wokdir' in run; did you mean 'workdir'?")
    text = algorithm_file("  random_search: {n_experiment: 3}\n")
    found = issues(text)
    assert (
        4,
        19,
        "unknown key 'n_experiment' in hptuning.random_search; did you mean 'n_experiments'?",
    ) in found
    assert (4, 3, "hptuning.random_search is missing 'n_experiments'") in found


def test_it_rejects_unknown_keys_in_early_stopping_items() -> None:
    text = early_stopping_file("    - {metric: acc, value: 1, optimization: maximize, vaule: 2}")
    assert only_issue(text) == (
        21,
        55,
        "unknown key 'vaule' in hptuning.early_stopping[0]; did you mean 'value'?",
    )


def test_it_points_an_old_top_level_matrix_to_hptuning() -> None:
    found = issues(BASE + "matrix: {}\n")
    assert found == [
        (22, 1, "unknown key 'matrix' at the top level; did you mean 'hptuning.matrix'?")
    ]


@pytest.mark.parametrize(
    "section",
    ["build", "environment", "framework", "logging", "description", "settings", "backend"],
)
def test_it_warns_for_each_ignored_polyaxon_section(section: str) -> None:
    spec = parse(BASE + f"{section}: {{}}\n")
    (warning,) = spec.warnings
    assert (warning.line, warning.column) == (22, 1)
    assert warning.message.startswith(f"section '{section}' is ignored")


def test_it_keeps_warnings_sorted_and_in_to_dict() -> None:
    spec = parse("description: a\n" + BASE + "build: {image: python:3}\n")
    assert [w.line for w in spec.warnings] == [1, 23]
    assert [w["line"] for w in spec.to_dict()["warnings"]] == [1, 23]


def test_it_keeps_polyaxon_tags_without_a_warning() -> None:
    spec = parse("tags: [vision, ' baseline ', Vision]\n" + BASE)
    assert spec.tags == ("vision", "baseline")
    assert spec.warnings == ()
    assert spec.to_dict()["tags"] == ["vision", "baseline"]


def test_it_reads_a_single_tag_string_and_no_tags_as_empty() -> None:
    assert parse("tags: nightly\n" + BASE).tags == ("nightly",)
    assert parse(BASE).tags == ()


def test_it_reports_a_bad_tag_at_its_line_and_column() -> None:
    found = issues("tags:\n  - ok\n  - [nested]\n  - 'a,b'\n" + BASE)
    assert [(line, col) for line, col, _ in found] == [(3, 5), (4, 5)]
    assert "must be a string" in found[0][2] and "comma" in found[1][2]


def test_it_refuses_more_tags_than_a_sweep_holds() -> None:
    many = ", ".join(f"t{i}" for i in range(21))
    ((line, col, message),) = issues(f"tags: [{many}]\n" + BASE)
    assert (line, col) == (1, 7) and "at most 20 tags" in message


# --- run and templates ----------------------------------------------------------------------


def test_it_reports_unknown_template_variables_at_the_command() -> None:
    text = with_lines(BASE, l21="  cmd: python t.py {{ learnin_rate }} {{ num_steps }}")
    assert only_issue(text) == (
        21,
        8,
        "run.cmd uses unknown template variable(s) 'learnin_rate'; did you mean 'learning_rate'?",
    )


def test_it_names_every_unknown_template_variable() -> None:
    text = with_lines(BASE, l21="  cmd: python t.py {{ a }} {{b}} {{ num_steps }}")
    assert only_issue(text) == (21, 8, "run.cmd uses unknown template variable(s) 'a', 'b'")


def test_it_rejects_non_identifier_templates() -> None:
    text = with_lines(BASE, l21="  cmd: python t.py {{ lr.x }} {{ num_steps }}")
    assert only_issue(text) == (
        21,
        8,
        "unsupported template '{{ lr.x }}': only {{ name }} is allowed",
    )


def test_it_joins_a_list_command_with_and_and_checks_each_item() -> None:
    text = with_lines(BASE, l21="  cmd:\n    - cd src\n    - python t.py {{ num_steps }}")
    assert parse(text).run.cmd == "cd src && python t.py {{ num_steps }}"
    bad = with_lines(BASE, l21="  cmd:\n    - cd {{ where }}\n    - 3")
    assert issues(bad) == [
        (22, 7, "run.cmd uses unknown template variable(s) 'where'"),
        (23, 7, "run.cmd[1] must be a non-empty string, got 3"),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("  cmd: ''", (21, 8, "run.cmd must be a command string or a list of them, got ''")),
        ("  cmd: []", (21, 8, "run.cmd must be a command string or a list of them, got a list")),
        ("  cmd:", (21, 7, "run.cmd must be a command string or a list of them, got null")),
        ("  command: x", (21, 3, "unknown key 'command' in run; did you mean 'cmd'?")),
        ("  command: x", (20, 1, "run is missing 'cmd'")),
    ],
)
def test_it_requires_a_command(line: str, expected: tuple[int, int, str]) -> None:
    assert expected in issues(with_lines(BASE, l21=line))


def test_it_reads_the_run_options() -> None:
    text = with_lines(
        BASE, l21=BASE_LINES[20] + "\n  workdir: src\n  timeout: 90\n  max_retries: 2"
    )
    assert parse(text).run == Run(BASE_LINES[20][7:], "src", 90.0, 2)


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("timeout: 0", "run.timeout must be a number > 0, got 0"),
        ("timeout: -5", "run.timeout must be a number > 0, got -5"),
        ("timeout: 1:00", "run.timeout must be a number > 0, got '1:00'"),
        ("max_retries: -1", "run.max_retries must be an integer from 0 to 100, got -1"),
        ("max_retries: true", "run.max_retries must be an integer from 0 to 100, got true"),
        ("workdir: ''", "run.workdir must be a non-empty string, got ''"),
    ],
)
def test_it_rejects_bad_run_options(option: str, expected: str) -> None:
    line, column, message = only_issue(with_lines(BASE, l21=BASE_LINES[20] + "\n  " + option))
    assert (line, column, message) == (22, option.index(":") + 5, expected)


def test_it_fills_templates_from_declarations_inputs_and_params() -> None:
    text = BASE.replace(
        "--steps={{ num_steps }}",
        "--steps={{ num_steps }} --bs={{ batch_size }} --data={{ data_dir }} --opt={{ opt }}",
    ) + (
        "declarations: {batch_size: 128}\n"
        "inputs:\n"
        "  - {name: data_dir, type: str, default: /tmp/data, is_optional: true}\n"
        "  - {name: opt, type: str, default: sgd, is_optional: true}\n"
        "params: {opt: adam}\n"
    )
    spec = parse(text)
    assert dict(spec.params) == {"batch_size": 128, "data_dir": "/tmp/data", "opt": "adam"}
    with pytest.raises(TypeError):
        spec.params["opt"] = "x"  # type: ignore[index]


def test_it_reads_an_input_value_before_its_default() -> None:
    spec = parse(BASE + "inputs: [{name: k, type: int, value: 3, default: 1}]\n")
    assert dict(spec.params) == {"k": 3}


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        (
            "inputs: [{name: k, type: int, default: x}]\n",
            (22, 40, "input 'k' is of type int, got 'x'"),
        ),
        (
            "inputs: [{name: k, type: int}]\n",
            (22, 17, "input 'k' has no value: give a default or params"),
        ),
        ("inputs: [{nam: k}]\n", (22, 10, "inputs[0] is missing 'name'")),
        ("inputs: {k: 1}\n", (22, 9, "inputs must be a list, got a mapping")),
        (
            "inputs: [{name: k, default: 1, is_optional: true}]\nparams: {nope: 1}\n",
            (23, 10, "params sets 'nope', which is not an input"),
        ),
        (
            "declarations: {a: [1]}\n",
            (22, 19, "declarations.a must be a string, number or boolean, got a list"),
        ),
        (
            "declarations: {a-b: 1}\n",
            (22, 16, "declarations names must be identifiers (letters, digits, _), got 'a-b'"),
        ),
        (
            "declarations: {k: 1}\ninputs: [{name: k, default: 2, is_optional: true}]\n",
            (23, 17, "input 'k' is defined twice (declarations or inputs)"),
        ),
    ],
)
def test_it_rejects_bad_template_values(tail: str, expected: tuple[int, int, str]) -> None:
    assert expected in issues(BASE + tail)


def test_it_rejects_a_command_using_an_optional_input_without_a_value() -> None:
    text = with_lines(BASE, l21="  cmd: x {{ num_steps }} {{ extra }}") + (
        "inputs: [{name: extra, is_optional: true}]\n"
    )
    assert only_issue(text) == (
        21,
        8,
        "run.cmd uses input 'extra', which has no value: give it a default",
    )


def test_it_checks_a_pathological_command() -> None:
    text = with_lines(BASE, l21="  cmd: x {{ num_steps }} " + "{{" * 200_000)
    assert parse(text).run.cmd.endswith("{{{{")


def test_it_finds_template_names() -> None:
    assert template_names("a {{x}} {{  y_1 }} {{ x }} {{ a.b }} { z }") == {"x", "y_1"}


# --- top level ------------------------------------------------------------------------------


WANT = ": expected version, kind, hptuning and run"
NOT_SECTIONS = ", not a mapping of sections" + WANT


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty" + WANT),
        ("# only a comment\n", "the file is empty" + WANT),
        ("hello\n", "the file is 'hello'" + NOT_SECTIONS),
        ("- a\n- b\n", "the file is a list" + NOT_SECTIONS),
        ("42\n", "the file is 42" + NOT_SECTIONS),
    ],
)
def test_it_rejects_a_file_that_is_not_a_mapping_at_1_1(text: str, message: str) -> None:
    assert issues(text) == [(1, 1, message)]


def test_it_reports_missing_top_level_sections_at_1_1() -> None:
    assert issues("name: x\n") == [
        (1, 1, "the file is missing 'hptuning'"),
        (1, 1, "the file is missing 'kind'"),
        (1, 1, "the file is missing 'run'"),
        (1, 1, "the file is missing 'version'"),
    ]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ({"l1": "version: 2"}, (1, 10, "version must be 1 (Polyaxon v0 polyaxonfile), got 2")),
        ({"l1": "version: '1'"}, (1, 10, "version must be 1 (Polyaxon v0 polyaxonfile), got '1'")),
        (
            {"l1": "version: true"},
            (1, 10, "version must be 1 (Polyaxon v0 polyaxonfile), got true"),
        ),
        (
            {"l2": "kind: experiment"},
            (2, 7, "kind must be 'group' (an hptuning sweep), got 'experiment'"),
        ),
    ],
)
def test_it_rejects_a_bad_version_or_kind(
    line: dict[str, str], expected: tuple[int, int, str]
) -> None:
    assert only_issue(with_lines(BASE, **line)) == expected


def test_it_reads_the_optional_name() -> None:
    assert parse("name: mnist-sweep\n" + BASE).name == "mnist-sweep"
    assert only_issue("name: " + "x" * 201 + "\n" + BASE)[:2] == (1, 7)


def test_it_reports_several_errors_at_once_sorted_by_position() -> None:
    text = with_lines(
        BASE,
        l2="kind: job",
        l4="  concurrency: 0",
        l7="    eta: 1",
        l19="      values: []",
        l21="  cmd: python {{ nope }} {{ num_steps }}",
    )
    assert [(line, col) for line, col, _ in issues(text)] == [
        (2, 7),
        (4, 16),
        (7, 10),
        (19, 7),
        (21, 8),
    ]


def test_it_turns_yaml_syntax_errors_into_positioned_spec_errors() -> None:
    line, column, message = only_issue(BASE.replace("    eta: 3", "\teta: 3"))
    assert (line, column) == (7, 1)
    assert message.startswith("YAML syntax error")


def test_it_reports_duplicate_keys_at_the_second_one() -> None:
    assert only_issue(with_lines(BASE, l7="    eta: 3\n    eta: 4")) == (
        8,
        5,
        "duplicate key 'eta' (first defined at line 7)",
    )


def test_it_rejects_ten_megabytes() -> None:
    text = BASE + "# " + "x" * (10 * 1024 * 1024) + "\n"
    assert issues(text) == [(1, 1, "the file is larger than 1048576 bytes")]


def test_it_rejects_a_billion_laughs() -> None:
    bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        bomb.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    text = BASE + "declarations:\n" + "".join(f"  {line}\n" for line in bomb)
    (found,) = issues(text)
    assert "aliases expand to more than" in found[2]


# --- the result -----------------------------------------------------------------------------


def test_it_returns_a_frozen_spec() -> None:
    spec = parse(BASE)
    assert isinstance(spec, SweepSpec)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.concurrency = 3  # type: ignore[misc]


def test_it_summarizes_the_spec_as_strict_json() -> None:
    spec = parse(reference(early_stopping=True))
    data = json.loads(json.dumps(spec.to_dict(), allow_nan=False))
    assert data["algorithm"] == "hyperband"
    assert data["hyperband"]["resource"] == {"name": "num_steps", "type": "int"}
    assert data["matrix"] == {
        "learning_rate": "uniform(0, 0.9)",
        "dropout": "values(0.25, 0.3)",
        "activation": "pvalues(relu: 0.2, sigmoid: 0.8)",
    }
    assert data["matrix_kinds"] == {
        "learning_rate": "uniform",
        "dropout": "values",
        "activation": "pvalues",
    }
    assert data["early_stopping"][0] == {
        "metric": "accuracy",
        "value": 0.9,
        "optimization": "maximize",
        "rule": "accuracy >= 0.9",
    }
    assert data["run"]["cmd"] == spec.run.cmd


def test_it_formats_issues_as_file_line_column() -> None:
    assert Issue(3, 7, "bad").format("sweep.yaml") == "sweep.yaml:3:7: bad"
    with pytest.raises(SpecError) as info:
        parse(with_lines(BASE, l7="    eta: 1"))
    assert str(info.value) == "7:10: hptuning.hyperband.eta must be an integer >= 2, got 1"


# --- robustness -----------------------------------------------------------------------------

VOCABULARY = [
    "version", "kind", "group", "hptuning", "hyperband", "random_search", "grid_search",
    "matrix", "max_iter", "eta", "resource", "metric", "name", "type", "optimization",
    "resume", "sizing", "run", "cmd", "early_stopping", "value", "values", "uniform",
    "pvalues", "range", "concurrency", "seed", "n_experiments", "declarations", "inputs",
    "params", "default", "build", "{{ lr }}", "lr", "int", "float", "maximize",
]  # fmt: skip

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 100),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(VOCABULARY),
    st.text(max_size=8),
)
trees = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(VOCABULARY), children, max_size=5),
    ),
    max_leaves=25,
)


def never_crashes(text: str) -> None:
    try:
        parse(text)
    except SpecError as exc:
        assert exc.issues
        assert all(i.line >= 1 and i.column >= 1 for i in exc.issues)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_it_never_raises_anything_but_spec_error_on_arbitrary_text(text: str) -> None:
    never_crashes(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(VOCABULARY), trees, max_size=6))
def test_it_never_raises_anything_but_spec_error_on_random_structures(
    tree: dict[str, object],
) -> None:
    never_crashes(yaml.safe_dump(tree))


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_it_never_raises_anything_but_spec_error_on_mutated_files(data: st.DataObject) -> None:
    text = reference(early_stopping=True)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 6))
        insert = data.draw(
            st.sampled_from(["", " ", "\n", ":", "-", "[", "{", "0", "x", "\t", "'"])
        )
        text = text[:at] + insert + text[at + cut :]
    never_crashes(text)


def test_it_reads_an_optional_metric_for_random_and_grid_search() -> None:
    text = (
        HEADER
        + "hptuning:\n  random_search:\n    n_experiments: 3\n"
        + "    metric: {name: acc, optimization: maximize}\n"
        + "  matrix: {x: {uniform: [0, 1]}}\nrun:\n  cmd: echo {{ x }}\n"
    )
    spec = parse(text)
    assert spec.metric is not None
    assert (spec.metric.name, spec.metric.optimization) == ("acc", "maximize")
    without = text.replace("    metric: {name: acc, optimization: maximize}\n", "")
    assert parse(without).metric is None
