"""Carrier benchmarks against the simulators over loopback. Prints figures; asserts nothing.

Every simulator runs in its own process (uvicorn on a free loopback port), as a real carrier
would: in the benchmark's own process the simulators competed with knm for the GIL and
inflated the fan-out figure. Switches (latency) are set over HTTP (`POST /_sim/switches`).

1. Search fan-out: every simulator with 150 ms latency per request. Baseline: each carrier
   searched alone through `knm.carriers.search` (median of several runs); the slowest of
   those is "the slowest carrier". Then the same search across all carriers through
   `knm.carriers.find`.
   Target: fan-out wall time <= 1.3x the slowest carrier.
2. Buy 200 numbers spread over every simulator (50 ms latency per request) through
   `knm.numbers.move` — the whole purchase protocol: claim, carrier order (and its polling,
   routing), record — 50 purchases at a time. Target: <= 1 s.

Run: .venv/bin/python bench/bench_carriers.py [--runs N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from knm.carriers.base import short_name
from knm.simulators import registry
from knm.simulators.server import free_port

#: a prefix every NANP simulator stocks (their stock is generated for any area code)
PREFIX = "+1415"


def _serve(name: str, port: int) -> None:
    """Child process: one simulator alone, so its CPU does not share knm's GIL."""
    import uvicorn

    sim = registry.get(name).make_simulator()
    uvicorn.run(sim.app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


@contextmanager
def simulators(names: list[str]) -> Iterator[dict[str, str]]:
    """Start each simulator in its own process; yield carrier name → base URL."""
    ctx = multiprocessing.get_context("spawn")
    children: list[multiprocessing.process.BaseProcess] = []
    urls: dict[str, str] = {}
    try:
        for name in names:
            port = free_port()
            child = ctx.Process(target=_serve, args=(name, port), daemon=True,
                                name=f"sim-{name}")
            child.start()
            children.append(child)
            urls[name] = f"http://127.0.0.1:{port}"
        for url in urls.values():
            _wait_up(url)
        yield urls
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.join(5)


def _wait_up(url: str, timeout: float = 20.0) -> None:
    ends = time.monotonic() + timeout
    while True:
        try:
            httpx.get(f"{url}/_sim/switches", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > ends:
                raise
            time.sleep(0.05)


def _switch(url: str, **values: object) -> None:
    httpx.post(f"{url}/_sim/switches", json=values, timeout=5).raise_for_status()


def _carrier_settings(name: str, url: str) -> dict[str, object]:
    """The carrier's settings for a simulator process started with default credentials."""
    spec = registry.get(name)
    return {**registry.wire(name, url, spec.make_simulator()), "order_poll_interval_ms": 50}


# -- 1. search fan-out ----------------------------------------------------------------------


def bench_search(latency_ms: int = 150, runs: int = 11) -> float:
    from knm import cache, carriers, config, store
    from knm.carriers import search

    names = registry.names()
    folder = tempfile.mkdtemp(prefix="knm-bench-")
    store.use(f"sqlite:///{Path(folder) / 'knm.sqlite'}")
    cache.use(cache.LocalCache())
    with simulators(names) as urls:
        for name, url in urls.items():
            for key, value in _carrier_settings(name, url).items():
                config.set(f"number_manager.{short_name(name)}", key, value)
            _switch(url, latency_ms=latency_ms)
        config.set("number_manager", "carrier_modules", names)
        config.set("number_manager", "number_search_timeout_ms", 10000)

        def alone(name: str) -> float:
            started = time.perf_counter()
            outcome = search.find_with_report(PREFIX, 500, carriers=[name],
                                              query_id=uuid.uuid4().hex)
            took = time.perf_counter() - started
            assert outcome.carriers[name].outcome == search.ANSWERED, outcome.carriers
            return took

        def fan_out() -> float:
            started = time.perf_counter()
            found = carriers.find(PREFIX, 500, query_id=uuid.uuid4().hex)
            took = time.perf_counter() - started
            assert found
            return took

        for name in names:  # warm each carrier's connection pool
            alone(name)
        fan_out()
        singles = {name: statistics.median(alone(name) for _ in range(runs)) for name in names}
        walls = [fan_out() for _ in range(runs)]
    wall = statistics.median(walls)
    slowest_name = max(singles, key=lambda n: singles[n])
    slowest = singles[slowest_name]
    ratio = wall / slowest
    print("search, each carrier alone through knm.carriers.search (median of "
          f"{runs}, {latency_ms} ms latency): " +
          ", ".join(f"{short_name(k)} {v * 1000:.0f} ms" for k, v in singles.items()))
    print(f"slowest carrier alone: {slowest_name} {slowest * 1000:.0f} ms")
    print(f"search across all {len(names)} simulators through knm.carriers.find (median of "
          f"{runs}; min {min(walls) * 1000:.0f}, max {max(walls) * 1000:.0f}): "
          f"{wall * 1000:.0f} ms = {ratio:.2f}x the slowest (target <= 1.3x) "
          f"{'OK' if ratio <= 1.3 else 'SLOW'}")
    return ratio


# -- 2. bulk buy ----------------------------------------------------------------------------


def bench_buy(count: int = 200, concurrency: int = 50) -> float:
    from knm import accounts, cache, config, numbers, store
    from knm.carriers import search

    names = registry.names()
    folder = tempfile.mkdtemp(prefix="knm-bench-buy-")
    store.use(f"sqlite:///{Path(folder) / 'knm.sqlite'}")
    cache.use(cache.LocalCache())
    with simulators(names) as urls:
        for name, url in urls.items():
            for key, value in _carrier_settings(name, url).items():
                config.set(f"number_manager.{short_name(name)}", key, value)
        config.set("number_manager", "carrier_modules", names)
        config.set("number_manager", "bulk_concurrency", concurrency)
        account = accounts.create("Bench", is_reseller=True)
        offers: list[list[str]] = []
        for name in names:
            prefix = registry.get(name).prefixes["local"]
            found = search.find(prefix, count, carriers=[name], account_id=account.id,
                                reseller_id=account.id)
            offers.append([row["number"] for row in found])
        # round robin: as evenly over the carriers as their stock allows
        offered = [n for group in itertools.zip_longest(*offers) for n in group if n]
        warm, wanted = offered[:1], offered[1:count + 1]
        numbers.move(warm, account.id)  # one purchase first: pools and caches warm
        for url in urls.values():
            _switch(url, latency_ms=50)
        started = time.perf_counter()
        result = numbers.move(wanted, account.id)
        wall = time.perf_counter() - started
    assert not result.failed, list(result.failed.items())[:3]
    print(f"buy {len(wanted)} numbers spread over {len(names)} simulators through "
          f"knm.numbers.move (50 ms/request, {concurrency} at a time, simulators in their own "
          f"processes): {wall:.2f} s  (target <= 1.0 s) {'OK' if wall <= 1.0 else 'SLOW'}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--latency-ms", type=int, default=150)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(f"machine: {os.cpu_count()} CPUs, load average {load:.2f} (figures are wall times; "
          "a busy machine inflates them)")
    bench_search(args.latency_ms, args.runs)
    bench_buy()


if __name__ == "__main__":
    main()
