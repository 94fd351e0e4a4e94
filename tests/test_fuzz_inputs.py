"""Fuzzing hostile polyaxonfiles through the parser and the API: never a 500, always JSON."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from tests.hostile import check_outcome, hostile_docs
from tests.test_api_sweeps import client_for

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(text=hostile_docs())
def test_the_parser_rejects_with_positions_or_accepts_what_can_run(text: str) -> None:
    check_outcome(text)


@pytest.mark.django_db
@settings(FUZZ, max_examples=100)  # two requests and maybe a stored sweep per example
@given(text=hostile_docs())
def test_the_api_answers_hostile_yaml_with_json_never_500(text: str, cast) -> None:
    client = client_for(cast.admin)
    accepted = check_outcome(text) is not None
    for url in ("/api/plan/", "/api/sweeps/"):
        response = client.post(url, {"yaml": text, "team": cast.team.pk}, format="json")

        assert response.status_code in (200, 201, 400, 413), response.content[:300]
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert (response.status_code < 300) == accepted, body
        if response.status_code == 400 and text.strip():
            assert body["error"] == "invalid sweep"
            assert all(e["line"] >= 1 and e["column"] >= 1 for e in body["errors"])
        elif response.status_code == 400:  # blank text is refused as a missing field
            assert body["error"].startswith("invalid request: yaml")
