"""Store-backed carriers: local, inventory, reserved, reserved_reseller, managed, inum, mdn
(kazoo-core.md §4), and the bulk inventory import."""

from __future__ import annotations

import time
from typing import Any

import pytest
from conftest import CHILD, MASTER, RESELLER
from sqlalchemy import insert, select

from knm import carriers, errors, store
from knm.carriers import SearchOptions
from knm.carriers.inventory import import_inventory
from knm.carriers.pools import pool_entry
from knm.record import PhoneNumber
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


# -- managed and inum ------------------------------------------------------------------------

def test_managed_generate_search_buy_release(kazoo_accounts: dict[str, str]) -> None:
    managed = carriers.get_carrier("managed")
    assert managed.generate_numbers(RESELLER, 2223334000, 5) == 5
    assert managed.generate_numbers(RESELLER, "2223334003", 4) == 2  # 2 already there
    assert managed.generate_numbers(RESELLER, 2223334000, 0) == 0
    # deliberate difference: a US start number gets its +1 (Kazoo made it `+2223334000`)
    results = managed.find_numbers("+12223334", 3, opts(account_id=CHILD, reseller_id=RESELLER))
    # CHILD has no pool: the reseller's is searched; numbers are offered as discovery
    assert [(r.number, r.state, r.carrier) for r in results] == [
        (f"+1222333400{i}", "discovery", "knm_managed") for i in range(3)]
    assert managed.find_numbers("+12223334", 3, opts(account_id=CHILD)) == []

    number = PhoneNumber.from_json({"_id": "+12223334001", "pvt_module_name": "knm_managed",
                                    "pvt_state": "in_service", "pvt_assigned_to": CHILD})
    carriers.acquire(number)
    assert pool_entry("knm_managed", "+12223334001")["state"] == "in_service"
    left = managed.find_numbers("+12223334", 10, opts(account_id=RESELLER))
    assert "+12223334001" not in [r.number for r in left]
    carriers.disconnect(number)
    entry = pool_entry("knm_managed", "+12223334001")
    assert (entry["state"], entry["assigned_to"]) == ("available", None)


def test_managed_import_numbers_result_shape(kazoo_accounts: dict[str, str]) -> None:
    managed = carriers.get_carrier("managed")
    assert managed.import_numbers(MASTER, ["4158867900", "+14158867901"]) == {
        "success": {"+14158867900": {}, "+14158867901": {}}}
    result = managed.import_numbers(MASTER, ["+14158867901", "+14158867902", "junk"])
    assert result["success"] == {"+14158867902": {}}
    assert result["errors"]["+14158867901"] == {"reason": "conflict",
                                                "message": "error adding number to DB"}
    assert result["errors"]["junk"]["message"] == "error adding number to DB"
    assert managed.import_numbers(MASTER, []) == {}
    with pytest.raises(errors.Invalid) as caught:
        managed.import_numbers("not-an-account", ["+14158867903"])
    assert caught.value.cause == "account_id"


def test_inum_generate_and_search(kazoo_accounts: dict[str, str]) -> None:
    inum = carriers.get_carrier("inum")
    assert inum.generate_numbers(RESELLER, "883510000000091", 3) == 3
    results = inum.find_numbers("883510", 10, opts(account_id=RESELLER, reseller_id=RESELLER))
    assert [(r.number, r.state) for r in results] == [
        (f"+88351000000009{i}", "available") for i in (1, 2, 3)]
    assert inum.find_numbers("+883510", 10, opts()) == []
    paged = inum.find_numbers("+883510", 2, opts(account_id=RESELLER, offset=1))
    assert [r.number for r in paged] == ["+883510000000092", "+883510000000093"]
    number = PhoneNumber.from_json({"_id": "+883510000000092", "pvt_module_name": "knm_inum",
                                    "pvt_state": "in_service", "pvt_assigned_to": CHILD})
    carriers.acquire(number)
    carriers.disconnect(number)
    assert pool_entry("knm_inum", "+883510000000092")["state"] == "released"
    with pytest.raises(errors.Invalid):
        inum.generate_numbers(RESELLER, "many", 3)


# -- inventory import ------------------------------------------------------------------------

def test_inventory_import_and_search(kazoo_accounts: dict[str, str]) -> None:
    add_numbers({"number": "+14155550003", "state": "in_service"})
    seen: list[int] = []
    numbers = (f"+1415555{i:04d}" for i in range(120))
    added = import_inventory(["(415) 555-0000", "not a number", *numbers],
                             progress=seen.append)
    assert added == 119  # +14155550000 twice, +14155550003 already known
    assert seen and seen[-1] == 121
    with store.read() as conn:
        row = conn.execute(select(numbers_t).where(numbers_t.c.number == "+14155550005")).one()
        kept = conn.execute(select(numbers_t.c.state, numbers_t.c.module_name)
                            .where(numbers_t.c.number == "+14155550003")).one()
    assert (row.state, row.module_name, row.version) == ("available", "knm_inventory", 1)
    assert tuple(kept) == ("in_service", "knm_local")
    page = carriers.find("415555001", 5, account_id=MASTER, reseller_id=MASTER,
                         carriers=["inventory"])
    assert [r["number"] for r in page] == [f"+141555500{i}" for i in range(10, 15)]
    assert import_inventory(iter([])) == 0
