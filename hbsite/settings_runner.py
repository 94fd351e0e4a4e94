"""Settings of a runner on another machine (`hbsite runner --url URL --token hbr_...`).

The normal settings without a database: any ORM query raises ImproperlyConfigured, so the
runner reports everything through the REST API (scheduler.runner_rest). It needs the
broker (CELERY_BROKER_URL or REDIS_URL, and the server's HBSITE_REDIS_PREFIX), the
server's URL (HBSITE_RUNNER_URL) and a runner token (HBSITE_RUNNER_TOKEN).
"""

from .settings import *  # noqa: F403

DATABASES: dict = {}
