"""The contract every store-backed carrier keeps, on SQLite and PostgreSQL: the seven carriers
whose numbers are rows of knm's tables, each given a stock of its own kind (available rows,
reserved rows, pool entries, mobile numbers) under one prefix, with neighbours just outside
it. What the HTTP carriers' conformance suite is to them, for searching from the store."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from conftest import CHILD, MASTER, RESELLER
from sqlalchemy import insert

from knm import carriers, errors, store
from knm.carriers import SearchOptions, SearchResult
from knm.carriers import search as knm_search
from knm.carriers.pool import PoolCarrier
from knm.carriers.store_backed import StoreBackedCarrier
from knm.numbers import repository, stock
from knm.record import PhoneNumber
from knm.store.schema import numbers as numbers_t


@dataclass(frozen=True)
class Stock:
    prefix: str
    numbers: list[str]  # what a search as CHILD (reseller RESELLER) may find, in order
    outside: list[str]  # stocked the same way, just outside the prefix


US = Stock("+1415886", [f"+141588679{i:02d}" for i in range(7)],
           ["+14158857999", "+14158870000"])
INUM = Stock("+883510001", [f"+8835100010000{i:02d}" for i in range(7)],
             ["+883510000999999", "+883510002000000"])


def rows(numbers: list[str], **fields: Any) -> None:
    stamp = int(time.time())
    with store.write() as conn:
        conn.execute(insert(numbers_t), [
            {"number": n, "state": "available", "module_name": "knm_local", "ported_in": False,
             "assigned_to": None, "created": stamp, "modified": stamp, "version": 1,
             "carrier_data": {}, **fields} for n in numbers])


def _local() -> Stock:
    rows(US.numbers + US.outside)
    rows(["+14158867990"], state="in_service", assigned_to=CHILD)  # not for sale
    rows(["+14158867991"], module_name="knm_inventory")  # another carrier's
    return US


def _inventory() -> Stock:
    stock.import_inventory(US.numbers + US.outside)
    rows(["+14158867991"])  # knm_local's
    return US


def _reserved(owner: str, other: str) -> Callable[[], Stock]:
    def seed() -> Stock:
        # numbers set aside keep their own carrier
        rows(US.numbers + US.outside, state="reserved", assigned_to=owner,
             module_name="knm_telnyx")
        rows(["+14158867990"], state="reserved", assigned_to=other)
        rows(["+14158867991"])
        return US
    return seed


def _pool(carrier: str, numbers: Stock) -> Callable[[], Stock]:
    def seed() -> Stock:
        stock.generate(carrier, CHILD, numbers.numbers[0], len(numbers.numbers))
        stock.import_pool(carrier, CHILD, numbers.outside)
        stock.generate(carrier, MASTER, numbers.numbers[-1][:-2] + "90", 3)  # not CHILD's
        return numbers
    return seed


def _mdn() -> Stock:
    rows(US.numbers + US.outside, module_name="knm_mdn", state="in_service",
         assigned_to=CHILD)
    return US


SEEDS: dict[str, Callable[[], Stock]] = {
    "knm_local": _local,
    "knm_inventory": _inventory,
    "knm_managed": _pool("knm_managed", US),
    "knm_mdn": _mdn,
    "knm_reserved": _reserved(CHILD, RESELLER),
    "knm_reserved_reseller": _reserved(RESELLER, CHILD),
    "knm_inum": _pool("knm_inum", INUM),
}


@pytest.fixture(params=sorted(SEEDS))
def stocked(request: pytest.FixtureRequest, kazoo_accounts: dict[str, str]
            ) -> tuple[StoreBackedCarrier, Stock]:
    name = request.param
    carrier = carriers.get_carrier(name)
    assert isinstance(carrier, StoreBackedCarrier), name
    return carrier, SEEDS[name]()


def as_child(**kw: Any) -> SearchOptions:
    return SearchOptions(account_id=CHILD, reseller_id=RESELLER, **kw)


def searchable(carrier: StoreBackedCarrier) -> bool:
    return "search" in carrier.capabilities


def expected(carrier: StoreBackedCarrier, numbers: list[str]) -> list[str]:
    return numbers if searchable(carrier) else []


def test_every_store_backed_carrier_is_covered() -> None:
    built_in = {name for name in carriers.declared_names()
                if issubclass(carriers.carrier_class(name) or object, StoreBackedCarrier)}
    assert built_in == set(SEEDS)


def test_results_are_the_carriers_search_results(stocked: tuple[StoreBackedCarrier, Stock]
                                                 ) -> None:
    carrier, stock_ = stocked
    found = carrier.find_numbers(stock_.prefix, 100, as_child())
    assert [r.number for r in found] == expected(carrier, stock_.numbers)
    for result in found:
        assert isinstance(result, SearchResult)
        if carrier.discovers:  # numbers knm does not hold yet: the carrier sells them
            assert result.carrier == carrier.name
            assert repository.fetch(result.number) is None
        else:  # rows of knm_numbers, offered with their own carrier and state
            row = repository.fetch(result.number)
            assert row is not None
            assert (result.carrier, result.state) == (row.module_name, row.state)


def test_the_prefix_is_respected(stocked: tuple[StoreBackedCarrier, Stock]) -> None:
    carrier, stock_ = stocked
    narrower = stock_.numbers[3]
    assert [r.number for r in carrier.find_numbers(narrower, 10, as_child())] == \
        expected(carrier, [narrower])
    wider = stock_.prefix[:-1]
    found = [r.number for r in carrier.find_numbers(wider, 100, as_child())]
    assert found == expected(carrier, sorted(stock_.numbers + [
        n for n in stock_.outside if n.startswith(wider)]))
    assert carrier.find_numbers(stock_.prefix + "5", 10, as_child()) == []


def test_quantity_and_offset_are_respected(stocked: tuple[StoreBackedCarrier, Stock]) -> None:
    carrier, stock_ = stocked

    def page(quantity: int, offset: int) -> list[str]:
        return [r.number for r in carrier.find_numbers(stock_.prefix, quantity,
                                                       as_child(offset=offset))]

    assert page(3, 0) == expected(carrier, stock_.numbers[:3])
    assert page(3, 2) == expected(carrier, stock_.numbers[2:5])
    assert page(3, 6) == expected(carrier, stock_.numbers[6:])
    assert page(3, 7) == [] and page(0, 0) == []


def test_no_account_no_numbers(stocked: tuple[StoreBackedCarrier, Stock]) -> None:
    carrier, stock_ = stocked  # Kazoo: a search without an account never lists these
    assert carrier.find_numbers(stock_.prefix, 10, SearchOptions()) == []


def test_a_batched_search_finds_what_the_carrier_finds(
        stocked: tuple[StoreBackedCarrier, Stock]) -> None:
    """A search asks store-backed carriers in one batch of queries (`store_query`); what it
    finds must be what `find_numbers` finds."""
    carrier, stock_ = stocked
    alone = [r.number for r in carrier.find_numbers(stock_.prefix, 4, as_child(offset=1))]
    query = carrier.store_query(stock_.prefix, 4, as_child(offset=1))
    if query is not None:
        batched = query.to_results(store.fetch_rows(query.statement, query.params))
        assert [r.number for r in batched] == alone
    outcome = knm_search.find_with_report(stock_.prefix, 4, offset=1, account_id=CHILD,
                                          reseller_id=RESELLER, carriers=[carrier.name])
    assert outcome.carriers[carrier.name].outcome == "answered"
    assert sorted(r["number"] for r in outcome.results) == sorted(alone)


def test_acquire_and_disconnect_return_the_number(stocked: tuple[StoreBackedCarrier, Stock]
                                                  ) -> None:
    carrier, stock_ = stocked
    number = PhoneNumber.from_json({"_id": stock_.numbers[0], "pvt_module_name": carrier.name,
                                    "pvt_state": "in_service", "pvt_assigned_to": CHILD})
    assert {"acquire", "disconnect"} <= carrier.capabilities
    bought = carrier.acquire_number(number)
    assert isinstance(bought, PhoneNumber) and bought.number == stock_.numbers[0]
    released = carrier.disconnect_number(bought)
    assert isinstance(released, PhoneNumber) and released.number == stock_.numbers[0]


def test_info_and_flags(stocked: tuple[StoreBackedCarrier, Stock]) -> None:
    carrier, _ = stocked
    info = carrier.info()
    assert info == {"maximal_prefix_length": carrier.maximal_prefix_length}
    assert isinstance(info["maximal_prefix_length"], int)
    assert carrier.answers_from_store  # no network: a search asks it in the calling thread
    assert carrier.is_local() is carrier.local
    assert carrier.should_lookup_cnam() is carrier.lookup_cnam
    number = PhoneNumber("+14158867900")
    assert carrier.is_number_billable(number) is carrier.billable


def test_the_fill_capabilities_are_what_stock_accepts(
        stocked: tuple[StoreBackedCarrier, Stock]) -> None:
    """`generate` and `import` say how an operator fills the carrier's stock: a pool carrier
    is generated into and imported into (`knm numbers generate`, Kazoo's `import_numbers`),
    the inventory is imported (`knm numbers import`); the others cannot be filled."""
    carrier, stock_ = stocked
    start = stock_.numbers[0][:-2] + "50"
    pool = isinstance(carrier, PoolCarrier)
    if "generate" in carrier.capabilities:
        assert pool and stock.generate(carrier.name, RESELLER, start, 2).added == 2
    else:
        with pytest.raises(errors.Invalid) as caught:
            stock.generate(carrier.name, RESELLER, start, 2)
        assert caught.value.cause == "carrier"
    imported = start[:-1] + "9"
    if "import" in carrier.capabilities and pool:
        assert stock.import_pool(carrier.name, RESELLER, [imported]) == {
            "success": {imported: {}}}
    else:
        with pytest.raises(errors.Invalid) as caught:
            stock.import_pool(carrier.name, RESELLER, [imported])
        assert caught.value.cause == "carrier"
    if "import" in carrier.capabilities and not pool:
        assert stock.import_inventory([imported]) == 1
        assert [r.number for r in carrier.find_numbers(imported, 1, as_child())] == [imported]
