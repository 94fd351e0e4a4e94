"""Benchmark: a longer fuzzing run of hostile polyaxonfiles through the parser and the API.

Run with `make benchmark`; prints how many cases were tried, rejected, accepted and crashed
(a crash is anything but a positioned rejection or a spec that plans and samples), and the
slowest parse. Asserts no crash.
"""

from __future__ import annotations

import time
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings

from tests.hostile import check_outcome, hostile_docs
from tests.test_api_sweeps import client_for

CASES = 2000
API_CASES = 300


def test_fuzz_the_parser() -> None:
    tally: Counter[str] = Counter()
    slowest = [0.0]

    @settings(max_examples=CASES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(text=hostile_docs())
    def run(text: str) -> None:
        started = time.perf_counter()
        try:
            tally["accepted" if check_outcome(text) else "rejected"] += 1
        except Exception as exc:  # counted, then reported by the assert below
            tally["crashed"] += 1
            tally[f"crash: {type(exc).__name__}: {str(exc)[:80]}"] += 1
        slowest[0] = max(slowest[0], time.perf_counter() - started)

    run()
    tried = tally["accepted"] + tally["rejected"] + tally["crashed"]
    print(f"\nparser fuzz: {tried} tried, {tally['rejected']} rejected, "
          f"{tally['accepted']} accepted, {tally['crashed']} crashed; "
          f"slowest {slowest[0] * 1000:.0f} ms")  # fmt: skip
    assert tally["crashed"] == 0, tally


@pytest.mark.django_db
def test_fuzz_the_api(cast, no_celery) -> None:
    tally: Counter[str] = Counter()
    client = client_for(cast.admin)

    @settings(max_examples=API_CASES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    @given(text=hostile_docs())
    def run(text: str) -> None:
        for url in ("/api/plan/", "/api/sweeps/"):
            response = client.post(url, {"yaml": text, "team": cast.team.pk}, format="json")
            json_body = response["Content-Type"].startswith("application/json")
            if response.status_code >= 500 or not json_body:
                tally["crashed"] += 1
            else:
                tally["accepted" if response.status_code < 300 else "rejected"] += 1

    run()
    tried = sum(tally.values())
    print(f"\nAPI fuzz: {tried} requests, {tally['rejected']} rejected, "
          f"{tally['accepted']} accepted, {tally['crashed']} crashed")  # fmt: skip
    assert tally["crashed"] == 0
