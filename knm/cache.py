"""The search cache: results per `query_id`, and discovered numbers by number.

Carriers are asked once per query; later pages, and the purchase of a number found in the
search, read from here. In one process a dict is enough; when several processes serve one
system they must share it: `KNM_CACHE_URL=redis://…`, `store` (the database), or
`local+store` (memory, and the database for searches that discovered numbers: what `knm
serve`, `knm demo` and the `knm` command use unless told otherwise, see `knm.runtime`).
Entries expire after `search_cache_ttl_s` seconds (Kazoo's never did).
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any, Protocol

from sqlalchemy import delete, select

from knm import clock, store
from knm.store.schema import discovered_numbers, search_cache
from knm.values import SearchResult


class SearchCache(Protocol):
    #: answers from this process's memory (no network, no database round trip)
    in_process: bool
    #: writes searches that discovered numbers to a store shared with other processes
    shares_discoveries: bool

    def put(self, query_id: str, results: list[SearchResult], ttl_s: int) -> None: ...
    def get(self, query_id: str) -> list[SearchResult] | None: ...
    def page(self, query_id: str, offset: int, quantity: int) -> list[SearchResult] | None: ...
    def discovered(self, number: str) -> SearchResult | None: ...
    def clear(self) -> None: ...


def _encode(result: SearchResult) -> str:
    return json.dumps(result.to_dict(), separators=(",", ":"))


def _decode(text: str | bytes) -> SearchResult:
    return SearchResult.from_dict(json.loads(text))


Packed = tuple[str, str, str, Any, Any, Any, Any]


def _pack(result: SearchResult) -> Packed:
    """A cached result as a tuple of plain values. Tuples of strings and None are untracked by
    Python's garbage collector, so a cache of millions of results costs a full collection
    nothing; SearchResult objects (each with a dict) made every collection walk them all."""
    return (result.number, result.carrier, result.state, result.carrier_data or None,
            result.block, result.locality or None, result.price or None)


def _unpack(packed: Packed) -> SearchResult:
    number, carrier, state, data, block, locality, price = packed
    return SearchResult(number, carrier, state, dict(data) if data else {}, block, locality,
                        price)


class LocalCache:
    """In-process cache. Thread-safe; expired entries are dropped when touched. Expiry reads
    `knm.clock.monotonic` (this process alone sees the entries), so a test that injects a
    clock moves past a TTL without waiting."""

    in_process = True
    shares_discoveries = False

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: dict[str, tuple[float, tuple[Packed, ...]]] = {}
        self._numbers: dict[str, tuple[float, SearchResult]] = {}

    def put(self, query_id: str, results: list[SearchResult], ttl_s: int) -> None:
        expires = clock.monotonic() + ttl_s
        packed = tuple(_pack(r) for r in results)
        with self._lock:
            self._queries[query_id] = (expires, packed)
            for result in results:
                if result.state == "discovery":
                    self._numbers[result.number] = (expires, result)
            if len(self._queries) > 10_000:
                self._evict()

    def _alive(self, entries: dict[str, tuple[float, Any]], key: str) -> Any:
        """The value under `key` if it has not expired (an expired one is dropped)."""
        with self._lock:
            entry = entries.get(key)
            if entry is None:
                return None
            if entry[0] < clock.monotonic():
                del entries[key]
                return None
            return entry[1]

    def _packed(self, query_id: str) -> tuple[Packed, ...] | None:
        return self._alive(self._queries, query_id)

    def get(self, query_id: str) -> list[SearchResult] | None:
        packed = self._packed(query_id)
        return None if packed is None else [_unpack(p) for p in packed]

    def page(self, query_id: str, offset: int, quantity: int) -> list[SearchResult] | None:
        """`quantity` results from `offset`, or None when the query is not cached."""
        packed = self._packed(query_id)
        if packed is None:
            return None
        return [_unpack(p) for p in packed[offset:offset + quantity]]

    def discovered(self, number: str) -> SearchResult | None:
        found: SearchResult | None = self._alive(self._numbers, number)
        return found

    def clear(self) -> None:
        with self._lock:
            self._queries.clear()
            self._numbers.clear()

    def alive(self) -> list[tuple[str, float, list[SearchResult]]]:
        """Every query not expired yet: `(query_id, seconds left, results)`."""
        now = clock.monotonic()
        with self._lock:
            entries = [(k, v[0] - now, v[1]) for k, v in self._queries.items() if v[0] >= now]
        return [(k, left, [_unpack(p) for p in packed]) for k, left, packed in entries]

    def _evict(self) -> None:
        now = clock.monotonic()
        self._queries = {k: v for k, v in self._queries.items() if v[0] >= now}
        self._numbers = {k: v for k, v in self._numbers.items() if v[0] >= now}


class RedisCache:
    """Shared cache for several processes. A query is one Redis list; a discovered number is
    one key, so a purchase in any process finds the carrier data of a search in another.
    Entries expire on the Redis server's own clock (`EXPIRE`), which `knm.clock` does not
    reach: a test of this TTL waits for real (or shortens it with `PEXPIRE`)."""

    prefix = "knm:search:"
    in_process = False
    shares_discoveries = True

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def put(self, query_id: str, results: list[SearchResult], ttl_s: int) -> None:
        key = f"{self.prefix}q:{query_id}"
        pipe = self._redis.pipeline(transaction=True)
        pipe.delete(key)
        if results:
            pipe.rpush(key, *[_encode(r) for r in results])
            pipe.expire(key, ttl_s)
        for result in results:
            if result.state == "discovery":
                pipe.set(f"{self.prefix}n:{result.number}", _encode(result), ex=ttl_s)
        pipe.execute()

    def get(self, query_id: str) -> list[SearchResult] | None:
        key = f"{self.prefix}q:{query_id}"
        rows = self._redis.lrange(key, 0, -1)
        if not rows:
            return None
        return [_decode(row) for row in rows]

    def page(self, query_id: str, offset: int, quantity: int) -> list[SearchResult] | None:
        """One page in one round trip: only the rows shown are read and decoded."""
        key = f"{self.prefix}q:{query_id}"
        pipe = self._redis.pipeline(transaction=False)
        pipe.exists(key)
        pipe.lrange(key, offset, offset + quantity - 1)
        exists, rows = pipe.execute()
        if not exists:
            return None
        return [_decode(row) for row in rows]

    def discovered(self, number: str) -> SearchResult | None:
        raw = self._redis.get(f"{self.prefix}n:{number}")
        return _decode(raw) if raw else None

    def clear(self) -> None:
        keys = list(self._redis.scan_iter(f"{self.prefix}*", count=1000))
        if keys:
            self._redis.delete(*keys)


class StoreCache:
    """The cache in knm's own database: slower than memory, but shared by every process on
    that database with nothing else to run — so `knm search` and a later `knm buy` (two
    processes) agree. Expired rows are ignored, and swept on writes. Expiry stamps are
    `knm.clock.wall` seconds: processes on other hosts compare them, which a monotonic
    reading (per boot) could not serve; a test injects the clock instead of waiting."""

    in_process = False
    shares_discoveries = True

    def put(self, query_id: str, results: list[SearchResult], ttl_s: int) -> None:
        now = clock.wall()
        expires = now + ttl_s
        found = [r for r in results if r.state == "discovery"]
        with store.write() as conn:
            # two deletes rather than one with OR: each is answered by an index
            conn.execute(delete(search_cache).where(search_cache.c.query_id == query_id))
            conn.execute(delete(search_cache).where(search_cache.c.expires_at < now))
            conn.execute(search_cache.insert().values(
                query_id=query_id, expires_at=expires, results=[r.to_dict() for r in results]))
            if found:
                conn.execute(delete(discovered_numbers).where(
                    discovered_numbers.c.number.in_([r.number for r in found])))
                conn.execute(delete(discovered_numbers).where(
                    discovered_numbers.c.expires_at < now))
                conn.execute(discovered_numbers.insert(), [
                    {"number": r.number, "expires_at": expires, "result": r.to_dict()}
                    for r in found])

    def _results(self, query_id: str) -> list[dict[str, Any]] | None:
        with store.read() as conn:
            row = conn.execute(select(search_cache.c.results, search_cache.c.expires_at)
                               .where(search_cache.c.query_id == query_id)).first()
        if row is None or row.expires_at < clock.wall():
            return None
        return list(row.results)

    def get(self, query_id: str) -> list[SearchResult] | None:
        rows = self._results(query_id)
        return None if rows is None else [SearchResult.from_dict(r) for r in rows]

    def page(self, query_id: str, offset: int, quantity: int) -> list[SearchResult] | None:
        rows = self._results(query_id)
        if rows is None:
            return None
        return [SearchResult.from_dict(r) for r in rows[offset:offset + quantity]]

    def discovered(self, number: str) -> SearchResult | None:
        with store.read() as conn:
            row = conn.execute(select(discovered_numbers.c.result,
                                      discovered_numbers.c.expires_at)
                               .where(discovered_numbers.c.number == number)).first()
        if row is None or row.expires_at < clock.wall():
            return None
        return SearchResult.from_dict(row.result)

    def clear(self) -> None:
        with store.write() as conn:
            conn.execute(delete(search_cache))
            conn.execute(delete(discovered_numbers))


class LayeredCache:
    """This process's memory in front of the database: what `knm serve` uses by default.

    Several API workers (and a `knm buy` beside them) must agree on what a search found: a
    client's `activate` may reach another worker than its search did. But most searches of a
    busy server answer from knm's own tables (local, inventory, reserved numbers), and those
    results need no cache to be bought. So every search is kept in memory, and only one that
    discovered numbers (state `discovery`: the carrier data a purchase needs) is also written
    to the database; reads try memory first.
    """

    in_process = True
    shares_discoveries = True

    def __init__(self) -> None:
        self.local = LocalCache()
        self.shared = StoreCache()

    def put(self, query_id: str, results: list[SearchResult], ttl_s: int) -> None:
        self.local.put(query_id, results, ttl_s)
        if any(result.state == "discovery" for result in results):
            self.shared.put(query_id, results, ttl_s)

    def get(self, query_id: str) -> list[SearchResult] | None:
        found = self.local.get(query_id)
        return found if found is not None else self.shared.get(query_id)

    def page(self, query_id: str, offset: int, quantity: int) -> list[SearchResult] | None:
        found = self.local.page(query_id, offset, quantity)
        return found if found is not None else self.shared.page(query_id, offset, quantity)

    def discovered(self, number: str) -> SearchResult | None:
        return self.local.discovered(number) or self.shared.discovered(number)

    def clear(self) -> None:
        self.local.clear()
        self.shared.clear()

    def persist(self) -> None:
        """Write the searches only this process's memory holds to the database.

        A `knm` command is a process of its own: the next one (`--offset N --query-id Q`)
        can page only what the database holds. A server never needs this: it lives on, and
        writes only what another process must see (searches that discovered numbers)."""
        for query_id, left, results in self.local.alive():
            if left >= 1 and not any(r.state == "discovery" for r in results):
                self.shared.put(query_id, results, int(left))


_lock = threading.Lock()
_cache: SearchCache | None = None


def from_url(url: str | None) -> SearchCache:
    """`redis://…` → Redis; `store` → the database; `local+store` → memory in front of the
    database (`LayeredCache`); empty → this process's memory."""
    if not url:
        return LocalCache()
    word = url.strip().lower()
    if word in ("store", "db", "database"):
        return StoreCache()
    if word == "local+store":
        return LayeredCache()
    return RedisCache(url)


def get_cache() -> SearchCache:
    global _cache
    if _cache is None:
        with _lock:
            if _cache is None:
                _cache = from_url(os.environ.get("KNM_CACHE_URL"))
    return _cache


def use(cache: SearchCache | None) -> None:
    """Replace the process's cache (None: choose again from `KNM_CACHE_URL`)."""
    global _cache
    with _lock:
        _cache = cache


@store.on_engine_switch
def reset_local() -> None:
    """A database switch makes in-process entries meaningless; a shared cache is left alone."""
    if isinstance(_cache, LocalCache):
        _cache.clear()
    elif isinstance(_cache, LayeredCache):
        _cache.local.clear()
