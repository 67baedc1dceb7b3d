"""Buying and releasing at a carrier: atomic per number, the carrier asked exactly once,
nothing half-bought, nothing bought but forgotten (SPEC §2, §8, §12; peers.md)."""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

import pytest
from conftest import CHILD, RESELLER
from sqlalchemy import select, text

from knm import PhoneNumber, cache, carriers, config, errors, numbers, store
from knm.carriers.base import Carrier, SearchOptions, SearchResult
from knm.numbers import purchase, repository
from knm.store.schema import claims

NUM = "+14155550100"


class ShopCarrier(Carrier):
    """A foreign carrier in the test: counts calls, can be slow, refuse, or leave an order
    pending. Class attributes are the test's controls."""

    name = "knm_testshop"
    delay_s: ClassVar[float] = 0.0
    fail_with: ClassVar[errors.KnmError | None] = None
    pending: ClassVar[bool] = False
    acquired: ClassVar[list[str]] = []
    disconnected: ClassVar[list[str]] = []
    running: ClassVar[int] = 0
    most_at_once: ClassVar[int] = 0
    lock = threading.Lock()

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return []

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        cls = type(self)
        with cls.lock:
            cls.acquired.append(number.number)
            cls.running += 1
            cls.most_at_once = max(cls.most_at_once, cls.running)
        try:
            time.sleep(cls.delay_s)
            if cls.pending:
                number.update_carrier_data({"order_id": "ord-1", "order_status": "pending"})
                raise errors.CarrierTimeout(cls.name, "order still pending",
                                            number=number.number)
            if cls.fail_with is not None and number.number.endswith("13"):
                raise cls.fail_with
            if cls.fail_with is not None and number.number == NUM:
                raise cls.fail_with
            number.update_carrier_data({"order_id": f"ord-{number.number}"})
            return number
        finally:
            with cls.lock:
                cls.running -= 1

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        cls = type(self)
        with cls.lock:
            cls.disconnected.append(number.number)
        if cls.fail_with is not None:
            raise cls.fail_with
        return number


@pytest.fixture
def shop(kazoo_accounts: dict[str, str]) -> Any:
    ShopCarrier.delay_s, ShopCarrier.fail_with, ShopCarrier.pending = 0.0, None, False
    ShopCarrier.acquired, ShopCarrier.disconnected = [], []
    ShopCarrier.running = ShopCarrier.most_at_once = 0
    carriers.register(ShopCarrier)
    yield ShopCarrier
    carriers.unregister(ShopCarrier.name)


def discovered(*nums: str) -> None:
    """As if a search had just offered these numbers from the test carrier."""
    results = [SearchResult(n, ShopCarrier.name, "discovery", {"offer": n}) for n in nums]
    cache.get_cache().put(f"q-{nums[0]}", results, 60)


def test_buying_a_discovered_number(shop: Any) -> None:
    discovered(NUM)
    pn = numbers.move(NUM, CHILD)
    assert (pn.state, pn.assigned_to, pn.module_name) == ("in_service", CHILD, ShopCarrier.name)
    assert shop.acquired == [NUM]
    stored = numbers.get(NUM)
    assert stored.state == "in_service" and stored.pending_operation is None
    data = dict(stored.carrier_data)
    # the reference knm stored (and sent) before the call stays with the purchase
    assert data.pop("order_reference").startswith("knm-")
    assert data == {"offer": NUM, "order_id": f"ord-{NUM}"}
    assert not repository.is_claimed(stored)
    # bought once: buying again for someone else is a plain move, no second purchase
    numbers.move(NUM, RESELLER)
    assert shop.acquired == [NUM]


def test_two_buyers_of_one_number_one_wins_carrier_asked_once(shop: Any) -> None:
    shop.delay_s = 0.3
    discovered(NUM)
    outcomes: dict[str, Any] = {}
    barrier = threading.Barrier(2)

    def buy(who: str) -> None:
        barrier.wait()
        try:
            outcomes[who] = numbers.move(NUM, who)
        except errors.KnmError as exc:
            outcomes[who] = exc

    threads = [threading.Thread(target=buy, args=(acct,)) for acct in (CHILD, RESELLER)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(10)
    won = [v for v in outcomes.values() if isinstance(v, PhoneNumber)]
    lost = [v for v in outcomes.values() if isinstance(v, errors.KnmError)]
    assert len(won) == 1 and len(lost) == 1
    assert lost[0].code == 409 and lost[0].error == "number_exists"
    assert NUM in lost[0].message
    assert shop.acquired == [NUM]
    stored = numbers.get(NUM)
    assert (stored.state, stored.assigned_to) == ("in_service", won[0].assigned_to)


def test_carrier_refusal_leaves_no_row(shop: Any) -> None:
    shop.fail_with = errors.NumberUnavailable(ShopCarrier.name, "number no longer in stock",
                                              number=NUM)
    discovered(NUM)
    with pytest.raises(errors.NumberUnavailable) as exc:
        numbers.move(NUM, CHILD)
    assert exc.value.carrier == ShopCarrier.name
    assert exc.value.carrier_message == "number no longer in stock"
    assert repository.fetch(NUM) is None
    # nothing stuck: a later attempt asks the carrier again, and can succeed
    shop.fail_with = None
    assert numbers.move(NUM, CHILD).state == "in_service"
    assert shop.acquired == [NUM, NUM]


def test_carrier_crash_is_a_carrier_fault_and_the_number_is_kept_unsettled(shop: Any) -> None:
    class Boom(ShopCarrier):
        def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
            raise RuntimeError("socket exploded")

    carriers.register(Boom)
    discovered(NUM)
    with pytest.raises(errors.CarrierFault) as exc:
        numbers.move(NUM, CHILD)
    assert exc.value.carrier == ShopCarrier.name
    # the carrier's code may have bought it before it crashed: nothing is forgotten
    assert exc.value.to_json()["unsettled"] is True
    kept = repository.fetch(NUM)
    assert kept is not None and (kept.state, kept.assigned_to) == ("discovery", CHILD)
    assert kept.pending_operation == "acquire"
    assert kept.carrier_data["order_status"] == "unknown"
    assert kept.carrier_data["order_reference"].startswith("knm-")
    assert [pn.number for pn in numbers.unsettled()] == [NUM]


def test_pending_order_is_kept_in_discovery(shop: Any) -> None:
    shop.pending = True
    discovered(NUM)
    with pytest.raises(errors.CarrierTimeout) as exc:
        numbers.move(NUM, CHILD)
    assert exc.value.code == 504
    kept = repository.fetch(NUM)
    assert kept is not None and kept.state == "discovery"
    assert kept.carrier_data["order_id"] == "ord-1"
    assert kept.carrier_data["order_status"] == "pending"
    assert kept.assigned_to == CHILD and not repository.is_claimed(kept)


def test_dry_run_buy_asks_no_carrier_and_writes_nothing(shop: Any) -> None:
    discovered(NUM)
    pn = numbers.move(NUM, CHILD, dry_run=True)
    assert pn.state == "in_service" and shop.acquired == []
    assert repository.fetch(NUM) is None


def test_bulk_buy_runs_carrier_calls_concurrently_within_the_limit(shop: Any) -> None:
    shop.delay_s = 0.05
    shop.fail_with = errors.NumberUnavailable(ShopCarrier.name, "gone")
    config.set("number_manager", "bulk_concurrency", 4)
    nums = [f"+14155551{i:03d}" for i in range(20)]
    discovered(*nums)
    result = numbers.move(nums, CHILD)
    # +14155550113 is refused by the carrier; everything else is bought and recorded
    assert set(result.failed) == {"+14155551013"}
    assert len(result.succeeded) == 19
    assert 1 < shop.most_at_once <= 4
    assert sorted(shop.acquired) == sorted(nums)
    assert {pn.state for pn in numbers.get(nums[:13]).succeeded} == {"in_service"}
    assert repository.fetch("+14155551013") is None


def test_a_number_being_bought_cannot_be_changed(shop: Any) -> None:
    shop.delay_s = 0.4
    discovered(NUM)
    buyer = threading.Thread(target=numbers.move, args=(NUM, CHILD))
    buyer.start()
    deadline = time.monotonic() + 5
    while repository.fetch(NUM) is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(errors.KnmError) as exc:
        numbers.move(NUM, RESELLER)
    assert exc.value.code == 409
    buyer.join(5)
    assert shop.acquired == [NUM]
    assert numbers.get(NUM).assigned_to == CHILD


def test_release_disconnects_a_foreign_number_once(shop: Any) -> None:
    discovered(NUM)
    numbers.move(NUM, CHILD)
    pn = numbers.release(NUM)
    assert shop.disconnected == [NUM]
    # released at its carrier: knm no longer holds it, so nobody can be sold it without one
    assert (pn.state, pn.assigned_to) == ("deleted", None)
    assert repository.fetch(NUM) is None


def test_refused_disconnect_changes_nothing(shop: Any) -> None:
    discovered(NUM)
    numbers.move(NUM, CHILD)
    shop.fail_with = errors.CarrierFault(ShopCarrier.name, "cannot release: E911 attached")
    with pytest.raises(errors.CarrierFault):
        numbers.release(NUM)
    stored = numbers.get(NUM)
    assert (stored.state, stored.assigned_to) == ("in_service", CHILD)
    assert not repository.is_claimed(stored)


def test_concurrent_update_is_a_clear_conflict(kazoo_numbers: list[str]) -> None:
    first = repository.fetch("+15551233322")
    second = repository.fetch("+15551233322")
    assert first is not None and second is not None
    first.set_used_by("app_one")
    repository.save(first)
    second.set_used_by("app_two")
    with pytest.raises(errors.Conflict) as exc:
        repository.save(second)
    assert exc.value.code == 409 and "concurrently" in exc.value.message
    assert numbers.get("+15551233322").used_by == "app_one"


def test_the_lease_keeper_outlives_a_database_outage(sqlite_db: str, clock) -> None:
    """A claim's lease is renewed by one background thread; reading its period reads the
    database. While the database cannot answer (here its config table is gone), the thread
    must live on — else every lease it keeps lapses and the claims look orphaned while their
    holder is still at the carrier — and renew again once the database is back."""
    config.set("number_manager", "claim_lease_s", 0.6)
    keeper = purchase.LeaseKeeper()
    number = "+14155550199"
    with store.write() as conn:
        now = purchase.db_now(conn)
        conn.execute(claims.insert().values(number=number, holder=keeper.holder,
                                            operation="acquire", lease_until=now + 0.6,
                                            started=now))

    def lease() -> float:
        with store.read() as conn:
            return float(conn.execute(select(claims.c.lease_until)).scalar_one())

    keeper.hold(number)
    with store.write() as conn:
        conn.execute(text("ALTER TABLE knm_config RENAME TO knm_config_away"))
    clock.advance(5)  # the config snapshot is stale: the next read goes to the database
    time.sleep(0.8)
    assert keeper._thread is not None and keeper._thread.is_alive()
    with store.write() as conn:
        conn.execute(text("ALTER TABLE knm_config_away RENAME TO knm_config"))
    clock.advance(5)
    before = lease()
    ends = time.monotonic() + 5
    while lease() <= before and time.monotonic() < ends:
        time.sleep(0.1)
    assert lease() > before, "renewing again once the database is back"
    keeper.drop(number)
