"""Shared set-up for the HTTP API tests: a real server on loopback over the `db` fixture,
Kazoo's fixture accounts, a phonebook simulator behind `knm_other`, and tokens per account."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from conftest import interrupt  # noqa: F401 - the API tests take it from here

from knm import accounts, config
from knm.simulators import phonebook
from knm.simulators.server import BackgroundServer, free_port

UNRELATED = "unrelated_account_b113394f16cb71"


@dataclass
class Api:
    url: str
    client: httpx.Client
    phonebook: BackgroundServer
    tokens: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def as_(self, who: str | None) -> dict[str, str]:
        return {"X-Auth-Token": self.tokens[who]} if who else {}

    def call(self, method: str, path: str, who: str | None = "master", *,
             data: Any = None, raw: bytes | str | None = None, **kw: Any) -> httpx.Response:
        headers = {**self.as_(who), **kw.pop("headers", {})}
        if data is not None:
            kw["json"] = {"data": data}
        elif raw is not None:
            kw["content"] = raw
            headers.setdefault("Content-Type", "application/json")
        return self.client.request(method, path, headers=headers, **kw)

    def numbers_path(self, account: str, tail: str = "") -> str:
        return f"/v2/accounts/{self.ids[account]}/phone_numbers" + (f"/{tail}" if tail else "")


@dataclass
class Servers:
    """The API and a phonebook simulator, started once per test module.

    The API serves whatever database the process uses, so each test's `db` fixture (SQLite,
    then PostgreSQL) is what the running server reads and writes.
    """

    api: BackgroundServer
    phonebook: BackgroundServer

    @classmethod
    def run(cls, tmp: Path) -> Iterator[Servers]:
        from knm.api import create_app

        app = create_app(f"sqlite:///{tmp / 'bootstrap.sqlite'}")
        with BackgroundServer(phonebook.create_app()) as book, BackgroundServer(app) as api:
            yield cls(api, book)


def start_api(servers: Servers, kazoo_accounts: dict[str, str]) -> Iterator[Api]:
    """A test's view of the servers: fresh stock, fixture accounts and a token for each."""
    from knm.api import auth

    auth.clear_caches()
    servers.phonebook.app.state.sim.reset()  # the default stock, no orders, no switches
    accounts.create("unrelated", account_id=UNRELATED)
    ids = {**kazoo_accounts, "unrelated": UNRELATED}
    config.set("number_manager.other", "phonebook_url", servers.phonebook.url)
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_other"])
    tokens = {name: accounts.create_token(account_id, 3600) for name, account_id in ids.items()}
    with httpx.Client(base_url=servers.api.url, timeout=30) as client:
        yield Api(servers.api.url, client, servers.phonebook, tokens, ids)


def assert_error(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    """Kazoo's error envelope with this status and slug; returns the error JSON."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "error", body
    assert body["error"] == str(status), body
    assert body["message"] == slug, body
    assert body["request_id"] and response.headers["x-request-id"] == body["request_id"]
    assert isinstance(body["data"], dict)
    return body["data"]


def assert_ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["status"] == "success", body
    assert body["request_id"] and response.headers["x-request-id"] == body["request_id"]
    return body["data"]


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 60) -> None:
    """Until `url/healthz` answers 200; fails if the server process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, "server exited early"
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError("server did not become healthy")




def _knm() -> list[str]:
    exe = Path(sys.executable).with_name("knm")
    return [str(exe)] if exe.exists() else [shutil.which("knm") or "knm"]


@contextmanager
def knm_serve_process(db: str, folder: Path, workers: int = 2,
                      env: dict[str, str] | None = None) -> Iterator[str]:
    """`knm serve` on database `db` in its own process, as operators run it; yields the
    API's `/v2` URL and checks that the server stopped cleanly. `env` adds variables."""
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    env = {**{k: v for k, v in os.environ.items()
              if k not in ("KNM_DATABASE_URL", "KNM_CACHE_URL")}, **(env or {})}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(folder / "metrics")
    (folder / "metrics").mkdir()
    log_path = folder / "serve.log"
    log = log_path.open("w")
    proc = subprocess.Popen([*_knm(), "serve", "--port", str(port), "--workers", str(workers),
                             "--db", db], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
        yield url + "/v2"
    finally:
        interrupt(proc)
        log.close()
    assert proc.returncode == 0, log_path.read_text()
