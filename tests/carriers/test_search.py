"""Search: one deadline for all carriers, per-carrier reports, cached paging (SPEC §4)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from conftest import DEADLINE_SLACK_S

from knm import accounts, cache, carriers, config, errors
from knm.carriers import Carrier, SearchOptions, SearchResult, search
from knm.clock import ManualClock


class Counting(Carrier):
    """A carrier offering numbers `<prefix>000000..` and counting how often it is asked."""

    name = "knm_test_fast"
    calls = 0
    stock = 30
    delay = 0.0
    lock = threading.Lock()

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        with type(self).lock:
            type(self).calls += 1
        if self.delay:
            time.sleep(self.delay)
        numbers = [f"{prefix}{i:07d}" for i in range(self.stock)][:quantity]
        return [SearchResult(n, self.name, "discovery", {"order_ref": n[-4:]}) for n in numbers]

    def acquire_number(self, number):  # type: ignore[no-untyped-def]
        return number

    def disconnect_number(self, number):  # type: ignore[no-untyped-def]
        return number


class Sleepy(Counting):
    name = "knm_test_sleepy"
    delay = 3.0
    stock = 5


class Crashing(Counting):
    name = "knm_test_crashing"

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom with secret sk_live_123")


class Failing(Counting):
    name = "knm_test_failing"

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        raise errors.CarrierUnavailable(self.name, "HTTP 503 from upstream")


class Overlapping(Counting):
    """Offers some of the same numbers as `Counting`, and some of its own."""

    name = "knm_test_overlap"

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        numbers = [f"{prefix}{i:07d}" for i in range(25, 40)]
        return [SearchResult(n, self.name, "discovery", {"other": True}) for n in numbers]


FAKE_CARRIERS = (Counting, Sleepy, Crashing, Failing, Overlapping)


@pytest.fixture
def fake_carriers(db: str) -> Iterator[None]:
    for cls in FAKE_CARRIERS:
        cls.calls = 0
        carriers.register(cls)
    yield
    for cls in FAKE_CARRIERS:
        carriers.unregister(cls.name)


def test_results_sorted_deduplicated_and_paged(fake_carriers: None) -> None:
    page = carriers.find("415", 10, carriers=["knm_test_overlap", "test_fast"], query_id="q1")
    assert [r["number"] for r in page] == [f"+1415{i:07d}" for i in range(10)]
    assert all(r == {"number": r["number"], "state": "discovery"} for r in page)
    tail = carriers.find("415", 100, offset=20, carriers=["test_overlap", "test_fast"],
                         query_id="q1")
    assert [r["number"] for r in tail] == [f"+1415{i:07d}" for i in range(20, 40)]
    # the number both offered is bought from the first carrier in the configured order
    assert cache.get_cache().discovered("+14150000027").carrier == "knm_test_overlap"


def test_pages_come_from_cache_without_asking_carriers(fake_carriers: None) -> None:
    first = carriers.find("+1415", 5, carriers=["test_fast"], query_id="paging")
    assert Counting.calls == 1
    second = carriers.find("+1415", 5, offset=5, carriers=["test_fast"], query_id="paging")
    third = carriers.find("+1415", 5, offset=10, carriers=["test_fast"], query_id="paging")
    assert Counting.calls == 1
    numbers = [r["number"] for r in first + second + third]
    assert numbers == [f"+1415{i:07d}" for i in range(15)]
    # a new first page asks again
    carriers.find("+1415", 5, carriers=["test_fast"], query_id="paging")
    assert Counting.calls == 2


def test_generated_query_id_pages_the_same_search(fake_carriers: None) -> None:
    carriers.find("415", 5, carriers=["test_fast"])
    page = carriers.find("415", 5, offset=5, carriers=["test_fast"])
    assert Counting.calls == 1
    assert page[0]["number"] == "+14150000005"


def test_carriers_are_asked_for_the_maximum_at_offset_zero(fake_carriers: None) -> None:
    seen: list[tuple[int, SearchOptions]] = []

    class Spy(Counting):
        name = "knm_test_spy"

        def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
            seen.append((quantity, options))
            return []

    carriers.register(Spy)
    accounts.create("spy", account_id="a" * 32)
    try:
        config.set("number_manager", "maximum_search_quantity", 20)
        carriers.find("415", 50, offset=3, carriers=["test_spy"], query_id="spy",
                      account_id="a" * 32, tollfree=True)
    finally:
        carriers.unregister("knm_test_spy")
    (quantity, options), = seen
    assert quantity == 20 and options.quantity == 20 and options.offset == 0
    assert options.prefix == "+1415" and options.account_id == "a" * 32
    assert options.extra == {"tollfree": True} and options.deadline is not None


def test_a_search_as_an_unknown_account_is_invalid(fake_carriers: None) -> None:
    """SPEC §3: not an empty page as nobody, but `400 invalid` naming the account."""
    for kwargs, cause in (({"account_id": "b" * 32}, "account_id"),
                          ({"reseller_id": "c" * 32}, "reseller_id")):
        with pytest.raises(errors.Invalid) as refused:
            carriers.find("415", 5, carriers=["test_fast"], **kwargs)
        assert refused.value.cause == cause
        assert next(iter(kwargs.values())) in refused.value.message


def test_a_tollfree_search_offers_tollfree_numbers_only(fake_carriers: None) -> None:
    """`80*` asks for toll-free numbers: a carrier that reads the prefix literally (knm's
    own stock) must not slip in +1801… (Utah)."""
    class Literal(Counting):
        name = "knm_test_literal"

        def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
            return [SearchResult(f"{prefix}{i}5550100", self.name, "available")
                    for i in range(3)]

    carriers.register(Literal)
    try:
        found = carriers.find("80", 10, carriers=["test_literal"], tollfree=True)
        plain = carriers.find("80", 10, carriers=["test_literal"])
    finally:
        carriers.unregister("knm_test_literal")
    assert [r["number"] for r in found] == ["+18005550100"]
    assert len(plain) == 3


def test_quantity_is_capped(fake_carriers: None) -> None:
    config.set("number_manager", "maximum_search_quantity", 7)
    assert len(carriers.find("415", 100, carriers=["test_fast"])) == 7


def test_one_deadline_for_the_whole_search(fake_carriers: None) -> None:
    config.set("number_manager", "number_search_timeout_ms", 500)
    begun = time.monotonic()
    outcome = search.find_with_report(
        "415", 5, carriers=["test_sleepy", "test_fast", "test_crashing", "test_failing"],
        query_id="deadline")
    elapsed = time.monotonic() - begun
    # about the deadline (slack for a busy test machine), far below the sleepy carrier's 3 s
    assert 0.45 <= elapsed < 0.5 + DEADLINE_SLACK_S, elapsed
    assert [r["number"] for r in outcome.results] == [f"+1415{i:07d}" for i in range(5)]
    report = outcome.carriers
    assert report["knm_test_sleepy"].outcome == "timed_out"
    assert report["knm_test_sleepy"].error["error"] == "carrier_timeout"
    assert report["knm_test_fast"].outcome == "answered"
    assert report["knm_test_fast"].count == 30
    assert report["knm_test_crashing"].outcome == "failed"
    assert report["knm_test_crashing"].error["carrier"] == "knm_test_crashing"
    assert "sk_live_123" not in str(report["knm_test_crashing"].error)
    assert report["knm_test_failing"].error["error"] == "carrier_unavailable"
    assert report["knm_test_failing"].error["carrier_message"] == "HTTP 503 from upstream"


def test_observers_see_every_carrier(fake_carriers: None) -> None:
    calls: list[tuple[str, str, float]] = []
    search.observers.append(lambda *args: calls.append(args))
    search.observers.append(lambda *args: 1 / 0)  # a broken observer changes nothing
    try:
        found = carriers.find("415", 3, carriers=["test_fast", "test_failing"])
    finally:
        search.observers.clear()
    assert len(found) == 3
    assert sorted((c, o) for c, o, _ in calls) == [("knm_test_failing", "failed"),
                                                   ("knm_test_fast", "answered")]


def test_bad_prefix_and_quantity_are_invalid(fake_carriers: None) -> None:
    for prefix in ["41a5", "+1+1415", "", "415-886"]:
        with pytest.raises(errors.Invalid) as caught:
            carriers.find(prefix, 1, carriers=["test_fast"])
        assert caught.value.code == 400 and caught.value.cause == "prefix"
    for quantity in [0, -1, "many", 1.5, True]:
        with pytest.raises(errors.Invalid) as caught:
            carriers.find("415", quantity, carriers=["test_fast"])  # type: ignore[arg-type]
        assert caught.value.cause == "quantity"
    with pytest.raises(errors.Invalid) as caught:
        carriers.find("415", 1, offset=-1, carriers=["test_fast"])
    assert caught.value.cause == "offset"
    assert Counting.calls == 0


def test_country_dial_code_is_used(fake_carriers: None) -> None:
    found = carriers.find("20", 1, country="GB", carriers=["test_fast"])
    assert found[0]["number"].startswith("+4420")


def test_locality_is_shown_but_carrier_data_is_not(fake_carriers: None) -> None:
    class WithLocality(Counting):
        name = "knm_test_locality"

        def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
            return [SearchResult("+14155550100", self.name, "discovery", {"secret_ref": 1},
                                 locality={"city": "San Francisco"})]

    carriers.register(WithLocality)
    try:
        found = carriers.find("415", 1, carriers=["test_locality"])
    finally:
        carriers.unregister("knm_test_locality")
    assert found == [{"number": "+14155550100", "state": "discovery",
                      "locality": {"city": "San Francisco"}}]


def test_redis_cache_pages_and_discovery_across_processes(fake_carriers: None,
                                                          redis_url: str) -> None:
    cache.use(cache.RedisCache(redis_url))
    try:
        carriers.find("415", 5, carriers=["test_fast"], query_id="shared")
        cache.use(cache.RedisCache(redis_url))  # another process: a fresh cache object
        page = carriers.find("415", 5, offset=5, carriers=["test_fast"], query_id="shared")
        assert Counting.calls == 1
        assert [r["number"] for r in page] == [f"+1415{i:07d}" for i in range(5, 10)]
        found = cache.get_cache().discovered("+14150000007")
        assert found is not None
        assert (found.carrier, found.carrier_data) == ("knm_test_fast", {"order_ref": "0007"})
    finally:
        cache.use(cache.LocalCache())


def test_cache_entries_expire(fake_carriers: None, clock: ManualClock) -> None:
    local = cache.LocalCache()
    cache.use(local)
    config.set("number_manager", "search_cache_ttl_s", 1)
    carriers.find("415", 2, carriers=["test_fast"], query_id="ttl")
    assert local.get("ttl") is not None
    clock.advance(1.1)
    assert local.get("ttl") is None
    carriers.find("415", 2, offset=2, carriers=["test_fast"], query_id="ttl")
    assert Counting.calls == 2  # expired: the carriers were asked again


def test_store_backed_carriers_share_one_batch_and_fail_alone(db: str) -> None:
    """A third-party carrier answering from knm's database can describe its search as a
    query (`store_query`); it is run with the built-in ones (one round trip on PostgreSQL),
    its rows become its results, and a carrier whose query cannot be built fails alone."""
    from sqlalchemy import bindparam, select

    from knm import accounts, numbers
    from knm.carriers.base import StoreQuery
    from knm.store.schema import numbers as numbers_t

    owner = accounts.create("owner", allow_number_additions=True)
    for n in ("+14155550100", "+14155550101", "+14155550199"):
        numbers.create(n, auth_by="system", assign_to=owner.id, state="available",
                       module_name="knm_local")
    built: list[str] = []

    class FromStore(Counting):
        """Offers stored numbers under the prefix (state `port_in`): two, highest first."""

        name = "knm_test_from_store"
        answers_from_store = True
        query = (select(numbers_t.c.number).where(numbers_t.c.number >= bindparam("low"))
                 .where(numbers_t.c.number < bindparam("high"))
                 .order_by(numbers_t.c.number.desc()).limit(bindparam("limit")))

        def store_query(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
            built.append(prefix)
            return StoreQuery(self.query, {"low": prefix, "high": prefix + ":",
                                           "limit": 2},
                              lambda rows: [SearchResult(n, "", "port_in") for (n,) in rows])

        def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
            raise AssertionError("a carrier with a store query is not asked this way")

    class BrokenQuery(FromStore):
        name = "knm_test_broken_query"

        def store_query(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
            raise errors.CarrierMisconfigured(self.name, "table", "is missing")

    for cls in (FromStore, BrokenQuery):
        carriers.register(cls)
    try:
        outcome = search.find_with_report(
            "+1415555", 10, account_id=owner.id,
            carriers=["knm_test_from_store", "knm_test_broken_query", "knm_local"])
    finally:
        for cls in (FromStore, BrokenQuery):
            carriers.unregister(cls.name)
    assert built == ["+1415555"]
    reports = outcome.carriers
    assert reports["knm_local"].outcome == "answered" and reports["knm_local"].count == 3
    assert reports["knm_test_from_store"].outcome == "answered"
    assert reports["knm_test_from_store"].count == 2
    assert reports["knm_test_broken_query"].outcome == "failed"
    # the first carrier in the given order wins the numbers both offer
    assert [(r["number"], r["state"]) for r in outcome.results] == [
        ("+14155550100", "available"), ("+14155550101", "port_in"),
        ("+14155550199", "port_in")]


HUNG_PROGRAM = """
import sys, threading, time
from knm import carriers, config, store
from knm.carriers import search
from knm.carriers import Carrier, SearchResult
store.use(sys.argv[1])

class Hung(Carrier):
    name = "knm_test_hung"
    def find_numbers(self, prefix, quantity, options):
        threading.Event().wait()  # never returns, and has no timeout of its own
    def acquire_number(self, number): return number
    def disconnect_number(self, number): return number

class Quick(Hung):
    name = "knm_test_quick"
    def find_numbers(self, prefix, quantity, options):
        return [SearchResult(prefix + "5550100", self.name)]

carriers.register(Hung); carriers.register(Quick)
config.set("number_manager", "number_search_timeout_ms", 300)
outcome = search.find_with_report("415", 5, carriers=["knm_test_hung", "knm_test_quick"])
print(outcome.carriers["knm_test_hung"].outcome, [r["number"] for r in outcome.results])
"""


def test_a_program_that_searched_a_hung_carrier_still_exits(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The search ends at its deadline; the program ends too, rather than waiting for the
    hung carrier's thread (a `knm search` that printed its results and then never exits)."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", HUNG_PROGRAM,
                           f"sqlite:///{tmp_path / 'k.sqlite'}"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == "timed_out ['+14155550100']"


def test_quantity_above_the_maximum_is_refused_when_asked(fake_carriers: None) -> None:
    config.set("number_manager", "maximum_search_quantity", 7)
    with pytest.raises(errors.Invalid) as refused:
        search.find_with_report("415", 8, carriers=["test_fast"], cap_quantity=False)
    assert refused.value.cause == "quantity" and "(7)" in refused.value.message
    assert len(search.find_with_report("415", 7, carriers=["test_fast"],
                                       cap_quantity=False).results) == 7


def test_an_unknown_carrier_asked_by_name_is_refused(fake_carriers: None) -> None:
    with pytest.raises(errors.Invalid) as refused:
        carriers.find("415", carriers=["test_fast", "telnix"])
    assert refused.value.cause == "carrier" and "knm_telnix" in refused.value.message


def test_an_account_searches_as_itself_without_naming_its_reseller(db: str) -> None:
    from knm import accounts, numbers

    reseller = accounts.create("reseller", is_reseller=True)
    child = accounts.create("child", parent_id=reseller.id)
    held = ["+14155550300", "+14155550301"]
    assert numbers.create(held, assign_to=reseller.id, state="reserved").ok
    # the reseller's reserved numbers are offered to its child (knm_reserved_reseller), as
    # when reseller_id is given: without its reseller, the search would be the system's
    found = carriers.find("415", quantity=5, account_id=child.id)
    assert [r["number"] for r in found] == held


def test_an_empty_search_says_why(fake_carriers: None) -> None:
    accounts.create("Acme", account_id="a" * 32)  # a search as an unknown account is refused
    nothing = search.find_with_report("+1999", 5, carriers=["knm_local"], account_id="a" * 32)
    assert nothing.why_empty() == ("no carrier holds numbers under +1999: knm_local answered "
                                   "with none")
    assert search.find_with_report("415", 5, carriers=["test_fast"]).why_empty() is None
    failed = search.find_with_report("415", 5, carriers=["test_failing"])
    assert failed.failure() is not None and failed.why_empty() is None
