"""A team's webhooks and the log of their deliveries (see scheduler.webhooks).

Imported by scheduler.models, so Django registers these models with the others; they name
the models they point at by string, so this module imports none of them.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class WebhookEvent(models.TextChoices):
    """What a webhook can be told about: how a sweep ended, and each rung promotion."""

    SWEEP_SUCCEEDED = "sweep.succeeded"
    SWEEP_FAILED = "sweep.failed"
    SWEEP_EARLY_STOPPED = "sweep.early_stopped"
    SWEEP_STOPPED = "sweep.stopped"
    RUNG_PROMOTED = "rung.promoted"


# What a new webhook is told when its creator picks nothing: the sweep endings of the issue.
DEFAULT_EVENTS = [
    WebhookEvent.SWEEP_SUCCEEDED.value,
    WebhookEvent.SWEEP_FAILED.value,
    WebhookEvent.SWEEP_EARLY_STOPPED.value,
]


class Webhook(models.Model):
    """An HTTP(S) endpoint that receives a team's sweep events, signed with its secret.

    The secret is kept because signing needs it; it is shown once, when the webhook is made.
    """

    team = models.ForeignKey("scheduler.Team", on_delete=models.CASCADE, related_name="webhooks")
    name = models.CharField(max_length=100)
    url = models.CharField(max_length=2000)
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["team", "name", "id"]

    def __str__(self) -> str:
        return f"webhook {self.name} of team {self.team_id}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class Delivery(models.Model):
    """One message to one webhook and every attempt at sending it.

    `message_id` is the `webhook-id` header, the same on every attempt: `evt_<event id>` for a
    sweep event (so an event is delivered at most once per webhook), `test_<hex>` for a test.
    `log` lists the attempts: {"at": ISO time, "status_code": int | None, "error": str,
    "ms": duration in milliseconds}.
    """

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(
        "scheduler.Event", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=40)
    body = models.TextField()
    status = models.CharField(
        max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    status_code = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True, default="")
    log = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When its task was last sent (reconcile resends one never attempted; see webhooks.py).
    queued_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "message_id"], name="deliver_message_once")
        ]
        indexes = [models.Index(fields=["webhook", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.message_id} to webhook {self.webhook_id}"
