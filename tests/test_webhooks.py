"""Team webhooks without a worker: URL checks, the secret shown once, roles in the API and on
the team page, one Delivery per event and webhook, signed attempts against a real receiver."""

from __future__ import annotations

import json

import pytest
import standardwebhooks
from django.urls import reverse
from rest_framework.test import APIClient

from scheduler import access, queueing, sweeps, webhook_http, webhooks
from scheduler.models import Delivery, Event, Sweep, Webhook
from tests.sweeps import finish_rung, started_sweep
from tests.webhook_receiver import Receiver, serving

pytestmark = pytest.mark.django_db


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def make_hook(cast, url="https://hooks.example.com/services/T0/B0/secret", **options):
    return webhooks.create_webhook(cast.team, cast.admin, "alerts", url, **options)[0]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/", "javascript:alert(1)",
     "http:///no-host", "example.com/hook", "http://example.com:port/",
     "http://example.com/a b", "https://example.com/\r\nX-Injected: 1"],
)  # fmt: skip
def test_it_refuses_urls_that_are_not_http_or_https(cast, url):
    answer = api_as(cast.admin).post(
        f"/api/teams/{cast.team.pk}/webhooks/", {"name": "x", "url": url}, format="json"
    )
    assert answer.status_code == 400, answer.content
    assert "URL" in answer.json()["error"]
    assert not Webhook.objects.exists()


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8000/", "http://10.1.2.3/", "http://169.254.169.254/latest/meta-data/",
     "http://[::1]/", "http://[::ffff:127.0.0.1]/", "http://192.168.0.1/", "http://100.64.0.1/"],
)  # fmt: skip
def test_it_refuses_private_addresses_unless_allowed(cast, settings, url):
    settings.HBSITE_WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(webhooks.WebhookError, match="HBSITE_WEBHOOK_ALLOW_PRIVATE"):
        make_hook(cast, url)
    settings.HBSITE_WEBHOOK_ALLOW_PRIVATE = True
    assert make_hook(cast, url).url == url


def test_it_refuses_a_name_that_resolves_to_a_private_address_when_posting():
    response = webhook_http.post(
        "http://localhost:9/hook", b"{}", {}, timeout=2, allow_private=False
    )
    assert response.status_code is None
    assert "private" in response.error and "HBSITE_WEBHOOK_ALLOW_PRIVATE" in response.error


def test_it_shows_the_secret_only_when_the_webhook_is_made(cast):
    client = api_as(cast.admin)
    made = client.post(
        f"/api/teams/{cast.team.pk}/webhooks/",
        {"name": "slack", "url": "https://hooks.example.com/x", "events": ["rung.promoted"]},
        format="json",
    )
    assert made.status_code == 201
    assert made.json()["secret"].startswith("whsec_")
    assert made.json()["events"] == ["rung.promoted"]
    listed = client.get(f"/api/teams/{cast.team.pk}/webhooks/").json()
    one = client.get(f"/api/webhooks/{made.json()['id']}/").json()
    assert "secret" not in listed[0] and "secret" not in one
    assert made.json()["secret"] not in json.dumps(listed) + json.dumps(one)


def test_it_gives_new_webhooks_the_sweep_endings_by_default(cast):
    assert make_hook(cast).events == ["sweep.succeeded", "sweep.failed", "sweep.early_stopped"]
    with pytest.raises(webhooks.WebhookError, match="unknown event types"):
        make_hook(cast, events=["sweep.exploded"])


@pytest.mark.parametrize(
    ("role", "read", "manage"),
    [("admin", 200, True), ("member", 200, False), ("viewer", 200, False),
     ("outsider", 404, False)],
)  # fmt: skip
def test_it_lets_admins_manage_and_the_team_read(cast, role, read, manage):
    hook = make_hook(cast)
    client = api_as(getattr(cast, role))
    listed = client.get(f"/api/teams/{cast.team.pk}/webhooks/")
    assert listed.status_code == read
    assert client.get(f"/api/webhooks/{hook.pk}/deliveries/").status_code == read
    if read == 200:
        shown = listed.json()[0]["url"]
        assert (shown == hook.url) is manage
        assert shown.startswith("https://hooks.example.com")
        assert ("/services/" in shown) is manage  # a Slack URL's path is its credential
    denied = 404 if read == 404 else 403
    expect = {"create": 201, "patch": 200, "test": 202, "delete": 204} if manage else {}
    made = client.post(
        f"/api/teams/{cast.team.pk}/webhooks/", {"name": "n", "url": "https://a.example/"}
    )
    patched = client.patch(f"/api/webhooks/{hook.pk}/", {"active": False}, format="json")
    tested = client.post(f"/api/webhooks/{hook.pk}/test/")
    deleted = client.delete(f"/api/webhooks/{hook.pk}/")
    assert made.status_code == expect.get("create", denied)
    assert patched.status_code == expect.get("patch", denied)
    assert tested.status_code == expect.get("test", denied)
    assert deleted.status_code == expect.get("delete", denied)
    assert Webhook.objects.filter(pk=hook.pk).exists() is not manage


def test_it_documents_the_webhook_endpoints_in_the_openapi_schema(client):
    schema = client.get("/api/schema/?format=json").json()
    for path in ("/api/teams/{id}/webhooks/", "/api/webhooks/{id}/test/",
                 "/api/webhooks/{id}/deliveries/", "/api/webhooks/{id}/"):  # fmt: skip
        assert path in schema["paths"], sorted(schema["paths"])


def test_it_records_one_delivery_per_subscribed_webhook_when_a_sweep_ends(
    cast, held_tasks, django_capture_on_commit_callbacks
):
    wanted = make_hook(cast, events=["sweep.stopped"])
    make_hook(cast)  # not told of stops
    off = make_hook(cast, events=["sweep.stopped"])
    webhooks.change_webhook(off, active=False)
    webhooks.create_webhook(
        cast.other_team, cast.outsider, "x", "https://a.example/", ["sweep.stopped"]
    )
    sweep = started_sweep(cast.team, cast.member)
    held_tasks.clear()

    with django_capture_on_commit_callbacks(execute=True):
        assert sweeps.stop_sweep(sweep.pk)

    event = Event.objects.get(sweep=sweep, kind="sweep_finished")
    delivery = Delivery.objects.get()
    assert delivery.webhook == wanted and delivery.event == event
    assert delivery.message_id == f"evt_{event.pk}" and delivery.kind == "sweep.stopped"
    assert (queueing.DELIVER, (delivery.pk,)) in held_tasks
    body = json.loads(delivery.body)
    assert body["type"] == "sweep.stopped" and body["data"]["sweep"]["id"] == sweep.pk
    assert (
        body["text"].startswith("Sweep <http://")
        and f"|tiny> (#{sweep.pk}) was stopped" in body["text"]
    )
    assert body["data"]["team"] == {"id": cast.team.pk, "name": "Vision"}
    assert not sweeps.stop_sweep(sweep.pk)  # no second ending, no second delivery
    assert Delivery.objects.count() == 1


@pytest.mark.parametrize(
    ("status", "said"),
    [("succeeded", "finished"), ("failed", "failed"), ("early_stopped", "stopped early")],
)
def test_each_way_a_sweep_ends_has_its_own_type(cast, status, said):
    from django.db import transaction

    make_hook(cast)  # the default events: these three
    sweep = started_sweep(cast.team, cast.member)
    with transaction.atomic():
        sweeps.end_sweep(sweeps.lock_sweep(sweep.pk), status, "a <reason> & more")
    body = json.loads(Delivery.objects.get().body)
    assert body["type"] == f"sweep.{status}" and body["data"]["sweep"]["status"] == status
    assert f"(#{sweep.pk}) {said}: a &lt;reason&gt; &amp; more." in body["text"]


def test_it_tells_of_each_rung_promotion_when_asked(cast):
    hook = make_hook(cast, events=["rung.promoted"])
    sweep = started_sweep(cast.team, cast.member)
    finish_rung(sweep, 2, 0)
    delivery = Delivery.objects.get(webhook=hook)
    body = json.loads(delivery.body)
    assert body["type"] == "rung.promoted"
    assert body["data"]["rung"]["bracket"] == 2 and body["data"]["rung"]["to_rung"] == 1
    assert "bracket 2 rung 0 promoted 3 configs to rung 1" in body["text"]
    assert "cut-off loss" in body["text"]


def test_a_failure_to_record_deliveries_never_undoes_the_sweeps_change(cast, monkeypatch):
    make_hook(cast, events=["sweep.stopped"])
    sweep = started_sweep(cast.team, cast.member)

    def broken(*args):
        raise RuntimeError("the webhook table is gone")

    monkeypatch.setattr(webhooks, "record_deliveries", broken)
    assert sweeps.stop_sweep(sweep.pk)
    assert Sweep.objects.get(pk=sweep.pk).status == "stopped"
    assert Event.objects.filter(sweep=sweep, kind="sweep_finished").exists()
    assert not Delivery.objects.exists()


def test_an_attempt_is_signed_and_a_delivered_message_is_never_sent_again(cast):
    with serving(Receiver()) as receiver:
        hook, secret = webhooks.create_webhook(cast.team, cast.admin, "r", receiver.url)
        delivery = webhooks.send_test(hook)
        assert webhooks.attempt(delivery.pk) is None
        assert webhooks.attempt(delivery.pk) is None
    assert len(receiver.received) == 1
    got = receiver.received[0]
    payload = standardwebhooks.Webhook(secret).verify(got.body, got.headers)
    assert payload["type"] == "webhook.test" and got.headers["webhook-id"] == delivery.message_id
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(webhooks.new_secret()).verify(got.body, got.headers)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.status_code) == ("succeeded", 1, 200)


def test_it_backs_off_and_gives_up_after_the_last_attempt(cast, settings):
    settings.HBSITE_WEBHOOK_MAX_ATTEMPTS = 3
    settings.HBSITE_WEBHOOK_RETRY_SECONDS = 10
    with serving(Receiver(answers=[500, 302, 404])) as receiver:
        hook = make_hook(cast, receiver.url)
        delivery = webhooks.send_test(hook)
        waits = [webhooks.attempt(delivery.pk) for _ in range(4)]
    assert waits == [10, 20, None, None]
    delivery.refresh_from_db()
    assert delivery.status == "failed" and delivery.attempts == 3
    assert [entry["status_code"] for entry in delivery.log] == [500, 302, 404]
    assert "redirect" in delivery.log[1]["error"] and "receiver says no" in delivery.error
    assert len(receiver.received) == 3


def test_it_skips_deliveries_of_a_disabled_webhook_but_still_sends_tests(cast):
    with serving(Receiver()) as receiver:
        hook = make_hook(cast, receiver.url, events=["sweep.stopped"])
        sweep = started_sweep(cast.team, cast.member)
        sweeps.stop_sweep(sweep.pk)
        webhooks.change_webhook(hook, active=False)
        stop = Delivery.objects.get(kind="sweep.stopped")
        test = webhooks.send_test(hook)
        webhooks.attempt(stop.pk), webhooks.attempt(test.pk)
    stop.refresh_from_db()
    test.refresh_from_db()
    assert stop.status == "skipped" and stop.attempts == 0
    assert test.status == "succeeded"
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["webhook.test"]


def test_it_reports_a_receiver_that_is_not_there(cast):
    hook = make_hook(cast, "http://127.0.0.1:9/nothing-listens")
    delivery = webhooks.send_test(hook)
    assert webhooks.attempt(delivery.pk) is not None
    delivery.refresh_from_db()
    assert delivery.status_code is None and "Connection" in delivery.error


def test_reconcile_resends_a_delivery_whose_task_was_lost_once_per_interval(cast, held_tasks):
    from datetime import timedelta

    from django.utils import timezone

    from scheduler import tasks

    lost = webhooks.send_test(make_hook(cast))
    fresh = webhooks.send_test(make_hook(cast))
    Delivery.objects.filter(pk=lost.pk).update(queued_at=timezone.now() - timedelta(hours=1))
    held_tasks.clear()
    tasks.reconcile()
    tasks.reconcile()
    assert [t for t in held_tasks if t[0] == queueing.DELIVER] == [(queueing.DELIVER, (lost.pk,))]
    assert fresh.pk not in webhooks.unsent_ids()


def test_deleting_a_sweep_keeps_its_deliveries_in_the_log(cast):
    from scheduler import deletion

    make_hook(cast, events=["sweep.stopped"])
    sweep = started_sweep(cast.team, cast.member)
    deletion.delete_sweep(sweep.pk)  # stops it first: a sweep.stopped message
    assert not Sweep.objects.filter(pk=sweep.pk).exists()
    delivery = Delivery.objects.get()
    assert delivery.event is None and json.loads(delivery.body)["data"]["sweep"]["id"] == sweep.pk


# --- the team page ----------------------------------------------------------------------


def test_the_team_page_lets_only_admins_manage_webhooks(client, cast):
    hook = make_hook(cast)
    webhooks.send_test(hook)
    page = reverse("team-detail", args=[cast.team.pk])
    client.force_login(cast.viewer)
    html = client.get(page).content.decode()
    assert "Delivery log" in html and "webhook.test" in html
    assert 'id="webhook-form"' not in html and "/services/T0" not in html
    for action in ("toggle", "test", "delete"):
        assert client.post(reverse("webhook-action", args=[hook.pk, action])).status_code == 404
    made = client.post(
        reverse("webhook-create", args=[cast.team.pk]), {"name": "x", "url": "https://a.example/"}
    )
    assert made.status_code == 404
    client.force_login(cast.admin)
    html = client.get(page).content.decode()
    assert 'id="webhook-form"' in html and hook.url in html
    answer = client.post(
        reverse("webhook-create", args=[cast.team.pk]),
        {"name": "new", "url": "https://b.example/h", "events": ["sweep.failed"]},
    )
    secret = Webhook.objects.get(name="new").secret
    assert answer.status_code == 200 and secret in answer.content.decode()
    assert secret not in client.get(page).content.decode()
    assert client.post(reverse("webhook-action", args=[hook.pk, "explode"])).status_code == 404
    assert access.can_manage_webhooks(cast.admin, cast.team.pk)
    assert not access.can_manage_webhooks(cast.member, cast.team.pk)
    client.force_login(cast.outsider)
    assert client.get(page).status_code == 404


def test_the_delivery_log_rows_come_fresh_for_the_team_only(client, cast):
    webhooks.send_test(make_hook(cast))
    rows = reverse("ui-team-deliveries", args=[cast.team.pk])
    client.force_login(cast.viewer)
    fresh = client.get(rows).json()
    assert fresh["pending"] is True and "webhook.test" in fresh["rows"]
    Delivery.objects.update(status="succeeded")
    assert client.get(rows).json()["pending"] is False
    client.force_login(cast.outsider)
    assert client.get(rows).status_code == 404
