"""Fan-out latency: ten carriers answering in 200 ms each, and one that hangs.

    .venv/bin/python bench/bench_search.py

Targets: ten 200 ms carriers ≤ 1.3 × one carrier's latency (measured in this process);
a search with one hung carrier returns within number_search_timeout_ms + 100 ms.
"""

from __future__ import annotations

import statistics
import tempfile
import time

from knm import cache, carriers, config, store
from knm.carriers import Carrier, SearchOptions, SearchResult, search


def make(index: int, delay: float) -> type[Carrier]:
    class Bench(Carrier):
        name = f"knm_bench_{index}"

        def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                         ) -> list[SearchResult]:
            time.sleep(delay)
            return [SearchResult(f"{prefix}{index:02d}{i:05d}", self.name, "discovery")
                    for i in range(min(quantity, 50))]

        def acquire_number(self, number):  # type: ignore[no-untyped-def]
            return number

        def disconnect_number(self, number):  # type: ignore[no-untyped-def]
            return number

    return Bench


def timed(names: list[str], runs: int) -> list[float]:
    out = []
    for run in range(runs):
        begun = time.perf_counter()
        outcome = search.find_with_report("415", 20, carriers=names, query_id=f"b{run}")
        out.append(time.perf_counter() - begun)
        assert len(outcome.results) == 20
    return out


def main() -> None:
    store.use(f"sqlite:///{tempfile.mkdtemp(prefix='knm-bench-')}/knm.sqlite")
    cache.use(cache.LocalCache())
    for i in range(10):
        carriers.register(make(i, 0.2))
    carriers.register(make(99, 3600.0))  # hung
    one = timed(["knm_bench_0"], 5)
    ten = timed([f"knm_bench_{i}" for i in range(10)], 5)
    one_ms, ten_ms = statistics.median(one) * 1000, statistics.median(ten) * 1000
    print(f"one 200 ms carrier: median {one_ms:.1f} ms")
    print(f"ten 200 ms carriers: median {ten_ms:.1f} ms  -> ratio {ten_ms / one_ms:.3f} "
          f"(target <= 1.3)")

    timeout_ms = 1000
    config.set("number_manager", "number_search_timeout_ms", timeout_ms)
    hung = []
    for run in range(3):
        begun = time.perf_counter()
        outcome = search.find_with_report(
            "415", 20, carriers=["knm_bench_99", "knm_bench_1", "knm_bench_2"],
            query_id=f"h{run}")
        hung.append((time.perf_counter() - begun) * 1000)
        assert outcome.carriers["knm_bench_99"].outcome == "timed_out"
        assert len(outcome.results) == 20
    worst = max(hung)
    print(f"one hung carrier, deadline {timeout_ms} ms: worst {worst:.1f} ms, "
          f"over deadline by {worst - timeout_ms:.1f} ms (target <= 100 ms)")


if __name__ == "__main__":
    main()
