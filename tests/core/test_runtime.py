"""`knm.runtime`: the one place that picks the database and the search cache."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from knm import cache, errors, runtime, store
from knm.values import SearchResult


def test_the_default_cache_is_local_in_front_of_the_database(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KNM_CACHE_URL", raising=False)
    monkeypatch.setenv("KNM_DATABASE_URL", f"sqlite:///{tmp_path / 'env.sqlite'}")
    wired = runtime.configure()
    assert wired.cache == "local+store" and isinstance(cache.get_cache(), cache.LayeredCache)
    assert store.current_url() == f"sqlite:///{tmp_path / 'env.sqlite'}"
    monkeypatch.setenv("KNM_CACHE_URL", "store")
    assert runtime.configure().cache == "store"
    assert isinstance(cache.get_cache(), cache.StoreCache)
    assert runtime.configure(cache="local").cache == "local"
    with pytest.raises(errors.Invalid) as refused:
        runtime.configure(cache="memcached://x")
    assert refused.value.cause == "cache"


def test_database_urls_paths_and_postgres_schemes(tmp_path: Path) -> None:
    assert runtime.database_url(tmp_path / "a.sqlite") == f"sqlite:///{tmp_path / 'a.sqlite'}"
    assert runtime.database_url("postgres://u:p@h/db") == "postgresql+psycopg://u:p@h/db"
    assert runtime.database_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    wired = runtime.Runtime("postgresql+psycopg://u:hunter2@h/db", "redis://:pw@r:6379/0")
    assert "hunter2" not in wired.describe() and "pw@" not in wired.describe()
    assert wired.describe().startswith("database postgresql+psycopg://u:***@h/db")


def test_the_same_database_keeps_its_engine_and_export_tells_children(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'one.sqlite'}"
    runtime.configure(db=url, cache="local")
    engine = store.engine()
    monkeypatch.delenv("KNM_DATABASE_URL", raising=False)
    monkeypatch.delenv("KNM_CACHE_URL", raising=False)
    runtime.configure(db=str(tmp_path / "one.sqlite"), cache="store", export=True)
    assert store.engine() is engine
    assert os.environ["KNM_DATABASE_URL"] == url and os.environ["KNM_CACHE_URL"] == "store"


def test_hand_over_lets_the_next_process_page_a_search(tmp_path: Path) -> None:
    runtime.configure(db=f"sqlite:///{tmp_path / 'h.sqlite'}", cache="local+store")
    available = [SearchResult(f"+1415555010{i}", "knm_local", "available") for i in range(3)]
    cache.get_cache().put("q-available", available, 60)
    assert cache.StoreCache().page("q-available", 1, 5) is None  # not shared while running
    runtime.hand_over()
    assert [r.number for r in cache.StoreCache().page("q-available", 1, 5) or []] == [
        "+14155550101", "+14155550102"]


def test_a_busy_port_is_refused() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(errors.Invalid) as refused:
            runtime.check_port("127.0.0.1", port)
    assert refused.value.cause == "port" and str(port) in refused.value.message
    runtime.check_port("127.0.0.1", 0)  # any free port
