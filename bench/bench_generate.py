"""`knm numbers generate` of 1,000,000 pool numbers, then the same range again.

    .venv/bin/python bench/bench_generate.py [--count N] [--only sqlite|postgresql]

Each database runs in its own process so the peak memory figure (ru_maxrss) is its own. The
first run fills an empty `knm_managed` pool; the second asks for the same range once more,
which adds nothing (every number is already there) and must stay as fast. Every number is
checked to be a real one first. Target: ≥ 100,000 numbers/s on both databases (it was
quadratic: 100,000 numbers took 515 s on SQLite).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid

PG_ADMIN_URL = os.environ.get("KNM_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
#: +1 415 200 0000 …: a million consecutive real numbers (exchanges 200–299 of 415)
START = "+14152000000"
TARGET = 100_000


def run_one(kind: str, count: int) -> dict:
    import sqlalchemy

    from knm import accounts, store
    from knm.numbers import stock

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

    try:
        account = accounts.create("bench", superduper_admin=True).id
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        begun = time.perf_counter()
        first = stock.generate("managed", account, START, count)
        fresh_s = time.perf_counter() - begun
        begun = time.perf_counter()
        again = stock.generate("managed", account, START, count)
        again_s = time.perf_counter() - begun
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    finally:
        if cleanup:
            cleanup()
    return {
        "database": kind, "count": count, "added": first.added, "last": first.last,
        "seconds": round(fresh_s, 2), "numbers_per_s": int(count / fresh_s),
        "again_added": again.added, "again_seconds": round(again_s, 2),
        "again_numbers_per_s": int(count / again_s),
        "peak_rss_mb": round(rss_peak / 1024, 1),
        "rss_growth_mb": round((rss_peak - rss_before) / 1024, 1),
    }


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
        worst = min(r["numbers_per_s"], r["again_numbers_per_s"])
        print(f"{kind:10} generate {r['count']:,} numbers ({START} … {r['last']}) in "
              f"{r['seconds']} s = {r['numbers_per_s']:,}/s (added {r['added']:,}); "
              f"the same range again in {r['again_seconds']} s = "
              f"{r['again_numbers_per_s']:,}/s (added {r['again_added']:,}); peak RSS "
              f"{r['peak_rss_mb']} MB (+{r['rss_growth_mb']} MB); target >= {TARGET:,}/s "
              f"{'met' if worst >= TARGET else 'MISSED'}")


if __name__ == "__main__":
    main()
