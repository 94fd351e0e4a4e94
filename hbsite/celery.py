"""The Celery app: scheduler decisions on the `scheduler` queue, trial processes on `trials`.

A worker that consumes `trials` (a runner) also consumes its own queue, `trials@<its
HBSITE_RUNNER_NAME>`, where promoted trials wait for the runner that holds their checkpoint
(scheduler.placement). This follows Celery's pattern for per-worker queues:
https://docs.celeryq.dev/en/stable/userguide/signals.html#celeryd-after-setup
"""

import os
import sys

from celery import Celery
from celery.signals import celeryd_after_setup

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hbsite.settings")

app = Celery("hbsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A worker thread that holds a sweep's row lock spends its time in short database round
# trips; each time it comes back for the GIL while another thread computes, it waits up to
# the switch interval (5 ms by default) for it. A shorter interval keeps lock sections short.
SWITCH_INTERVAL_SECONDS = 0.0005


@celeryd_after_setup.connect
def consume_runner_queue(sender, instance, **kwargs) -> None:
    """Add the runner's own queue to a worker that consumes `trials`; shorten the GIL's
    switch interval (see SWITCH_INTERVAL_SECONDS)."""
    from django.conf import settings

    sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)

    from scheduler import queueing

    queues = instance.app.amqp.queues
    if queueing.TRIALS in queues.consume_from:
        name = queueing.runner_queue(settings.HBSITE_RUNNER_NAME)
        # As Celery declares a queue a task is sent to by name: its own exchange and key.
        queues.select_add(name, exchange=name, routing_key=name)
