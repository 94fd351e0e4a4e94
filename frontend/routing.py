"""Websocket routes: the sweeps list and one sweep (imported by hbsite/asgi.py)."""

from django.urls import path

from . import consumers

websocket_urlpatterns = [
    path("ws/sweeps/", consumers.SweepListConsumer.as_asgi()),
    path("ws/sweeps/<int:sweep_id>/", consumers.SweepConsumer.as_asgi()),
]
