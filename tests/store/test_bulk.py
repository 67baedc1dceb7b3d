"""The bulk writer (`knm.store.bulk`) on both databases: rows in the caller's transaction,
and streams of keys in chunks that leave stored rows alone and queue at the write gate."""

from __future__ import annotations

import fcntl
import threading
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from knm import errors, store
from knm.store import bulk
from knm.store.schema import numbers as numbers_t
from knm.store.schema import pool_numbers as pool_t

ACCOUNT = "a" * 32


def row(number: str, **kw: Any) -> dict[str, Any]:
    return {"number": number, "state": "available", "module_name": "knm_local",
            "ported_in": False, "carrier_data": {"ref": number}, "features": {},
            "reserve_history": [], "created": 1, "modified": 1, "version": 1, **kw}


def stored() -> dict[str, tuple[Any, ...]]:
    with store.read() as conn:
        rows = conn.execute(select(numbers_t.c.number, numbers_t.c.state,
                                   numbers_t.c.module_name, numbers_t.c.carrier_data)).all()
    return {r.number: (r.state, r.module_name, r.carrier_data) for r in rows}


POOL_ROW = {"carrier": "knm_managed", "account_id": ACCOUNT, "state": "available",
            "assigned_to": None, "created": 1, "modified": 1}


def pool_count() -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(pool_t)).scalar_one()


@pytest.mark.parametrize("count", [3, 250])  # below and above COPY_THRESHOLD
def test_insert_rows_in_the_callers_transaction(db: str, count: int) -> None:
    rows = [row(f"+1415200{i:04d}") for i in range(count)]
    with store.write() as conn:
        bulk.insert_rows(conn, numbers_t, rows)
    got = stored()
    assert len(got) == count
    assert got["+14152000001"] == ("available", "knm_local", {"ref": "+14152000001"})
    # a key already stored: SQLAlchemy's IntegrityError on both paths, and nothing written
    with pytest.raises(IntegrityError), store.write() as conn:
        bulk.insert_rows(conn, numbers_t, rows[-1:] + [row(f"+1415300{i:04d}")
                                                       for i in range(count)])
    assert len(stored()) == count


def test_insert_new_leaves_stored_rows_alone(db: str) -> None:
    with store.write() as conn:
        bulk.insert_rows(conn, numbers_t, [row("+14152000005", state="in_service")])
    seen: list[int] = []
    keys = [f"+1415200{i:04d}" for i in reversed(range(25))] + ["+14152000003"]
    fixed = {k: v for k, v in row("").items() if k != "number"} | {
        "module_name": "knm_inventory", "carrier_data": {}}
    done = bulk.insert_new(numbers_t, "number", keys, fixed, progress=seen.append,
                           chunk_size=10)
    assert done == bulk.Inserted(added=24, seen=26)  # one stored, one given twice
    assert seen == [10, 20, 26]
    got = stored()
    assert len(got) == 25
    assert got["+14152000005"] == ("in_service", "knm_local", {"ref": "+14152000005"})
    assert got["+14152000024"] == ("available", "knm_inventory", {})


def test_insert_new_by_the_whole_primary_key(db: str) -> None:
    keys = [f"+1415200{i:04d}" for i in range(30)]
    assert bulk.insert_new(pool_t, "number", keys, POOL_ROW).added == 30
    # the same numbers in another carrier's pool are other rows; in this one they are known
    assert bulk.insert_new(pool_t, "number", keys, {**POOL_ROW, "carrier": "knm_inum"},
                           chunk_size=7).added == 30
    assert bulk.insert_new(pool_t, "number", keys[20:] + ["+14152000030"], POOL_ROW,
                           chunk_size=4).added == 1
    assert pool_count() == 61
    with pytest.raises(ValueError, match="primary key"):
        bulk.insert_new(pool_t, "number", keys, {"account_id": ACCOUNT})


def test_insert_new_refuses_keys_copy_would_misread(db: str) -> None:
    with pytest.raises(ValueError, match="tabs, newlines or backslashes"):
        bulk.insert_new(pool_t, "number", ["+1415\\N"], POOL_ROW)
    assert pool_count() == 0


def test_insert_new_reports_a_failing_write_as_a_database_error(db: str) -> None:
    with pytest.raises(errors.DatabaseError) as caught:  # state is NOT NULL
        bulk.insert_new(pool_t, "number", ["+14152000000"], {**POOL_ROW, "state": None})
    assert "knm_pool_numbers" in str(caught.value.cause)


def test_insert_new_lets_the_callers_own_errors_through(db: str) -> None:
    def keys() -> Any:
        yield "+14152000000"
        raise errors.Invalid("csv", "not text")

    with pytest.raises(errors.Invalid):
        bulk.insert_new(pool_t, "number", keys(), POOL_ROW)


def test_insert_new_queues_at_the_write_gate(sqlite_db: str) -> None:
    """Another process holding knm's SQLite write lock (`<db>.write-lock`) makes a bulk insert
    wait for it, as every other writer does, instead of writing past it."""
    path = sqlite_db.split(":///", 1)[1] + ".write-lock"
    with open(path, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done: list[bulk.Inserted] = []
        writer = threading.Thread(target=lambda: done.append(bulk.insert_new(
            pool_t, "number", ["+14152000000"], POOL_ROW)))
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive() and pool_count() == 0
        fcntl.flock(held, fcntl.LOCK_UN)
    writer.join(timeout=10)
    assert done == [bulk.Inserted(1, 1)] and pool_count() == 1
