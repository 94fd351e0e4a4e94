"""The Celery app: scheduler decisions on the `scheduler` queue, trial processes on `trials`."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hbsite.settings")

app = Celery("hbsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
