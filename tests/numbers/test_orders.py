"""Orders that are never lost (SPEC §5.1): the three outcomes, settling, settle-first retries,
leases instead of a wall-clock TTL, releases, webhooks and the background settler — against a
carrier in the test process whose answers the test decides (the carriers' own settling over
HTTP is tested per carrier against their simulators)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Mapping
from typing import ClassVar

import pytest
from conftest import CHILD, RESELLER

from knm import PhoneNumber, cache, carriers, config, errors, numbers, store
from knm.carriers.base import Carrier, SearchOptions, SearchResult
from knm.carriers.orders import OrderStatus, WebhookEvent
from knm.numbers import purchase, repository, settler
from knm.store import locks
from knm.store.schema import claims

NUM = "+14155550100"


class Shop(Carrier):
    """A foreign carrier whose next answers the test sets: `buy`/`release` are `ok`,
    `refuse` (a parsed no), `lose` (a timeout after the request went out) or `pending` (an
    order it is still working on); `books` is what the carrier really did."""

    name = "knm_ordershop"
    buy: ClassVar[str] = "ok"
    release: ClassVar[str] = "ok"
    delay_s: ClassVar[float] = 0.0
    books: ClassVar[dict[str, str]] = {}  # number -> "owned" | "pending"
    calls: ClassVar[list[tuple[str, str]]] = []
    webhook_secret: ClassVar[str] = "hook-secret"

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return []

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        cls = type(self)
        cls.calls.append(("acquire", number.number))
        assert number.carrier_data["order_reference"].startswith("knm-")
        time.sleep(cls.delay_s)
        if cls.buy == "refuse":
            raise errors.NumberUnavailable(cls.name, "sold out", number=number.number)
        if cls.buy == "pending":
            cls.books[number.number] = "pending"
            number.set_carrier_data({**number.carrier_data, "order_id": "ord-7"})
            raise errors.CarrierTimeout(cls.name, "order still pending", number=number.number)
        cls.books[number.number] = "owned"
        if cls.buy == "lose":
            raise errors.CarrierTimeout(cls.name, "no answer within 1.000s",
                                        number=number.number)
        number.set_carrier_data({**number.carrier_data, "order_id": "ord-1"})
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        cls = type(self)
        cls.calls.append(("disconnect", number.number))
        if cls.release == "refuse":
            raise errors.CarrierFault(cls.name, "E911 attached", number=number.number,
                                      status=400)
        cls.books.pop(number.number, None)
        if cls.release == "lose":
            raise errors.CarrierUnavailable(cls.name, "HTTP 502 with an empty body",
                                            number=number.number, status=502)
        return number

    def settle(self, number: PhoneNumber) -> OrderStatus:
        cls = type(self)
        cls.calls.append(("settle", number.number))
        held = cls.books.get(number.number)
        if number.pending_operation == "disconnect":
            return OrderStatus("failed" if held else "complete")
        if held == "pending":
            return OrderStatus("pending", order_id="ord-7")
        return OrderStatus("complete" if held == "owned" else "failed")

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        if headers.get("x-shop-secret") != type(self).webhook_secret:
            raise errors.Unauthenticated(cause="webhook signature does not verify")
        number, _, outcome = body.decode().partition("=")
        return [WebhookEvent(number=number, order_reference=None, order_id=None,
                             operation="acquire", status=OrderStatus(outcome))]


@pytest.fixture
def shop(kazoo_accounts: dict[str, str]) -> Iterator[type[Shop]]:
    Shop.buy, Shop.release, Shop.delay_s = "ok", "ok", 0.0
    Shop.books, Shop.calls = {}, []
    carriers.register(Shop)
    yield Shop
    carriers.unregister(Shop.name)


def offered(*nums: str) -> None:
    cache.get_cache().put(f"q-{nums[0]}", [SearchResult(n, Shop.name, "discovery", {})
                                           for n in nums], 60)


def purchases(shop: type[Shop]) -> int:
    return sum(1 for call, _ in shop.calls if call == "acquire")


def test_a_lost_answer_keeps_the_number_unsettled_for_its_buyer(shop: type[Shop]) -> None:
    shop.buy = "lose"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout) as exc:
        numbers.move(NUM, CHILD)
    assert exc.value.to_json()["unsettled"] is True
    kept = repository.fetch(NUM)
    assert kept is not None and kept.state == "discovery" and kept.assigned_to == CHILD
    assert kept.pending_operation == "acquire" and not repository.is_claimed(kept)
    assert kept.carrier_data["order_status"] == "unknown"
    order = numbers.order_summary(numbers.unsettled(account_id=RESELLER)[0])
    assert (order["number"], order["operation"], order["status"], order["account_id"]) == \
        (NUM, "acquire", "unknown", CHILD)
    assert order["order_reference"] == kept.carrier_data["order_reference"]
    # the carrier did buy it: settling puts it in service for the buyer, with no new order
    result = numbers.settle()
    assert [pn.number for pn in result.succeeded] == [NUM] and not result.failed
    done = numbers.get(NUM)
    assert (done.state, done.assigned_to, done.pending_operation) == ("in_service", CHILD, None)
    assert "order_status" not in done.carrier_data and numbers.unsettled() == []
    assert purchases(shop) == 1


def test_a_refusal_undoes_the_claim_and_a_retry_may_buy(shop: type[Shop]) -> None:
    shop.buy = "refuse"
    offered(NUM)
    with pytest.raises(errors.NumberUnavailable) as exc:
        numbers.move(NUM, CHILD)
    assert "unsettled" not in exc.value.to_json()
    assert repository.fetch(NUM) is None and numbers.unsettled() == []
    shop.buy = "ok"
    assert numbers.move(NUM, CHILD).state == "in_service"
    assert purchases(shop) == 2


def test_a_retry_of_an_unsettled_purchase_settles_it_and_never_orders_again(
        shop: type[Shop]) -> None:
    shop.buy = "lose"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    shop.buy = "ok"
    pn = numbers.move(NUM, CHILD)  # the buyer retries
    assert (pn.state, pn.assigned_to) == ("in_service", CHILD)
    assert purchases(shop) == 1 and ("settle", NUM) in shop.calls


def test_a_pending_order_is_never_placed_twice(shop: type[Shop]) -> None:
    shop.buy = "pending"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    kept = repository.fetch(NUM)
    assert kept is not None and kept.carrier_data["order_status"] == "pending"
    assert kept.carrier_data["order_id"] == "ord-7"
    for _ in range(3):
        with pytest.raises(errors.CarrierTimeout) as exc:
            numbers.move(NUM, CHILD)
        assert exc.value.to_json()["unsettled"] is True
    assert purchases(shop) == 1
    result = numbers.settle([NUM])
    assert result.failed[NUM].code == 504  # still pending at the carrier: left as it is
    shop.books[NUM] = "owned"
    assert numbers.settle(NUM).state == "in_service"
    assert purchases(shop) == 1


def test_an_order_the_carrier_never_took_is_undone_by_settling(shop: type[Shop]) -> None:
    shop.buy = "lose"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    del shop.books[NUM]  # it never reached the carrier's books after all
    result = numbers.settle()
    assert result.succeeded[0].state == "deleted" and repository.fetch(NUM) is None
    # the number is not held, so buying it again is not a blind second order
    shop.buy = "ok"
    offered(NUM)
    assert numbers.move(NUM, CHILD).state == "in_service"
    assert purchases(shop) == 2


def test_a_claim_whose_holder_died_is_settled_not_taken_over(shop: type[Shop]) -> None:
    # what a `kill -9` in the middle of the carrier call leaves: the claim row with its
    # reference, and a lease nobody renews
    offered(NUM)
    row = PhoneNumber(NUM)
    row.state, row.module_name, row.assigned_to = "discovery", Shop.name, CHILD
    row.carrier_data = {"order_reference": "knm-dead", "order_status": "unknown",
                        "order_account": CHILD, "order_target": "in_service"}
    row.pending_operation = "acquire"
    row.created = row.modified = 1
    purchase.claim(row, "acquire")
    purchase.leases.drop(NUM)
    with store.write() as conn:
        conn.execute(claims.update().values(lease_until=0.0))
    shop.books[NUM] = "owned"  # the dead buyer's order went through
    assert purchase.claim_state(repository.fetch(NUM)) == purchase.ORPHANED
    pn = numbers.move(NUM, RESELLER)  # another buyer: settled first, then the usual rules
    assert purchases(shop) == 0 and ("settle", NUM) in shop.calls
    assert (pn.state, pn.assigned_to) == ("in_service", RESELLER)


def test_a_live_claim_outlasts_any_fixed_age_because_its_holder_renews_it(
        shop: type[Shop]) -> None:
    config.set("number_manager", "claim_lease_s", 1)  # renewed every third of a second
    shop.delay_s = 2.5
    offered(NUM)
    buyer = threading.Thread(target=numbers.move, args=(NUM, CHILD))
    buyer.start()
    try:
        time.sleep(1.8)  # well past the lease: only renewals keep it alive
        stored = repository.fetch(NUM)
        assert stored is not None and purchase.claim_state(stored) == purchase.BUSY
        with pytest.raises(errors.NumberBusy):
            numbers.move(NUM, RESELLER)
    finally:
        buyer.join(10)
    assert purchases(shop) == 1 and numbers.get(NUM).assigned_to == CHILD


def test_a_lost_release_keeps_the_number_until_settled(shop: type[Shop]) -> None:
    offered(NUM)
    numbers.move(NUM, CHILD)
    shop.release = "lose"
    with pytest.raises(errors.CarrierUnavailable) as exc:
        numbers.release(NUM)
    assert exc.value.to_json()["unsettled"] is True
    kept = repository.fetch(NUM)
    assert kept is not None and (kept.state, kept.assigned_to) == ("in_service", CHILD)
    assert kept.pending_operation == "disconnect"
    assert kept.carrier_data["disconnect_status"] == "unknown"
    # the carrier did release it: settling lets it go, never leaving it `available`
    assert numbers.settle(NUM).state == "deleted"
    assert repository.fetch(NUM) is None


def test_a_release_the_carrier_did_not_do_is_undone_by_settling(shop: type[Shop]) -> None:
    offered(NUM)
    numbers.move(NUM, CHILD)
    shop.release = "lose"
    with pytest.raises(errors.CarrierUnavailable):
        numbers.release(NUM)
    shop.books[NUM] = "owned"  # still held at the carrier
    settled = numbers.settle(NUM)
    assert (settled.state, settled.assigned_to, settled.pending_operation) == \
        ("in_service", CHILD, None)
    assert "disconnect_status" not in settled.carrier_data


def test_a_refused_release_changes_nothing(shop: type[Shop]) -> None:
    offered(NUM)
    numbers.move(NUM, CHILD)
    shop.release = "refuse"
    with pytest.raises(errors.CarrierFault):
        numbers.release(NUM)
    stored = numbers.get(NUM)
    assert (stored.state, stored.pending_operation) == ("in_service", None)
    assert numbers.unsettled() == []


def test_a_verified_webhook_settles_at_once_a_forged_one_changes_nothing(
        shop: type[Shop]) -> None:
    shop.buy = "pending"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    with pytest.raises(errors.Unauthenticated):
        numbers.apply_webhook("ordershop", {"x-shop-secret": "guess"},
                              f"{NUM}=complete".encode())
    assert repository.fetch(NUM).pending_operation == "acquire"
    settled = numbers.apply_webhook("ordershop", {"x-shop-secret": Shop.webhook_secret},
                                    f"{NUM}=complete".encode())
    assert [(s.number, s.outcome) for s in settled] == [(NUM, "done")]
    assert numbers.get(NUM).state == "in_service" and purchases(shop) == 1


def test_the_background_settler_runs_one_at_a_time(shop: type[Shop]) -> None:
    shop.buy = "lose"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    held, release = threading.Event(), threading.Event()

    def other_process() -> None:
        with locks.exclusive(settler.LOCK) as got:
            assert got
            held.set()
            release.wait(10)

    other = threading.Thread(target=other_process)
    other.start()
    try:
        held.wait(5)
        assert settler.settle_round() == {"skipped": 1}
        assert repository.fetch(NUM).pending_operation == "acquire"
    finally:
        release.set()
        other.join(5)
    assert settler.settle_round() == {"settled": 1, "left": 0}
    assert numbers.get(NUM).state == "in_service"
    assert settler.settle_round() == {}  # nothing left: one cheap query


def test_a_carrier_that_cannot_settle_leaves_the_order_for_an_operator(
        shop: type[Shop]) -> None:
    class Mute(Shop):
        def settle(self, number: PhoneNumber) -> OrderStatus:
            raise errors.NotImplementedByCarrier(self.name)

    carriers.register(Mute)
    shop.buy = "lose"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    result = numbers.settle()
    assert result.failed[NUM].code == 504 and result.failed[NUM].to_json()["unsettled"]
    assert [pn.number for pn in numbers.unsettled()] == [NUM]


def test_unsettled_orders_are_a_metric(shop: type[Shop]) -> None:
    from knm.api import metrics

    shop.buy = "lose"
    offered(NUM)
    with pytest.raises(errors.CarrierTimeout):
        numbers.move(NUM, CHILD)
    text = metrics.render()[0].decode()
    assert 'knm_orders_unsettled{operation="acquire"} 1' in text
    assert 'knm_orders_unsettled{operation="disconnect"} 0' in text


class CountingShop(Shop):
    """A shop whose settling takes a while and counts how many are asked at once, per
    carrier and across carriers."""

    name = "knm_ordershop_counting"
    active: ClassVar[dict[str, int]] = {}
    most: ClassVar[dict[str, int]] = {}
    most_overall: ClassVar[list[int]] = [0]
    lock = threading.Lock()

    def settle(self, number: PhoneNumber) -> OrderStatus:
        cls = CountingShop
        with cls.lock:
            cls.active[self.name] = cls.active.get(self.name, 0) + 1
            cls.most[self.name] = max(cls.most.get(self.name, 0), cls.active[self.name])
            cls.most_overall[0] = max(cls.most_overall[0], sum(cls.active.values()))
        time.sleep(0.05)
        with cls.lock:
            cls.active[self.name] -= 1
        return OrderStatus("complete")


class OtherCountingShop(CountingShop):
    name = "knm_ordershop_counting2"


def test_settling_asks_each_carrier_a_bounded_number_at_a_time_and_carriers_side_by_side(
        kazoo_accounts: dict[str, str]) -> None:
    """`settle_concurrency` protects each carrier's rate limits; carriers do not wait for
    each other (a thousand records over a dozen carriers take the busiest one's share)."""
    CountingShop.active, CountingShop.most, CountingShop.most_overall = {}, {}, [0]
    for cls in (CountingShop, OtherCountingShop):
        carriers.register(cls)
    try:
        config.set("number_manager", "settle_concurrency", 3)
        for cls, base in ((CountingShop, "+1415555"), (OtherCountingShop, "+1415556")):
            cls.buy = "lose"
            nums = [f"{base}{i:04d}" for i in range(12)]
            cache.get_cache().put(f"q-{cls.name}", [SearchResult(n, cls.name, "discovery", {})
                                                    for n in nums], 60)
            lost = numbers.move(nums, CHILD)
            assert len(lost.failed) == 12
        result = numbers.settle()
        assert len(result.succeeded) == 24 and not result.failed
        assert CountingShop.most == {CountingShop.name: 3, OtherCountingShop.name: 3}
        assert CountingShop.most_overall[0] == 6
    finally:
        for cls in (CountingShop, OtherCountingShop):
            carriers.unregister(cls.name)
