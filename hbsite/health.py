"""Liveness and readiness for load balancers and orchestrators.

- `/healthz`: the web process answers (200 as long as it runs; it touches nothing else).
- `/readyz`: django-health-check's view over PostgreSQL, Redis and the workers: at least one
  scheduler (a Celery worker consuming `scheduler`) and one runner (consuming `trials`) must
  answer a broadcast within HBSITE_READY_TIMEOUT_SECONDS (1). 200 when all pass, else 500;
  `?format=json` or `Accept: application/json` gives {check: "OK" | reason}.
"""

from __future__ import annotations

import dataclasses
import datetime

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from health_check.base import HealthCheck
from health_check.checks import Database
from health_check.contrib.redis import Redis
from health_check.exceptions import ServiceUnavailable
from health_check.views import HealthCheckView
from redis.asyncio import Redis as RedisClient


@dataclasses.dataclass
class Workers(HealthCheck):
    """At least one Celery worker consumes `queue` and answers within the timeout."""

    queue: str = "trials"
    timeout: datetime.timedelta = dataclasses.field(
        default_factory=lambda: datetime.timedelta(seconds=settings.HBSITE_READY_TIMEOUT_SECONDS),
        repr=False,
    )

    def run(self) -> None:
        from hbsite.celery import app

        try:
            inspect = app.control.inspect(timeout=self.timeout.total_seconds())
            replies = inspect.active_queues() or {}
        except OSError as exc:
            raise ServiceUnavailable("the broker cannot be reached") from exc
        consumers = [
            worker
            for worker, queues in replies.items()
            if any(q.get("name") == self.queue for q in queues or ())
        ]
        if not consumers:
            raise ServiceUnavailable(f"no worker on queue {self.queue} answered")


def redis_client() -> RedisClient:
    return RedisClient.from_url(settings.REDIS_URL)


READINESS_CHECKS = (
    Database,
    (Redis, {"client_factory": redis_client}),
    (Workers, {"queue": "scheduler"}),
    (Workers, {"queue": "trials"}),
)

readyz = HealthCheckView.as_view(checks=READINESS_CHECKS)


@never_cache
def healthz(request: HttpRequest) -> HttpResponse:
    """200 while the process can answer."""
    return JsonResponse({"status": "ok"})
