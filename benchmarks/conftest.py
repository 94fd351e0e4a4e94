"""Benchmarks reuse the test suite's fixtures (real worker, server, database)."""

from tests.conftest import *  # noqa: F403


def pytest_collect_file(file_path, parent):
    """Collect `bench_*.py` too: benchmark modules named so the test suite never runs them."""
    import pytest

    # A file named on the command line is collected by pytest itself.
    named = parent.session.isinitpath(file_path)
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not named:
        return pytest.Module.from_parent(parent, path=file_path)
    return None
