"""Hostile polyaxonfiles for the fuzz tests and the fuzz benchmark (hypothesis strategies).

A case starts from a valid sweep (one of the kinds below), then replaces a few values at
random paths with hostile ones: numbers at and past a float's range, tiny and negative
numbers, text a database cannot store (NUL, lone surrogates), long lists, deep nesting, wrong
types. Some cases are then cut or spliced as raw text, so the YAML itself may be broken.
`check_outcome` is what every outcome of the parser must satisfy.
"""

from __future__ import annotations

import copy
import json
import math
from typing import Any

import yaml
from hypothesis import strategies as st

from scheduler import planning
from scheduler import spec as specs
from scheduler.yamlsource import unstorable

BASE: dict[str, Any] = {
    "version": 1,
    "kind": "group",
    "name": "fuzz",
    "declarations": {"steps": 4},
    "hptuning": {
        "concurrency": 2,
        "seed": 3,
        "hyperband": {
            "max_iter": 27,
            "eta": 3,
            "resource": {"name": "num_steps", "type": "int"},
            "metric": {"name": "loss", "optimization": "minimize"},
        },
        "matrix": {
            "lr": {"loguniform": [-5, 0]},
            "q": {"quniform": [0, 10, 1]},
            "n": {"normal": [0, 1]},
            "ls": {"logspace": [0, 3, 4]},
            "r": {"range": [0, 10, 2]},
            "act": {"values": ["relu", "tanh"]},
        },
        "early_stopping": [{"metric": "loss", "value": 0.01, "optimization": "minimize"}],
    },
    "run": {"cmd": "echo {{ lr }} {{ num_steps }} {{ steps }}"},
}

HOSTILE_SCALARS = st.one_of(
    st.sampled_from(
        [
            0,
            -1,
            1,
            2,
            10**6,
            10**7,
            2**63,
            -(2**63),
            10**400,
            1e308,
            -1e308,
            1e-300,
            5e-324,
            1e-320,
            0.0,
            -0.0,
            400,
            709.5,
            1e16,
            True,
            None,
            "",
            " ",
            "a\x00b",
            "a\ud800",
            "\udfff",
            "x" * 300,
            "{{ nope }}",
            "{{",
            "1e400",
            "0x1F",
            "NaN",
            ".inf",
        ]
    ),  # fmt: skip
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)


def hostile_values() -> st.SearchStrategy[Any]:
    """Scalars, and lists and mappings of them, some long or deeply nested."""
    return st.recursive(
        HOSTILE_SCALARS,
        lambda inner: st.one_of(
            st.lists(inner, max_size=5),
            st.dictionaries(st.text(max_size=8), inner, max_size=4),
        ),
        max_leaves=12,
    ) | st.builds(lambda n: [0] * n, st.sampled_from([10_001, 1_001, 101]))


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += _paths(child, (*prefix, index))
    return found


def _put(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    parent[path[-1]] = value
    return doc


@st.composite
def hostile_docs(draw: st.DrawFn) -> str:
    """A polyaxonfile as text: the base sweep with a few values replaced, maybe cut or spliced."""
    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(0, 3))):
        paths = [path for path in _paths(doc) if len(path) >= 2] or [()]
        path = draw(st.sampled_from(paths))
        doc = _put(doc, path, draw(hostile_values()))
    if draw(st.booleans()) and isinstance(doc, dict) and isinstance(doc.get("hptuning"), dict):
        many = draw(st.sampled_from([5, 101, 1001]))
        doc["hptuning"]["matrix"] = {f"p{i}": {"uniform": [0, 1]} for i in range(many)}
    text = yaml.safe_dump(doc, allow_unicode=False, sort_keys=False, width=10**6)
    edit = draw(st.sampled_from(["none"] * 6 + ["cut", "splice"]))
    if edit == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif edit == "splice":
        at = draw(st.integers(0, len(text)))
        junk = draw(st.sampled_from(["[" * 100, ": :", "\t", "&a *a", "!!python/object ", '"\\']))
        text = text[:at] + junk + text[at:]
    return text


def check_outcome(text: str) -> specs.SweepSpec | None:
    """Parse text; a rejection must carry positions, an accepted spec must plan and sample.

    Returns the spec when accepted, None when rejected; raises AssertionError otherwise.
    """
    from scheduler.scheduling import sample_configs  # needs Django: callers set it up

    try:
        spec = specs.parse(text)
    except specs.SpecError as exc:
        assert exc.issues, "a SpecError lists its issues"
        assert all(i.line >= 1 and i.column >= 1 and i.message for i in exc.issues)
        return None
    plan = planning.build_plan(spec)
    assert plan.total_trials <= 100_000
    for bracket in plan.brackets:
        configs = sample_configs(spec, 1, bracket.s, min(bracket.rungs[0].configs, 20))
        json.dumps(configs, allow_nan=False)  # the database stores configs as JSON
        for config in configs:
            for value in config.values():
                assert not isinstance(value, float) or math.isfinite(value)
                assert not isinstance(value, str) or unstorable(value) is None
    return spec
