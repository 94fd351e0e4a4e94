"""Benchmarks reuse the test suite's fixtures (real worker, server, database)."""

from tests.conftest import *  # noqa: F403
