"""The search caches: in-process, Redis, and the database (`KNM_CACHE_URL=store`)."""

from __future__ import annotations

import pytest

from knm import cache
from knm.carriers.base import SearchResult
from knm.clock import ManualClock

RESULTS = [
    SearchResult("+14155550100", "knm_telnyx", "discovery", {"order": {"id": "a"}},
                 locality={"city": "San Francisco"},
                 price={"currency": "USD", "monthly": "1.00", "upfront": "0.50"}),
    SearchResult("+14155550101", "knm_inventory", "available"),
    SearchResult("+14155550102", "knm_other", "discovery", {}, block=("+14155550102",
                                                                       "+14155550109")),
]


def test_a_cached_result_keeps_every_field() -> None:
    """The caches write results with `to_dict`: a field added to `SearchResult` and left
    out there would be lost between a search and the purchase."""
    from dataclasses import fields

    for result in RESULTS:
        written = result.to_dict()
        assert set(written) == {f.name for f in fields(SearchResult)}
        assert SearchResult.from_dict(written) == result


def _caches(redis_url: str | None) -> list[cache.SearchCache]:
    out: list[cache.SearchCache] = [cache.LocalCache(), cache.StoreCache(), cache.LayeredCache()]
    if redis_url:
        out.append(cache.RedisCache(redis_url))
    return out


def test_every_cache_returns_what_was_put(db: str, redis_url: str) -> None:
    for each in _caches(redis_url):
        assert each.get("q1") is None and each.page("q1", 0, 5) is None
        each.put("q1", RESULTS, ttl_s=60)
        assert each.get("q1") == RESULTS, type(each).__name__
        assert each.page("q1", 1, 5) == RESULTS[1:]
        assert each.discovered("+14155550100") == RESULTS[0]
        assert each.discovered("+14155550101") is None  # available numbers are not discovered
        each.put("q1", RESULTS[:1], ttl_s=60)  # a new first page replaces the query
        assert each.get("q1") == RESULTS[:1]
        each.clear()
        assert each.get("q1") is None


def test_store_cache_is_shared_by_separate_cache_objects_and_expires(db: str,
                                                                    clock: ManualClock) -> None:
    cache.StoreCache().put("q", RESULTS, ttl_s=1)
    other = cache.StoreCache()  # what another process sees
    assert other.page("q", 0, 2) == RESULTS[:2]
    assert other.discovered("+14155550102") == RESULTS[2]
    clock.advance(1.1)
    assert other.get("q") is None
    assert other.discovered("+14155550102") is None


def test_layered_cache_shares_only_searches_that_discovered_numbers(db: str) -> None:
    worker_a, worker_b = cache.LayeredCache(), cache.LayeredCache()  # two API workers
    from_store_only = [r for r in RESULTS if r.state != "discovery"]
    worker_a.put("local-only", from_store_only, ttl_s=60)
    assert worker_a.get("local-only") == from_store_only
    assert worker_b.get("local-only") is None  # nothing written: nothing to buy it with
    assert cache.StoreCache().get("local-only") is None

    worker_a.put("discovered", RESULTS, ttl_s=60)
    assert worker_b.page("discovered", 0, 2) == RESULTS[:2]  # a later page on another worker
    assert worker_b.discovered("+14155550100") == RESULTS[0]  # and the purchase


@pytest.mark.parametrize("url, kind", [
    (None, cache.LocalCache), ("", cache.LocalCache), ("store", cache.StoreCache),
    ("local+store", cache.LayeredCache),
    ("redis://127.0.0.1:6379/15", cache.RedisCache),
])
def test_cache_chosen_by_url(url: str | None, kind: type) -> None:
    assert isinstance(cache.from_url(url), kind)
