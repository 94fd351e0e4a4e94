"""A runner reads a trial's stdout: metric lines parsed as `json` reads them, and a backlog of
FLUSH_POINTS points wakes the thread that stores them."""

from __future__ import annotations

import json
import math
import os
import select
from types import SimpleNamespace

import pytest

from scheduler import metrics, runner
from tests.conftest import wait_for

LINES = [
    '{"hbsite.metrics": {"loss": 0.25}, "step": 3}',
    '{"hbsite.metrics": {"loss": NaN, "acc": Infinity}, "step": 1}',
    '{"hbsite.metrics": {"loss": -Infinity}}',
    '{"hbsite.metrics": {"loss": 1e400}}',
    '{"hbsite.metrics": {"loss": 1' + "0" * 400 + "}}",
    '{"hbsite.metrics": {"loss": 123456789012345678901234567890}, "step": -9223372036854775809}',
    '{"hbsite.metrics": {"\\ud800": 1}}',
    '{"hbsite.metrics": {"\\u0000": 1, "é 指標": -0.0}}\r\n',
    '{"hbsite.metrics": {"loss": 1}, "step": 2, "step": 5}',
    "[" * 100_000 + "]" * 100_000,
    '{"hbsite.metrics": {"loss": 1}',
    "",
]


def canonical(data):
    """The parsed data with floats and ints as comparable text (NaN equal to NaN, -0.0 kept)."""
    if isinstance(data, dict):
        return {key: canonical(value) for key, value in data.items()}
    if isinstance(data, list):
        return [canonical(value) for value in data]
    if isinstance(data, int) and not isinstance(data, bool) and abs(data) >= 2**63:
        try:  # an integer past 64 bits is only ever used as a float
            return repr(float(data))
        except OverflowError:
            return "too large for a float"
    return repr(data) if isinstance(data, float) else data


def parsed(read, line: str):
    try:
        return canonical(read(line))
    except RecursionError:
        return "RecursionError"
    except ValueError as exc:
        return type(exc).__name__


@pytest.mark.parametrize("line", LINES, ids=range(len(LINES)))
def test_a_metric_line_reads_as_json_reads_it(line):
    assert parsed(runner.read_json, line) == parsed(json.loads, line)


def test_nan_and_huge_numbers_still_read_as_json_reads_them():
    assert math.isnan(runner.read_json(LINES[1])["hbsite.metrics"]["loss"])
    assert runner.read_json(LINES[3])["hbsite.metrics"]["loss"] == math.inf
    assert runner.read_json(LINES[6])["hbsite.metrics"] == {"\ud800": 1}


def readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def test_a_backlog_of_flush_points_wakes_the_storing_thread_once():
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    tree = SimpleNamespace(stdout=open(out_r, encoding="utf-8"), stderr=open(err_r))  # noqa: SIM115
    output = runner.Output(tree, default_step=0)
    writer = open(out_w, "w", encoding="utf-8")  # noqa: SIM115
    lines = 0

    def write(count: int) -> None:
        nonlocal lines
        writer.writelines(
            f'{{"hbsite.metrics": {{"v": {i}}}, "step": {i}}}\n'
            for i in range(lines, lines + count)
        )
        writer.flush()
        lines += count
        wait_for(lambda: output.lines == lines, timeout=30, every=0.01)

    try:
        write(runner.FLUSH_POINTS - 1)
        assert output.backlog() == runner.FLUSH_POINTS - 1
        assert not readable(output.wake, 0)
        write(1)
        assert readable(output.wake, 10)
        os.read(output.wake, 512)
        write(10)  # already woken for this backlog: no second wake
        assert not readable(output.wake, 0)

        points, rejected = output.take()
        assert [p.step for p in points] == list(range(runner.FLUSH_POINTS + 10))
        assert (rejected, output.backlog()) == ([], 0)
        write(runner.FLUSH_POINTS)
        assert readable(output.wake, 10)
    finally:
        writer.close()
        os.close(err_w)
        output.join(10)
        output.close()
    assert output.stdout.text().endswith(f'"step": {lines - 1}}}\n')


def test_a_huge_name_is_refused_before_the_name_cache():
    cached = metrics.unstorable_name.cache_info().currsize
    with pytest.raises(metrics.MetricError, match="at most 100 chars"):
        metrics.make_point("x" * 1_000_000, 1, 1.0)
    with pytest.raises(metrics.MetricError, match="lone surrogate"):
        metrics.make_point("bad\ud800", 1, 1.0)
    assert metrics.unstorable_name.cache_info().currsize <= cached + 1
    assert metrics.make_point("loss", 2, 0.5) == metrics.Point("loss", 2.0, 0.5)
