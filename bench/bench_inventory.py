"""Bulk inventory import and local-carrier search on 1,000,000 numbers.

    .venv/bin/python bench/bench_inventory.py [--count N] [--only sqlite|postgresql]

Each database runs in its own process so the peak memory figure (ru_maxrss) is its own.
Targets: import ≥ 50,000 numbers/s (SQLite), ≥ 100,000/s (PostgreSQL), peak ≤ 500 MB;
a search for 100 numbers under a prefix ≤ 5 ms median.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

PG_ADMIN_URL = os.environ.get("KNM_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")


#: 100 area codes in service (the import refuses numbers that are not real): the first
#: 100 from 201 up whose exchange 200 phonenumbers takes as valid
NPAS = (201, 202, 203, 204, 205, 206, 207, 208, 209, 210, 212, 213, 214, 215, 216, 217, 218,
        219, 220, 223, 224, 225, 226, 227, 228, 229, 231, 234, 235, 236, 239, 240, 248, 249,
        250, 251, 252, 253, 254, 256, 257, 260, 262, 263, 267, 269, 270, 272, 273, 274, 276,
        279, 281, 283, 289, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 312, 313, 314,
        315, 316, 317, 318, 319, 320, 321, 323, 324, 325, 326, 327, 329, 330, 331, 332, 334,
        336, 337, 339, 340, 341, 343, 346, 347, 350, 351, 352, 353, 354, 360, 361)


def numbers(count: int):  # type: ignore[no-untyped-def]
    # 1,000,000 numbers spread over 100 NPAs (as an unsorted CSV would be): +1 NPA 200 XXXX
    for i in range(count):
        npa = NPAS[i % 100]
        yield f"+1{npa}{2000000 + i // 100:07d}"


def run_one(kind: str, count: int) -> dict:
    import sqlalchemy

    from knm import carriers, store
    from knm.carriers import SearchOptions
    from knm.numbers.stock import import_inventory

    cleanup = None
    if kind == "sqlite":
        folder = tempfile.mkdtemp(prefix="knm-bench-")
        store.use(f"sqlite:///{folder}/knm.sqlite")
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        store.use(f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}")

        def cleanup() -> None:
            store.engine().dispose()
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    begun = time.perf_counter()
    added = import_inventory(numbers(count))
    seconds = time.perf_counter() - begun
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    carrier = carriers.get_carrier("knm_inventory")
    options = SearchOptions(account_id="a" * 32)
    rng = random.Random(7)
    timings = []
    sizes = set()
    for _ in range(300):
        prefix = f"+1{rng.choice(NPAS)}20"  # ~10,000 numbers under each prefix
        start = time.perf_counter()
        found = carrier.find_numbers(prefix, 100, options)
        timings.append((time.perf_counter() - start) * 1000)
        sizes.add(len(found))
    out = {
        "database": kind, "count": count, "added": added, "seconds": round(seconds, 2),
        "numbers_per_s": int(count / seconds), "peak_rss_mb": round(rss_peak / 1024, 1),
        "rss_growth_mb": round((rss_peak - rss_before) / 1024, 1),
        "search_100_median_ms": round(statistics.median(timings[20:]), 3),
        "search_100_p95_ms": round(sorted(timings[20:])[int(len(timings[20:]) * .95)], 3),
        "search_sizes": sorted(sizes),
    }
    if cleanup:
        cleanup()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.only, args.count)))
        return
    for kind in ([args.only] if args.only else ["sqlite", "postgresql"]):
        proc = subprocess.run([sys.executable, __file__, "--child", "--only", kind,
                               "--count", str(args.count)], capture_output=True, text=True)
        if proc.returncode:
            print(f"{kind}: failed\n{proc.stderr[-2000:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{kind:10} import {r['count']:,} numbers in {r['seconds']} s = "
              f"{r['numbers_per_s']:,}/s (added {r['added']:,}); peak RSS "
              f"{r['peak_rss_mb']} MB (+{r['rss_growth_mb']} MB during import); "
              f"search 100 numbers: median {r['search_100_median_ms']} ms, "
              f"p95 {r['search_100_p95_ms']} ms, sizes {r['search_sizes']}")


if __name__ == "__main__":
    main()
