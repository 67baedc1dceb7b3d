"""CPU cost of one account search on a local inventory, in-process (no HTTP, one thread).

    .venv/bin/python bench/bench_search_cpu.py [--count 100000] [--searches 500]

The HTTP API's search throughput is bounded by this figure; the difference between it and the
API's per-request cost is the HTTP layer plus contention (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

FIRST = 14152000000  # +1 415 200 …: exchange 200 is in service (imports refuse unreal numbers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--searches", type=int, default=500)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()

    from knm import accounts, config, store
    from knm.carriers import search
    from knm.numbers.stock import import_inventory

    url = args.db or f"sqlite:///{Path(tempfile.mkdtemp(prefix='knm-bench-')) / 'k.sqlite'}"
    store.use(url)
    master = accounts.create("bench", superduper_admin=True, allow_number_additions=True)
    config.set("number_manager", "carrier_modules", ["knm_inventory"])
    import_inventory(f"+{FIRST + i}" for i in range(args.count))
    rng = random.Random(1)
    span = max(args.count // 100, 1)

    def one() -> float:
        prefix = "+" + str(FIRST // 100 + rng.randrange(span))
        began = time.perf_counter()
        found = search.find(prefix, 10, account_id=master.id, reseller_id=master.id)
        assert len(found) == 10
        return time.perf_counter() - began

    for _ in range(50):
        one()
    times = sorted(one() for _ in range(args.searches))
    print(f"{store.dialect()}: account search over {args.count} inventory numbers "
          f"(4 store-backed carriers): median {statistics.median(times) * 1000:.2f} ms, "
          f"p95 {times[int(len(times) * 0.95)] * 1000:.2f} ms per search, one thread")


if __name__ == "__main__":
    main()
