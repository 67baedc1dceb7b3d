"""The background settler of `knm serve` (SPEC §5.1): unsettled purchases and releases —
and number features a carrier still provisions (SPEC §13: E911 registrations, caller-name
listings) — are settled every `order_settle_interval_s` (0 = never), by one process at a
time across workers and nodes.

Each round costs an idle system one lock attempt and two indexed queries (`pending_operation`
has a partial index that holds only the few numbers with an order under way;
`knm_feature_orders` holds only provisioning under way). Numbers whose claim is held by a
live process are left to it.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import select

from knm import config, errors, store
from knm.numbers import operations, providers, purchase
from knm.store import locks
from knm.store.schema import numbers as numbers_t

log = logging.getLogger("knm.numbers.settler")

LOCK = "order-settler"
FIRST_ROUND_AFTER_S = 2.0


def anything_unsettled() -> bool:
    """One cheap query: is any number's order under way or unsettled?"""
    with store.read() as conn:
        return conn.execute(select(numbers_t.c.number)
                            .where(numbers_t.c.pending_operation.isnot(None))
                            .limit(1)).first() is not None


def settle_round() -> dict[str, int]:
    """One round, if this process gets the lock: settle every unsettled number whose claim
    has no live holder. Returns counts by outcome (`settled`, `left`, `busy`), or
    `{"skipped": 1}` when another process holds the lock."""
    with locks.exclusive(LOCK) as held:
        if not held:
            return {"skipped": 1}
        orders, features = anything_unsettled(), providers.anything_pending()
        if not (orders or features):
            return {}
        todo = [pn.number for pn in purchase.unsettled_rows()
                if purchase.claim_state(pn) != purchase.BUSY] if orders else []
        if features:
            todo = list(dict.fromkeys(todo + [row.number for row in providers.pending()]))
        if not todo:
            return {"busy": 1}
        result = operations.settle(todo)
        counts = {"settled": len(result.succeeded), "left": len(result.failed)}
        if result.succeeded:
            log.info("settled %d unsettled orders and feature provisionings; %d still open",
                     counts["settled"], counts["left"])
        return counts


class BackgroundSettler:
    """A daemon thread running `settle_round` every `order_settle_interval_s` (read each
    round, so `knm config set` changes it without a restart)."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="knm-settler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        # a moment's grace at start: a server's first settings read belongs to its first
        # request (settings are cached per process for `KNM_CONFIG_TTL_MS`)
        if self._stop.wait(FIRST_ROUND_AFTER_S):
            return
        while not self._stop.is_set():
            interval = _interval()
            if interval <= 0:
                self._stop.wait(30.0)  # off: look again later, the setting may change
                continue
            if self._stop.wait(interval):
                return
            try:
                settle_round()
            except errors.KnmError as exc:
                log.warning("settling failed: %s", exc)
            except Exception:  # noqa: BLE001 - the settler must outlive any one failure
                log.exception("settling failed")


def _interval() -> float:
    try:
        return config.system_number("order_settle_interval_s")
    except Exception:  # noqa: BLE001 - a database outage: try again later
        time.sleep(1.0)
        return 30.0
