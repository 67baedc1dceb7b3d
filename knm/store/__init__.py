"""Where knm keeps its state: one SQLAlchemy engine per process, chosen by `KNM_DATABASE_URL`.

SQLite (a file under the user's data folder) is the default so that knm runs with nothing
installed; PostgreSQL is for production and for several processes. Writes that must not race
go through `write()`, which on SQLite takes the write lock up front (`BEGIN IMMEDIATE`) so two
writers queue instead of failing half-way.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event

try:
    import fcntl
except ImportError:  # Windows: the threads of a process still queue; processes use SQLite's
    fcntl = None  # type: ignore[assignment]

from knm import errors
from knm.secrets import redact_url
from knm.store import migrations

log = logging.getLogger("knm.store")
_lock = threading.RLock()
_engine: Engine | None = None
_url: str | None = None
#: called after every switch to another database (`use`): what was kept for the old one is
#: meaningless now (the search cache's in-process entries, cached settings)
_switch_listeners: list[Callable[[], None]] = []


def on_engine_switch(callback: Callable[[], None]) -> Callable[[], None]:
    """Have `callback()` run after every database switch (idempotent; usable as decorator)."""
    if callback not in _switch_listeners:
        _switch_listeners.append(callback)
    return callback


def default_url() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(Path.home(), ".local", "share")
    path = Path(base) / "knm" / "knm.sqlite"
    return f"sqlite:///{path}"


def url_for_path(path: str | os.PathLike[str]) -> str:
    """`--db PATH` accepts a SQLAlchemy URL or a plain file path (SQLite)."""
    text = str(path)
    return text if "://" in text else f"sqlite:///{Path(text).expanduser().resolve()}"


def canonical_url(url: str) -> str:
    """`url` with the driver knm ships with: `postgres://` and `postgresql://` (what hosting
    providers and `psql` hand out) become `postgresql+psycopg://`; SQLAlchemy would look for
    psycopg2, or for a `postgres` dialect that does not exist."""
    for scheme in ("postgres://", "postgresql://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url.removeprefix(scheme)
    return url


def _make_engine(url: str) -> Engine:
    """An engine for `url`; a URL SQLAlchemy cannot use is `400 invalid` (cause `db`)."""
    url = canonical_url(url)
    try:
        return _create_engine(url)
    except Exception as exc:  # an unknown dialect or driver, a malformed URL
        raise errors.Invalid("db", redact_url(
            f"cannot use database URL {url}: {type(exc).__name__}: {exc}")) from None


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        db_path = url.split(":///", 1)[-1]
        if db_path and db_path != ":memory:":
            Path(db_path).parent.mkdir(parents=True, exist_ok=True)
        # enough pooled connections for every API thread: an overflow connection is opened and
        # closed per use, and opening one (with its PRAGMAs) costs more than the query
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False},
                               pool_size=48, max_overflow=16)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            # read pages through a memory map rather than a read() system call per page
            cur.execute("PRAGMA mmap_size=1073741824")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("knm_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    # no pre-ping: it costs a round trip per checkout, i.e. per carrier per search; connections
    # are recycled instead, and a dropped one fails one operation rather than every request
    return create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


def engine() -> Engine:
    """The process's engine, created (and migrated) on first use."""
    global _engine, _url
    if _engine is not None:
        return _engine
    with _lock:
        if _engine is None:
            use(os.environ.get("KNM_DATABASE_URL") or default_url())
    assert _engine is not None
    return _engine


def use(url: str) -> Engine:
    """Switch this process to the database at `url`, creating or migrating its schema."""
    global _engine, _url
    url = canonical_url(url)
    with _lock:
        new = _make_engine(url)
        try:
            migrations.upgrade(new)
        except Exception as exc:  # an unreachable server or a bad URL
            new.dispose()
            raise errors.DatabaseError(
                cause=redact_url(f"cannot open database {url}: {type(exc).__name__}: {exc}")
            ) from exc
        old, _engine, _url = _engine, new, url
        global _write_gate
        if _write_gate is not None:
            _write_gate.close()
        _write_gate = _gate_for(url)
        if old is not None:
            old.dispose()
        for listener in list(_switch_listeners):
            listener()
        return new


def current_url() -> str | None:
    return _url


def dialect() -> str:
    return engine().dialect.name


_current_read: ContextVar[Connection | None] = ContextVar("knm_store_read", default=None)


@contextmanager
def read() -> Iterator[Connection]:
    """A read. On PostgreSQL it runs in autocommit: at READ COMMITTED a transaction gives a
    read no more consistency than that, and BEGIN/COMMIT would triple its round trips.

    A read inside another read (in the same thread or task) shares its connection: a search
    asking several store-backed carriers checks out one connection, not one per carrier."""
    shared = _current_read.get()
    if shared is not None:
        yield shared
        return
    current = engine()
    with current.connect() as conn:
        if current.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            token = _current_read.set(conn)
            try:
                yield conn
            finally:
                _current_read.reset(token)
            return
        with conn.begin():
            token = _current_read.set(conn)
            try:
                yield conn
            finally:
                _current_read.reset(token)


@contextmanager
def write() -> Iterator[Connection]:
    """A transaction that holds the write lock from its start (SQLite) — use for every write.

    On SQLite, writers first queue for a gate (`_SqliteWriteGate`), then take SQLite's own
    lock with `BEGIN IMMEDIATE`.
    """
    current = engine()
    gate = _write_gate if _write_gate is not None else nullcontext()
    with gate, current.connect() as conn:
        conn = conn.execution_options(knm_write=True)
        with conn.begin():
            yield conn


class _SqliteWriteGate:
    """Queue SQLite writers the way a server would, instead of in SQLite's busy handler.

    A writer that finds the database locked polls with growing sleeps (up to 100 ms each),
    so the writers of a busy process hand the lock to one another in microseconds while a
    writer of another process sleeps, and the slowest writes wait far longer than the queue
    is long (activate p99 of 300–650 ms with two API workers). Here the threads of a process
    queue on a lock, and processes on an `flock` of a file beside the database, whose waiter
    the kernel wakes the moment it is released.
    """

    def __init__(self, db_path: str) -> None:
        self._threads = threading.Lock()
        self._path = db_path + ".write-lock" if db_path else ""
        self._fd: int | None = None
        self._owner: int | None = None
        self._pid = 0  # a forked child must not share the parent's open file (and its lock)

    def __enter__(self) -> None:
        if self._owner == threading.get_ident():
            raise RuntimeError("store.write() inside store.write() would wait for itself")
        self._threads.acquire()
        self._owner = threading.get_ident()
        try:
            if fcntl is not None and self._path:
                try:
                    if self._fd is None or self._pid != os.getpid():
                        self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                        self._pid = os.getpid()
                    fcntl.flock(self._fd, fcntl.LOCK_EX)
                except OSError as exc:  # a read-only folder, a file system without locks
                    log.warning("cannot lock %s (%s); SQLite writers of different processes "
                                "queue in SQLite's busy handler", self._path, exc)
                    self.close()
                    self._path = ""
        except BaseException:
            self._owner = None
            self._threads.release()
            raise

    def __exit__(self, *_: object) -> None:
        try:
            if fcntl is not None and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._owner = None
            self._threads.release()

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


_write_gate: _SqliteWriteGate | None = None


def _gate_for(url: str) -> _SqliteWriteGate | None:
    if not url.startswith("sqlite"):
        return None
    db_path = url.split(":///", 1)[-1].split("?", 1)[0]
    if not db_path or db_path == ":memory:":
        return _SqliteWriteGate("")  # threads only: no file to lock beside
    return _SqliteWriteGate(db_path)


_compiled_cache: dict[tuple[int, str], Any] = {}


def fetch_rows(statement: Any, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Run a read-only Core `statement` straight on the driver's cursor.

    For the few queries on the hot path of every search: the SQL is compiled once per
    dialect, and each call skips SQLAlchemy's per-execution machinery (events, result
    processing), which cost more than the indexed query itself. Only for statements whose
    parameters and columns need no type processing (strings, integers).
    """
    return fetch_many([(statement, params)])[0]


def fetch_many(queries: Sequence[tuple[Any, dict[str, Any]]]) -> list[list[tuple[Any, ...]]]:
    """`fetch_rows` for several statements at once, rows in the same order.

    On PostgreSQL they go out in one pipeline: one round trip for all of them, where one
    each would leave the caller (an event loop, in the API) waiting on the network for
    every query in turn.
    """
    with read() as conn:
        dialect = conn.dialect
        driver = conn.connection.driver_connection
        calls = [_driver_call(dialect, statement, params) for statement, params in queries]
        if dialect.name == "postgresql" and len(calls) > 1:
            cursors = []
            try:
                with driver.pipeline():
                    for sql, args in calls:
                        cursor = driver.cursor()
                        cursors.append(cursor)
                        cursor.execute(sql, args)
                return [[tuple(row) for row in cursor.fetchall()] for cursor in cursors]
            finally:
                for cursor in cursors:
                    cursor.close()
        out = []
        for sql, args in calls:
            cursor = driver.cursor()
            try:
                cursor.execute(sql, args)
                out.append([tuple(row) for row in cursor.fetchall()])
            finally:
                cursor.close()
        return out


def _driver_call(dialect: Any, statement: Any, params: dict[str, Any]) -> tuple[str, Any]:
    """The SQL text (compiled once per statement and dialect) and the driver's arguments."""
    key = (id(statement), dialect.name)
    compiled = _compiled_cache.get(key)
    if compiled is None:
        compiled = statement.compile(dialect=dialect)
        _compiled_cache[key] = compiled
    bound = compiled.construct_params(params)
    if compiled.positiontup is not None:  # qmark/format styles: positional
        return compiled.string, tuple(bound[name] for name in compiled.positiontup)
    return compiled.string, bound
