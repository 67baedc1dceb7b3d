"""`knm_inventory`: numbers an operator owns in bulk and loads into knm (Kazoo §4.2).

Searched like `knm_local` (with an account, prefix-bounded — Kazoo's view was not), but not
local: a released inventory number goes through the normal lifecycle rather than being
deleted. `import_inventory` loads millions of numbers: the bulk path talks to the database
driver directly (executemany on SQLite, COPY on PostgreSQL) in fixed-size chunks, so memory
stays flat however long the input is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from knm import errors, store
from knm.carriers.pools import LocalStoreCarrier, now_gregorian
from knm.phone import normalize

log = logging.getLogger("knm.carriers")

MODULE = "knm_inventory"
SQLITE_CHUNK = 100_000
SQLITE_CACHE_KB = 128_000
POSTGRES_CHUNK = 100_000
#: numbers sorted together before writing (~80 MB of strings at most)
SORT_RUN = 1_000_000


class Inventory(LocalStoreCarrier):
    name = MODULE
    local = False
    capabilities = frozenset({"search", "acquire", "disconnect", "import"})


def _clean(numbers: Iterable[str], skipped: list[int]) -> Iterator[str]:
    for raw in numbers:
        text = raw.strip() if isinstance(raw, str) else str(raw)
        if not text:
            continue
        if not (text.startswith("+") and text[1:].isdigit()):
            text = normalize(text)
            if not (text.startswith("+") and text[1:].isdigit()):
                skipped[0] += 1
                continue
        if 3 <= len(text) <= 17:
            yield text
        else:
            skipped[0] += 1


def _chunks(numbers: Iterator[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for number in numbers:
        chunk.append(number)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def import_inventory(numbers: Iterable[str], *,
                     progress: Callable[[int], None] | None = None) -> int:
    """Load `numbers` as `knm_inventory` numbers in state `available`; return how many were
    added. Numbers already known (under any carrier) are left as they are; entries that are
    not phone numbers are skipped and counted in the log. `progress(n)` is called after each
    chunk with the count of input numbers handled so far."""
    skipped = [0]
    cleaned = _clean(numbers, skipped)
    engine = store.engine()
    if engine.dialect.name == "postgresql":
        added, seen = _import_postgres(engine, cleaned, progress)
    else:
        added, seen = _import_sqlite(engine, cleaned, progress)
    if skipped[0]:
        log.warning("inventory import skipped %d entries that are not phone numbers",
                    skipped[0])
    log.info("inventory import: %d numbers read, %d added", seen, added)
    return added


def _import_sqlite(engine, numbers: Iterator[str],  # type: ignore[no-untyped-def]
                   progress: Callable[[int], None] | None) -> tuple[int, int]:
    sql = ("INSERT OR IGNORE INTO knm_numbers (number, state, module_name, ported_in, "
           "features, created, modified, version) VALUES (?, 'available', '{module}', 0, "
           "'{{}}', {stamp}, {stamp}, 1)")
    raw = engine.raw_connection()
    added = seen = 0
    try:
        conn = raw.driver_connection
        # a large page cache keeps the indexes' hot pages in memory during the load
        conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}")
        # index pages are then filled in order, not at random
        for chunk in _sorted_chunks(numbers, SORT_RUN, SQLITE_CHUNK):
            stamp = now_gregorian()
            before = conn.total_changes
            cur = conn.cursor()
            try:
                cur.execute("BEGIN IMMEDIATE")
                cur.executemany(sql.format(module=MODULE, stamp=int(stamp)),
                                ((n,) for n in chunk))
                cur.execute("COMMIT")
            except Exception as exc:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise errors.DatabaseError(cause=f"inventory import failed: {exc}") from exc
            finally:
                cur.close()
            added += conn.total_changes - before
            seen += len(chunk)
            if progress is not None:
                progress(seen)
    finally:
        try:
            raw.driver_connection.execute("PRAGMA cache_size=-2000")
        finally:
            raw.close()
    return added, seen


def _import_postgres(engine, numbers: Iterator[str],  # type: ignore[no-untyped-def]
                     progress: Callable[[int], None] | None) -> tuple[int, int]:
    """Chunks are written by one worker thread while this thread reads and cleans the next
    chunk: the server's work and knm's Python work overlap instead of taking turns."""
    from concurrent.futures import Future, ThreadPoolExecutor

    raw = engine.raw_connection()
    added = seen = 0
    state = {"anti_joined": False, "written": 0}
    conn = raw.driver_connection  # a psycopg Connection, used by the writer thread only
    conn.autocommit = False
    writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knm-import")
    pending: Future[int] | None = None
    try:
        for chunk in _sorted_chunks(numbers, SORT_RUN, POSTGRES_CHUNK):
            if pending is not None:
                added += pending.result()
                if progress is not None:
                    progress(seen)
            seen += len(chunk)
            pending = writer.submit(_write_postgres_chunk, conn, chunk, state)
        if pending is not None:
            added += pending.result()
            if progress is not None:
                progress(seen)
        if added:
            _analyze(conn)  # searches right after the import get index plans too
    except errors.KnmError:
        raise
    except Exception as exc:
        raise errors.DatabaseError(cause=f"inventory import failed: {exc}") from exc
    finally:
        writer.shutdown(wait=True)
        raw.close()
    return added, seen


def _sorted_chunks(numbers: Iterator[str], run: int, size: int) -> Iterator[list[str]]:
    """Chunks of `size`, sorted within runs of `run` numbers. Writing a large run in order
    fills index pages one after another; unsorted input (a CSV spread over many area codes)
    would touch every index page with every chunk, which on PostgreSQL also means a full-page
    image in the WAL for each — the import ran at half the speed."""
    for block in _chunks(numbers, run):
        block.sort()
        for start in range(0, len(block), size):
            yield block[start:start + size]


def _write_postgres_chunk(conn, chunk: list[str],  # type: ignore[no-untyped-def]
                          state: dict[str, Any]) -> int:
    import psycopg

    stamp = now_gregorian()
    try:
        try:
            added = _postgres_copy(conn, chunk, stamp)
        except psycopg.errors.UniqueViolation:
            # some numbers are known already (a re-import, or an overlapping file): the
            # anti-join insert adds only the new ones
            conn.rollback()
            state["anti_joined"] = True
            try:
                added = _postgres_chunk(conn, chunk, stamp, on_conflict=False)
            except psycopg.errors.UniqueViolation:
                # a concurrent writer added one of these numbers meanwhile: the slower,
                # conflict-tolerant insert settles it
                conn.rollback()
                added = _postgres_chunk(conn, chunk, stamp, on_conflict=True)
    except Exception as exc:
        conn.rollback()
        raise errors.DatabaseError(cause=f"inventory import failed: {exc}") from exc
    state["written"] += len(chunk)
    if state["anti_joined"] and state["written"] % (POSTGRES_CHUNK * 4) == 0:
        # planner statistics follow the growing table, so the anti-join keeps using the
        # primary key instead of scanning the whole table
        _analyze(conn)
    return added


def _postgres_copy(conn, chunk: list[str], stamp: int) -> int:  # type: ignore[no-untyped-def]
    """The fast path for numbers not stored yet: COPY straight into `knm_numbers` (one
    statement, no per-row round trip). A number already there aborts the whole chunk with a
    unique violation, and the caller takes the anti-join path for it instead."""
    if len(set(chunk)) != len(chunk):
        raise _duplicate_in_chunk()
    tail = f"\tavailable\t{MODULE}\tf\t{{}}\t{stamp}\t{stamp}\t1\n"
    with conn.cursor() as cur:
        cur.execute("SET LOCAL synchronous_commit = off")
        with cur.copy("COPY knm_numbers (number, state, module_name, ported_in, features, "
                      "created, modified, version) FROM STDIN") as copy:
            copy.write(tail.join(chunk) + tail)
    conn.commit()
    return len(chunk)


def _duplicate_in_chunk() -> Exception:
    import psycopg

    return psycopg.errors.UniqueViolation("duplicate number within one chunk")


def _postgres_chunk(conn, chunk: list[str], stamp: int,  # type: ignore[no-untyped-def]
                    *, on_conflict: bool) -> int:
    """COPY the chunk into a temporary table, then insert the numbers not known yet.

    An anti-join insert costs about half of `ON CONFLICT DO NOTHING` (no speculative
    insertion per row), so it is the normal path.
    """
    with conn.cursor() as cur:
        # a re-runnable import: losing the last chunk on a crash is acceptable, waiting for
        # every commit to reach the disk is not needed
        cur.execute("SET LOCAL synchronous_commit = off")
        cur.execute("CREATE TEMP TABLE IF NOT EXISTS knm_inventory_import "
                    "(number varchar(40)) ON COMMIT DELETE ROWS")
        with cur.copy("COPY knm_inventory_import (number) FROM STDIN") as copy:
            copy.write("\n".join(chunk) + "\n")
        cur.execute("ANALYZE knm_inventory_import")
        cur.execute(
            "INSERT INTO knm_numbers (number, state, module_name, ported_in, features, "
            "created, modified, version) "
            "SELECT number, 'available', %s, false, '{}'::json, %s, %s, 1 "
            "FROM (SELECT DISTINCT number FROM knm_inventory_import) AS fresh "
            "WHERE NOT EXISTS (SELECT 1 FROM knm_numbers k WHERE k.number = fresh.number) "
            "ORDER BY number" + (" ON CONFLICT (number) DO NOTHING" if on_conflict else ""),
            (MODULE, stamp, stamp))
        inserted = max(cur.rowcount, 0)
    conn.commit()
    return inserted


def _analyze(conn) -> None:  # type: ignore[no-untyped-def]
    with conn.cursor() as cur:
        cur.execute("ANALYZE knm_numbers")
    conn.commit()
