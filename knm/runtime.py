"""How a knm process is wired: which database and which search cache it uses.

Every entry point — the `knm` command, `knm serve`, `knm demo`, the test fixtures — calls
`configure()` once, and nothing else picks the engine or the cache. That is what makes them
one system: a `knm buy` finds the number a `knm serve` (or the demo's API) found, because all
of them default to the same cache, `local+store` (this process's memory in front of the
database, which holds every search that discovered numbers).

    runtime.configure()                                   # KNM_DATABASE_URL / KNM_CACHE_URL
    runtime.configure(db="/srv/knm.sqlite", cache="redis://cache:6379/0")
    runtime.configure(db=url, cache="local", export=True)  # and tell child processes
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

from knm import cache as search_cache
from knm import errors, store
from knm.cache import SearchCache
from knm.secrets import redact_url

#: the search cache every entry point uses unless told otherwise (`KNM_CACHE_URL`)
DEFAULT_CACHE = "local+store"
#: what each kind of cache is called in `describe()` and in `KNM_CACHE_URL`
_CACHE_NAMES = {search_cache.LocalCache: "local", search_cache.StoreCache: "store",
                search_cache.LayeredCache: "local+store"}


@dataclass(frozen=True)
class Runtime:
    """What `configure()` chose: the database URL and the search cache's spec."""

    db_url: str
    cache: str

    def describe(self) -> str:
        """One line fit for a log or a banner (passwords masked)."""
        return f"database {redact_url(self.db_url)}, search cache {redact_url(self.cache)}"

    def environment(self) -> dict[str, str]:
        """The variables that make another process (an API worker, a `knm` run) choose the
        same database and cache."""
        return {"KNM_DATABASE_URL": self.db_url, "KNM_CACHE_URL": self.cache}


def database_url(db: str | os.PathLike[str] | None = None) -> str:
    """The URL `db` names: a SQLAlchemy URL or a plain file path (SQLite); None is
    `KNM_DATABASE_URL`, else the default file under the user's data folder. `postgres://`
    and `postgresql://` (what most hosting providers hand out) mean PostgreSQL through
    psycopg, the driver knm ships with."""
    text = str(db) if db not in (None, "") else (os.environ.get("KNM_DATABASE_URL")
                                                or store.default_url())
    return store.canonical_url(store.url_for_path(text))


def cache_spec(cache: str | SearchCache | None) -> tuple[str, SearchCache]:
    """The cache `cache` names (None: `KNM_CACHE_URL`, else `DEFAULT_CACHE`), and its spec.

    Specs: `local` (this process only), `store` (the database), `local+store`, `redis://…`;
    a `SearchCache` instance is used as it is."""
    if cache is not None and not isinstance(cache, str):
        name = _CACHE_NAMES.get(type(cache), "redis" if not cache.in_process else "custom")
        return name, cache
    spec = (cache if cache is not None else os.environ.get("KNM_CACHE_URL", "")).strip()
    word = (spec or DEFAULT_CACHE).lower()
    if word in ("local", "memory"):
        return "local", search_cache.LocalCache()
    if word in ("store", "db", "database"):
        return "store", search_cache.StoreCache()
    if word == "local+store":
        return "local+store", search_cache.LayeredCache()
    if word.startswith(("redis://", "rediss://", "unix://")):
        return spec, search_cache.RedisCache(spec)
    raise errors.Invalid("cache", f"unknown search cache {redact_url(spec)!r}: use local, "
                         "store, local+store or a redis:// URL")


def configure(db: str | os.PathLike[str] | None = None,
              cache: str | SearchCache | None = None, *, export: bool = False) -> Runtime:
    """Point this process at a database and a search cache.

    The engine is kept when `db` names the database already open (so its search cache is
    not thrown away between the commands of one process); the cache is always the one asked
    for. `export` also sets `KNM_DATABASE_URL` and `KNM_CACHE_URL`, for the processes this
    one starts (API workers)."""
    url = database_url(db)
    spec, chosen = cache_spec(cache)
    if url != store.current_url():
        store.use(url)
    search_cache.use(chosen)
    current = Runtime(url, spec)
    if export:
        os.environ.update(current.environment())
    return current


def hand_over() -> None:
    """Before a short-lived process (a `knm` command) ends: write the searches only its memory
    holds to the database, so the next process can page them."""
    current = search_cache.get_cache()
    persist = getattr(current, "persist", None)
    if callable(persist):
        persist()


def check_port(host: str, port: int) -> None:
    """Refuse a port something else listens on — before anything is started or written, so a
    busy port costs nothing (`400 invalid`, cause `port`). Port 0 (any free one) passes."""
    if not port:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise errors.Invalid("port", f"cannot listen on {host}:{port}: {exc.strerror or exc}"
                                 "; choose another with --port") from None


def knm_command() -> str:
    """How to run this installation's `knm` from the current folder, for lines printed to be
    pasted: `knm` when it is on the PATH, else the script beside this Python (relative when
    it is under the current folder, as `.venv/bin/knm` after `make demo`)."""
    script = Path(sys.executable).with_name("knm")
    if not script.exists():
        return "knm"
    found = shutil.which("knm")
    if found and Path(found).resolve() == script.resolve():
        return "knm"
    try:
        return shlex.quote(str(script.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(script))
