"""One page of 50 of an account's numbers, for an account of 1,000 and one of 100,000.

    .venv/bin/python bench/bench_listing.py [--big 100000] [--runs 300] [--only sqlite|postgresql]

Two figures per page position (the first page, and pages from random `start_key`s across the
whole account, the last ones included):
- `handler`: what `GET /v2/accounts/A/phone_numbers?page_size=50&start_key=…` does in the
  worker — the keyset query, `features_available` of each number, the JSON answer;
- `http in process`: the whole request through the ASGI app (auth, routing, middleware,
  envelope) with Starlette's test client, no network.
Target: p50 ≤ 5 ms in process, the same for 1,000 and 100,000 numbers (keyset paging: a page
is a range scan of `(assigned_to, number)`, never an OFFSET over what came before).
PostgreSQL: `KNM_BENCH_PG_URL` (default postgresql+psycopg://postgres@127.0.0.1:5432/test),
a fresh schema dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

import sqlalchemy
from starlette.testclient import TestClient

from knm import accounts, numbers, store
from knm.api import create_app
from knm.api import listing as api_listing
from knm.api.auth import Caller

PG_URL = os.environ.get("KNM_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _timed(call: Callable[[], object], runs: int) -> tuple[float, float]:
    timings = []
    for _ in range(runs):
        begun = time.perf_counter()
        call()
        timings.append((time.perf_counter() - begun) * 1000)
    timings.sort()
    return statistics.median(timings), timings[int(len(timings) * 0.95)]


def _page_timings(client: TestClient, token: str, caller: Caller, account_id: str,
                  keys: list[str] | None, rng: random.Random, runs: int
                  ) -> tuple[tuple[float, float], tuple[float, float]]:
    """(handler p50, p95), (HTTP p50, p95) for pages of 50 from the first number, or from
    random `keys`."""
    path = f"/v2/accounts/{account_id}/phone_numbers"

    def params() -> dict[str, str]:
        if keys is None:
            return {"page_size": "50"}
        return {"page_size": "50", "start_key": rng.choice(keys)}

    def handler() -> None:
        assert api_listing.answer(account_id, caller, params()).status_code == 200

    def http() -> None:
        answer = client.get(path, params=params(), headers={"X-Auth-Token": token})
        assert answer.status_code == 200 and answer.json()["page_size"] >= 1

    return _timed(handler, runs), _timed(http, runs)


def run(label: str, url: str, big: int, runs: int) -> None:
    app = create_app(url)
    master = accounts.create("bench master", superduper_admin=True, is_reseller=True,
                             allow_number_additions=True)
    sizes = {"1k": 1_000, f"{big // 1000}k": big}
    biggest = f"{big // 1000}k"
    held: dict[str, tuple[str, list[str]]] = {}
    for offset, (name, count) in enumerate(sizes.items()):
        account = accounts.create(f"bench {name}", parent_id=master.id)
        batch = [f"+1{415 + offset}{n:07d}" for n in range(2_000_000, 2_000_000 + count)]
        begun = time.perf_counter()
        for i in range(0, count, 20_000):
            made = numbers.create(batch[i:i + 20_000], assign_to=account.id)
            assert not made.failed
        print(f"{label:<10} {name:>5}: {count} numbers created in "
              f"{time.perf_counter() - begun:.1f} s")
        held[name] = (account.id, batch)
    # unassigned stock around them, as in a real inventory
    assert not numbers.create([f"+1628{n:07d}" for n in range(2_000_000, 2_020_000)],
                              assign_to=master.id, state="available").failed
    token = accounts.create_token(master.id, 3600)
    caller = Caller(master.id)
    rng = random.Random(7)
    with TestClient(app) as client:
        for name, (account_id, batch) in held.items():
            for where in ("first page", "random pages"):
                (h50, h95), (w50, w95) = _page_timings(
                    client, token, caller, account_id, batch[:-1] if where != "first page"
                    else None, rng, runs)
                print(f"{label:<10} {name:>5} {where:<13} handler p50 {h50:5.2f} ms "
                      f"p95 {h95:5.2f} ms | http in process p50 {w50:5.2f} ms "
                      f"p95 {w95:5.2f} ms")
        # what OFFSET paging would cost for the last page (why knm pages by key)
        account_id, batch = held[biggest]
        for name, statement, params in (
                ("keyset", "SELECT * FROM knm_numbers WHERE assigned_to = :a AND number >= :k "
                 "ORDER BY number LIMIT 51", {"a": account_id, "k": batch[-50]}),
                ("OFFSET", "SELECT * FROM knm_numbers WHERE assigned_to = :a "
                 "ORDER BY number LIMIT 51 OFFSET :o", {"a": account_id, "o": len(batch) - 50})):
            def query(statement: str = statement, params: dict = params) -> None:
                with store.read() as conn:
                    assert len(conn.execute(sqlalchemy.text(statement), params).all()) == 50
            q50, q95 = _timed(query, max(20, runs // 10))
            print(f"{label:<10} {biggest:>5} last page, SQL alone, {name:<6}: p50 {q50:6.2f} ms "
                  f"p95 {q95:6.2f} ms")
        # the whole account, page by page: every number once
        seen, start, begun = 0, None, time.perf_counter()
        while True:
            query = {"page_size": "50", **({"start_key": start} if start else {})}
            body = client.get(f"/v2/accounts/{account_id}/phone_numbers", params=query,
                              headers={"X-Auth-Token": token}).json()
            seen += body["page_size"]
            start = body.get("next_start_key")
            if start is None:
                break
        elapsed = time.perf_counter() - begun
        assert seen == len(batch)
        print(f"{label:<10} {biggest:>5} walked in pages of 50: {seen} numbers, {seen // 50} pages "
              f"in {elapsed:.1f} s ({elapsed / (seen / 50) * 1000:.2f} ms a page)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--only", choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    if args.only in (None, "sqlite"):
        with tempfile.TemporaryDirectory() as tmp:
            run("sqlite", f"sqlite:///{tmp}/bench.sqlite", args.big, args.runs)
            store.engine().dispose()
    if args.only in (None, "postgresql"):
        schema = f"bench_{uuid.uuid4().hex[:8]}"
        admin = sqlalchemy.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        try:
            run("postgresql", f"{PG_URL}?options=-csearch_path%3D{schema}", args.big, args.runs)
            store.engine().dispose()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            admin.dispose()


if __name__ == "__main__":
    main()
