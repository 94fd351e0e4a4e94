"""The sweep controls in Chromium against the real ASGI server: a member pauses, changes the
concurrency and resumes without a reload; a viewer sees it happen live and has no controls;
a failed trial is retried from its page, which lists its attempts.

No Celery worker runs here: the controls change the database and write their events, which
is all the pages show.
"""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from scheduler import access, control
from scheduler.models import ShareLink, Sweep, Trial
from tests.browsing import off_thread, shot, sign_in
from tests.sweeps import started_sweep, tiny_yaml

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sweep(cast) -> Sweep:
    """A running 22-trial sweep: four trials queued, concurrency 4."""
    return off_thread(lambda: started_sweep(cast.team, cast.member, tiny_yaml(name="ctl")))


def log_text(page: Page):
    return page.locator("#log")


def test_a_member_pauses_changes_concurrency_and_resumes_without_a_reload(page, cast, sweep):
    sign_in(page, "member")
    page.goto(f"/sweeps/{sweep.pk}/")
    expect(page.locator("#sweep-paused")).to_be_hidden()
    page.evaluate("window.__notReloaded = true")

    page.click("#pause-btn")

    expect(page.locator("#sweep-paused")).to_be_visible()
    expect(page.locator("#resume-btn")).to_be_visible()
    expect(page.locator("#pause-btn")).to_have_count(0)
    expect(log_text(page)).to_contain_text("paused by member")
    assert Sweep.objects.get(pk=sweep.pk).paused_at is not None

    page.fill("#concurrency-input", "2")
    page.click("#concurrency-btn")

    expect(page.locator("#sweep-concurrency")).to_have_text("2")
    expect(log_text(page)).to_contain_text("member changed concurrency from 4 to 2")
    shot(page, "sweep-paused")

    page.click("#resume-btn")

    expect(page.locator("#sweep-paused")).to_be_hidden()
    expect(page.locator("#pause-btn")).to_be_visible()
    expect(log_text(page)).to_contain_text("resumed by member")
    assert page.evaluate("window.__notReloaded === true")
    assert Sweep.objects.get(pk=sweep.pk).concurrency == 2


def test_a_refused_action_shows_its_reason(page, cast, sweep):
    sign_in(page, "member")
    page.goto(f"/sweeps/{sweep.pk}/")
    page.fill("#concurrency-input", "0")
    # The browser's own check would refuse 0 first: lift it to reach the server's answer.
    page.evaluate("document.getElementById('concurrency-input').removeAttribute('min')")
    page.click("#concurrency-btn")
    expect(page.locator("#control-error")).to_contain_text("concurrency must be from 1 to")
    assert Sweep.objects.get(pk=sweep.pk).concurrency == 4


def test_a_viewer_has_no_controls_and_sees_a_pause_live(page, cast, sweep):
    sign_in(page, "viewer")
    page.goto(f"/sweeps/{sweep.pk}/")
    expect(page.locator("#control-panel")).to_have_count(0)
    expect(page.locator("button[data-retry]")).to_have_count(0)

    off_thread(lambda: control.pause(sweep.pk, cast.admin, requeue=True))

    expect(page.locator("#sweep-paused")).to_be_visible()
    expect(log_text(page)).to_contain_text("paused by admin")
    expect(page.locator("#control-panel")).to_have_count(0)


def test_a_share_link_has_no_controls(page, cast, sweep):
    link = off_thread(lambda: ShareLink.objects.create(sweep=sweep, created_by=cast.admin))
    page.goto(f"/sweeps/{sweep.pk}/?share={access.share_token(link)}")
    expect(page.locator("h1")).to_have_text("ctl")
    expect(page.locator("#control-panel")).to_have_count(0)


def test_a_failed_trial_is_retried_from_its_page_which_lists_its_attempts(page, cast, sweep):
    trial = sweep.trials.order_by("id").first()

    def failed() -> None:
        Trial.objects.filter(pk=trial.pk).update(
            status="failed", attempt=1, exit_code=2, error="exited with code 2",
            started_at=timezone.now(), finished_at=timezone.now(),
        )  # fmt: skip

    off_thread(failed)
    sign_in(page, "member")
    page.goto(f"/trials/{trial.pk}/")
    expect(page.locator("#attempt-rows tr[data-attempt='1']")).to_contain_text("current")

    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#retry-trial button")

    expect(page.locator("#trial-status .badge")).to_have_text("pending")
    kept = page.locator("#attempt-rows tr[data-attempt='1']")
    expect(kept).to_contain_text("retried by member")
    expect(kept).to_contain_text("failed")
    expect(page.locator("#attempt-rows")).to_contain_text("next attempt")
    expect(page.locator("#retry-trial")).to_have_count(0)
    shot(page, "trial-attempts")
    assert Trial.objects.get(pk=trial.pk).attempts.count() == 1
