"""Prometheus metrics of the HTTP API: requests, searches, and how each carrier is doing.

With several uvicorn workers each process counts on its own; `serve()` then points
`PROMETHEUS_MULTIPROC_DIR` at a shared folder and `/metrics` merges every worker's figures,
so a scrape sees the whole server whichever worker answers it.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)

from knm import carriers
from knm.carriers import search
from knm.numbers import purchase

REQUESTS = Counter("knm_http_requests_total", "HTTP requests by route template and status",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("knm_http_request_duration_seconds",
                            "HTTP request latency by route template", ["route"],
                            buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
SEARCHES = Counter("knm_searches_total", "Number searches served, by scope and source",
                   ["scope", "source"])
CARRIER_SECONDS = Histogram("knm_carrier_latency_seconds",
                            "Time a carrier took to answer, by operation "
                            "(its part of a search, a purchase, a release)",
                            ["carrier", "operation"],
                            buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
CARRIER_ERRORS = Counter("knm_carrier_errors_total",
                         "Carrier failures and timeouts, by operation",
                         ["carrier", "operation", "outcome"])


def observe_carrier(carrier: str, operation: str, outcome: str, seconds: float) -> None:
    """Latency of every carrier call, and its failures."""
    CARRIER_SECONDS.labels(carrier, operation).observe(seconds)
    if outcome != search.ANSWERED:
        CARRIER_ERRORS.labels(carrier, operation, outcome).inc()


def _observe_search(carrier: str, outcome: str, seconds: float) -> None:
    observe_carrier(carrier, "search", outcome, seconds)


def install_carrier_observers() -> None:
    """Hook the carrier metrics into `knm.carriers.search` and the purchase/release calls of
    `knm.carriers` (once per process)."""
    if _observe_search not in search.observers:
        search.observers.append(_observe_search)
    if observe_carrier not in carriers.observers:
        carriers.observers.append(observe_carrier)


def render() -> tuple[bytes, str]:
    """The text exposition, merged across worker processes when there are several, with the
    database's own figures (the same whichever worker answers) added."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry) + _orders_text(), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY) + _orders_text(), CONTENT_TYPE_LATEST


def _orders_text() -> bytes:
    """`knm_orders_unsettled{operation}`: purchases and releases under way or unsettled (an
    alert on it staying above 0 finds orders no carrier could settle)."""
    try:
        counts = purchase.unsettled_counts()
    except Exception:  # noqa: BLE001 - a database outage must not take /metrics down
        return b""
    lines = ["# HELP knm_orders_unsettled Purchases and releases at carriers under way or "
             "unsettled", "# TYPE knm_orders_unsettled gauge"]
    lines += [f'knm_orders_unsettled{{operation="{op}"}} {n}' for op, n in sorted(counts.items())]
    return ("\n".join(lines) + "\n").encode()
