"""Test settings: the normal settings with a Redis key prefix and a data dir of their own."""

import os
import tempfile
import uuid

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
# A Redis key prefix per test session, inherited by the session's worker and server processes:
# sessions sharing a Redis database never consume each other's tasks, and each deletes only
# its own keys when it ends. A prefix exported for other use is never taken (nor deleted).
os.environ["HBSITE_REDIS_PREFIX"] = os.environ.setdefault(
    "HBSITE_TEST_REDIS_PREFIX", f"hbsite-test-{uuid.uuid4().hex[:12]}:"
)
# A data dir per test session, so that concurrent sessions never share checkpoints.
if "HBSITE_DATA_DIR" not in os.environ:
    os.environ["HBSITE_DATA_DIR"] = tempfile.mkdtemp(prefix="hbsite-test-data-")
os.environ.setdefault("HBSITE_HEARTBEAT_SECONDS", "0.5")
os.environ.setdefault("HBSITE_LOST_AFTER_SECONDS", "4")
os.environ.setdefault("HBSITE_TERMINATE_GRACE_SECONDS", "2")
os.environ.setdefault("DB_POOL_MAX", "8")
# The tests' webhook receivers listen on 127.0.0.1, and their retries come quickly.
os.environ.setdefault("HBSITE_WEBHOOK_ALLOW_PRIVATE", "True")
os.environ.setdefault("HBSITE_WEBHOOK_RETRY_SECONDS", "0.5")
# The test client speaks plain HTTP; the rest of the production hardening stays on.
os.environ.setdefault("SECURE_SSL_REDIRECT", "False")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
