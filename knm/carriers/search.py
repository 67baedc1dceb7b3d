"""Number search: every carrier asked at once, under one deadline, with cached paging.

Kazoo asked carriers in parallel but waited up to `number_search_timeout_ms` *per carrier*, so
one hung carrier made every search slow. Here the whole search ends by one deadline: a slow,
failing or crashing carrier loses only its own results, and the report says which.

Carriers are asked once per `query_id`, always for `maximum_search_quantity` numbers at offset
0; the merged, sorted results are cached (`knm.cache`) so later pages — and the purchase of a
`discovery` number — are served without asking the carriers again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field, replace
from typing import Any

from knm import accounts, cache, config, errors, store
from knm.carriers import registry
from knm.carriers.base import Carrier, short_name
from knm.carriers.selection import carrier_names
from knm.carriers.threads import DaemonPool
from knm.phone import normalize_prefix
from knm.values import SearchOptions, SearchResult, StoreQuery

log = logging.getLogger("knm.search")

#: outcomes a carrier can have in one search
ANSWERED, FAILED, TIMED_OUT = "answered", "failed", "timed_out"

#: called after every carrier's part of a search as `observer(carrier, outcome, seconds)`;
#: the HTTP API hangs its Prometheus metrics here. An observer that raises is ignored.
observers: list[Callable[[str, str, float], None]] = []

# Carrier calls are blocking (httpx, database); threads let them overlap. A hung carrier keeps
# its thread until its own HTTP timeout fires, so the pool is sized for many of those; they are
# daemon threads, so one that never returns does not keep the program from exiting.
_executor = DaemonPool(max_workers=128, name="knm-search")


@dataclass
class CarrierReport:
    """How one carrier did in one search."""

    carrier: str
    outcome: str  # answered | failed | timed_out
    seconds: float
    count: int = 0
    error: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"outcome": self.outcome, "seconds": round(self.seconds, 4),
                               "count": self.count}
        if self.error is not None:
            out["error"] = self.error
        return out


@dataclass
class SearchOutcome:
    """A page of results, and per carrier what happened (empty when served from the cache)."""

    results: list[dict[str, Any]]
    query_id: str
    carriers: dict[str, CarrierReport] = field(default_factory=dict)
    from_cache: bool = False
    #: the normalized prefix searched (`+1415`)
    prefix: str = ""

    def carriers_json(self) -> dict[str, dict[str, Any]]:
        """The per-carrier report as the HTTP API answers it: short name → `to_json()`."""
        return {short_name(name): report.to_json() for name, report in self.carriers.items()}

    def failure(self) -> errors.SearchFailed | None:
        """The error to answer instead of this outcome, if any: no carrier found a number
        and at least one asked carrier failed or timed out. A store-backed carrier that
        answered with nothing counts as "found nothing", so it cannot hide the failure of a
        network carrier behind an empty success. None for a page from the cache."""
        if self.from_cache or any(r.count for r in self.carriers.values()):
            return None
        if all(r.outcome == ANSWERED for r in self.carriers.values()):
            return None
        return errors.SearchFailed(self.carriers_json())

    def why_empty(self) -> str | None:
        """Why this search found no number, in a sentence; None when it found some or when
        it failed (`failure()` says that)."""
        if self.results or self.failure() is not None:
            return None
        if self.from_cache:
            return "no more numbers in this search (the page is past its last result)"
        if not self.carriers:
            return "no carrier was asked: none is configured for this search"
        names = ", ".join(sorted(self.carriers))
        return f"no carrier holds numbers under {self.prefix or 'this prefix'}: {names} " \
               "answered with none"


def find(prefix: str, quantity: int = 1, **kwargs: Any) -> list[dict[str, Any]]:
    """Kazoo's `knm_search:find`: a page of `{"number", "state"[, "locality"]}` dicts."""
    return find_with_report(prefix, quantity, **kwargs).results


def find_with_report(
    prefix: str,
    quantity: int = 1,
    *,
    offset: int = 0,
    country: str = "US",
    dialcode: str | None = None,
    account_id: str | None = None,
    reseller_id: str | None = None,
    query_id: str | None = None,
    carriers: Iterable[str] | None = None,
    blocks: Any = None,
    cap_quantity: bool = True,
    reuse_s: float = 0.0,
    **extra: Any,
) -> SearchOutcome:
    """Search, and say per carrier whether it answered, failed or timed out.

    A `quantity` above `maximum_search_quantity` is capped (SPEC §4, as Kazoo does), or with
    `cap_quantity=False` refused as `400 invalid` naming the maximum — for a person, who
    could take the capped page for everything there is. An `account_id` without its
    `reseller_id` searches as that account: its reseller is looked up.

    `reuse_s`: the same search (same parameters and page) made in this process within that
    many seconds gets the same answer, carrier reports included, without asking the carriers
    again — for anonymous searches, so that repeating one does not spend their quota."""
    if reuse_s > 0 and not query_id:
        key = json.dumps([prefix, quantity, offset, country, dialcode, account_id, reseller_id,
                          sorted(carriers) if carriers else None, blocks, cap_quantity, extra],
                         sort_keys=True, default=str)
        return _recent.get_or_run(key, reuse_s, lambda: find_with_report(
            prefix, quantity, offset=offset, country=country, dialcode=dialcode,
            account_id=account_id, reseller_id=reseller_id, carriers=carriers, blocks=blocks,
            cap_quantity=cap_quantity, **extra))
    started = time.monotonic()
    quantity = _positive_int("quantity", quantity, minimum=1)
    offset = _positive_int("offset", offset, minimum=0)
    country = (country or "US").upper()
    normalized = normalize_prefix(prefix, country, dialcode)
    maximum = _config_int("maximum_search_quantity", 500)
    if quantity > maximum and not cap_quantity:
        raise errors.Invalid("quantity", f"quantity {quantity} is above "
                             f"maximum_search_quantity ({maximum}); ask for at most "
                             f"{maximum} and page with offset")
    quantity = min(quantity, maximum)
    if account_id and not reseller_id:
        reseller_id = accounts.reseller_id(account_id)
    search_cache = cache.get_cache()
    names: list[str] | None = None
    if query_id is None or str(query_id) == "":
        names = carrier_names(carriers, account_id, reseller_id)
        query_id = _generated_query_id(normalized, account_id, reseller_id, names, blocks, extra)
    query_id = str(query_id)
    if offset > 0:
        cached = _cached_page(search_cache, query_id, offset, quantity)
        if cached is not None:
            return SearchOutcome([r.to_public() for r in cached], query_id, from_cache=True,
                                 prefix=normalized)
    if names is None:
        names = carrier_names(carriers, account_id, reseller_id)

    options = SearchOptions(
        quantity=maximum, prefix=normalized, dialcode=dialcode, country=country, offset=0,
        blocks=blocks, account_id=account_id, reseller_id=reseller_id, query_id=query_id,
        deadline=started + _config_int("number_search_timeout_ms", 5000) / 1000.0,
        extra=dict(extra),
    )
    merged, reports = _ask_carriers(names, normalized, maximum, options, started)
    ttl = _config_int("search_cache_ttl_s", 900)
    try:
        search_cache.put(query_id, merged, ttl)
    except Exception as exc:  # noqa: BLE001 - a cache outage must not lose the search
        log.warning("search cache unavailable, results not cached: %s", type(exc).__name__)
    return SearchOutcome(_page(merged, offset, quantity), query_id, reports,
                         prefix=normalized)


class _RecentAnswers:
    """Answers of the last searches, for `reuse_s`: bounded, thread-safe, one search asked at a
    time per key (callers of the same search wait for it rather than asking too)."""

    def __init__(self, size: int = 1024) -> None:
        self._lock = threading.Lock()
        self._size = size
        self._answers: OrderedDict[str, tuple[float, SearchOutcome]] = OrderedDict()
        self._running: dict[str, threading.Lock] = {}

    def get_or_run(self, key: str, ttl_s: float, run: Callable[[], SearchOutcome]
                   ) -> SearchOutcome:
        found = self._fresh(key)
        if found is not None:
            return found
        with self._lock:
            gate = self._running.setdefault(key, threading.Lock())
        with gate:
            found = self._fresh(key)
            if found is not None:
                return found
            outcome = run()
            with self._lock:
                self._answers[key] = (time.monotonic() + ttl_s, outcome)
                self._answers.move_to_end(key)
                while len(self._answers) > self._size:
                    self._answers.popitem(last=False)
                self._running.pop(key, None)
            return outcome

    def _fresh(self, key: str) -> SearchOutcome | None:
        with self._lock:
            hit = self._answers.get(key)
            if hit is None or hit[0] < time.monotonic():
                return None
            return hit[1]

    def clear(self) -> None:
        with self._lock:
            self._answers.clear()


_recent = _RecentAnswers()
store.on_engine_switch(_recent.clear)


# -- the fan-out ---------------------------------------------------------------------------


def _ask_carriers(names: list[str], prefix: str, quantity: int, options: SearchOptions,
                  started: float) -> tuple[list[SearchResult], dict[str, CarrierReport]]:
    deadline = options.deadline or (started + 5.0)
    answers: dict[str, list[SearchResult]] = {}
    reports: dict[str, CarrierReport] = {}
    futures: dict[Future[tuple[list[SearchResult], float]], str] = {}
    inline: list[tuple[Carrier, str]] = []
    # instances (and their settings) are resolved here, on one database connection, so the
    # carriers' threads only do carrier work and never queue for the connection pool
    for name in names:
        try:
            carrier = registry.get_carrier(name)
            if carrier is None:
                raise errors.CarrierUnavailable(name, "carrier is not installed")
        except Exception as exc:  # noqa: BLE001 - reported like any other failure
            failed: Future[tuple[list[SearchResult], float]] = Future()
            failed.set_exception(exc)
            reports[name], _ = _collect(name, failed, started)
            continue
        if carrier.answers_from_store:
            inline.append((carrier, name))
        else:
            futures[_executor.submit(_ask_one, carrier, prefix, quantity, options)] = name
    # the network carriers are on their way; answer the store-backed ones meanwhile, here,
    # on one database connection
    if inline:
        with store.read():
            for name, done_here in _ask_store(inline, prefix, quantity, options):
                reports[name], found = _collect(name, done_here, started)
                if found:
                    answers[name] = found
    pending = set(futures)
    while pending:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        done, pending = wait(pending, timeout=remaining, return_when=FIRST_COMPLETED)
        for future in done:
            name = futures[future]
            reports[name], found = _collect(name, future, started)
            if found:
                answers[name] = found
    for future in pending:
        future.cancel()  # not started yet: never will be; running: its result is dropped
        name = futures[future]
        reports[name] = CarrierReport(name, TIMED_OUT, time.monotonic() - started,
                                      error=errors.CarrierTimeout(name, "search deadline "
                                                                  "reached").to_json())
    for report in reports.values():
        _observe(report)
    # first carrier in configured order wins a number offered twice
    seen: dict[str, SearchResult] = {}
    for name in names:
        for result in answers.get(name, []):
            seen.setdefault(result.number, result)
    return sorted(seen.values(), key=lambda r: r.number), {n: reports[n] for n in names
                                                          if n in reports}


Answer = Future[tuple[list[SearchResult], float]]


def _ask_store(inline: list[tuple[Carrier, str]], prefix: str, quantity: int,
               options: SearchOptions) -> list[tuple[str, Answer]]:
    """Answer the store-backed carriers in this thread: those that describe their search as
    a query (`Carrier.store_query`) in one batch (one round trip on PostgreSQL), the others
    through `find_numbers`. In the carriers' order."""
    done: dict[str, Answer] = {}
    batch: list[tuple[str, StoreQuery]] = []
    for carrier, name in inline:
        try:
            query = carrier.store_query(prefix, quantity, options)
        except Exception as exc:  # noqa: BLE001 - reported like any other failure
            done[name] = _failed(exc)
            continue
        if query is None:
            done[name] = _run(_ask_one, carrier, prefix, quantity, options)
        else:
            batch.append((name, query))
    if batch:
        begun = time.monotonic()
        try:
            rowsets = store.fetch_many([(q.statement, q.params) for _, q in batch])
        except Exception as exc:  # noqa: BLE001 - every carrier of the batch failed with it
            for name, _ in batch:
                done[name] = _failed(exc)
        else:
            seconds = time.monotonic() - begun
            for (name, query), rows in zip(batch, rowsets, strict=True):
                done[name] = _run(_from_rows, name, query, rows, seconds)
    return [(name, done[name]) for _, name in inline]


def _from_rows(name: str, query: StoreQuery, rows: list[tuple[Any, ...]], seconds: float
               ) -> tuple[list[SearchResult], float]:
    return _checked(name, query.to_results(rows)), seconds


def _run(call: Callable[..., tuple[list[SearchResult], float]], *args: Any) -> Answer:
    """`call(*args)` here and now, its outcome as a finished future (what the network
    carriers' answers are), so every carrier is collected the same way."""
    future: Answer = Future()
    try:
        future.set_result(call(*args))
    except Exception as exc:  # noqa: BLE001 - reported like any other failure
        future.set_exception(exc)
    return future


def _failed(exc: BaseException) -> Answer:
    future: Answer = Future()
    future.set_exception(exc)
    return future


def _ask_one(carrier: Carrier, prefix: str, quantity: int, options: SearchOptions
             ) -> tuple[list[SearchResult], float]:
    begun = time.monotonic()
    found = carrier.find_numbers(prefix, quantity, options)
    return _checked(carrier.name, found), time.monotonic() - begun


def _checked(name: str, found: list[SearchResult] | None) -> list[SearchResult]:
    out: list[SearchResult] = []
    for result in found or []:
        if not isinstance(result, SearchResult):
            raise errors.MalformedResponse(name, f"find_numbers returned {type(result).__name__}")
        out.append(result if result.carrier else _with_carrier(result, name))
    return out


def _with_carrier(result: SearchResult, name: str) -> SearchResult:
    return replace(result, carrier=name)


def _collect(name: str, future: Future[tuple[list[SearchResult], float]], started: float
             ) -> tuple[CarrierReport, list[SearchResult]]:
    try:
        found, seconds = future.result()
    except errors.NotAvailable:
        return CarrierReport(name, ANSWERED, time.monotonic() - started), []
    except errors.KnmError as exc:
        if isinstance(exc, errors.CarrierFault) and exc.operation is None:
            exc.operation = "search"
        # a carrier whose own request ran out of time timed out, whichever clock noticed
        outcome = TIMED_OUT if isinstance(exc, errors.CarrierTimeout) else FAILED
        report = CarrierReport(name, outcome, time.monotonic() - started, error=exc.to_json())
        if outcome == FAILED:
            log.warning("carrier %s failed a search: %s %s", name, exc.code, exc.error)
        return report, []
    except Exception as exc:  # noqa: BLE001 - a crashing carrier loses only its results
        fault = errors.CarrierFault(name, f"carrier crashed: {type(exc).__name__}",
                                    operation="search")
        log.warning("carrier %s crashed in a search: %s", name, type(exc).__name__)
        return CarrierReport(name, FAILED, time.monotonic() - started,
                             error=fault.to_json()), []
    log.info("carrier %s answered a search: %d numbers in %.1f ms", name, len(found),
             seconds * 1000)
    return CarrierReport(name, ANSWERED, seconds, count=len(found)), found


def _observe(report: CarrierReport) -> None:
    if report.outcome == TIMED_OUT:
        log.warning("carrier %s timed out in a search after %.1f ms", report.carrier,
                    report.seconds * 1000)
    for observer in list(observers):
        try:
            observer(report.carrier, report.outcome, report.seconds)
        except Exception:  # noqa: BLE001 - metrics must never break a search
            log.debug("search observer failed", exc_info=True)


# -- helpers -------------------------------------------------------------------------------


def _page(results: list[SearchResult], offset: int, quantity: int) -> list[dict[str, Any]]:
    return [r.to_public() for r in results[offset:offset + quantity]]


def _cached_page(search_cache: cache.SearchCache, query_id: str, offset: int, quantity: int
                 ) -> list[SearchResult] | None:
    try:
        return search_cache.page(query_id, offset, quantity)
    except Exception as exc:  # noqa: BLE001 - fall back to asking the carriers
        log.warning("search cache unavailable, asking carriers: %s", type(exc).__name__)
        return None


def answers_from_store_only(*, account_id: str | None = None, reseller_id: str | None = None,
                            carriers: Iterable[str] | None = None) -> bool:
    """Would this search ask only carriers that read knm's own database (no network)?

    An event-loop server may then run it in place: it cannot hang on a carrier, and a thread
    hop would cost more than the search."""
    current = cache.get_cache()
    if not current.in_process:
        return False  # a shared cache is a network call
    writes_discoveries = current.shares_discoveries
    names = carrier_names(carriers, account_id, reseller_id)
    for name in names:
        cls = registry.carrier_class(name)
        if cls is None or not cls.answers_from_store:
            return False
        if writes_discoveries and cls.discovers:
            return False  # its results would be written to the database: a write to wait on
    return True


def _generated_query_id(prefix: str, account_id: str | None, reseller_id: str | None,
                        names: list[str], blocks: Any, extra: dict[str, Any]) -> str:
    """Same search, same id: a caller paging without a query_id still hits the cache."""
    key = json.dumps([prefix, account_id, reseller_id, names, blocks, extra], sort_keys=True,
                     default=str)
    return f"{prefix}-{hashlib.sha1(key.encode()).hexdigest()[:20]}"


def _positive_int(name: str, value: Any, *, minimum: int) -> int:
    if isinstance(value, bool):
        raise errors.Invalid(name, f"{name} must be an integer")
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise errors.Invalid(name, f"{name} must be an integer")
    if value < minimum:
        raise errors.Invalid(name, f"{name} must be at least {minimum}")
    return value


def _config_int(key: str, default: int) -> int:
    value = config.system(key)
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default
