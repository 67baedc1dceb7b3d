"""Benchmark of the HTTP API: searches and activations through `knm serve` with 2 workers.

    .venv/bin/python bench/bench_api.py [--db URL] [--count 100000] [--clients 32]
                                        [--seconds 15] [--workers 2]

Loads an inventory of `--count` numbers (`knm_inventory`), starts the API in a separate
process with `--workers` uvicorn workers, then drives it from `--clients` concurrent
keep-alive connections (a small asyncio HTTP/1.1 client, so the load generator costs little
CPU on the same machine) and prints requests/s and p50/p99 latency for:
  1. account searches (`GET /v2/accounts/A/phone_numbers?prefix=…&quantity=10`), random
     8-digit prefixes inside the inventory (each matches 100 numbers);
  2. `PUT /v2/accounts/A/phone_numbers/N/activate` of distinct available numbers.
Goal on a 2-core machine: ≥ 800 searches/s with p99 ≤ 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

FIRST = 14152000000  # inventory: +14152000000 … +1415200000 + count - 1


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, method: str,
                   path: str, headers: dict[str, str], body: bytes = b"") -> int:
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nContent-Length: {len(body)}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    writer.write(head.encode() + body)
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    await reader.readexactly(length)
    return status


async def _drive(port: int, clients: int, seconds: float, make_request, limit: int | None
                 ) -> tuple[list[float], dict[int, int], float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(limit if limit is not None else 10**12))
    stop_at = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while time.perf_counter() < stop_at:
                try:
                    i = next(counter)
                except StopIteration:
                    return
                method, path, headers, body = make_request(i)
                began = time.perf_counter()
                status = await _request(reader, writer, method, path, headers, body)
                latencies.append(time.perf_counter() - began)
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies, statuses, time.perf_counter() - began


def _report(label: str, latencies: list[float], statuses: dict[int, int], elapsed: float
            ) -> dict[str, float]:
    latencies.sort()
    n = len(latencies)
    p50 = latencies[n // 2] * 1000 if n else 0.0
    p99 = latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0
    rps = n / elapsed if elapsed else 0.0
    mean = statistics.fmean(latencies) * 1000 if n else 0.0
    print(f"{label:<10} {n:>7} requests in {elapsed:5.1f} s  {rps:8.1f} req/s  "
          f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  mean {mean:6.1f} ms  "
          f"statuses {dict(sorted(statuses.items()))}")
    return {"requests": n, "rps": rps, "p50_ms": p50, "p99_ms": p99}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--activations", type=int, default=3000)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="knm-bench-api-"))
    url = args.db or f"sqlite:///{tmp / 'bench.sqlite'}"
    from knm import accounts, config, store
    from knm.numbers.stock import import_inventory
    from knm.simulators.server import free_port

    store.use(url)
    began = time.perf_counter()
    master = accounts.create("bench master", superduper_admin=True, allow_number_additions=True)
    key = accounts.create_api_key(master.id)
    config.set("number_manager", "carrier_modules", ["knm_inventory"])
    added = import_inventory(f"+{FIRST + i}" for i in range(args.count))
    print(f"database {store.dialect()}: {added} inventory numbers loaded in "
          f"{time.perf_counter() - began:.1f} s")
    store.engine().dispose()

    port = free_port()
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp / "metrics"),
           "KNM_LOG_LEVEL": "WARNING"}
    (tmp / "metrics").mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from knm.api import serve; "
         "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), "
         "log_level='warning')", str(port), url, str(args.workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the API did not start")
            time.sleep(0.2)
        token = httpx.put(base + "/v2/api_auth", json={"data": {"api_key": key}}
                          ).json()["auth_token"]
        headers = {"X-Auth-Token": token}
        path = f"/v2/accounts/{master.id}/phone_numbers"
        rng = random.Random(7)
        span = max(args.count // 100, 1)

        def search(_: int) -> tuple[str, str, dict[str, str], bytes]:
            prefix = str(FIRST // 100 + rng.randrange(span))  # 8 digits after +1: 100 numbers
            return "GET", f"{path}?prefix=%2B{prefix}&quantity=10", headers, b""

        # warm-up (connections, caches, JIT-free Python still likes warm imports)
        asyncio.run(_drive(port, args.clients, 2.0, search, None))
        print(f"API at {base}, {args.workers} workers, {args.clients} concurrent clients")

        def baseline(_: int) -> tuple[str, str, dict[str, str], bytes]:
            # authenticated, same routing and envelope, no search: the HTTP layer's ceiling
            return "GET", f"{path}/classifiers", headers, b""

        results = {"baseline": _report("baseline", *asyncio.run(
            _drive(port, args.clients, args.seconds, baseline, None)))}
        results["search"] = _report("search", *asyncio.run(
            _drive(port, args.clients, args.seconds, search, None)))
        print(f"search throughput = {results['search']['rps'] / results['baseline']['rps']:.2f}"
              " x the HTTP layer's ceiling (classifiers, same server)")

        order = list(range(args.count))
        rng.shuffle(order)
        body = json.dumps({"data": {}}).encode()
        act_headers = {**headers, "Content-Type": "application/json"}

        def activate(i: int) -> tuple[str, str, dict[str, str], bytes]:
            return "PUT", f"{path}/%2B{FIRST + order[i]}/activate", act_headers, body

        results["activate"] = _report("activate", *asyncio.run(
            _drive(port, args.clients, args.seconds, activate, args.activations)))
        search_ok = results["search"]["rps"] >= 800 and results["search"]["p99_ms"] <= 100
        print(f"search goal (>= 800 req/s, p99 <= 100 ms): {'met' if search_ok else 'NOT met'}")
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    main()
