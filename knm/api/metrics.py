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

from knm import search

REQUESTS = Counter("knm_http_requests_total", "HTTP requests by route template and status",
                   ["method", "route", "status"])
REQUEST_SECONDS = Histogram("knm_http_request_duration_seconds",
                            "HTTP request latency by route template", ["route"],
                            buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
SEARCHES = Counter("knm_searches_total", "Number searches served, by scope and source",
                   ["scope", "source"])
CARRIER_SECONDS = Histogram("knm_carrier_latency_seconds",
                            "Time each carrier took to answer its part of a search",
                            ["carrier"],
                            buckets=(.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10))
CARRIER_ERRORS = Counter("knm_carrier_errors_total",
                         "Carrier failures and timeouts during searches", ["carrier", "outcome"])


def observe_carrier(carrier: str, outcome: str, seconds: float) -> None:
    """`knm.search` observer: latency of every carrier, and its failures."""
    CARRIER_SECONDS.labels(carrier).observe(seconds)
    if outcome != search.ANSWERED:
        CARRIER_ERRORS.labels(carrier, outcome).inc()


def install_search_observer() -> None:
    """Hook the carrier metrics into `knm.search` (once per process)."""
    if observe_carrier not in search.observers:
        search.observers.append(observe_carrier)


def render() -> tuple[bytes, str]:
    """The text exposition, merged across worker processes when there are several."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
