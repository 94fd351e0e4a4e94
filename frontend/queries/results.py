"""The results download: every trial of a sweep as CSV, streamed in chunks."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from scheduler.models import Sweep

from .common import param_names

COLUMNS = (
    "trial", "config", "bracket", "rung", "resource", "status", "attempt", "promoted",
    "metric", "started_at", "finished_at", "duration_s", "exit_code", "error",
)  # fmt: skip


def csv_lines(sweep: Sweep, chunk: int = 2000) -> Iterator[str]:
    """Yield the CSV text: a header, then one line per trial with its params."""
    params = param_names(sweep)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([*COLUMNS, *params, "last_metrics"])
    rows = (
        sweep.trials.order_by("id")
        .values_list(
            "id", "config_id", "bracket", "rung", "resource", "status", "attempt", "promoted",
            "metric_value", "started_at", "finished_at", "exit_code", "error",
            "config__params", "last_metrics",
        )
        .iterator(chunk_size=chunk)
    )  # fmt: skip
    for n, row in enumerate(rows, 1):
        *head, started, finished, code, error, config, last = row
        duration = (finished - started).total_seconds() if started and finished else None
        stamps = [started.isoformat() if started else "", finished.isoformat() if finished else ""]
        values = [config.get(p, "") for p in params]
        writer.writerow([*head, *stamps, duration, code, error, *values, json.dumps(last)])
        if n % 500 == 0:
            yield take(buffer)
    yield take(buffer)


def take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
