"""hbsite's own Prometheus metrics, computed when /metrics is scraped.

django-prometheus exports the request, response and database metrics of the web process;
this collector adds what every process shares through PostgreSQL and Redis, so one scrape
of any web process tells the whole system's state:

- `hbsite_trials{status}` and `hbsite_sweeps{status}`: how many there are in each status;
- `hbsite_queue_depth{queue}`: task messages waiting in the broker (Redis LLEN of the queue's
  lists, with CELERY_BROKER_TRANSPORT_OPTIONS' `global_keyprefix`), for `scheduler`,
  `trials` and each runner queue `trials@<runner name>` that holds messages;
- `hbsite_scheduling_latency_seconds{quantile}`: time from a trial's `queued_at` to its
  `started_at` (a runner claimed it), over the trials started in the last
  HBSITE_LATENCY_WINDOW_SECONDS (300), with `hbsite_scheduling_latency_trials` counting them.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Iterator
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, F
from django.utils import timezone
from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from scheduler import broker
from scheduler.models import Sweep, SweepStatus, Trial, TrialStatus

logger = logging.getLogger(__name__)
QUEUES = ("scheduler", "trials")
QUANTILES = (0.5, 0.95, 0.99)
LATENCY_SAMPLE = 10_000  # the most recent trials the quantiles are computed from


def counts_by_status(model: type[Trial] | type[Sweep], statuses: list[str]) -> dict[str, int]:
    """Return {status: count} for every status, zeros included."""
    rows = model.objects.order_by().values_list("status").annotate(n=Count("id"))
    found = dict(rows)
    return {status: found.get(status, 0) for status in statuses}


def scheduling_latencies(window_seconds: float) -> list[float]:
    """Return the seconds from queued to started of the trials started in the window."""
    since = timezone.now() - timedelta(seconds=window_seconds)
    rows = (
        Trial.objects.filter(started_at__gte=since, queued_at__isnull=False)
        .annotate(latency=F("started_at") - F("queued_at"))
        .order_by("-started_at")
        .values_list("latency", flat=True)[:LATENCY_SAMPLE]
    )
    return [max(latency.total_seconds(), 0.0) for latency in rows]


def quantile(values: list[float], q: float) -> float:
    """Return the q-quantile of values (linear interpolation between the closest ranks,
    `statistics.quantiles(..., method="inclusive")`); q=1 is the maximum."""
    if len(values) == 1:
        return values[0]
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return cuts[round(q * 100) - 1] if q < 1 else max(values)


class HbsiteCollector(Collector):
    """Reads the gauges above from PostgreSQL and Redis at every scrape."""

    NAMES = ("hbsite_trials", "hbsite_sweeps", "hbsite_queue_depth",
             "hbsite_scheduling_latency_trials", "hbsite_scheduling_latency_seconds")  # fmt: skip

    def describe(self) -> Iterator[Metric]:
        """The names only: registering must not touch the database (it may not exist yet)."""
        for name in self.NAMES:
            yield GaugeMetricFamily(name, "")

    def collect(self) -> Iterator[Metric]:
        yield self.by_status("hbsite_trials", "Trials by status", Trial, TrialStatus.values)
        yield self.by_status("hbsite_sweeps", "Sweeps by status", Sweep, SweepStatus.values)
        yield from self.queue_depth()
        yield from self.latency()

    @staticmethod
    def by_status(name: str, doc: str, model, statuses: list[str]) -> GaugeMetricFamily:
        family = GaugeMetricFamily(name, doc, labels=["status"])
        for status, count in counts_by_status(model, statuses).items():
            family.add_metric([status], count)
        return family

    @staticmethod
    def queue_depth() -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "hbsite_queue_depth", "Task messages waiting in the broker", labels=["queue"]
        )
        try:
            for queue in (*QUEUES, *broker.runner_queues()):
                depth = broker.depth(queue)
                if depth is not None:
                    family.add_metric([queue], depth)
        except redis.RedisError as exc:
            logger.warning("queue depth unavailable: %s", exc)
            return
        yield family

    @staticmethod
    def latency() -> Iterator[Metric]:
        window = settings.HBSITE_LATENCY_WINDOW_SECONDS
        values = scheduling_latencies(window)
        yield GaugeMetricFamily(
            "hbsite_scheduling_latency_trials",
            f"Trials started in the last {window:g} s (the latency quantiles' sample)",
            value=len(values),
        )
        family = GaugeMetricFamily(
            "hbsite_scheduling_latency_seconds",
            f"Seconds from queued to started, trials started in the last {window:g} s",
            labels=["quantile"],
        )
        for q in QUANTILES if values else ():
            family.add_metric([str(q)], quantile(values, q))
        yield family


COLLECTOR = HbsiteCollector()


def register() -> None:
    """Add the collector to prometheus_client's default registry, once per process."""
    if COLLECTOR not in REGISTRY._collector_to_names:
        REGISTRY.register(COLLECTOR)
