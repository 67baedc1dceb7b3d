"""Settling lost purchases (issue "Orders that are never lost"), and what the settler costs
when there is nothing to settle.

1. 1,000 purchases whose answers were lost: every registered HTTP carrier's simulator, each in
   a process of its own (`knm simulate`), is switched to `ambiguous: empty_502` (it sells the
   number, then answers an empty 502), and knm buys ~1,000 numbers across them — each one is
   kept unsettled. Then the simulators answer with 50 ms of latency per request, and
   `knm.numbers.settle()` settles them all. Target: <= 2 s. A carrier that can list its
   holdings is asked for a page or two of them instead of once per number
   (`Carrier.held_listing`); `--baseline` first does the same with every number asked on
   its own, in the same process, and prints the ratio.
2. The background settler on an idle system: one round (`settler.settle_round`) — its time,
   and the SQL statements it sends. Target: one cheap query per interval.

    .venv/bin/python bench/bench_settle.py [--numbers 1000] [--db URL] [--baseline] [--detail]
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import event

from knm import accounts, config, numbers, runtime, store
from knm.carriers import search
from knm.numbers import purchase, settler
from knm.simulators import registry

KNM = str(Path(sys.executable).with_name("knm"))


def start_simulator(name: str) -> tuple[subprocess.Popen[str], dict]:
    proc = subprocess.Popen([KNM, "simulate", name, "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    text = ""
    while True:
        line = proc.stdout.readline()
        if not line:
            raise SystemExit(f"the {name} simulator did not start")
        text += line
        try:
            return proc, json.loads(text)
        except json.JSONDecodeError:
            continue


def _shape(path: str) -> str:
    """A request path with its numbers and ids made one word, to count requests by kind."""
    return re.sub(r"[0-9a-f-]{8,}|\d{5,}", "{id}", path.split("?")[0])


def switches(url: str, **values: object) -> None:
    httpx.post(f"{url}/_sim/switches", json=values, timeout=10).raise_for_status()


def lose_and_settle(label: str, names: list[str], sims: dict, account_id: str,
                    args: argparse.Namespace) -> float:
    """Buy `args.numbers` numbers whose answers are lost, settle them all; the seconds."""
    offers: list[list[str]] = []
    for name in names:
        prefix = registry.get(name).prefixes["local"]
        found = search.find(prefix, 250, account_id=account_id, reseller_id=account_id,
                            carriers=[name], query_id=f"bench-{label}-{name}")
        offers.append([row["number"] for row in found])
    wanted = [n for group in itertools.zip_longest(*offers) for n in group if n]
    wanted = wanted[:args.numbers]  # spread over the carriers, as evenly as they stock
    for _, doc in sims.values():
        switches(doc["url"], ambiguous="empty_502", latency_ms=0)
    lost = numbers.move(wanted, account_id)
    unsettled = numbers.unsettled()
    for _, doc in sims.values():
        switches(doc["url"], ambiguous=None, latency_ms=50)
    print(f"{label}: {len(unsettled)} unsettled purchases across {len(names)} carriers "
          f"({len(lost.failed)} answers lost, {len(lost.succeeded)} bought cleanly)")

    before = {name: len(httpx.get(f"{doc['url']}/_sim/requests", timeout=30).json())
              for name, (_, doc) in sims.items()}
    started, cpu = time.perf_counter(), time.process_time()
    result = numbers.settle()
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    seen = {name.removeprefix("knm_"): httpx.get(f"{doc['url']}/_sim/requests",
                                                 timeout=30).json()[before[name]:]
            for name, (_, doc) in sims.items()}
    asked = {name: len(rows) for name, rows in seen.items()}
    print(f"  carrier requests while settling: {asked}")
    if args.detail:
        for name, rows in seen.items():
            paths = Counter(f"{row.get('method')} {_shape(str(row.get('path')))}"
                            for row in rows)
            print(f"    {name}: {dict(paths.most_common())}")
    in_service = sum(1 for pn in result.succeeded if pn.state == "in_service")
    print(f"  settle: {len(result.succeeded)} settled ({in_service} in service), "
          f"{len(result.failed)} left, in {seconds:.2f} s at 50 ms per carrier request "
          f"(settle_concurrency {config.system_int('settle_concurrency')}; target <= 2 s); "
          f"knm's own CPU {cpu:.2f} s, {sum(asked.values())} carrier requests")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--numbers", type=int, default=1000)
    parser.add_argument("--db", default=None, help="database URL (default: a fresh SQLite)")
    parser.add_argument("--concurrency", type=int, default=None,
                        help="settle_concurrency (default: the configured one)")
    parser.add_argument("--baseline", action="store_true",
                        help="first settle as many with every number asked on its own")
    parser.add_argument("--detail", action="store_true",
                        help="also print each carrier's requests while settling, by path")
    args = parser.parse_args()
    if args.baseline and args.db:
        parser.error("--baseline compares two runs, each on a fresh SQLite file: no --db")
    logging.disable(logging.WARNING)  # a thousand "kept for settling" lines say nothing
    runs = [("each number asked on its own (the baseline)", 10 ** 9),
            ("holdings listed where the carrier can", purchase.LISTING_MIN)]
    figures = []
    for label, listing_min in runs if args.baseline else runs[1:]:
        purchase.LISTING_MIN = listing_min
        figures.append(one_run(label, args))
    if len(figures) == 2:
        print(f"listing / baseline: {figures[1] / figures[0]:.2f}x the time")
    idle_round()


def one_run(label: str, args: argparse.Namespace) -> float:
    """A fresh database and fresh simulators (the same stock each run), 1,000 lost
    purchases settled: the seconds."""
    folder = tempfile.mkdtemp(prefix="knm-bench-settle-")
    runtime.configure(db=args.db or f"sqlite:///{folder}/knm.sqlite", cache="local")
    names = [n for n in registry.names()]
    sims = {name: start_simulator(name) for name in names}
    try:
        for name, (_, doc) in sims.items():
            for key, value in doc["settings"].items():
                config.set(f"number_manager.{name.removeprefix('knm_')}", key, value)
        config.set("number_manager", "carrier_modules", names)
        config.set("number_manager", "bulk_concurrency", 32)
        if args.concurrency:
            config.set("number_manager", "settle_concurrency", args.concurrency)
        account = accounts.create("Bench", is_reseller=True)
        return lose_and_settle(label, names, sims, account.id, args)
    finally:
        for proc, _ in sims.values():
            proc.send_signal(signal.SIGINT)
        for proc, _ in sims.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def idle_round() -> None:
    """The background settler's round with nothing to settle: its time and its SQL."""
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    times = []
    for _ in range(200):
        began = time.perf_counter()
        settler.settle_round()
        times.append(time.perf_counter() - began)
    event.listen(store.engine(), "before_cursor_execute", count)
    settler.settle_round()
    event.remove(store.engine(), "before_cursor_execute", count)
    print(f"idle settler round: median {statistics.median(times) * 1000:.2f} ms, "
          f"{len(statements)} SQL statement(s): {statements[:3]}")


if __name__ == "__main__":
    main()
