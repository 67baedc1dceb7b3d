"""Serving a later page from the search cache, in-process and with Redis.

    .venv/bin/python bench/bench_paging.py [--redis redis://127.0.0.1:6379/15]

Targets: a cached page ≤ 2 ms median in-process, ≤ 5 ms with Redis (500 cached results,
pages of 50). The first (carrier-asking) search is timed as the baseline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from knm import cache, carriers, store
from knm.carriers import Carrier, SearchOptions, SearchResult, search


class Stock(Carrier):
    name = "knm_bench_stock"
    calls = 0

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        type(self).calls += 1
        time.sleep(0.05)
        return [SearchResult(f"{prefix}{i:07d}", self.name, "discovery",
                             {"order_ref": f"r{i}", "rate_center": "SNFC"},
                             locality={"city": "San Francisco", "region": "CA"})
                for i in range(quantity)]

    def acquire_number(self, number):  # type: ignore[no-untyped-def]
        return number

    def disconnect_number(self, number):  # type: ignore[no-untyped-def]
        return number


def bench(label: str, runs: int = 300) -> None:
    begun = time.perf_counter()
    search.find("415", 50, carriers=["bench_stock"], query_id=label)
    first_ms = (time.perf_counter() - begun) * 1000
    calls = Stock.calls
    timings = []
    for run in range(runs):
        offset = 50 * (1 + run % 9)
        begun = time.perf_counter()
        page = search.find("415", 50, offset=offset, carriers=["bench_stock"], query_id=label)
        timings.append((time.perf_counter() - begun) * 1000)
        assert len(page) == 50
    assert Stock.calls == calls, "a cached page asked the carrier"
    print(f"{label:10} first search {first_ms:.1f} ms; cached page of 50: median "
          f"{statistics.median(timings):.3f} ms, p95 {sorted(timings)[int(runs * .95)]:.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default=os.environ.get("KNM_TEST_REDIS_URL",
                                                          "redis://127.0.0.1:6379/15"))
    args = parser.parse_args()
    store.use(f"sqlite:///{tempfile.mkdtemp(prefix='knm-bench-')}/knm.sqlite")
    carriers.register(Stock)
    cache.use(cache.LocalCache())
    bench("in-process")
    redis_cache = cache.RedisCache(args.redis)
    cache.use(redis_cache)
    try:
        bench("redis")
    finally:
        redis_cache.clear()


if __name__ == "__main__":
    main()
