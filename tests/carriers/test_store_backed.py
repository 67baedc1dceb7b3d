"""Store-backed carriers: local, inventory, reserved, reserved_reseller, mdn (kazoo-core.md
§4). Their shared contract is `test_store_contract.py`; filling the pools and the inventory,
and the pool carriers' search, buy and release, are `tests/numbers/test_stock.py`."""

from __future__ import annotations

import time
from typing import Any

from conftest import CHILD, MASTER, RESELLER
from sqlalchemy import insert

from knm import carriers, store
from knm.carriers import SearchOptions
from knm.store.schema import numbers as numbers_t

ACCOUNT = "a" * 32


def add_numbers(*rows: dict[str, Any]) -> None:
    stamp = int(time.time())
    with store.write() as conn:
        conn.execute(insert(numbers_t), [
            {"state": "available", "module_name": "knm_local", "ported_in": False,
             "assigned_to": None, "created": stamp, "modified": stamp, "version": 1,
             "carrier_data": {}, **row}
            for row in rows])


def opts(**kw: Any) -> SearchOptions:
    return SearchOptions(**kw)


def found(name: str, prefix: str, quantity: int, **kw: Any) -> list[str]:
    carrier = carriers.get_carrier(name)
    return [r.number for r in carrier.find_numbers(prefix, quantity, opts(**kw))]


def test_local_find_needs_an_account(db: str) -> None:
    add_numbers({"number": "+14158867900"})
    # Kazoo: knm_local.find_numbers("415", 1, []) -> not_available
    assert found("knm_local", "415", 1) == []
    assert found("knm_local", "+1415", 1) == []
    assert found("knm_local", "+1415", 1, account_id=ACCOUNT) == ["+14158867900"]


def test_local_find_is_prefix_bounded_and_pages(db: str) -> None:
    add_numbers(*[{"number": f"+1415886790{i}"} for i in range(6)],
                {"number": "+14158867999"},  # same 5-char "database", outside the prefix
                {"number": "+14159990000"},
                {"number": "+14158867910", "state": "in_service"},
                {"number": "+14158867911", "module_name": "knm_inventory"})
    assert found("local", "+141588679", 100, account_id=ACCOUNT) == [
        f"+1415886790{i}" for i in range(6)] + ["+14158867999"]
    assert found("local", "+1415886790", 100, account_id=ACCOUNT) == [
        f"+1415886790{i}" for i in range(6)]
    assert found("local", "+1415886790", 2, account_id=ACCOUNT, offset=3) == [
        "+14158867903", "+14158867904"]
    assert found("inventory", "+1415", 10, account_id=ACCOUNT) == ["+14158867911"]
    results = carriers.get_carrier("local").find_numbers("+1415", 1, opts(account_id=ACCOUNT))
    assert (results[0].state, results[0].carrier) == ("available", "knm_local")


def test_search_as_account_offers_reserved_then_local(kazoo_accounts: dict[str, str]) -> None:
    add_numbers({"number": "+14252151010", "state": "reserved", "assigned_to": CHILD},
                {"number": "+14252151011", "state": "reserved", "assigned_to": RESELLER,
                 "module_name": "knm_other", "carrier_data": {"ref": 1}},
                {"number": "+14252151012", "state": "reserved", "assigned_to": MASTER},
                {"number": "+14252151013"})
    page = carriers.find("425", 10, account_id=CHILD, reseller_id=RESELLER)
    assert page == [{"number": "+14252151010", "state": "reserved"},
                    {"number": "+14252151011", "state": "reserved"},
                    {"number": "+14252151013", "state": "available"}]
    # without an account only the system carriers are asked, and knm_local needs an account
    assert carriers.find("425", 10) == []


def test_reserved_reseller_pages_correctly(kazoo_accounts: dict[str, str]) -> None:
    add_numbers(*[{"number": f"+1425215100{i}", "state": "reserved",
                   "assigned_to": RESELLER} for i in range(7)])
    reseller = carriers.get_carrier("reserved_reseller")
    options = dict(account_id=CHILD, reseller_id=RESELLER)
    first = reseller.find_numbers("+1425", 4, opts(**options))
    rest = reseller.find_numbers("+1425", 4, opts(offset=4, **options))
    assert [r.number for r in first + rest] == [f"+1425215100{i}" for i in range(7)]
    assert reseller.find_numbers("+1425", 4, opts(reseller_id=RESELLER)) == []
    assert reseller.find_numbers("+1425", 4, opts(account_id=CHILD)) == []
    assert found("reserved", "+1425", 10, account_id=RESELLER) == [
        f"+1425215100{i}" for i in range(7)]
    assert found("reserved", "+1425", 10, account_id=CHILD) == []


def test_mdn_is_never_searchable(db: str) -> None:
    add_numbers({"number": "+15551233324", "module_name": "knm_mdn"})
    assert found("mdn", "+1555", 10, account_id=ACCOUNT) == []
