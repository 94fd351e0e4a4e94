"""Importance, slice plots and compare in Chromium against the real ASGI server and Redis:
the importance card follows the sweep live, rows are picked in the trial table and the
sweeps list, and the compare pages draw their charts. Every page is shot at 1440 and 390 px
wide, fits the screen and passes axe.

No Celery worker runs here: rungs finish through the scheduler's own functions (off the
Playwright thread, so their events are published), as in test_browser_live, and the test runs
the importance task the page asked for (test_importance has a worker run it).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from scheduler import tasks
from scheduler.models import Sweep
from tests.browsing import (
    DESKTOP,
    PHONE,
    off_thread,
    open_page,
    page_width,
    running_sweep,
    shot,
    sign_in,
    sticking_out,
)
from tests.sweeps import finish_rung, started_sweep, tiny_yaml

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sweep(cast) -> Sweep:
    """A running tiny sweep (loss = lr) whose bracket s=2 finished rung 0: 9 trials at 1."""
    return running_sweep(cast, "tiny")


def rival(cast) -> Sweep:
    """A second tiny sweep, seeded apart so its line differs from the first's."""
    return started_sweep(cast.team, cast.admin, tiny_yaml(name="rival", seed=3))


def fits(page: Page, name: str, width: int) -> None:
    """Check the page needs no sideways scrolling, then shoot and audit it."""
    page.wait_for_load_state("networkidle")
    wide = page_width(page)
    assert wide <= width, f"{name}: {wide} px on a {width} px screen: {sticking_out(page, width)}"
    shot(page, name)


def summary(page: Page):
    return page.locator("#importance-summary")


def computed(page: Page, sweep: Sweep) -> None:
    """Wait for the page to ask for importance, then compute it as the scheduler would."""
    expect(summary(page)).to_contain_text("Computing importance", timeout=30_000)
    off_thread(lambda: tasks.importance(sweep.pk))


def test_importance_and_slices_follow_the_sweep_live(page, cast, sweep):
    sign_in(page, "viewer")
    page.goto(f"/sweeps/{sweep.pk}/")
    page.evaluate("window.__notReloaded = true")
    computed(page, sweep)
    expect(summary(page)).to_contain_text("Rests on 9 trials at num_steps 1")
    expect(page.locator("#chart-importance .main-svg").first).to_be_visible()
    captions = page.locator("#chart-slices figcaption")
    expect(captions).to_have_count(2)
    expect(captions.first).to_contain_text("lr")  # loss = lr: lr explains the ranking
    fits(page, "insight-importance-1440", DESKTOP["width"])

    # Two more rungs at num_steps 3 end (5 + 3 trials): the card moves up to that rung.
    off_thread(lambda: (finish_rung(sweep, 1, 0), finish_rung(sweep, 2, 1)))
    computed(page, sweep)
    expect(summary(page)).to_contain_text("Rests on 8 trials at num_steps 3", timeout=30_000)
    expect(page.locator("#importance-level option:checked")).to_contain_text("num_steps 3")
    assert page.evaluate("window.__notReloaded === true")

    # A rung with too few trials says so, and still shows its slices.
    page.select_option("#importance-level", label="num_steps 9 · 0 usable")
    expect(summary(page)).to_contain_text("0 usable trials at this rung")
    expect(page.locator("#chart-slices")).to_contain_text("Slice plots appear")


def test_picked_trials_open_side_by_side(page, cast, sweep):
    sign_in(page, "viewer")
    page.goto(f"/sweeps/{sweep.pk}/?bracket=2&rung=0")
    button = page.locator("#compare-trials-btn")
    expect(button).to_be_disabled()
    boxes = page.locator("#trial-rows input[form=compare-trials]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    boxes.nth(2).check()
    expect(page.locator("#compare-trials [data-count]")).to_have_text("3 trials picked")
    button.click()
    page.wait_for_url("**/compare/trials/?ids=*")
    expect(page.locator("#compare[data-drawn='1']")).to_be_attached()
    expect(page.locator("#compare-table thead th")).to_have_count(4)
    expect(page.locator("#chart-compare .main-svg").first).to_be_visible()
    expect(page.locator("#chart-compare .legend .traces")).to_have_count(3)
    fits(page, "insight-compare-trials-1440", DESKTOP["width"])


def test_picked_sweeps_open_side_by_side(page, cast, sweep):
    other = off_thread(lambda: rival(cast))
    off_thread(lambda: finish_rung(other, 2, 0))
    sign_in(page, "viewer")
    for sweep_id in (sweep.pk, other.pk):
        page.check(f"#sweeps tr[data-sweep='{sweep_id}'] input[form=compare-sweeps]")
    expect(page.locator("#compare-sweeps [data-count]")).to_have_text("2 sweeps picked")
    page.click("#compare-sweeps-btn")
    page.wait_for_url("**/compare/sweeps/?ids=*")
    expect(page.locator("#chart-compare .legend .traces")).to_have_count(2)
    expect(page.locator("#compare-table thead th")).to_have_count(3)
    fits(page, "insight-compare-sweeps-1440", DESKTOP["width"])


def test_the_pages_fit_a_phone(browser, asgi_server, cast, sweep):
    other = off_thread(lambda: rival(cast))
    off_thread(lambda: finish_rung(other, 2, 0))
    context, page, errors = open_page(browser, asgi_server, PHONE)
    sign_in(page, "viewer")
    page.goto(f"/sweeps/{sweep.pk}/")
    off_thread(lambda: tasks.importance(sweep.pk))
    expect(summary(page)).to_contain_text("Rests on 9 trials")
    expect(page.locator("#chart-slices .main-svg").first).to_be_visible()
    fits(page, "insight-importance-390", PHONE["width"])
    ids = ",".join(str(t.pk) for t in sweep.trials.filter(bracket=2, rung=0).order_by("id")[:3])
    page.goto(f"/compare/trials/?ids={ids}")
    expect(page.locator("#chart-compare .main-svg").first).to_be_visible()
    fits(page, "insight-compare-trials-390", PHONE["width"])
    page.goto(f"/compare/sweeps/?ids={sweep.pk},{other.pk}")
    expect(page.locator("#chart-compare .main-svg").first).to_be_visible()
    fits(page, "insight-compare-sweeps-390", PHONE["width"])
    page.goto("/")
    fits(page, "insight-sweeps-390", PHONE["width"])
    context.close()
    assert errors == [], errors
