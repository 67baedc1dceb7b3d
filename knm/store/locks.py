"""Named locks shared by every process on one database: "one of us at a time" across the
workers of `knm serve` and across nodes.

On PostgreSQL a session-level advisory lock (every node sees it); on SQLite, whose file only
processes of one host share, an `flock` of a file beside the database. Both are taken without
waiting: the caller that does not get the lock simply lets the holder do the work.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager

from knm import store

try:
    import fcntl
except ImportError:  # Windows: no flock; every process then works alone (best effort)
    fcntl = None  # type: ignore[assignment]


def _key(name: str) -> int:
    """A stable signed 64-bit advisory-lock key for `name`."""
    return int.from_bytes(hashlib.sha256(f"knm:{name}".encode()).digest()[:8], "big",
                          signed=True)


@contextmanager
def exclusive(name: str) -> Iterator[bool]:
    """Try to hold lock `name` for the block: yields True when held, False when another
    process holds it (nothing waits)."""
    engine = store.engine()
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            key = _key(name)
            held = bool(conn.exec_driver_sql("SELECT pg_try_advisory_lock(%s)",
                                             (key,)).scalar())
            try:
                yield held
            finally:
                if held:
                    conn.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
        return
    path = _lock_path(name)
    if fcntl is None or not path:
        yield True
        return
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _lock_path(name: str) -> str:
    url = store.current_url() or ""
    db_path = url.split(":///", 1)[-1].split("?", 1)[0] if url.startswith("sqlite") else ""
    if not db_path or db_path == ":memory:":
        return ""
    return f"{db_path}.{name}-lock"
