"""The console's first page of search results, timed in a real browser on the demo.

    .venv/bin/python bench/bench_console.py [--runs 40] [--prefix 415] [--quantity 20]

Starts what `knm demo` starts (every carrier simulator, wired into a fresh SQLite database,
and the API app on a loopback port), opens `/console` in Debian's headless Chromium, logs in
with the demo's API key, then clicks Search `--runs` times. Each click is a fresh search of
every carrier (a first page is never served from the cache). Two figures per run:
  - click → table: from Playwright's click to the page's table holding the new results,
    seen by a check that runs on the browser's animation frames (so it includes layout);
  - in the page: from the form's submit event to the end of rendering (performance marks).
Goal: ≤ 300 ms (median and p95) for 20 numbers, click → table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

# the one place that says how Debian's Chromium is launched (no browser is downloaded)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "console"))

from chromium_launch import launch  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from knm import demo  # noqa: E402
from knm.api import create_app  # noqa: E402
from knm.simulators.server import BackgroundServer  # noqa: E402

_RENDERED = """before => Number(document.querySelector('[data-testid=search-results]')
                               .dataset.generation) > before"""
_IN_PAGE = """() => {
    const start = performance.getEntriesByName('knm-search-start').pop();
    const end = performance.getEntriesByName('knm-search-rendered').pop();
    return end.startTime - start.startTime;
}"""


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--prefix", default="415")
    parser.add_argument("--quantity", type=int, default=20)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="knm-bench-console-")
    system = demo.setup(db_url=f"sqlite:///{folder}/knm.sqlite")
    api = BackgroundServer(create_app()).start()
    try:
        with sync_playwright() as playwright:
            context = launch(playwright, f"{folder}/chromium-profile")
            page = context.new_page()
            page.goto(api.url + "/console")
            page.get_by_label("API key").fill(system.api_key)
            page.get_by_role("button", name="Log in").click()
            page.get_by_label("Prefix").fill(args.prefix)
            page.get_by_label("Quantity").fill(str(args.quantity))
            button = page.get_by_role("button", name="Search", exact=True)
            table = page.get_by_test_id("search-results")
            wall: list[float] = []
            in_page: list[float] = []
            for run in range(args.warmup + args.runs):
                before = int(table.get_attribute("data-generation") or 0)
                begun = time.perf_counter()
                button.click()
                page.wait_for_function(_RENDERED, arg=before, polling="raf")
                elapsed = (time.perf_counter() - begun) * 1000
                rows = page.get_by_test_id("search-row").count()
                if rows != args.quantity:
                    raise SystemExit(f"run {run}: {rows} rows, expected {args.quantity}")
                if run >= args.warmup:
                    wall.append(elapsed)
                    in_page.append(page.evaluate(_IN_PAGE))
            carriers = page.get_by_test_id("carrier-row").count()
            context.close()
    finally:
        api.stop()
        system.stop()

    print(f"console search, {args.quantity} numbers from {carriers} carriers, "
          f"{args.runs} runs (after {args.warmup} warm-up):")
    print(f"  click -> table rendered: median {statistics.median(wall):.1f} ms, "
          f"p95 {_p95(wall):.1f} ms, max {max(wall):.1f} ms (goal <= 300 ms)")
    print(f"  in the page (submit -> rendered): median {statistics.median(in_page):.1f} ms, "
          f"p95 {_p95(in_page):.1f} ms")


if __name__ == "__main__":
    main()
