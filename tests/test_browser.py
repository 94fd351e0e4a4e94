"""What a person does in the browser, in Debian's Chromium, against the real ASGI server,
a real Celery worker running real trial processes, and Redis.

Screenshots land in artifacts/screenshots/, each page audited by axe-core (tests/browsing.py).
"""

from __future__ import annotations

import math
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from scheduler import metrics
from scheduler.models import Sweep
from tests.browsing import off_thread, open_page, shot, sign_in
from tests.conftest import wait_for
from tests.sweeps import finish_rung, position, report_lr, started_sweep, tiny_yaml

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def type_yaml(page: Page, text: str) -> None:
    page.fill("#yaml", text)


def launch(page: Page) -> int:
    expect(page.locator("#plan-table")).to_be_visible()
    page.click("#launch-btn")
    page.wait_for_url(re.compile(r"/sweeps/\d+/$"), wait_until="domcontentloaded")
    return int(re.search(r"/sweeps/(\d+)/", page.url).group(1))


def mark_page(page: Page) -> None:
    """Leave a marker in the window: it survives live updates, not a reload."""
    page.evaluate("window.__notReloaded = true")


def not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__notReloaded === true")


def table_text(page: Page) -> str:
    return page.locator("#bracket-live").inner_text()


def test_paste_fix_preview_launch_watch_early_stop_stop_and_clone(page, cast, celery_worker):
    sign_in(page, "member")
    shot(page, "02-sweeps-empty")

    # Two errors, each shown at its line, in the gutter and in the list.
    page.goto("/sweeps/new/")
    # Each trial sleeps a little so the page is watched while trials run.
    good = tiny_yaml(cmd=report_lr(sleep=1.2), name="browser-sweep")
    bad = good.replace("eta: 3", "eta: one").replace("uniform:", "uniformm:")
    type_yaml(page, bad)
    (eta_line, eta_col), (lr_line, lr_col) = position(bad, "one"), position(bad, "{uniformm")
    errors = page.locator("#issues .issue.error")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text(f"Line {eta_line}, col {eta_col}")
    expect(errors.nth(1)).to_contain_text(f"Line {lr_line}, col {lr_col}")
    expect(page.locator("#gutter span.err")).to_have_text([str(eta_line), str(lr_line)])
    expect(page.locator("#launch-btn")).to_be_disabled()
    shot(page, "03-new-sweep-errors")

    # Fixed: the plan preview shows the bracket table and the total resource.
    type_yaml(page, good)
    expect(page.locator("#issues .issue.error")).to_have_count(0)
    expect(page.locator("#plan-trials")).to_have_text("22")
    expect(page.locator("#plan-resource")).to_have_text("78")
    expect(page.locator('#plan-table td[data-cell="2:0"]')).to_contain_text("9 × 1")
    shot(page, "04-new-sweep-preview")
    sweep_id = launch(page)

    # The bracket table's counts change without a reload until the sweep ends.
    mark_page(page)
    seen = {table_text(page)}

    def record_until_done() -> bool:
        seen.add(table_text(page))
        return page.locator("#sweep-status .badge").inner_text() == "succeeded"

    wait_for(record_until_done, timeout=120, every=0.2)
    assert len(seen) >= 3, seen
    assert not_reloaded(page)
    expect(page.locator('#bracket-live td[data-cell="2:0"]')).to_contain_text("9 succeeded")
    expect(page.locator('#bracket-live td[data-cell="2:0"]')).to_contain_text("3 promoted")
    expect(page.locator("#sweep-stats")).to_contain_text("22 / 22 trials done")
    expect(page.locator("#log")).to_contain_text("sweep succeeded")
    expect(page.locator("#chart-curves .legend")).to_contain_text("rung 0")
    expect(page.locator("#chart-best .legend")).to_contain_text("best so far")
    expect(page.locator("#chart-parallel .main-svg").first).to_be_visible()
    expect(page.locator("#trial-rows .badge-succeeded")).to_have_count(22)
    shot(page, "05-sweep-finished")

    # A bracket cell filters the trial table.
    page.click('#bracket-live td[data-cell="2:1"] a')
    expect(page.locator("#trial-rows tbody tr")).to_have_count(3)
    assert "bracket=2" in page.url and not_reloaded(page)

    # The trial page: params, lineage, metrics chart.
    page.locator("#trial-rows tbody tr a").first.click()
    expect(page.locator("#lineage tbody tr.current")).to_contain_text("1")
    assert page.locator("#lineage tbody tr").count() in (2, 3)  # rung 0, 1 and maybe 2
    expect(page.locator("#chart-trial .legend")).to_contain_text("loss")
    shot(page, "06-trial")

    # Clone, add an early-stopping rule: its banner appears live.
    page.goto(f"/sweeps/{sweep_id}/")
    page.click("#clone-btn")
    expect(page.locator("#yaml")).to_have_value(re.compile("name: browser-sweep"))
    text = tiny_yaml(cmd=report_lr(sleep=2.5), early_stopping=0.5, name="early")
    type_yaml(page, text)
    early_id = launch(page)
    mark_page(page)
    assert page.locator(".banner-stop").count() == 0
    banner = page.locator(".banner-stop")
    expect(banner).to_be_visible(timeout=60_000)
    expect(banner).to_contain_text("loss <= 0.5")
    stopped_by = Sweep.objects.get(pk=early_id).events.get(kind="early_stopped").payload
    expect(banner).to_contain_text(f"Trial #{stopped_by['number']} reached")
    expect(page.locator("#sweep-status .badge")).to_have_text("early stopped")
    assert not_reloaded(page)
    shot(page, "07-sweep-early-stopped")

    # Stop a running sweep from its page.
    page.click("#clone-btn")
    type_yaml(page, tiny_yaml(cmd=report_lr(sleep=60), name="to-stop"))
    stop_id = launch(page)
    expect(page.locator('#bracket-live td[data-cell="2:0"]')).to_contain_text("running")
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#stop-btn")
    expect(page.locator("#sweep-status .badge")).to_have_text("stopped")
    expect(page.locator('#bracket-live td[data-cell="2:0"]')).to_contain_text("stopped")
    # What was never started says so: not "waiting", and not counted as done.
    expect(page.locator('#bracket-live td[data-cell="2:1"]')).to_contain_text("3 never run")
    expect(page.locator('#bracket-live td[data-cell="2:1"]')).not_to_contain_text("waiting")
    expect(page.locator("#sweep-stats")).to_contain_text("never run")
    expect(page.locator("#stop-btn")).to_have_count(0)
    assert Sweep.objects.get(pk=stop_id).status == "stopped"
    shot(page, "08-sweep-stopped")

    page.goto("/")
    expect(page.locator("#sweeps tbody tr")).to_have_count(3)
    shot(page, "09-sweeps")


def test_the_sweep_page_works_without_javascript(browser, asgi_server, cast):
    def make() -> Sweep:
        sweep = started_sweep(cast.team, cast.viewer, tiny_yaml(cmd="sleep 30", name="no-js"))
        finish_rung(sweep, 2, 0)
        return sweep

    sweep = off_thread(make)
    context, page, _ = open_page(browser, asgi_server, java_script_enabled=False)
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "viewer")
    page.fill("input[name=password]", "pw-viewer-123")
    page.click("button[type=submit]")
    page.goto(f"/sweeps/{sweep.pk}/")
    expect(page.locator('#bracket-live td[data-cell="2:0"]')).to_contain_text("9 succeeded")
    page.click('#bracket-live td[data-cell="2:0"] a')
    expect(page.locator("#trial-rows tbody tr")).to_have_count(9)
    page.fill("input[name=p_lr]", "<0.5")
    page.click("#trial-filters button[type=submit]")
    low = sweep.trials.filter(bracket=2, rung=0, config__params__lr__lt=0.5).count()
    expect(page.locator("#trial-rows tbody tr")).to_have_count(low or 1)
    assert "p_lr=%3C0.5" in page.url and "bracket=2" in page.url
    shot(page, "10-sweep-without-javascript", audited=False)  # audited with JS elsewhere
    context.close()


def test_diverged_curves_render_with_gaps_and_markers(page, cast):
    def make() -> Sweep:
        sweep = started_sweep(cast.team, cast.viewer, tiny_yaml(cmd="sleep 30", name="diverged"))
        rung = sweep.trials.filter(bracket=2, rung=0).select_related("sweep")
        rung.update(status="running")
        for n, trial in enumerate(rung):
            broken = [math.nan, math.inf, -math.inf][n % 3]
            points = [metrics.Point("loss", s, v) for s, v in enumerate([0.9, broken, 0.5])]
            metrics.record(trial, points)
        rung.update(status="succeeded", finished_at=timezone.now())
        return sweep

    sweep = off_thread(make)
    sign_in(page, "viewer")
    page.goto(f"/sweeps/{sweep.pk}/")

    legend = page.locator("#chart-curves .legendtext")
    expect(legend.filter(has_text="diverged (NaN, ±∞)")).to_have_count(1)
    expect(legend.filter(has_text="rung 0")).to_have_count(1)
    shot(page, "11-diverged-curves")
    trial = sweep.trials.filter(bracket=2, rung=0).order_by("id").first()
    page.goto(f"/trials/{trial.pk}/")
    expect(page.locator("#chart-trial .legendtext").filter(has_text="diverged")).to_have_count(1)
    expect(page.locator("#trial-metric")).to_have_text("0.5")
