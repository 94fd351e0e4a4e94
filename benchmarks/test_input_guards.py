"""Benchmark: how fast hostile or huge input is turned away (a clear error, never a hang).

Run with `make benchmark`; prints each case's time. The tests assert the errors themselves.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import pytest

from hbsite import examples
from scheduler import space, spec

REFERENCE = examples.read("reference.yml")


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        prev, name = chr(96 + i), chr(97 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    return REFERENCE + "declarations:\n" + "".join(f"  {line}\n" for line in lines)


def rejected(text: str) -> Callable[[], object]:
    def run() -> object:
        with pytest.raises(spec.SpecError) as caught:
            spec.parse(text)
        return caught.value.issues[0].message

    return run


def huge_discrete_sample() -> object:
    matrix = space.parse_matrix({f"p{i}": {"range": [0, 1000, 1]} for i in range(4)})
    return len(matrix.sample(random.Random(0), 5000))


CASES = {
    "10 MB of YAML": rejected(REFERENCE + "# " + "x" * (10 * 1024 * 1024) + "\n"),
    "billion laughs": rejected(billion_laughs()),
    "100,000 nested brackets": rejected("[" * 100_000 + "]" * 100_000),
    "200,000 '{{' in run.cmd": lambda: spec.parse(
        REFERENCE.replace("--epochs={{ num_steps }}", "--epochs={{ num_steps }} " + "{{" * 200_000)
    ).run.cmd[-4:],
    "5,000 distinct configs of a 10^12 grid": huge_discrete_sample,
}


@pytest.mark.parametrize("label", CASES)
def test_input_guard_speed(label: str) -> None:
    started = time.perf_counter()
    outcome = CASES[label]()
    elapsed = time.perf_counter() - started
    assert outcome
    print(f"\n{label}: {elapsed * 1000:.0f} ms ({str(outcome)[:60]})")
