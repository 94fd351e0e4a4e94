"""Test settings: the normal settings on a Redis database and data dir of their own."""

import os
import tempfile

os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/14")
# A data dir per test session, so that concurrent sessions never share checkpoints.
if "HBSITE_DATA_DIR" not in os.environ:
    os.environ["HBSITE_DATA_DIR"] = tempfile.mkdtemp(prefix="hbsite-test-data-")
os.environ.setdefault("HBSITE_HEARTBEAT_SECONDS", "0.5")
os.environ.setdefault("HBSITE_LOST_AFTER_SECONDS", "4")
os.environ.setdefault("DB_POOL_MAX", "8")
# The test client speaks plain HTTP; the rest of the production hardening stays on.
os.environ.setdefault("SECURE_SSL_REDIRECT", "False")

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
