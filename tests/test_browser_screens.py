"""Every page on a desktop (1440 px) and a phone (390 px) screen: nothing scrolls sideways,
wide tables scroll in their own box, and axe-core finds no critical or serious problem.

Screenshots land in artifacts/screenshots/{desktop,phone}-NN-page.png and the axe counts per
page in artifacts/axe.json.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from scheduler import access, sharing, sweeps
from tests.browsing import (
    DESKTOP,
    PHONE,
    off_thread,
    open_page,
    page_width,
    shot,
    sign_in,
    sticking_out,
)
from tests.sweeps import finish_rung, started_sweep, tiny_yaml

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def world(cast) -> dict[str, object]:
    """A sweep with a finished, promoted rung and a share link; a stopped sweep; a sweep of
    another team."""
    sweep = started_sweep(cast.team, cast.admin, tiny_yaml(cmd="sleep 30", name="screens"))
    finish_rung(sweep, 2, 0)
    stopped = started_sweep(cast.team, cast.member, tiny_yaml(cmd="sleep 30", name="halted"))
    finish_rung(stopped, 2, 0)
    sweeps.stop_sweep(stopped.pk)
    theirs = started_sweep(cast.other_team, cast.outsider, tiny_yaml(name="theirs"))
    link = sharing.create_link(sweep, cast.admin)
    trial = sweep.trials.filter(bracket=2, rung=0, promoted=True).first()
    return {"sweep": sweep, "stopped": stopped, "theirs": theirs, "trial": trial,
            "share": access.share_token(link)}  # fmt: skip


def visit(page: Page, url: str | None, name: str, width: int, ready: str = "h1") -> None:
    """Open a page (or stay), wait until it is drawn, check it fits the screen, shoot and
    audit it."""
    if url is not None:
        page.goto(url)
    expect(page.locator(ready).first).to_be_visible()
    page.wait_for_load_state("networkidle")
    wide = page_width(page)
    assert wide <= width, f"{name}: {wide} px on a {width} px screen: {sticking_out(page, width)}"
    shot(page, name)


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_every_page_fits_the_screen_and_passes_axe(browser, asgi_server, cast, screen):
    made = off_thread(lambda: world(cast))
    viewport = DESKTOP if screen == "desktop" else PHONE
    width = viewport["width"]
    sweep, trial = made["sweep"], made["trial"]

    def name(n: int, page_name: str) -> str:
        return f"{screen}-{n:02d}-{page_name}"

    context, page, errors = open_page(browser, asgi_server, viewport)
    visit(page, "/accounts/login/", name(1, "login"), width)
    sign_in(page, "admin")
    visit(page, "/", name(2, "sweeps"), width, "#sweeps")
    visit(page, f"/sweeps/{sweep.pk}/", name(3, "sweep"), width, "#chart-curves .main-svg")
    visit(page, f"/sweeps/{made['stopped'].pk}/", name(4, "sweep-stopped"), width, "#bracket-live")
    visit(page, f"/trials/{trial.pk}/", name(5, "trial"), width, "#chart-trial .main-svg")
    visit(page, "/sweeps/new/", name(6, "new-sweep"), width, "#plan-table")
    visit(page, "/teams/", name(7, "teams"), width)
    visit(page, f"/teams/{cast.team.pk}/", name(8, "team"), width, "#members")
    page.goto("/account/")
    page.fill("input[name=name]", "laptop")
    page.click("#tokens button.btn-primary")
    visit(page, None, name(9, "account"), width, "#new-secret input")
    visit(page, f"/sweeps/{made['theirs'].pk}/", name(10, "not-found"), width, "#error-page")
    context.close()
    assert errors == [], errors

    # The share view, signed out.
    context, page, errors = open_page(browser, asgi_server, viewport)
    url = f"/sweeps/{sweep.pk}/?share={made['share']}"
    visit(page, url, name(11, "shared-sweep"), width, "#chart-curves .main-svg")
    context.close()
    assert errors == [], errors
