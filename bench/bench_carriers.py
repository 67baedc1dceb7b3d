"""Carrier benchmarks against the simulators over loopback. Prints figures; asserts nothing.

1. Buy 200 distinct numbers from one simulator (50 ms latency per request) with 50 threads.
   Target: <= 2 s.
2. Search every simulator at once (150 ms latency each). Target: wall time <= 1.3x the
   slowest single carrier.

Run: .venv/bin/python bench/bench_carriers.py
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import httpx

from knm.carriers.base import SearchOptions
from knm.numbers.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.server import free_port


def _serve(name: str, port: int) -> None:
    """Child process: the simulator alone, so its CPU does not share knm's GIL."""
    from knm.simulators.server import BackgroundServer

    server = BackgroundServer(registry.get(name).make_simulator().app, port=port).start()
    while server.port:
        time.sleep(3600)


def bench_buy(name: str = "knm_telnyx", count: int = 200, threads: int = 50) -> float:
    """The simulator runs in its own process, as a carrier would: switches go over HTTP."""
    port = free_port()
    child = multiprocessing.get_context("spawn").Process(target=_serve, args=(name, port),
                                                         daemon=True)
    child.start()
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                httpx.post(f"{url}/_sim/switches", json={"latency_ms": 50}).raise_for_status()
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        spec = registry.get(name)
        config = {**spec.config(spec.make_simulator(), url), "order_poll_interval_ms": 50}
        carrier = spec.make_carrier_class()(config)
        numbers = [f"+1415{7000000 + i:07d}" for i in range(count)]
        carrier.acquire_number(PhoneNumber.new("+14156999999"))  # warm the pool
        started = time.monotonic()
        with ThreadPoolExecutor(threads) as pool:
            bought = list(pool.map(
                lambda n: carrier.acquire_number(PhoneNumber.new(n)), numbers))
        wall = time.monotonic() - started
        assert len({pn.number for pn in bought}) == count
        print(f"buy {count} numbers from {name} (50 ms/request, {threads} threads, "
              f"simulator in its own process): {wall:.2f} s  (target <= 2.0 s) "
              f"{'OK' if wall <= 2.0 else 'SLOW'}")
        return wall
    finally:
        child.terminate()
        child.join(5)


def bench_search(latency_ms: int = 150) -> float:
    with ExitStack() as stack:
        lives = [stack.enter_context(registry.running(n)) for n in registry.names()]
        for live in lives:
            live.sim.set(latency_ms=latency_ms)

        def one(live: registry.Live) -> float:
            started = time.monotonic()
            live.carrier.find_numbers(live.spec.prefixes["local"], 500,
                                      SearchOptions(deadline=time.monotonic() + 5))
            return time.monotonic() - started

        for live in lives:  # warm the connection pools first
            one(live)
        singles = {live.spec.carrier: one(live) for live in lives}
        started = time.monotonic()
        with ThreadPoolExecutor(len(lives)) as pool:
            list(pool.map(one, lives))
        wall = time.monotonic() - started
        slowest = max(singles.values())
        print("single searches: " + ", ".join(f"{k} {v * 1000:.0f} ms"
                                              for k, v in singles.items()))
        print(f"search across {len(lives)} simulators ({latency_ms} ms each): "
              f"{wall * 1000:.0f} ms = {wall / slowest:.2f}x the slowest "
              f"(target <= 1.3x) {'OK' if wall <= 1.3 * slowest else 'SLOW'}")
        return wall


if __name__ == "__main__":
    bench_buy()
    bench_search()
