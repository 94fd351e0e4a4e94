"""The team page's webhooks in Chromium: an admin adds one, copies its secret, sends a test
and watches the delivery log; a viewer sees the log and nothing to change."""

from __future__ import annotations

import pytest
import standardwebhooks
from playwright.sync_api import expect

from scheduler.models import Webhook
from tests.browsing import PHONE, open_page, shot, sign_in
from tests.conftest import wait_for
from tests.webhook_receiver import Receiver, serving

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_an_admin_adds_a_webhook_tests_it_and_reads_the_log(page, cast, celery_worker):
    sign_in(page, "admin")
    page.goto(f"/teams/{cast.team.pk}/")
    expect(page.locator("#delivery-log")).to_contain_text("Nothing delivered yet.")
    with serving(Receiver()) as receiver:
        form = page.locator("#webhook-form")
        form.get_by_label("Name").fill("ml-alerts")
        form.get_by_label("URL").fill(receiver.url)
        form.get_by_label("rung.promoted").check()
        form.get_by_role("button", name="Add webhook").click()
        secret_field = page.get_by_label("New webhook secret")
        secret = secret_field.input_value()
        assert secret.startswith("whsec_")
        hook = Webhook.objects.get(team=cast.team, name="ml-alerts")
        assert "rung.promoted" in hook.events and "sweep.succeeded" in hook.events
        shot(page, "webhooks-01-made")

        row = page.locator(f"tr[data-webhook='{hook.pk}']")
        row.get_by_role("button", name="Send test").click()
        expect(page.locator(".flash")).to_contain_text("Test message to ml-alerts")
        wait_for(lambda: receiver.received, timeout=60, every=0.2)
        got = receiver.received[0]
        assert standardwebhooks.Webhook(secret).verify(got.body, got.headers)

    # The log shows the delivery pending, then succeeded, without a reload.
    page.evaluate("window.__notReloaded = true")
    succeeded = page.locator("#delivery-log [data-status=succeeded]")
    expect(succeeded).to_have_count(1, timeout=30_000)
    assert page.evaluate("window.__notReloaded === true")
    expect(page.get_by_label("New webhook secret")).to_have_count(0)  # shown only once
    log_row = page.locator("#delivery-log tbody tr").first
    expect(log_row).to_contain_text("webhook.test")
    expect(log_row.locator("[data-attempts]")).to_have_text("1")
    shot(page, "webhooks-02-log")

    page.locator(f"tr[data-webhook='{hook.pk}']").get_by_role("button", name="Disable").click()
    expect(page.locator(f"tr[data-webhook='{hook.pk}']")).to_contain_text("disabled")
    assert not Webhook.objects.get(pk=hook.pk).active


def test_a_viewer_sees_the_log_and_nothing_to_change(browser, asgi_server, cast):
    from scheduler import webhooks

    hook, _ = webhooks.create_webhook(
        cast.team, cast.admin, "slack", "https://hooks.example.com/services/T/B/x"
    )
    webhooks.send_test(hook)
    context, page, errors = open_page(browser, asgi_server, viewport=PHONE)
    sign_in(page, "viewer")
    page.goto(f"/teams/{cast.team.pk}/")
    expect(page.locator("#webhook-table")).to_contain_text("https://hooks.example.com/…")
    expect(page.locator("#webhook-table")).not_to_contain_text("/services/")
    expect(page.locator("#delivery-log")).to_contain_text("webhook.test")
    expect(page.locator("#webhook-form")).to_have_count(0)
    expect(page.get_by_role("button", name="Send test")).to_have_count(0)
    shot(page, "webhooks-03-viewer-phone")
    context.close()
    assert errors == []
