"""Pages that stay true while they are open, and the keyboard, in Chromium against the real
ASGI server: trial filters, the trial page when its trial ends, the sweeps list's tabs and
ages, the kill confirmation, the YAML editor's Escape and error buttons, the upload note.

No Celery worker runs here: the test moves trials through the scheduler's own functions (off
the Playwright thread, so their events are published) and watches the page follow.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from scheduler import metrics, sweeps, trials
from scheduler.models import Sweep, Trial
from tests.browsing import off_thread, running_sweep, shot, sign_in
from tests.conftest import wait_for, wait_until_idle
from tests.sweeps import started_sweep, tiny_yaml

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sweep(cast) -> Sweep:
    """A running 22-trial sweep whose bracket s=2 finished rung 0 (9 trials, 3 promoted)."""
    return running_sweep(cast, "live")


def mark(page: Page) -> None:
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def rows(page: Page):
    return page.locator("#trial-rows tbody tr[data-trial]")


def test_filters_update_the_table_on_enter_and_on_a_picked_status(page, cast, sweep):
    sign_in(page, "viewer")
    page.goto(f"/sweeps/{sweep.pk}/")
    expect(rows(page)).to_have_count(sweep.trials.count())
    mark(page)

    page.fill("input[name=p_lr]", "<0.5")
    page.press("input[name=p_lr]", "Enter")
    low = sweep.trials.filter(config__params__lr__lt=0.5).count()
    expect(rows(page)).to_have_count(low)
    assert "p_lr=%3C0.5" in page.url
    expect(page.locator("input[name=p_lr]")).to_be_focused()  # the cursor stays put

    page.fill("input[name=p_lr]", "")
    page.press("input[name=p_lr]", "Enter")
    page.click("select[name=status]")
    page.select_option("select[name=status]", "succeeded")
    expect(rows(page)).to_have_count(9)
    assert "status=succeeded" in page.url and not_reloaded(page)


def test_the_trial_page_shows_its_trial_ending_without_a_reload(page, cast, sweep):
    trial = sweep.trials.filter(status="queued").order_by("id").first()
    sign_in(page, "viewer")
    page.goto(f"/trials/{trial.pk}/")
    expect(page.locator("#trial-exit")).to_have_text("—")
    mark(page)

    def run_and_fail() -> Trial:
        claimed = trials.claim(trial.pk, "test-runner", lambda t: None)
        metrics.record(Trial.objects.get(pk=trial.pk), [metrics.Point("loss", 1, 0.4242)])
        trials.finish(claimed.fence, 3, "", "out", "boom")
        return Trial.objects.get(pk=trial.pk)

    ended = off_thread(run_and_fail)
    expect(page.locator("#trial-status .badge")).to_have_text("failed")
    expect(page.locator("#trial-exit")).to_have_text("3")
    expect(page.locator("#trial-metric")).to_have_text("0.4242")
    expect(page.locator("#trial-finished")).to_have_text(ended.finished_at.strftime("%H:%M:%S"))
    expect(page.locator("#lineage tbody tr.current .badge")).to_have_text("failed")
    assert not_reloaded(page)
    shot(page, "live-trial-ended")


def test_the_sweeps_list_keeps_its_tab_counts_and_ages_current(page, cast, sweep):
    page.clock.install()
    sign_in(page, "viewer")
    running_tab = page.locator('#sweep-tabs a[href="?status=running"] .count')
    expect(running_tab).to_have_text("1")
    expect(page.locator("#sweeps-summary")).to_have_text("1 sweep in your teams")
    mark(page)

    off_thread(lambda: started_sweep(cast.team, cast.member, tiny_yaml(name="another")))
    Sweep.objects.filter(pk=sweep.pk).update(created_at=timezone.now() - timedelta(hours=3))

    def shows(locator, text: str) -> bool:
        page.clock.run_for(31_000)  # the page's timers: its throttle and the age refresh
        return text in locator.inner_text()

    wait_for(lambda: shows(running_tab, "2"), timeout=30, every=0.2)
    wait_for(lambda: shows(page.locator(f'tr[data-sweep="{sweep.pk}"]'), "3 h ago"), timeout=30)
    expect(page.locator("#sweeps-summary")).to_have_text("2 sweeps in your teams")
    assert not_reloaded(page)


def test_killing_a_trial_from_the_sweep_page_asks_first(page, cast, sweep):
    trial = sweep.trials.filter(status="queued").order_by("id").first()
    sign_in(page, "member")
    page.goto(f"/sweeps/{sweep.pk}/")
    asked: list[str] = []

    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.click(f'button[data-kill="{trial.pk}"]')
    wait_for(lambda: asked, timeout=10)
    assert asked == [f"Kill trial #{trial.number}?"]
    # Declined: the button is not disabled, as it is once a kill is sent, and nothing changed.
    expect(page.locator(f'button[data-kill="{trial.pk}"]')).to_be_enabled()
    assert Trial.objects.get(pk=trial.pk).status == "queued"

    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f'button[data-kill="{trial.pk}"]')
    wait_for(lambda: Trial.objects.get(pk=trial.pk).status == "stopped", timeout=20)
    # The server asked the workers for a scheduling step: end the sweep and let that settle,
    # so no trial of it runs on into the next test.
    off_thread(lambda: sweeps.stop_sweep(sweep.pk))
    wait_until_idle()


def test_the_editor_lets_the_keyboard_out_and_errors_take_it_to_their_line(page, cast):
    sign_in(page, "member")
    page.goto("/sweeps/new/")
    expect(page.locator("#editor-hint")).to_contain_text("Esc")
    editor = page.locator("#yaml")
    editor.fill(tiny_yaml().replace("eta: 3", "eta: one"))
    expect(page.locator("#issues .issue.error")).to_have_count(1)

    editor.focus()
    page.keyboard.press("Control+Home")
    page.keyboard.press("Tab")
    expect(editor).to_be_focused()  # Tab indents
    assert editor.input_value().startswith("  version: 1")
    page.keyboard.press("Escape")
    page.keyboard.press("Tab")
    expect(editor).not_to_be_focused()

    # The next stops are the error's button, then on to the launch button.
    jump = page.locator("#issues .issue.error button")
    expect(jump).to_be_focused()
    page.keyboard.press("Enter")
    expect(editor).to_be_focused()
    text = editor.input_value()
    cursor = page.evaluate("document.getElementById('yaml').selectionStart")
    assert text[cursor:].startswith("one")

    # Valid again, Launch is enabled; Escape and Tab reach it.
    editor.fill(tiny_yaml())
    expect(page.locator("#launch-btn")).to_be_enabled()
    editor.focus()
    page.keyboard.press("Escape")
    for _ in range(6):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "preview-btn":
            break
    page.keyboard.press("Tab")
    expect(page.locator("#launch-btn")).to_be_focused()


def test_an_uploaded_file_is_named_in_the_form(page, cast):
    sign_in(page, "member")
    page.goto("/sweeps/new/")
    text = tiny_yaml(name="from-a-file")
    page.set_input_files(
        "#yaml-file", files=[{"name": "mine.yml", "mimeType": "text/yaml", "buffer": text.encode()}]
    )
    expect(page.locator("#file-read")).to_have_text("Read mine.yml into the editor")
    expect(page.locator("#yaml")).to_have_value(text)
    expect(page.locator("#plan-table")).to_be_visible()
