"""Carrier benchmarks against the simulators over loopback. Prints figures; asserts nothing.

Every simulator runs in its own process (uvicorn on a free loopback port), as a real carrier
would: in the benchmark's own process the simulators competed with knm for the GIL and
inflated the fan-out figure. Switches (latency) are set over HTTP (`POST /_sim/switches`).

1. Search fan-out: every simulator with 150 ms latency per request. Baseline: each carrier
   searched alone through `knm.carriers.search` (median of several runs); the slowest of
   those is "the slowest carrier". Then the same search across all carriers through
   `knm.carriers.find`.
   Target: fan-out wall time <= 1.3x the slowest carrier.
2. Buy 200 distinct numbers from one simulator (50 ms latency per request) with 50 threads.
   Target: <= 2 s.

Run: .venv/bin/python bench/bench_carriers.py [--runs N] [--latency-ms MS]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx

from knm.carriers.base import short_name
from knm.record import PhoneNumber
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


def bench_buy(name: str = "knm_telnyx", count: int = 200, threads: int = 50) -> float:
    with simulators([name]) as urls:
        url = urls[name]
        _switch(url, latency_ms=50)
        spec = registry.get(name)
        carrier = spec.make_carrier_class()(_carrier_settings(name, url))
        numbers = [f"+1415{7000000 + i:07d}" for i in range(count)]
        carrier.acquire_number(PhoneNumber.new("+14156999999"))  # warm the pool
        started = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            bought = list(pool.map(
                lambda n: carrier.acquire_number(PhoneNumber.new(n)), numbers))
        wall = time.perf_counter() - started
        carrier.close()
    assert len({pn.number for pn in bought}) == count
    print(f"buy {count} numbers from {name} (50 ms/request, {threads} threads, "
          f"simulator in its own process): {wall:.2f} s  (target <= 2.0 s) "
          f"{'OK' if wall <= 2.0 else 'SLOW'}")
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
