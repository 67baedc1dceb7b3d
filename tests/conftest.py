"""Shared fixtures: a fresh database per test, on SQLite and PostgreSQL alike.

`db` is parametrized over both databases, so every test that uses it runs twice. PostgreSQL
isolation is a schema per test (dropped afterwards), so tests never see each other's rows.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

from knm import clock as knm_clock
from knm import runtime, store

#: the folders whose helper modules (api_support, order_flows, hostile, cli_support) tests in
#: other folders import by name: on the path however pytest is started (one file, one folder)
HERE = Path(__file__).resolve().parent
for _folder in ("api", "carriers", "cli"):
    if str(HERE / _folder) not in sys.path:
        sys.path.insert(0, str(HERE / _folder))

# helpers with assertions that test modules import (and load as plugins): rewrite them too
pytest.register_assert_rewrite("api_support", "cli_support", "order_flows", "feature_flows")

#: Kazoo's real carrier payloads and number documents (copied from shared/fixtures/kazoo)
FIXTURES = HERE / "fixtures" / "kazoo"
assert (FIXTURES / "number_docs").is_dir(), f"test fixtures missing at {FIXTURES}"
PG_ADMIN_URL = os.environ.get("KNM_TEST_PG_URL",
                              "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("KNM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

#: how long past its deadline a bounded call may end before a test calls it overrun: thread
#: hand-offs, sockets and parsing on a busy two-core machine. Every deadline test's upper bound
#: is its deadline plus this one margin, so a slower machine widens them all at once.
DEADLINE_SLACK_S = float(os.environ.get("KNM_TEST_DEADLINE_SLACK_S", "0.7"))

MASTER = "account0000000000000000000000001"
RESELLER = "account0000000000000000000000002"
CHILD = "account0000000000000000000000003"
GRANDCHILD = "account0000000000000000000000004"
UNRELATED = "unrelated_account_b113394f16cb71"


@contextmanager
def simulator_process(name: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """`knm simulate NAME --json` in a process of its own (so a test can kill the buyer while
    the carrier lives on): the process and the JSON it printed (`url`, `settings`), stopped
    (SIGINT, then killed) on the way out."""
    knm = str(Path(sys.executable).with_name("knm"))
    errors_seen = tempfile.TemporaryFile(mode="w+")  # a file, not a pipe: a long run's log
    proc = subprocess.Popen([knm, "simulate", name, "--json"], stdout=subprocess.PIPE,
                            stderr=errors_seen, text=True)  # can never fill it and stall it
    try:
        assert proc.stdout is not None
        text = ""
        while True:  # one JSON document, however it is laid out
            line = proc.stdout.readline()
            if not line:
                errors_seen.seek(0)
                raise AssertionError(f"the {name} simulator stopped: {errors_seen.read()}")
            text += line
            try:
                document = json.loads(text)
                break
            except json.JSONDecodeError:
                continue
        yield proc, document
    finally:
        interrupt(proc, timeout_s=10)
        errors_seen.close()


def interrupt(proc: subprocess.Popen, timeout_s: float = 20) -> None:
    """Ctrl-C, as an operator stops a server or a simulator; killed if it has not stopped in
    `timeout_s`."""
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pg_schema_url(schema: str) -> str:
    return f"{PG_ADMIN_URL}?options=-csearch_path%3D{schema}"


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'knm.sqlite'}"
    runtime.configure(db=url, cache="local")
    yield url


@pytest.fixture
def pg_db() -> Iterator[str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    url = _pg_schema_url(schema)
    runtime.configure(db=url, cache="local")
    try:
        yield url
    finally:
        store.engine().dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


#: tests between two full collections of the test process's heap (see `_collector_between_tests`)
FULL_GC_EVERY = 100
_tests_since_full_gc = 0


@pytest.fixture(autouse=True)
def _collector_between_tests() -> Iterator[None]:
    """Keep the garbage collector's long pauses out of the tests. After a few hundred tests
    this process holds about a million objects, and a full collection of them stops every
    thread for 0.5-1.1 s (measured with `gc.callbacks` over tests/api and tests/carriers):
    inside a deadline test that is an overrun knm did not cause (a search that answered at
    its 1.5 s deadline was seen to return at 2.2 s). So what existed before a test is frozen
    while it runs — the collector walks only what the test made — and the whole heap is
    collected between tests every FULL_GC_EVERY tests, where a pause costs nothing. Measured
    over tests/api and tests/carriers (1,392 tests): pauses over 50 ms inside a test, 30+ of
    them up to 1.07 s before; one of 53 ms after."""
    global _tests_since_full_gc
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()
        _tests_since_full_gc += 1
        if _tests_since_full_gc >= FULL_GC_EVERY:
            _tests_since_full_gc = 0
            gc.collect()


def collect_garbage() -> None:
    """A full collection, what `_collector_between_tests` froze included: for a test that
    waits on a finalizer (an object can be kept from collection by frozen garbage)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _isolated_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[None]:
    """Tests that do not ask for a database still get a fresh one of their own, so nothing
    leaks between tests (a previous test's PostgreSQL schema is dropped when it ends)."""
    if not {"db", "sqlite_db", "pg_db"} & set(request.fixturenames):
        runtime.configure(db=f"sqlite:///{tmp_path / 'isolated.sqlite'}", cache="local")
    yield


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh, migrated database; the test runs once on each backend."""
    name = "sqlite_db" if request.param == "sqlite" else "pg_db"
    yield request.getfixturevalue(name)


@pytest.fixture
def clock() -> Iterator[knm_clock.ManualClock]:
    """Time for the config snapshot and the search caches that moves only on `advance(s)`:
    a TTL test passes it instantly and the same way on a loaded machine (no sleeping)."""
    with knm_clock.use(knm_clock.ManualClock()) as manual:
        yield manual


@pytest.fixture
def redis_url() -> Iterator[str]:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.flushdb()
    yield REDIS_URL
    client.flushdb()
    client.close()


def kazoo_number_docs() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((FIXTURES / "number_docs").glob("*.json"))]


@pytest.fixture
def kazoo_accounts(db: str) -> dict[str, str]:
    """Kazoo's fixture accounts (reference/kazoo-core.md §10.1)."""
    from knm import accounts, config

    accounts.create("master", account_id=MASTER, superduper_admin=True,
                    allow_number_additions=True, is_reseller=True)
    accounts.create("reseller", account_id=RESELLER, parent_id=MASTER,
                    allow_number_additions=True, is_reseller=True)
    accounts.create("child", account_id=CHILD, parent_id=RESELLER)
    accounts.create("grandchild", account_id=GRANDCHILD, parent_id=CHILD,
                    allow_number_additions=True)
    config.set("number_manager", "port_in_module_name", "knm_local")
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_bandwidth2"],
               account_id=CHILD)
    return {"master": MASTER, "reseller": RESELLER, "child": CHILD, "grandchild": GRANDCHILD}


@pytest.fixture
def kazoo_numbers(kazoo_accounts: dict[str, str]) -> list[str]:
    """Kazoo's fixture accounts plus every fixture number document, loaded as stored."""
    from knm import numbers

    docs = kazoo_number_docs()
    result = numbers.import_kazoo(docs)
    assert not result.failed, result.failed
    return [d["_id"] for d in docs]


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """The API's abuse limits count per process: each test starts with none spent, so tests
    that authenticate often never trip one another's limits."""
    import sys

    yield
    limits = sys.modules.get("knm.api.ratelimit")
    if limits is not None:
        limits.reset()
    search = sys.modules.get("knm.carriers.search")
    if search is not None:
        search._recent.clear()
