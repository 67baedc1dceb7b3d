"""A Kazoo client's whole session against `knm serve`, as the issue's "done when" puts it.

The server is the `knm` command itself (`knm serve --workers 2 --db …`) in its own process,
on each database; the carrier behind it is the Telnyx simulator on loopback. The client knows
only Crossbar's conventions: `PUT /v2/api_auth` with `{"data": {"api_key"}}`, the
`X-Auth-Token` header, `{"data": …}` bodies, numbers in the path `%2B`-encoded. It
authenticates, searches, creates, buys, reads, lists and releases numbers.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from knm import accounts, config
from knm.simulators import registry
from knm.simulators.server import BackgroundServer, free_port


def _knm() -> list[str]:
    exe = Path(sys.executable).with_name("knm")
    return [str(exe)] if exe.exists() else [shutil.which("knm") or "knm"]


@pytest.fixture
def telnyx() -> Iterator[tuple[object, BackgroundServer]]:
    spec = registry.get("knm_telnyx")
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        yield sim, server


@pytest.fixture
def knm_serve(db: str, tmp_path: Path) -> Iterator[str]:
    """`knm serve` on the test's database; yields the API's `/v2` URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KNM_DATABASE_URL"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    (tmp_path / "metrics").mkdir()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen([*_knm(), "serve", "--port", str(port), "--workers", "2",
                             "--db", db], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "knm serve did not become healthy"
            time.sleep(0.1)
        yield url + "/v2"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
    assert proc.returncode == 0, (tmp_path / "serve.log").read_text()


def test_kazoo_client_authenticates_searches_creates_buys_reads_lists_releases(
        db: str, telnyx, knm_serve: str, tmp_path: Path) -> None:
    sim, sim_server = telnyx
    reseller = accounts.create("reseller", is_reseller=True, allow_number_additions=True)
    key = accounts.create_api_key(reseller.id)
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_telnyx"])
    for name, value in {**registry.wire("knm_telnyx", sim_server.url, sim),
                        **registry.get("knm_telnyx").fast_orders}.items():
        config.set("number_manager.telnyx", name, value)

    with httpx.Client(base_url=knm_serve, timeout=30) as client:
        # authenticate: an API key for a token, Crossbar's shape
        auth = client.put("/api_auth", json={"data": {"api_key": key}})
        assert auth.status_code == 201, auth.text
        assert auth.json()["data"]["account_id"] == reseller.id
        token = auth.json()["auth_token"]
        headers = {"X-Auth-Token": token}
        numbers = f"/accounts/{reseller.id}/phone_numbers"

        def path(number: str, tail: str = "") -> str:
            return f"{numbers}/{number.replace('+', '%2B')}{tail}"

        # search: the carrier's stock, offered in state discovery
        found = client.get(numbers, params={"prefix": "415", "quantity": 3}, headers=headers)
        assert found.status_code == 200, found.text
        offered = [row["number"] for row in found.json()["data"]]
        assert len(offered) == 3 and all(n.startswith("+1415") for n in offered)
        assert sim.received("GET", "/available_phone_numbers")

        # create: a number the reseller brings itself
        own = "+14155550177"
        made = client.put(path(own), headers=headers,
                          json={"data": {"create_with_state": "in_service",
                                         "cnam": {"display_name": "ACME"}}})
        assert made.status_code == 201, made.text
        assert made.json()["data"]["_read_only"]["state"] == "in_service"

        # buy: the number is ordered from the carrier and lands in the account
        bought = client.put(path(offered[0], "/activate"), headers=headers, json={"data": {}})
        assert bought.status_code == 201, bought.text
        assert bought.json()["data"]["_read_only"]["state"] == "in_service"
        assert bought.json()["data"]["_read_only"]["carrier_module"] == "telnyx"
        assert offered[0] in sim.owned  # the carrier really sold it

        # read
        read = client.get(path(offered[0]), headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["data"]["id"] == offered[0]
        assert read.json()["data"]["_read_only"]["assigned_to"] == reseller.id
        mine = client.get(path(own), headers=headers).json()["data"]
        assert mine["cnam"] == {"display_name": "ACME"}

        # list: both numbers in the account, Crossbar's `numbers` map
        listed = client.get(numbers, headers=headers)
        assert listed.status_code == 200, listed.text
        held = listed.json()["data"]["numbers"]
        assert set(held) == {own, offered[0]}
        assert all(row["state"] == "in_service" for row in held.values())

        # release: the carrier is told, and the numbers leave the account
        for number in (offered[0], own):
            gone = client.delete(path(number), headers=headers)
            assert gone.status_code == 200, gone.text
        assert offered[0] not in sim.owned
        assert sim.received("DELETE", "/phone_numbers/")
        after = client.get(numbers, headers=headers).json()["data"]["numbers"]
        assert after == {}

        # the token is the only credential the client used; the server never echoed the key
        assert key not in (tmp_path / "serve.log").read_text()
