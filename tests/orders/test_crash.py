"""`kill -9` of the buyer at each step of a purchase and of a release (issue "Orders that
are never lost"): the buyer is a real `knm` process, the carrier a simulator in a process of
its own (`knm simulate`), the database SQLite or PostgreSQL. After `knm orders settle` every
number is where the carrier says it is, and the carrier holds exactly one order for it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy
from conftest import simulator_process

from knm import accounts, config

KNM = str(Path(sys.executable).with_name("knm"))


@dataclass
class Carrier:
    """The Telnyx simulator, running in its own process."""

    url: str
    api_key: str
    proc: subprocess.Popen[str]

    def switches(self, **values: Any) -> None:
        httpx.post(f"{self.url}/_sim/switches", json=values, timeout=5).raise_for_status()

    def requests(self, method: str, path: str) -> list[dict[str, Any]]:
        seen = httpx.get(f"{self.url}/_sim/requests", timeout=5).json()
        return [r for r in seen if r["method"] == method and r["path"].startswith(path)]

    def orders_for(self, number: str) -> int:
        return sum(1 for r in self.requests("POST", "/number_orders") if number in r["body"])

    def holds(self, number: str) -> bool:
        got = httpx.get(f"{self.url}/phone_numbers", timeout=5,
                        params={"filter[phone_number]": number.lstrip("+"), "page[size]": 250},
                        headers={"Authorization": f"Bearer {self.api_key}"}).json()
        return any(row.get("phone_number") == number and row.get("status") != "deleted"
                   for row in got.get("data", []))


@pytest.fixture
def telnyx() -> Iterator[Carrier]:
    with simulator_process("telnyx") as (proc, document):
        yield Carrier(document["url"], document["settings"]["api_key"], proc)


@dataclass
class System:
    db: str
    account: str
    carrier: Carrier

    def knm(self, *args: str, check: bool = True) -> Any:
        done = subprocess.run([KNM, *args, "--db", self.db, "--json"], capture_output=True,
                              text=True, timeout=60, env=_env())
        if check:
            assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([KNM, *args, "--db", self.db, "--json"], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())

    def offered(self) -> list[str]:
        found = self.knm("search", "415", "--account", self.account, "--quantity", "20")
        return [row["number"] for row in found["numbers"]]

    def state_of(self, number: str) -> dict[str, Any] | None:
        got = subprocess.run([KNM, "numbers", "get", number, "--db", self.db, "--json"],
                             capture_output=True, text=True, timeout=60, env=_env())
        return json.loads(got.stdout) if got.returncode == 0 else None


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KNM_DATABASE_URL",
                                                             "KNM_CACHE_URL")}
    env["KNM_NO_PROGRESS"] = "1"
    return env


@pytest.fixture
def system(db: str, telnyx: Carrier) -> System:
    for key, value in _wire(telnyx).items():
        config.set("number_manager.telnyx", key, value)
    config.set("number_manager", "carrier_modules", ["knm_telnyx"])
    config.set("number_manager", "claim_lease_s", 1)  # a dead buyer's lease runs out soon
    account = accounts.create("Acme", is_reseller=True)
    return System(db, account.id, telnyx)


def _wire(carrier: Carrier) -> dict[str, Any]:
    return {"base_url": carrier.url, "api_key": carrier.api_key,
            "connection_id": "1494404757140276705", "order_poll_interval_ms": 100,
            "order_timeout_s": 30}


def _wait_for(what: Callable[[], bool], timeout: float = 15.0) -> None:
    ends = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < ends, "timed out waiting"
        time.sleep(0.05)


@contextmanager
def database_locked(db: str) -> Iterator[None]:
    """Every write to the numbers waits while this is held (as a busy database would)."""
    if db.startswith("sqlite"):
        conn = sqlite3.connect(db.removeprefix("sqlite:///"), timeout=30,
                               isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            conn.execute("ROLLBACK")
            conn.close()
        return
    engine = sqlalchemy.create_engine(db)
    with engine.connect() as conn, conn.begin():
        conn.exec_driver_sql("LOCK TABLE knm_numbers IN EXCLUSIVE MODE")
        yield
    engine.dispose()


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _settled(system: System, number: str) -> None:
    """After the dead buyer's lease ran out: settle, then knm agrees with the carrier."""
    system.carrier.switches(latency_ms=0, order_complete_ms=0)
    time.sleep(1.5)
    system.knm("orders", "settle")
    assert system.knm("orders") == []
    held_by_carrier = system.carrier.holds(number)
    record = system.state_of(number)
    if held_by_carrier:
        assert record is not None and record["pvt_state"] == "in_service", record
        assert record["pvt_assigned_to"] == system.account
    else:
        assert record is None, record
    assert system.carrier.orders_for(number) <= 1
    # buying it again never orders it twice
    if held_by_carrier:
        again = system.knm("buy", number, "--account", system.account)
        assert again["pvt_state"] == "in_service"
        assert system.carrier.orders_for(number) == 1


def test_killed_before_the_call(system: System) -> None:
    number = system.offered()[0]
    with database_locked(system.db):
        buyer = system.start("buy", number, "--account", system.account)
        time.sleep(1.5)  # it is waiting to claim the number
        _kill(buyer)
    assert system.carrier.orders_for(number) == 0
    _settled(system, number)
    assert system.state_of(number) is None


def test_killed_during_the_purchase_request(system: System) -> None:
    number = system.offered()[0]
    system.carrier.switches(latency_ms=2000)
    buyer = system.start("buy", number, "--account", system.account)
    _wait_for(lambda: system.carrier.orders_for(number) == 1)
    _kill(buyer)
    _wait_for(lambda: system.carrier.holds(number))  # the carrier went on and sold it
    _settled(system, number)


def test_killed_while_polling_a_pending_order(system: System) -> None:
    number = system.offered()[0]
    system.carrier.switches(order_complete_ms=3000)
    buyer = system.start("buy", number, "--account", system.account)
    _wait_for(lambda: bool(system.carrier.requests("GET", "/number_orders/")))
    _kill(buyer)
    time.sleep(3.5)  # the carrier completes the order nobody waits for any more
    _settled(system, number)


def test_killed_after_the_carrier_answered_before_the_save(system: System) -> None:
    number = system.offered()[0]
    system.carrier.switches(latency_ms=1000)
    buyer = system.start("buy", number, "--account", system.account)
    _wait_for(lambda: system.carrier.orders_for(number) == 1)  # claimed, order on its way
    with database_locked(system.db):
        _wait_for(lambda: system.carrier.holds(number))  # answered: sold
        time.sleep(1.5)  # the buyer now waits to record it
        _kill(buyer)
    _settled(system, number)


def test_killed_during_a_release(system: System) -> None:
    number = system.offered()[0]
    system.knm("buy", number, "--account", system.account)
    system.carrier.switches(latency_ms=2000)
    releaser = system.start("release", number)
    _wait_for(lambda: bool(system.carrier.requests("DELETE", "/phone_numbers/")))
    _kill(releaser)
    _wait_for(lambda: not system.carrier.holds(number))  # the carrier released it anyway
    record = system.state_of(number)
    assert record is not None and record["pvt_state"] == "in_service"  # not lost meanwhile
    system.carrier.switches(latency_ms=0)
    time.sleep(1.5)
    system.knm("orders", "settle")
    assert system.state_of(number) is None  # released at the carrier: knm no longer holds it
    assert system.knm("orders") == []
