"""A team's webhooks: make, enable, disable and delete them, and deliver sweep events to them.

`notify` is called by `events.emit` for the events a webhook can be told about (sweep
endings, rung promotions), inside the transaction that records the event: it writes one
Delivery per subscribed, active webhook of the sweep's team and asks for each to be sent
once that transaction commits. A rolled-back change is therefore never announced, and an
event gives at most one Delivery per webhook (its `webhook-id`, `evt_<event id>`, is unique
per webhook). The `deliver_webhook` task calls `attempt`; it runs on the `webhooks` queue,
never in the scheduling step.

Signing follows Standard Webhooks (https://www.standardwebhooks.com/): the headers
`webhook-id`, `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`
(`v1,` + base64 of HMAC-SHA256 over `id.timestamp.body` with the webhook's secret), made
by the `standardwebhooks` package, whose `Webhook(secret).verify(body, headers)` checks them.
"""

from __future__ import annotations

import base64
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import standardwebhooks
from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from . import queueing, webhook_http, webhook_messages
from .models import Delivery, Event, Sweep, Team, Webhook
from .models_webhooks import DEFAULT_EVENTS, DeliveryStatus, WebhookEvent
from .yamlsource import unstorable

log = logging.getLogger(__name__)

TEST = "webhook.test"
SECRET_PREFIX = "whsec_"
LOG_LENGTH = 50  # deliveries a team page shows


class WebhookError(ValueError):
    """A webhook that cannot be made as asked; the message says why."""


def new_secret() -> str:
    """Return a Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def checked_url(url: str) -> str:
    """Return the URL stripped, or raise WebhookError: http(s) with a host, and no literal
    private address unless HBSITE_WEBHOOK_ALLOW_PRIVATE (names are checked at each post)."""
    url = url.strip()
    problem = webhook_http.url_problem(url) or unstorable(url)
    if not problem and not settings.HBSITE_WEBHOOK_ALLOW_PRIVATE:
        problem = webhook_http.literal_problem(url)
    if problem:
        raise WebhookError(problem)
    return url


def checked_events(events: list[str] | None) -> list[str]:
    """Return the event types in their defined order (the defaults when none are given)."""
    if not events:
        return list(DEFAULT_EVENTS)
    unknown = sorted(set(events) - set(WebhookEvent.values))
    if unknown:
        raise WebhookError(f"unknown event types {unknown}; known: {WebhookEvent.values}")
    return [kind for kind in WebhookEvent.values if kind in events]


def create_webhook(
    team: Team, user, name: str, url: str, events: list[str] | None = None
) -> tuple[Webhook, str]:
    """Make an active webhook for a team; return it with its secret, shown only this once.

    Raises WebhookError for a URL or event type that cannot be used, or a bad name."""
    problem = unstorable(name)
    if problem:
        raise WebhookError(f"the name: {problem}")
    secret = new_secret()
    webhook = Webhook.objects.create(
        team=team,
        name=name.strip()[:100] or "webhook",
        url=checked_url(url),
        secret=secret,
        events=checked_events(events),
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return webhook, secret


def change_webhook(webhook: Webhook, **changes: Any) -> Webhook:
    """Change a webhook's `name`, `active` or `events`; WebhookError for bad values."""
    if "name" in changes:
        problem = unstorable(changes["name"])
        if problem:
            raise WebhookError(f"the name: {problem}")
        webhook.name = changes["name"].strip()[:100] or webhook.name
    if "events" in changes:
        webhook.events = checked_events(changes["events"])
    if "active" in changes:
        webhook.active = bool(changes["active"])
    webhook.save(update_fields=["name", "events", "active"])
    return webhook


def shown_url(url: str) -> str:
    """Return what non-admins see of a webhook URL: its scheme and host (the path of a Slack
    webhook is its credential)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}/…"


def webhooks_of(team: Team):
    """Return a team's webhooks by name."""
    return Webhook.objects.filter(team=team).order_by("name", "id")


def deliveries_of(team: Team, limit: int = LOG_LENGTH):
    """Return the newest deliveries to a team's webhooks, newest first."""
    rows = Delivery.objects.filter(webhook__team=team).select_related("webhook")
    return rows.order_by("-created_at", "-id")[:limit]


def sweep_url(sweep: Sweep) -> str:
    return settings.HBSITE_SITE_URL.rstrip("/") + reverse("sweep-detail", args=[sweep.pk])


def metric_name(sweep: Sweep) -> str | None:
    """Return the name of the metric the sweep ranks by, if it has one."""
    section = sweep.spec.get(sweep.algorithm) if isinstance(sweep.spec, dict) else None
    metric = section.get("metric") if isinstance(section, dict) else None
    return metric.get("name") if isinstance(metric, dict) else None


def sweep_data(sweep: Sweep) -> dict[str, Any]:
    return {
        "id": sweep.pk,
        "name": sweep.name,
        "status": sweep.status,
        "reason": sweep.status_reason,
        "url": sweep_url(sweep),
        "metric": metric_name(sweep),
    }


def event_body(sweep: Sweep, event: Event, kind: str) -> str:
    """Return the JSON body that tells of one sweep event (see webhook_messages)."""
    about = sweep_data(sweep)
    payload = dict(event.payload)
    if kind == WebhookEvent.RUNG_PROMOTED:
        text = webhook_messages.rung_text(about, payload, about["metric"])
        detail = {"rung": payload}
    else:
        text = webhook_messages.sweep_text(about, payload.get("best"), about["metric"])
        detail = {"best": payload.get("best"), "stopped_trials": payload.get("stopped_trials")}
    team = {"id": sweep.team_id, "name": sweep.team.name}
    data = {"event_id": event.pk, "seq": event.seq, "sweep": about, "team": team, **detail}
    return webhook_messages.body(kind, text, event.created_at.isoformat(), data)


def notify(sweep: Sweep, event: Event, kind: str) -> None:
    """Record a Delivery of `event` (webhook type `kind`) to each active webhook of the
    sweep's team that asked for it, each sent after commit. A failure here is logged and
    never undoes the sweep's change."""
    try:
        with transaction.atomic():
            deliveries = record_deliveries(sweep, event, kind)
    except Exception:
        log.exception("could not record webhook deliveries of event %s", event.pk)
        return
    for delivery in deliveries:
        queueing.request_delivery(delivery.pk)


def record_deliveries(sweep: Sweep, event: Event, kind: str) -> list[Delivery]:
    subscribed = Webhook.objects.filter(team_id=sweep.team_id, events__contains=[kind])
    hooks = list(subscribed.filter(active=True))
    if not hooks:
        return []
    body = event_body(sweep, event, kind)
    rows = [
        Delivery(webhook=hook, event=event, message_id=f"evt_{event.pk}", kind=kind, body=body)
        for hook in hooks
    ]
    return Delivery.objects.bulk_create(rows)


@transaction.atomic
def send_test(webhook: Webhook) -> Delivery:
    """Record a test message to a webhook (enabled or not) and send it after commit."""
    text = f"Test message from hbsite to webhook {webhook_messages.escape(webhook.name)}."
    data = {"webhook": {"id": webhook.pk, "name": webhook.name}, "team": {"id": webhook.team_id}}
    body = webhook_messages.body(TEST, text, timezone.now().isoformat(), data)
    message_id = f"test_{secrets.token_hex(8)}"
    delivery = Delivery.objects.create(webhook=webhook, message_id=message_id, kind=TEST, body=body)
    queueing.request_delivery(delivery.pk)
    return delivery


def signed_headers(message_id: str, body: str, secret: str, now: datetime) -> dict[str, str]:
    """Return the headers of one attempt, signed as Standard Webhooks define."""
    signature = standardwebhooks.Webhook(secret).sign(message_id, now, body)
    return {
        "Content-Type": "application/json",
        "User-Agent": "hbsite-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }


def backoff(attempts: int) -> float:
    """Seconds before the next attempt after `attempts` failed ones: base × 2^(attempts-1)."""
    return float(settings.HBSITE_WEBHOOK_RETRY_SECONDS) * 2 ** (attempts - 1)


def attempt(delivery_id: int) -> float | None:
    """Make one attempt at a pending delivery and log it; return the seconds to wait before
    the next one, or None when the delivery is done (succeeded, failed for good, skipped,
    or not pending: already delivered, or being attempted by another worker right now)."""
    with transaction.atomic():
        pending = Delivery.objects.filter(pk=delivery_id, status=DeliveryStatus.PENDING)
        locked = pending.select_for_update(skip_locked=True, of=("self",))
        delivery = locked.select_related("webhook").first()
        if delivery is None:
            return None
        hook = delivery.webhook
        if not hook.active and delivery.kind != TEST:
            return conclude(delivery, DeliveryStatus.SKIPPED, "the webhook is disabled")
        now = datetime.now(UTC)
        headers = signed_headers(delivery.message_id, delivery.body, hook.secret, now)
        response = webhook_http.post(
            hook.url,
            delivery.body.encode(),
            headers,
            timeout=settings.HBSITE_WEBHOOK_TIMEOUT_SECONDS,
            allow_private=settings.HBSITE_WEBHOOK_ALLOW_PRIVATE,
        )
        return record_attempt(delivery, response, now)


def record_attempt(
    delivery: Delivery, response: webhook_http.Response, at: datetime
) -> float | None:
    delivery.attempts += 1
    delivery.status_code, delivery.error = response.status_code, response.error
    entry = {"at": at.isoformat(), "status_code": response.status_code}
    delivery.log = [*delivery.log, entry | {"error": response.error, "ms": response.ms}]
    if response.ok:
        return conclude(delivery, DeliveryStatus.SUCCEEDED, "")
    if delivery.attempts >= settings.HBSITE_WEBHOOK_MAX_ATTEMPTS:
        return conclude(delivery, DeliveryStatus.FAILED, response.error)
    delivery.save(update_fields=["attempts", "status_code", "error", "log"])
    return backoff(delivery.attempts)


def conclude(delivery: Delivery, status: str, error: str) -> None:
    delivery.status, delivery.error, delivery.finished_at = status, error, timezone.now()
    fields = ["status", "error", "finished_at", "attempts", "status_code", "log"]
    delivery.save(update_fields=fields)
    return None


@transaction.atomic
def unsent_ids() -> list[int]:
    """Return the pending deliveries never attempted HBSITE_REQUEUE_AFTER_SECONDS after their
    task was sent (it was lost, say in a broker outage at commit), marking them sent now:
    reconcile sends each again, at most once per that interval. A repeat is harmless: a
    delivery that is no longer pending is not attempted."""
    now = timezone.now()
    since = now - timedelta(seconds=settings.HBSITE_REQUEUE_AFTER_SECONDS)
    rows = Delivery.objects.filter(status=DeliveryStatus.PENDING, attempts=0, queued_at__lt=since)
    ids = list(rows.select_for_update(skip_locked=True).values_list("id", flat=True)[:500])
    Delivery.objects.filter(pk__in=ids).update(queued_at=now)
    return ids
