"""Debian's Chromium under Playwright, as every browser test launches it.

Playwright only drives the browser: `/usr/bin/chromium` comes from Debian's `chromium`
package (`scripts/ensure_chromium.sh`, run by `make test`); `playwright install` and any other
browser download are never used.
"""

from __future__ import annotations

import os
from typing import Any

CHROMIUM = os.environ.get("KNM_TEST_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def launch(playwright: Any, user_data_dir: str) -> Any:
    """A browser context on a fresh profile in `user_data_dir`."""
    if not os.access(CHROMIUM, os.X_OK):
        raise RuntimeError(f"{CHROMIUM} is missing: run `sh scripts/ensure_chromium.sh` "
                           "(installs Debian's chromium package)")
    return playwright.chromium.launch_persistent_context(
        user_data_dir, executable_path=CHROMIUM, args=ARGS, headless=True,
        viewport={"width": 1280, "height": 900})
