"""Benchmark: the dashboard on a big sweep (11,000 trials and 1,000,000 points), in Chromium.

Loads the sweep with `manage.py load_big_sweep` (BENCH_TRIALS and BENCH_POINTS change its
size; issue 13's goals are for 100,000 trials and 10,000,000 points: `BENCH_TRIALS=100000
BENCH_POINTS=10000000` loads them into a max_iter=59049 plan, in a few minutes), then opens
each page in headless Chromium against the real ASGI server and prints, per page: server time
to first byte, DOMContentLoaded, load, first contentful paint, and (on the sweep page) when
every chart has drawn and the live socket has caught up. Run with `make benchmark`; it asserts
nothing about speed, only that the pages rendered. The figures also go to
artifacts/benchmarks/dashboard.json. At the goal's size loading alone takes minutes, so the
test's time limit grows with the size.
"""

from __future__ import annotations

import json
import os
import statistics
import time

import psutil
import pytest
from django.core.management import call_command
from playwright.sync_api import sync_playwright

from benchmarks.goals import verdict
from scheduler.models import MetricPoint, Sweep
from tests.conftest import ARTIFACTS

pytestmark = pytest.mark.django_db(transaction=True)

ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
RUNS = 3
TIMING = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const paint = performance.getEntriesByName("first-contentful-paint")[0];
  const mark = (name) => performance.getEntriesByName(name)[0]?.startTime ?? null;
  return {ttfb: nav.responseStart, html_bytes: nav.encodedBodySize,
          dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          fcp: paint ? paint.startTime : null,
          charts: mark("hb:charts"), live: mark("hb:live")};
}"""


def measure(page, url: str, wait_for: str | None) -> dict:
    page.goto(url, wait_until="load")
    for name in (wait_for, "hb:live") if wait_for else ():
        page.wait_for_function(f"performance.getEntriesByName('{name}').length > 0",
                               timeout=120_000)  # fmt: skip
    page.wait_for_function("performance.getEntriesByType('navigation')[0].loadEventEnd > 0")
    return page.evaluate(TIMING)


def summary(runs: list[dict]) -> dict:
    keys = [k for k in runs[0] if all(r[k] is not None for r in runs)]
    return {k: round(statistics.median(r[k] for r in runs), 1) for k in keys}


TRIALS = int(os.environ.get("BENCH_TRIALS", "11000"))
POINTS = int(os.environ.get("BENCH_POINTS", "1000000"))
BIG = TRIALS > 11_000  # past what the max_iter=6561 plan holds: max_iter=59049


@pytest.mark.timeout(3600 if BIG else 300)
def test_dashboard_on_a_big_sweep(asgi_server):
    started = time.monotonic()
    size = ["--trials", str(TRIALS), "--points", str(POINTS),
            "--max-iter", "59049" if BIG else "6561"]  # fmt: skip
    call_command("load_big_sweep", "--user", "bench", "--name", "bench-sweep", *size)
    load_seconds = time.monotonic() - started
    sweep = Sweep.objects.get(name="bench-sweep")
    trial = sweep.trials.filter(status="succeeded").order_by("-rung", "id").first()
    trials, points = sweep.trials.count(), MetricPoint.objects.filter(trial__sweep=sweep).count()
    pages = {
        "sweeps list": ("/", None),
        "sweep": (f"/sweeps/{sweep.pk}/", "hb:charts"),
        "sweep, trial table page 50": (f"/sweeps/{sweep.pk}/?sort=-metric&page=50", "hb:charts"),
        "trial": (f"/trials/{trial.pk}/", None),
    }
    results = {}
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's loop; the ORM is done
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        page = browser.new_page(base_url=asgi_server, viewport={"width": 1440, "height": 1000})
        page.goto("/accounts/login/")
        page.fill("input[name=username]", "bench")
        page.fill("input[name=password]", "pw-bench-123")
        page.click("button[type=submit]")
        page.wait_for_url(f"{asgi_server}/")
        page.goto(f"/sweeps/{sweep.pk}/", wait_until="load")  # warm caches: Plotly, templates
        page.wait_for_function("performance.getEntriesByName('hb:charts').length > 0",
                               timeout=120_000)  # fmt: skip
        for name, (url, mark) in pages.items():
            results[name] = summary([measure(page, url, mark) for _ in range(RUNS)])
        browser.close()
    report(sweep, trials, points, load_seconds, results)
    print(verdict("sweep page first render (first contentful paint)", results["sweep"]["fcp"],
                  1500, "ms"))  # fmt: skip
    print(verdict("sweep page charts drawn", results["sweep"]["charts"], 3000, "ms"))
    print(verdict("sweeps list loaded", results["sweeps list"]["load"], 300, "ms"))
    print(f"web process memory (RSS): {server_rss(asgi_server) / 2**20:,.0f} MiB")
    print(f"scale: {trials:,} trials, {points:,} points (goal scale: 100,000 and 10,000,000)")
    assert results["sweep"]["charts"] > 0


def server_rss(url: str) -> int:
    """Return the resident memory in bytes of the process listening on the server's port."""
    port = int(url.rsplit(":", 1)[1])
    for proc in psutil.process_iter(["cmdline"]):
        if str(port) in (proc.info["cmdline"] or []) and "uvicorn" in " ".join(
            proc.info["cmdline"]
        ):
            return proc.memory_info().rss
    return 0


def report(sweep, trials: int, points: int, load_seconds: float, results: dict) -> None:
    print(f"\n\ndashboard benchmark: sweep {sweep.pk}, {trials:,} trials, {points:,} points")
    print(f"loaded in {load_seconds:.1f} s; median of {RUNS} loads, ms from navigation start")
    header = ("page", "ttfb", "dcl", "fcp", "load", "charts", "live")
    print("  ".join(f"{h:>28}" if i == 0 else f"{h:>8}" for i, h in enumerate(header)))
    for name, row in results.items():
        cells = [f"{row.get(k, float('nan')):8.0f}" for k in header[1:]]
        print(f"{name:>28}  " + "  ".join(cells) + f"   html {row['html_bytes'] / 1024:.0f} KiB")
    out = ARTIFACTS / "benchmarks"
    out.mkdir(parents=True, exist_ok=True)
    data = {"trials": trials, "points": points, "load_seconds": load_seconds, "pages": results}
    (out / "dashboard.json").write_text(json.dumps(data, indent=2))
