"""What the browser tests share: Debian's Chromium under Playwright, signing in, screenshots,
the axe-core accessibility audit and the sideways-scroll check.

The `browser` and `page` fixtures live in conftest.py and use `open_page`. axe-core's file,
tests/vendor/axe.min.js (the npm package axe-core, MPL-2.0), is injected into the page under
test only; the site never serves it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.db import connections
from playwright.sync_api import Browser, Page, expect

from tests.conftest import ARTIFACTS

SHOTS = ARTIFACTS / "screenshots"
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"
AXE_REPORT = ARTIFACTS / "axe.json"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1440, "height": 1000}
PHONE = {"width": 390, "height": 844}
# The impacts that fail a page; axe also reports "moderate" and "minor" ones.
BLOCKING = ("critical", "serious")
# How long a page load, an action or an `expect` may wait. On a loaded 2-core machine a live
# update or a first page render can take many seconds; these bound a hang, they time nothing.
WAIT_MS = 45_000
expect.set_options(timeout=WAIT_MS)


def open_page(browser: Browser, base_url: str, viewport: dict[str, int] = DESKTOP, **options):
    """Open a fresh context and page; return (context, page, errors raised in the page)."""
    context = browser.new_context(base_url=base_url, viewport=viewport, **options)
    context.set_default_timeout(WAIT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


def shot(page: Page, name: str, audited: bool = True) -> None:
    """Save a full-page screenshot, and fail on a serious accessibility problem in it (a page
    with JavaScript off cannot run axe: pass `audited=False`)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    if audited:
        audit(page, name)


def sign_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", f"pw-{username}-123")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Sweeps")


def off_thread(make: Callable[[], Any]) -> Any:
    """Run `make` in another thread and return its result: Playwright's event loop in this
    thread would keep the events it writes from being published."""
    made: list[Any] = []

    def run() -> None:
        try:
            made.append(make())
        finally:
            connections.close_all()  # give the thread's connection back to the pool

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    assert made, "the setup thread failed; see its traceback above"
    return made[0]


def running_sweep(cast, name: str) -> Any:
    """A running 22-trial tiny sweep (loss = lr) of the cast's team whose bracket s=2 finished
    rung 0 (9 trials at resource 1, 3 promoted); made off this thread (see off_thread)."""
    from tests.sweeps import finish_rung, started_sweep, tiny_yaml

    def make() -> Any:
        made = started_sweep(cast.team, cast.member, tiny_yaml(cmd="sleep 30", name=name))
        finish_rung(made, 2, 0)
        return made

    return off_thread(make)


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page once its finite animations have ended; return each violation
    with its impact and first targets."""
    if not page.evaluate("typeof window.axe === 'object'"):
        page.add_script_tag(path=str(AXE))
    # Contrast is measured on the page at rest: a banner fading in or a row flashing would
    # read as too faint mid-animation. Finite animations are awaited; endless ones (the
    # running badge's pulse) are not.
    return page.evaluate(
        """async () => {
            const settling = document.getAnimations()
                .filter((a) => a.effect?.getTiming().iterations !== Infinity)
                .map((a) => a.finished.catch(() => null));
            await Promise.all(settling);
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
                targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")),
            }));
        }"""
    )


def audit(page: Page, name: str) -> list[dict[str, Any]]:
    """Audit the page with axe-core, record the counts per impact in artifacts/axe.json, and
    fail on any critical or serious violation."""
    found = axe_violations(page)
    counts = {impact: 0 for impact in ("critical", "serious", "moderate", "minor")}
    for violation in found:
        counts[violation["impact"] or "minor"] += violation["nodes"]
    report = json.loads(AXE_REPORT.read_text()) if AXE_REPORT.exists() else {}
    report[name] = {"counts": counts, "violations": found}
    ARTIFACTS.mkdir(exist_ok=True)
    AXE_REPORT.write_text(json.dumps(report, indent=1, sort_keys=True))
    blocking = [v for v in found if v["impact"] in BLOCKING]
    assert blocking == [], f"{name}: {json.dumps(blocking, indent=1)}"
    return found


def page_width(page: Page) -> int:
    """Return how wide the document is; more than the viewport means sideways scrolling."""
    return page.evaluate("document.documentElement.scrollWidth")


def sticking_out(page: Page, width: int) -> list[str]:
    """Name the outermost elements that reach past `width` px (for a failure message)."""
    return page.evaluate(
        """(width) => {
            const out = [];
            for (const node of document.querySelectorAll("body *")) {
                const box = node.getBoundingClientRect();
                const visible = getComputedStyle(node).overflowX === "visible";
                const reach = visible
                    ? Math.max(box.right, box.left + node.scrollWidth) : box.right;
                if (reach <= width + 0.5) continue;
                if (out.some((o) => o.node.contains(node))) continue;
                let clipped = false;
                for (let up = node.parentElement; up; up = up.parentElement) {
                    if (getComputedStyle(up).overflowX !== "visible") clipped = true;
                }
                if (!clipped) out.push({ node });
            }
            return out.slice(0, 8).map(({ node }) =>
                `${node.tagName.toLowerCase()}#${node.id}.${[...node.classList].join(".")} ` +
                `reaches ${Math.round(node.getBoundingClientRect().left + node.scrollWidth)} px`);
        }""",
        width,
    )
