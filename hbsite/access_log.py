"""The web server's access log leaves out the metric points trials post and get stored.

A sweep's trials post metrics many times a second each (thousands of posts a second in all),
and one access-log line per stored post was most of the log and about a tenth of the web
process's CPU for those posts. They are counted instead: Prometheus'
`hbsite_fast_metric_posts_total` (scheduler.api.metrics_fastpath) and the points themselves in
the database. A post that is refused (any status but 201) is still logged.
"""

from __future__ import annotations

import logging
import re

# The arguments of uvicorn's access-log record: client, method, path, HTTP version, status.
METRICS_PATH = re.compile(r"/api/trials/[0-9]+/metrics/")


class SkipStoredMetricPosts(logging.Filter):
    """Drop uvicorn's access-log line of a metrics POST answered 201."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) != 5:
            return True
        _, method, path, _, status = args
        stored = method == "POST" and status == 201 and isinstance(path, str)
        return not (stored and METRICS_PATH.fullmatch(path) is not None)
