"""SQLite writers queue in knm's own gate before SQLite's lock: threads of a process on a
lock, processes (API workers, a `knm` command beside `knm serve`) on a lock file beside the
database. What a user sees: every write of several processes lands, none fails with
"database is locked", and a write nested in a write is an error rather than a hang."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import text

from knm import config, store

WRITER = """
import sys
from concurrent.futures import ThreadPoolExecutor
from knm import config, store
store.use(sys.argv[1])
def put(i):
    config.set("bench", f"{sys.argv[2]}-{i}", i)
with ThreadPoolExecutor(8) as pool:
    list(pool.map(put, range(int(sys.argv[3]))))
"""


def test_writes_of_several_processes_and_threads_all_land(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    store.use(url)
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, f"p{n}", "150"],
                              stderr=subprocess.PIPE, text=True) for n in range(3)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: config.set("bench", f"main-{i}", i), range(150)))
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with store.read() as conn:
        keys = conn.execute(text("SELECT COUNT(*) FROM knm_config WHERE category = 'bench'"))
        assert keys.scalar_one() == 4 * 150
    assert (tmp_path / "shared.sqlite.write-lock").exists()


def test_a_write_holds_the_lock_file_other_processes_wait_on(tmp_path: Path) -> None:
    store.use(f"sqlite:///{tmp_path / 'gate.sqlite'}")
    config.set("gate", "warm", 1)  # the first write opens the lock file
    other = os.open(tmp_path / "gate.sqlite.write-lock", os.O_RDWR)  # another process's view
    try:
        with store.write():
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free once the write is done
        fcntl.flock(other, fcntl.LOCK_UN)
    finally:
        os.close(other)


def test_a_write_inside_a_write_is_an_error_not_a_hang(tmp_path: Path) -> None:
    store.use(f"sqlite:///{tmp_path / 'nested.sqlite'}")
    with store.write():
        with pytest.raises(RuntimeError, match="inside store.write"):
            with store.write():
                pass
    config.set("gate", "after", 1)  # the gate was released
    assert config.get("gate", "after") == 1


def test_writes_still_work_where_the_lock_file_cannot_be_made(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A lock file that cannot be created (here: a directory stands in its place) costs only
    the fairness between processes: writes go on, and the log says why."""
    (tmp_path / "odd.sqlite.write-lock").mkdir()
    store.use(f"sqlite:///{tmp_path / 'odd.sqlite'}")
    with caplog.at_level("WARNING", logger="knm.store"):
        config.set("gate", "first", 1)
        config.set("gate", "second", 2)
    assert (config.get("gate", "first"), config.get("gate", "second")) == (1, 2)
    assert "cannot lock" in caplog.text
