"""ASGI entry point: Django for HTTP (a trial's metric posts through their fast path first,
scheduler.api.metrics_fastpath), Channels for the dashboard's websockets, and the lifespan
that keeps start-up objects out of the garbage collector's walks (hbsite.gc_freeze)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hbsite.settings")
# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from frontend.routing import websocket_urlpatterns  # noqa: E402
from hbsite import gc_freeze  # noqa: E402
from scheduler.api.metrics_fastpath import FastMetricsPost  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": FastMetricsPost(django_asgi_app),
        "lifespan": gc_freeze.lifespan,
        "websocket": AllowedHostsOriginValidator(
            AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
        ),
    }
)
