"""The Celery app: scheduler decisions on the `scheduler` queue, trial processes on `trials`.

A worker that consumes `trials` (a runner) also consumes its own queue, `trials@<its
HBSITE_RUNNER_NAME>`, where promoted trials wait for the runner that holds their checkpoint
(scheduler.placement). This follows Celery's pattern for per-worker queues:
https://docs.celeryq.dev/en/stable/userguide/signals.html#celeryd-after-setup
"""

import os

from celery import Celery
from celery.signals import celeryd_after_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hbsite.settings")

app = Celery("hbsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@celeryd_after_setup.connect
def consume_runner_queue(sender, instance, **kwargs) -> None:
    """Add the runner's own queue to a worker that consumes `trials`."""
    from django.conf import settings

    from scheduler import queueing

    queues = instance.app.amqp.queues
    if queueing.TRIALS in queues.consume_from:
        name = queueing.runner_queue(settings.HBSITE_RUNNER_NAME)
        # As Celery declares a queue a task is sent to by name: its own exchange and key.
        queues.select_add(name, exchange=name, routing_key=name)
