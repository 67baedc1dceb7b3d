"""Create 10,000 numbers in one `knm.numbers.create` call; print numbers per second.

    .venv/bin/python bench/bench_bulk_create.py [--count N] [--only sqlite|postgresql]

PostgreSQL: `KNM_BENCH_PG_URL` (default postgresql+psycopg://postgres@127.0.0.1:5432/test);
the run uses a fresh schema, dropped afterwards. SQLite: a fresh file in a temporary folder.
The target is ≥ 5,000 numbers/s on PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
import uuid

import sqlalchemy

from knm import accounts, numbers, store

PG_URL = os.environ.get("KNM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
MASTER = "bench000000000000000000000000001"


def run(label: str, count: int) -> float:
    accounts.create("bench master", account_id=MASTER, superduper_admin=True,
                    allow_number_additions=True)
    batch = [f"+1415{n:07d}" for n in range(2_000_000, 2_000_000 + count)]
    started = time.perf_counter()
    result = numbers.create(batch, assign_to=MASTER, auth_by=MASTER)
    elapsed = time.perf_counter() - started
    assert not result.failed, list(result.failed.items())[:3]
    assert len(result.succeeded) == count
    # again: every number now exists, so every one fails alone (the bulk conflict path)
    started = time.perf_counter()
    again = numbers.create(batch[:1000], assign_to=MASTER)
    dup_elapsed = time.perf_counter() - started
    assert len(again.failed) == 1000
    started = time.perf_counter()
    got = numbers.get(batch)
    get_elapsed = time.perf_counter() - started
    assert len(got.succeeded) == count
    rate = count / elapsed
    print(f"{label:<11} create {count} numbers: {elapsed:6.2f} s  {rate:8.0f} numbers/s"
          f"   | get all: {count / get_elapsed:8.0f}/s"
          f"   | 1000 duplicates refused in {dup_elapsed * 1000:.0f} ms")
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            store.use(f"sqlite:///{tmp}/bench.sqlite")
            run("sqlite", args.count)
            store.engine().dispose()
    if args.only in (None, "postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        try:
            store.use(f"{PG_URL}?options=-csearch_path%3D{schema}")
            rate = run("postgresql", args.count)
            print(f"target ≥ 5000 numbers/s on PostgreSQL: {'met' if rate >= 5000 else 'MISSED'}")
            store.engine().dispose()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


if __name__ == "__main__":
    main()
