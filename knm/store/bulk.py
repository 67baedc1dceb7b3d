"""Bulk writes, for both databases: PostgreSQL `COPY`, SQLite one statement per chunk.

Two shapes of bulk write exist in knm:

* `insert_rows`: whole rows (a batch of number records) inside the caller's transaction —
  `COPY` on PostgreSQL from `COPY_THRESHOLD` rows, several times faster than a multi-row
  `INSERT`; `executemany` otherwise.
* `insert_new`: a stream of keys, possibly millions (an inventory import, a generated pool
  range), stored as rows that differ only in their key, leaving keys already stored alone.
  It writes in transactions of `CHUNK` rows, each through `store.write()` — so on SQLite it
  queues at the write gate like every other writer, and a `knm serve` beside the import waits
  a chunk at a time, not for the whole import.

`insert_new` sorts its input in runs of `SORT_RUN` keys: writing a large run in order fills
index pages one after another, where unsorted input (a CSV spread over many area codes)
touches every index page with every chunk — on PostgreSQL that also meant a full-page image
in the WAL for each, and half the speed. One thread writes a chunk while the caller's thread
prepares (reads, validates, sorts) the next: the database's work and knm's Python work
overlap instead of taking turns.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    MetaData,
    Table,
    Text,
    bindparam,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from knm import errors, store

log = logging.getLogger("knm.store")

COPY_THRESHOLD = 200  # rows from which `insert_rows` uses COPY on PostgreSQL
CHUNK = 100_000  # rows per transaction of `insert_new`
#: keys sorted together before writing (~80 MB of number strings at most)
SORT_RUN = 1_000_000

#: an INSERT … SELECT's row count is only kept when asked for
_COUNTED = {"preserve_rowcount": True}
#: PostgreSQL: the keys of one chunk, when some of them are stored already
_keys = Table("knm_bulk_keys", MetaData(), Column("value", Text))


@dataclass(frozen=True)
class Inserted:
    """What `insert_new` did: rows `added`, of `seen` keys read."""

    added: int
    seen: int


# -- whole rows, in the caller's transaction --------------------------------------------------


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert `rows` (each with the same columns) in `conn`'s transaction; a key already
    stored raises SQLAlchemy's `IntegrityError` on either path."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        copy_rows(conn, table, rows)
    else:
        conn.execute(table.insert(), list(rows))


def copy_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """PostgreSQL `COPY` of `rows` into `table` (columns of the first row; JSON columns
    written as JSON text)."""
    import psycopg

    columns = list(rows[0])
    as_json = {c for c in columns if isinstance(table.c[c].type, JSON)}
    sql = _copy_sql(conn, table, columns)
    cursor = _driver_cursor(conn)
    try:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([_json_text(row[c]) if c in as_json else row[c]
                                for c in columns])
    except psycopg.IntegrityError as exc:
        # what SQLAlchemy raises for the same violation of a plain INSERT: callers catch one
        raise IntegrityError(sql, None, exc) from exc
    finally:
        cursor.close()


def _json_text(value: Any) -> str | None:
    if value is None:
        return None
    if not value:
        return "{}" if isinstance(value, dict) else "[]"
    return json.dumps(value, separators=(",", ":"))


def _copy_sql(conn: Connection, table: Table, columns: Sequence[str]) -> str:
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(c) for c in columns)
    return f"COPY {quote.format_table(table)} ({names}) FROM STDIN"


# -- a stream of keys, in chunks --------------------------------------------------------------


def insert_new(table: Table, column: str, keys: Iterable[str], fixed: Mapping[str, Any], *,
               progress: Callable[[int], None] | None = None, chunk_size: int = CHUNK
               ) -> Inserted:
    """Store a row `{column: key, **fixed}` for every key whose row does not exist yet (by
    primary key, which `column` and `fixed` must cover); rows already stored are left as they
    are. `progress(n)` is called after each chunk (of `chunk_size` keys, one transaction)
    with the number of keys handled so far.

    Keys must be plain text (numbers): no tab, newline or backslash (`ValueError`).
    """
    missing = {c.name for c in table.primary_key.columns} - {column, *fixed}
    if missing:
        raise ValueError(f"insert_new: primary key column(s) {sorted(missing)} not given")
    writer = _PostgresChunks(table, column, fixed) if store.dialect() == "postgresql" \
        else _SqliteChunks(table, column, fixed)
    added = seen = 0
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="knm-bulk")
    pending: Future[int] | None = None
    try:
        # reading `keys` may fail (a file that is not text): that error is the caller's own
        for chunk in _sorted_chunks(keys, max(SORT_RUN, chunk_size), chunk_size):
            _check_plain(chunk)
            if pending is not None:
                added += _written(table, pending)
                if progress is not None:
                    progress(seen)
            seen += len(chunk)
            pending = pool.submit(writer.write, chunk)
        if pending is not None:
            added += _written(table, pending)
            pending = None
            if progress is not None:
                progress(seen)
        if added:
            _written(table, pool.submit(writer.finish))
    finally:
        pool.shutdown(wait=True)
    return Inserted(added, seen)


def _written(table: Table, done: Future[Any]) -> Any:
    """The writer's outcome; a database failure is `DatabaseError` naming the table."""
    try:
        return done.result()
    except errors.KnmError:
        raise
    except Exception as exc:
        raise errors.DatabaseError(cause=f"bulk insert into {table.name} failed: "
                                         f"{type(exc).__name__}: {exc}") from exc


def _chunks(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    chunk: list[str] = []
    for key in keys:
        chunk.append(key)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _sorted_chunks(keys: Iterable[str], run: int, size: int) -> Iterator[list[str]]:
    """Chunks of `size`, sorted within runs of `run` keys (see the module docstring)."""
    for block in _chunks(keys, run):
        block.sort()
        for start in range(0, len(block), size):
            yield block[start:start + size]


def _constants(table: Table, fixed: Mapping[str, Any]) -> list[Any]:
    return [literal(value, table.c[name].type).label(name) for name, value in fixed.items()]


class _SqliteChunks:
    """One `INSERT … SELECT … FROM json_each(?) ON CONFLICT DO NOTHING` per chunk: the
    chunk's keys go to SQLite as one JSON array, so no Python runs per row and the GIL is free
    while SQLite works — twice as fast as `executemany`, which binds and steps once per row."""

    def __init__(self, table: Table, column: str, fixed: Mapping[str, Any]) -> None:
        keys = func.json_each(bindparam("keys", type_=Text)).table_valued("value")
        rows = select(keys.c.value, *_constants(table, fixed))
        # only a taken key is skipped (OR IGNORE would skip a NOT NULL violation too); the
        # WHERE is SQLite's rule for an upsert from a SELECT (else ON reads as a join's)
        self._statement = sqlite.insert(table).from_select(
            [column, *fixed], rows.where(true())).on_conflict_do_nothing()

    def write(self, chunk: list[str]) -> int:
        with store.write() as conn:
            result = conn.execute(self._statement, {"keys": json.dumps(chunk)},
                                  execution_options=_COUNTED)
            return max(result.rowcount, 0)

    def finish(self) -> int:
        return 0


class _PostgresChunks:
    """The fast path for keys not stored yet: `COPY` straight into the table (one statement,
    no per-row round trip). A key already there aborts the chunk with a unique violation; the
    chunk is then copied into a temporary table and inserted with an anti-join, which costs
    about half of `ON CONFLICT DO NOTHING` (no speculative insertion per row) — or, when a
    concurrent writer took one of its keys meanwhile, with `ON CONFLICT DO NOTHING` after all.
    `synchronous_commit = off`: an interrupted import is simply run again, so no commit needs
    to wait for the disk."""

    #: with anti-joins, planner statistics are refreshed every this many chunks, so the plan
    #: keeps using the primary key as the table grows instead of scanning it
    ANALYZE_EVERY = 4  # chunks

    def __init__(self, table: Table, column: str, fixed: Mapping[str, Any]) -> None:
        self._table = table
        self._column = column
        self._fixed = dict(fixed)
        self._anti_joined = False
        self._chunks = 0

    def write(self, chunk: list[str]) -> int:
        import psycopg

        try:
            if len(set(chunk)) != len(chunk):
                added = self._anti_join(chunk, on_conflict=False)  # COPY would refuse it
            else:
                added = self._copy(chunk)
        except psycopg.errors.UniqueViolation:
            self._anti_joined = True
            try:
                added = self._anti_join(chunk, on_conflict=False)
            except psycopg.errors.UniqueViolation:
                added = self._anti_join(chunk, on_conflict=True)
        self._chunks += 1
        if self._anti_joined and self._chunks % self.ANALYZE_EVERY == 0:
            self.finish()
        return added

    def _copy(self, chunk: list[str]) -> int:
        with store.write() as conn:
            cursor = _driver_cursor(conn)
            columns = [self._column, *self._fixed]
            tail = "".join("\t" + _copy_text(self._table, name, value)
                           for name, value in self._fixed.items()) + "\n"
            body = tail.join(chunk) + tail
            try:
                cursor.execute("SET LOCAL synchronous_commit = off")
                with cursor.copy(_copy_sql(conn, self._table, columns)) as copy:
                    copy.write(body)
            finally:
                cursor.close()
        return len(chunk)

    def _anti_join(self, chunk: list[str], *, on_conflict: bool) -> int:
        table, column = self._table, self._column
        fresh = select(_keys.c.value).distinct().subquery("fresh")
        taken = select(literal(1)).select_from(table).where(
            table.c[column] == fresh.c.value,
            *[table.c[name] == value for name, value in self._fixed.items()
              if table.c[name].primary_key]).exists()
        statement = postgresql.insert(table).from_select(
            [column, *self._fixed],
            select(fresh.c.value, *_constants(table, self._fixed)).where(~taken)
            .order_by(fresh.c.value))
        if on_conflict:
            statement = statement.on_conflict_do_nothing()
        with store.write() as conn:
            cursor = _driver_cursor(conn)
            try:
                cursor.execute("SET LOCAL synchronous_commit = off")
                cursor.execute("CREATE TEMP TABLE IF NOT EXISTS knm_bulk_keys (value text) "
                               "ON COMMIT DELETE ROWS")
                with cursor.copy("COPY knm_bulk_keys (value) FROM STDIN") as copy:
                    copy.write("\n".join(chunk) + "\n")
                cursor.execute("ANALYZE knm_bulk_keys")
            finally:
                cursor.close()
            return max(conn.execute(statement, execution_options=_COUNTED).rowcount, 0)

    def finish(self) -> int:
        """Fresh planner statistics, so searches right after the import get index plans."""
        with store.write() as conn:
            name = conn.dialect.identifier_preparer.format_table(self._table)
            conn.exec_driver_sql(f"ANALYZE {name}")
        return 0


def _check_plain(chunk: list[str]) -> None:
    """COPY's text format would misread a key holding a tab, newline or backslash."""
    text = "".join(chunk)
    if "\\" in text or "\t" in text or "\n" in text or "\r" in text:
        raise ValueError("insert_new: keys must not hold tabs, newlines or backslashes")


def _driver_cursor(conn: Connection) -> Any:
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def _copy_text(table: Table, name: str, value: Any) -> str:
    """A constant in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(table.c[name].type, JSON):
        value = _json_text(value)
    elif isinstance(value, bool):
        value = "t" if value else "f"
    text = str(value)
    return (text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
            .replace("\r", "\\r"))
