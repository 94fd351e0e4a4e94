"""Settings for hbsite, read from the environment with defaults that work on a developer machine.

Every setting that differs between machines comes from an environment variable; see README.md.
"""

import os
import socket
from pathlib import Path

import dj_database_url
from redis.connection import parse_url

from hbsite import datadir, embedded

BASE_DIR = datadir.BASE_DIR
SOURCE_CHECKOUT = datadir.SOURCE_CHECKOUT


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: str = "False") -> bool:
    return env(name, default).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    return int(env(name, str(default)))


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# Off unless asked for: a debug page lists URL patterns and settings to whoever hits an error.
DEBUG = envbool("DEBUG", "False")
SECRET_KEY = env("SECRET_KEY", "dev-only-insecure-secret-key-change-me-in-production-0123456789")
ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_prometheus",
    "health_check",
    "scheduler",
    "frontend",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    "scheduler.api.middleware.ApiErrorMiddleware",
    # Last: it calls the view itself, after every other middleware's process_view.
    "hbsite.middleware.RetryOnDatabaseErrors",
]

ROOT_URLCONF = "hbsite.urls"
WSGI_APPLICATION = "hbsite.wsgi.application"
ASGI_APPLICATION = "hbsite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "frontend.context.status_sets",
            ],
        },
    },
]

# PostgreSQL through psycopg 3 with Django's connection pool: under an ASGI server Django
# would otherwise open a connection per request.
# https://docs.djangoproject.com/en/5.2/ref/databases/#connection-pool
DATABASES = {"default": dj_database_url.parse(env("DATABASE_URL", embedded.default_database_url()))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_POOL", "True"):
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # With the pool, Django 5.2 turns this into the pool's `check`
    # (psycopg_pool.ConnectionPool.check_connection): a pooled connection that broke while
    # idle (a database restart, a terminated backend) is replaced before a request gets it.
    # The pool options themselves cannot carry `check`: Django passes it already.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": envint("DB_POOL_MIN", 1),
        "max_size": envint("DB_POOL_MAX", 20),
        "timeout": 20,
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "sweep-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

STATIC_URL = "/static/"
# Only `collectstatic` needs STATIC_ROOT; WhiteNoise serves from the apps without it.
STATIC_ROOT = Path(env("STATIC_ROOT")) if env("STATIC_ROOT") else None
# WhiteNoise serves static files from the apps themselves, so no collectstatic step is needed.
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG

REDIS_URL = env("REDIS_URL", embedded.default_redis_url())
# Put before every Redis key hbsite writes (Celery's queues and bindings, the channel layer's
# groups and channels), so that several hbsites, or test runs, can share one Redis database.
HBSITE_REDIS_PREFIX = env("HBSITE_REDIS_PREFIX")

# https://channels.readthedocs.io/en/stable/topics/channel_layers.html
# Redis pub/sub: a group message is one PUBLISH that each web process receives once and
# hands to its own sockets of the group (the list-based RedisChannelLayer queued one copy per
# socket, popped one round trip at a time: 100 sockets of a sweep waited for 100 pops). Live
# messages are best effort either way (a socket that misses one resyncs from the database);
# https://github.com/django/channels_redis#usage
# Pub/sub channels are shared by every database of a Redis server: their names carry the
# database's number, so hbsites on two databases of one server never hear each other.
CHANNELS_REDIS_URL = env("CHANNELS_REDIS_URL", REDIS_URL)
CHANNELS_PREFIX = f"{HBSITE_REDIS_PREFIX}asgi:{parse_url(CHANNELS_REDIS_URL).get('db', 0)}:"
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        # No socket timeout: redis-py 8 reads with a 5 s one by default, which aborted the
        # layer's blocking reads: https://github.com/django/channels_redis/issues/422
        "CONFIG": {
            "hosts": [{"address": CHANNELS_REDIS_URL, "socket_timeout": None}],
            "prefix": CHANNELS_PREFIX,
        },
    }
}

# https://docs.celeryq.dev/en/stable/django/first-steps-with-django.html
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
# https://docs.celeryq.dev/projects/kombu/en/stable/reference/kombu.transport.redis.html
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": HBSITE_REDIS_PREFIX}
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_DEFAULT_QUEUE = "scheduler"
CELERY_TASK_ROUTES = {
    "scheduler.tasks.run_trial": {"queue": "trials"},
    "scheduler.tasks.deliver_webhook": {"queue": "webhooks"},
}

# Django's cache as it comes (per process), and one in Redis for what the web server and the
# scheduler share: parameter importance, computed by a task (scheduler/analysis.py).
# https://docs.djangoproject.com/en/5.2/topics/cache/#redis
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "analysis": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"{HBSITE_REDIS_PREFIX}cache",
    },
}
# A trial task is acknowledged only once it ran; a worker that dies mid-trial leaves it to
# reconcile, which sees the stale heartbeat in the database.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULER = "hbsite.beat:Scheduler"
CELERY_BEAT_SCHEDULE = {
    "reconcile": {
        "task": "scheduler.tasks.reconcile",
        "schedule": float(env("HBSITE_RECONCILE_SECONDS", "5")),
    }
}

# hbsite's own settings.
# Checkpoints, sweep folders, supervisord's configuration and logs, beat's schedule, and the
# embedded PostgreSQL's and Valkey's data when `hbsite run` started them.
HBSITE_DATA_DIR = datadir.data_dir()
# What a relative `run.workdir` is resolved against, and where the processes run.
HBSITE_WORKDIR_BASE = Path(
    env("HBSITE_WORKDIR_BASE", str(BASE_DIR if SOURCE_CHECKOUT else HBSITE_DATA_DIR))
)
# Celery beat's schedule file; beat creates its directory when it starts.
CELERY_BEAT_SCHEDULE_FILENAME = str(HBSITE_DATA_DIR / "beat" / "celerybeat-schedule")
HBSITE_API_URL = env("HBSITE_API_URL", "http://127.0.0.1:8000")
# Runners: a runner's name (also its queue, `trials@<name>`) stands for its machine's data
# directory; promoted trials of `resume: true` sweeps go to the runner holding their
# checkpoint unless every runner sees the same data directory (scheduler.placement).
HBSITE_RUNNER_NAME = env("HBSITE_RUNNER_NAME") or socket.gethostname()
HBSITE_SHARED_DATA_DIR = envbool("HBSITE_SHARED_DATA_DIR", "False")
# A runner on another machine (`hbsite runner --url --token`) reports through the REST API
# of the hbsite at HBSITE_RUNNER_URL with the runner token HBSITE_RUNNER_TOKEN.
HBSITE_RUNNER_URL = env("HBSITE_RUNNER_URL")
HBSITE_RUNNER_TOKEN = env("HBSITE_RUNNER_TOKEN")
HBSITE_HEARTBEAT_SECONDS = float(env("HBSITE_HEARTBEAT_SECONDS", "2"))
HBSITE_LOST_AFTER_SECONDS = float(env("HBSITE_LOST_AFTER_SECONDS", "20"))
# Between SIGTERM and SIGKILL when a trial's processes are ended.
HBSITE_TERMINATE_GRACE_SECONDS = float(env("HBSITE_TERMINATE_GRACE_SECONDS", "5"))
# A trial queued this long whose task message is no longer in the broker's queue gets it sent
# again; a broker that cannot be inspected waits HBSITE_REQUEUE_AFTER_SECONDS instead (a
# duplicate is harmless: only one runner can claim a queued trial).
HBSITE_RESEND_AFTER_SECONDS = float(env("HBSITE_RESEND_AFTER_SECONDS", "5"))
HBSITE_REQUEUE_AFTER_SECONDS = float(env("HBSITE_REQUEUE_AFTER_SECONDS", "300"))
HBSITE_MAX_RETRIES = envint("HBSITE_MAX_RETRIES", 2)
# How long a runner waits for a database that went away before giving up a write (its
# trial is then left to reconcile), and how long a web request waits before answering 503.
HBSITE_DB_RETRY_SECONDS = float(env("HBSITE_DB_RETRY_SECONDS", "60"))
HBSITE_WEB_DB_RETRY_SECONDS = float(env("HBSITE_WEB_DB_RETRY_SECONDS", "10"))
HBSITE_OUTPUT_TAIL_BYTES = envint("HBSITE_OUTPUT_TAIL_BYTES", 64 * 1024)
HBSITE_MAX_METRIC_BATCH = envint("HBSITE_MAX_METRIC_BATCH", 5000)
HBSITE_MAX_YAML_BYTES = envint("HBSITE_MAX_YAML_BYTES", 1024 * 1024)
# /readyz: how long the workers have to answer; /metrics: the scheduling latency's window.
HBSITE_READY_TIMEOUT_SECONDS = float(env("HBSITE_READY_TIMEOUT_SECONDS", "1"))
HBSITE_LATENCY_WINDOW_SECONDS = float(env("HBSITE_LATENCY_WINDOW_SECONDS", "300"))
# The most trials a new sweep's plan may have: every first-rung trial is created at start.
HBSITE_MAX_PLAN_TRIALS = envint("HBSITE_MAX_PLAN_TRIALS", 100_000)
# Webhooks (scheduler/webhooks.py): the base URL of the links in their messages; whether they
# may post to private, loopback and link-local addresses (off: only public ones); the wait
# for a receiver to connect and to answer; the attempts per message, and the wait before the
# second (doubling after each failure: 10, 20, 40, 80, 160 s by default).
HBSITE_SITE_URL = env("HBSITE_SITE_URL", HBSITE_API_URL)
HBSITE_WEBHOOK_ALLOW_PRIVATE = envbool("HBSITE_WEBHOOK_ALLOW_PRIVATE")
HBSITE_WEBHOOK_TIMEOUT_SECONDS = float(env("HBSITE_WEBHOOK_TIMEOUT_SECONDS", "5"))
HBSITE_WEBHOOK_MAX_ATTEMPTS = envint("HBSITE_WEBHOOK_MAX_ATTEMPTS", 6)
HBSITE_WEBHOOK_RETRY_SECONDS = float(env("HBSITE_WEBHOOK_RETRY_SECONDS", "10"))

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "scheduler.api.auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": [
        "scheduler.api.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PAGINATION_CLASS": "scheduler.api.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "scheduler.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "hbsite API",
    "DESCRIPTION": "Hyperband sweeps: submit Polyaxon hptuning YAML, follow trials and metrics.",
    "VERSION": "0.1.0",
    # Swagger UI's assets come from the sidecar package, so the docs work offline.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "SweepStatusEnum": "scheduler.models.SweepStatus",
        "TrialStatusEnum": "scheduler.models.TrialStatus",
    },
}

# Production hardening, on whenever DEBUG is off.
# https://docs.djangoproject.com/en/5.2/howto/deployment/checklist/
if not DEBUG:
    SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", "True")
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # `make run` serves plain HTTP on this machine and turns both of these off.
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = envbool("SECURE_COOKIES", "True")
    SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SECURE_REFERRER_POLICY = "same-origin"

# Every line carries time, level and logger; LOG_FORMAT=json makes each line a JSON object
# (python-json-logger). uvicorn's and Celery's loggers use the same handler.
LOG_FORMAT = env("LOG_FORMAT", "text")
LOG_FIELDS = "%(asctime)s %(levelname)s %(name)s %(message)s"
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {"format": "%(asctime)s %(levelname)-7s %(name)s: %(message)s"},
        "json": {"()": "pythonjsonlogger.json.JsonFormatter", "format": LOG_FIELDS},
    },
    "filters": {"skip_stored_metric_posts": {"()": "hbsite.access_log.SkipStoredMetricPosts"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "text",
        }
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        **{
            name: {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO"), "propagate": False}
            for name in ("uvicorn", "uvicorn.error")
        },
        "uvicorn.access": {
            "handlers": ["console"],
            "level": env("LOG_LEVEL", "INFO"),
            "propagate": False,
            "filters": ["skip_stored_metric_posts"],
        },
    },
}
# Celery workers log through LOGGING above instead of replacing the root logger's handlers.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
