"""`knm.api.serve` as operators run it: a separate process with two uvicorn workers on one
database, migrations run on start, metrics merged across workers, JSON logs on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from api_support import interrupt, wait_healthy

from knm import accounts, config
from knm.simulators.server import free_port


def test_two_workers_share_database_and_metrics(db: str, tmp_path: Path) -> None:
    master = accounts.create("master", superduper_admin=True, allow_number_additions=True)
    key = accounts.create_api_key(master.id)
    config.set("number_manager", "carrier_modules", ["knm_local"])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    env.pop("KNM_DATABASE_URL", None)
    (tmp_path / "metrics").mkdir()
    stderr = (tmp_path / "stderr.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from knm.api import serve; "
         "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], 2)", str(port), db],
        stdout=subprocess.DEVNULL, stderr=stderr, env=env)
    try:
        wait_healthy(url, proc)
        with httpx.Client(base_url=url, timeout=30) as client:
            auth = client.put("/v2/api_auth", json={"data": {"api_key": key}})
            assert auth.status_code == 201
            headers = {"X-Auth-Token": auth.json()["auth_token"]}
            path = f"/v2/accounts/{master.id}/phone_numbers"
            numbers = [f"+1415555{i:04d}" for i in range(20)]
            made = client.put(path + "/collection", headers=headers,
                              json={"data": {"numbers": numbers,
                                             "create_with_state": "available"}})
            assert made.status_code == 200, made.text

            def search(_: int) -> int:
                return client.get(path, headers=headers,
                                  params={"prefix": "415555", "quantity": 5}).status_code

            with ThreadPoolExecutor(8) as pool:
                codes = list(pool.map(search, range(40)))
            assert codes == [200] * 40
            found = client.get(path, headers=headers, params={"prefix": "415555",
                                                              "quantity": 3}).json()
            assert [r["number"] for r in found["data"]] == numbers[:3]
            text = client.get("/metrics").text
        line = next(li for li in text.splitlines() if li.startswith(
            'knm_http_requests_total{method="GET",route="/v2/accounts/{account_id}'
            '/phone_numbers",status="200"}'))
        assert float(line.rsplit(" ", 1)[1]) == 41.0  # every worker's requests counted
    finally:
        interrupt(proc)
        stderr.close()
    lines = [json.loads(li) for li in (tmp_path / "stderr.log").read_text().splitlines()
             if li.startswith("{")]
    access = [li for li in lines if li.get("route") == "/v2/api_auth"]
    assert access and access[0]["request_id"] == auth.json()["request_id"]
    assert key not in (tmp_path / "stderr.log").read_text()


@pytest.mark.parametrize("workers", [1])
def test_single_worker_serve_runs_migrations_on_a_fresh_file(tmp_path: Path,
                                                             workers: int) -> None:
    port = free_port()
    db_file = tmp_path / "fresh.sqlite"
    env = {k: v for k, v in os.environ.items() if k != "KNM_DATABASE_URL"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; from knm.api import serve; "
         "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], int(sys.argv[3]))",
         str(port), str(db_file), str(workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        found = httpx.get(f"http://127.0.0.1:{port}/v2/phone_numbers",
                          params={"prefix": "415"}).json()
        assert found["status"] == "success" and found["data"] == []
    finally:
        interrupt(proc)
    assert db_file.exists()
