"""Callers that cannot hurt knm (issue "Carrier answers and callers that can't hurt knm"):
429 with Retry-After for key guessing, token minting and anonymous search floods; a bounded
number of tokens per account; repeated anonymous searches that do not reach the carrier
again; `/metrics` behind a token."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from knm import accounts, config
from knm.simulators import registry
from knm.simulators.server import BackgroundServer


@pytest.fixture
def api(db: str) -> Iterator[httpx.Client]:
    from knm.api import create_app

    with BackgroundServer(create_app()) as server, \
            httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def _auth(client: httpx.Client, key: str) -> httpx.Response:
    return client.put("/v2/api_auth", json={"data": {"api_key": key}})


def test_guessing_api_keys_is_limited_per_client(api: httpx.Client) -> None:
    config.set("number_manager", "rate_limit_api_auth_per_client", "5/minute")
    answers = [_auth(api, f"guess-{i}").status_code for i in range(8)]
    assert answers[:5] == [401] * 5 and answers[5:] == [429] * 3
    limited = _auth(api, "guess-9")
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    body = limited.json()
    assert (body["status"], body["error"], body["message"]) == ("error", "429",
                                                                "too_many_requests")
    assert body["data"]["retry_after"] == int(limited.headers["Retry-After"])


def test_one_api_key_is_limited_however_many_clients_use_it(api: httpx.Client) -> None:
    account = accounts.create("Acme", is_reseller=True)
    key, other = accounts.create_api_key(account.id), accounts.create_api_key(account.id)
    config.set("number_manager", "rate_limit_api_auth_per_client", "")
    config.set("number_manager", "rate_limit_api_auth_per_key", "3/minute")
    assert [_auth(api, key).status_code for _ in range(4)] == [201, 201, 201, 429]
    assert _auth(api, other).status_code == 201  # another key is counted on its own


def test_tokens_per_account_are_bounded_and_the_newest_work(api: httpx.Client) -> None:
    account = accounts.create("Acme", is_reseller=True)
    key = accounts.create_api_key(account.id)
    config.set("number_manager", "rate_limit_api_auth_per_client", "")
    config.set("number_manager", "rate_limit_api_auth_per_key", "")
    tokens = [_auth(api, key).json()["auth_token"] for _ in range(accounts.MAX_LIVE_TOKENS + 10)]
    from sqlalchemy import func, select

    from knm import store
    from knm.store.schema import auth_tokens

    with store.read() as conn:
        live = conn.execute(select(func.count()).select_from(auth_tokens)).scalar_one()
    assert live == accounts.MAX_LIVE_TOKENS
    path = f"/v2/accounts/{account.id}/phone_numbers"
    assert api.get(path, headers={"X-Auth-Token": tokens[-1]}).status_code == 200
    assert api.get(path, headers={"X-Auth-Token": tokens[0]}).status_code == 401


def test_repeated_anonymous_searches_reach_the_carrier_once(api: httpx.Client) -> None:
    spec = registry.get("knm_telnyx")
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        for key, value in registry.wire("knm_telnyx", server.url, sim).items():
            config.set("number_manager.telnyx", key, value)
        config.set("number_manager", "carrier_modules", ["knm_telnyx"])
        answers = [api.get("/v2/phone_numbers", params={"prefix": "415", "quantity": 5})
                   for _ in range(20)]
    assert {a.status_code for a in answers} == {200}
    assert len({tuple(r["number"] for r in a.json()["data"]) for a in answers}) == 1
    assert len(sim.received("GET", "/available_phone_numbers")) == 1


def test_anonymous_search_floods_are_limited_per_client(api: httpx.Client) -> None:
    config.set("number_manager", "rate_limit_public_search_per_client", "10/minute")
    codes = [api.get("/v2/phone_numbers", params={"prefix": f"41{i:02d}"}).status_code
             for i in range(12)]
    assert codes[:10] == [200] * 10 and codes[10:] == [429, 429]


def test_metrics_need_the_token_when_one_is_set(api: httpx.Client,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    assert api.get("/metrics").status_code == 200  # no token configured: open, as before
    monkeypatch.setenv("KNM_METRICS_TOKEN", "scrape-me")
    denied = api.get("/metrics")
    assert denied.status_code == 401 and denied.json()["message"] == "invalid_credentials"
    assert api.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
    allowed = api.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
    assert allowed.status_code == 200 and "knm_http_requests_total" in allowed.text


def test_workers_count_together_when_the_counters_live_in_redis(
        db: str, redis_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import subprocess
    import sys
    from pathlib import Path

    from api_support import interrupt, wait_healthy

    from knm.simulators.server import free_port

    config.set("number_manager", "rate_limit_api_auth_per_client", "6/minute")
    port = free_port()
    env = {**os.environ, "KNM_CACHE_URL": redis_url, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    exe = Path(sys.executable).with_name("knm")
    with (tmp_path / "serve.log").open("w") as log:
        proc = subprocess.Popen([str(exe), "serve", "--port", str(port), "--workers", "2",
                                 "--db", db], stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_healthy(url, proc)
            codes = []
            for i in range(10):  # a new connection each time: both workers answer
                with httpx.Client(base_url=url, timeout=10) as client:
                    codes.append(_auth(client, f"guess-{i}").status_code)
        finally:
            interrupt(proc)
    assert codes.count(401) == 6 and codes.count(429) == 4
