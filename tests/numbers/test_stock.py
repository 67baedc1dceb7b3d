"""Filling the store-backed carriers' stock (`knm.numbers.stock`): generated and imported pool
numbers of `knm_managed` / `knm_inum` (and their search, buy and release), the inventory
import — and the rule that only real numbers are ever stored. Every test runs on SQLite and
PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from conftest import CHILD, MASTER, RESELLER
from sqlalchemy import and_, func, insert, select

from knm import carriers, errors, store
from knm.carriers import SearchOptions
from knm.numbers import importers, stock
from knm.numbers.stock import import_inventory
from knm.record import PhoneNumber
from knm.store.schema import numbers as numbers_t
from knm.store.schema import pool_numbers as pool_t


def opts(**kw: Any) -> SearchOptions:
    return SearchOptions(**kw)


def add_numbers(*rows: dict[str, Any]) -> None:
    stamp = int(time.time())
    with store.write() as conn:
        conn.execute(insert(numbers_t), [
            {"state": "available", "module_name": "knm_local", "ported_in": False,
             "assigned_to": None, "created": stamp, "modified": stamp, "version": 1,
             "carrier_data": {}, **row}
            for row in rows])


def pool_entry(carrier: str, number: str) -> dict[str, Any] | None:
    with store.read() as conn:
        row = conn.execute(select(pool_t).where(and_(
            pool_t.c.carrier == carrier, pool_t.c.number == number))).first()
    return dict(row._mapping) if row else None


def pool_size(carrier: str) -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(pool_t)
                            .where(pool_t.c.carrier == carrier)).scalar_one()


def inventory_size() -> int:
    with store.read() as conn:
        return conn.execute(select(func.count()).select_from(numbers_t)
                            .where(numbers_t.c.module_name == "knm_inventory")).scalar_one()


def refused(call: Any, *args: Any, cause: str) -> errors.Invalid:
    with pytest.raises(errors.Invalid) as caught:
        call(*args)
    assert caught.value.cause == cause, caught.value
    return caught.value


# -- managed and inum ------------------------------------------------------------------------

def test_managed_generate_search_buy_release(kazoo_accounts: dict[str, str]) -> None:
    managed = carriers.get_carrier("managed")
    assert stock.generate("managed", RESELLER, 2023334000, 5).added == 5
    assert stock.generate("managed", RESELLER, "2023334003", 4).added == 2  # 2 already there
    assert stock.generate("managed", RESELLER, 2023334000, 0).added == 0
    # deliberate difference: a US start number gets its +1 (Kazoo made it `+2023334000`)
    results = managed.find_numbers("+12023334", 3, opts(account_id=CHILD, reseller_id=RESELLER))
    # CHILD has no pool: the reseller's is searched; numbers are offered as discovery
    assert [(r.number, r.state, r.carrier) for r in results] == [
        (f"+1202333400{i}", "discovery", "knm_managed") for i in range(3)]
    assert managed.find_numbers("+12023334", 3, opts(account_id=CHILD)) == []

    number = PhoneNumber.from_json({"_id": "+12023334001", "pvt_module_name": "knm_managed",
                                    "pvt_state": "in_service", "pvt_assigned_to": CHILD})
    carriers.acquire(number)
    assert pool_entry("knm_managed", "+12023334001")["state"] == "in_service"
    left = managed.find_numbers("+12023334", 10, opts(account_id=RESELLER))
    assert "+12023334001" not in [r.number for r in left]
    carriers.disconnect(number)
    entry = pool_entry("knm_managed", "+12023334001")
    assert (entry["state"], entry["assigned_to"]) == ("available", None)


def test_generate_reports_the_range(kazoo_accounts: dict[str, str]) -> None:
    made = stock.generate("knm_managed", RESELLER, "+1 (202) 333-4000", "3")
    assert made.to_json() == {"carrier": "knm_managed", "account_id": RESELLER,
                              "requested": 3, "added": 3, "first": "+12023334000",
                              "last": "+12023334002"}
    assert stock.generate("managed", RESELLER, "2023334000", 0).to_json() == {
        "carrier": "knm_managed", "account_id": RESELLER, "requested": 0, "added": 0}


def test_managed_import_numbers_result_shape(kazoo_accounts: dict[str, str]) -> None:
    assert stock.import_pool("managed", MASTER, ["4158867900", "+14158867901"]) == {
        "success": {"+14158867900": {}, "+14158867901": {}}}
    result = stock.import_pool("managed", MASTER, ["+14158867901", "+14158867902", "junk"])
    assert result["success"] == {"+14158867902": {}}
    assert result["errors"]["+14158867901"] == {"reason": "conflict",
                                                "message": "error adding number to DB"}
    assert result["errors"]["junk"]["message"] == "error adding number to DB"
    assert stock.import_pool("managed", MASTER, []) == {}
    with pytest.raises(errors.Invalid) as caught:
        stock.import_pool("managed", "not-an-account", ["+14158867903"])
    assert caught.value.cause == "account_id"


def test_inum_generate_and_search(kazoo_accounts: dict[str, str]) -> None:
    inum = carriers.get_carrier("inum")
    assert stock.generate("inum", RESELLER, "883510000000091", 3).added == 3
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
        stock.generate("inum", RESELLER, "many", 3)


# -- only real numbers: generate -------------------------------------------------------------

def test_generate_refuses_a_start_that_is_no_real_number(kazoo_accounts: dict[str, str]) -> None:
    for start in ("+1999", "1999", "+19995552600", "2223334000", "+10", "1", "+999123456"):
        error = refused(stock.generate, "managed", MASTER, start, 5, cause="start")
        assert "start" in error.message
    assert pool_size("knm_managed") == 0


def test_generate_never_makes_two_digit_numbers(kazoo_accounts: dict[str, str]) -> None:
    # Kazoo put a `+` before the start number: `1` and count 100 made `+1` … `+100`
    refused(stock.generate, "managed", MASTER, "+1", 100, cause="start")
    refused(stock.generate, "managed", MASTER, 10, 5, cause="start")
    assert pool_size("knm_managed") == 0


def test_generate_stays_within_one_country_code(kazoo_accounts: dict[str, str]) -> None:
    # +79999999998, +79999999999 (Russia), then +80000000000: a real number of +800
    error = refused(stock.generate, "managed", MASTER, "+79999999998", 3, cause="count")
    assert "+7" in error.message and "one country code" in error.message
    assert pool_size("knm_managed") == 0
    assert stock.generate("managed", MASTER, "+79999999998", 2).added == 2


def test_generate_refuses_a_range_running_out_of_real_numbers(
        kazoo_accounts: dict[str, str]) -> None:
    # +1 415 999 9998 and 9999 are real; exchange 000 of +1 416 is not
    error = refused(stock.generate, "managed", MASTER, "+14159999998", 5, cause="count")
    assert "3 of the 5 numbers" in error.message and "+14160000000" in error.message
    assert pool_size("knm_managed") == 0  # nothing of a refused range is stored


def test_generate_refuses_what_cannot_be_generated(kazoo_accounts: dict[str, str]) -> None:
    refused(stock.generate, "telnyx", MASTER, "4158880000", 5, cause="carrier")
    refused(stock.generate, "inventory", MASTER, "4158880000", 5, cause="carrier")
    refused(stock.generate, "nonesuch", MASTER, "4158880000", 5, cause="carrier")
    refused(stock.generate, "managed", "f" * 32, "4158880000", 5, cause="account_id")
    refused(stock.generate, "managed", "nobody", "4158880000", 5, cause="account_id")
    refused(stock.generate, "managed", MASTER, "4158880000", -1, cause="count")
    refused(stock.generate, "managed", MASTER, "4158880000", "many", cause="count")
    refused(stock.generate, "managed", MASTER, True, 5, cause="start")


def test_generate_is_linear(kazoo_accounts: dict[str, str]) -> None:
    """100,000 numbers in a few seconds: the pool is written in bulk, and numbers already
    there are found by the database, not by a query per number (it took 515 s)."""
    began = time.monotonic()
    made = stock.generate("managed", MASTER, "+14152000000", 100_000)
    assert made.added == 100_000 and made.last == "+14152099999"
    again = stock.generate("managed", MASTER, "+14152099990", 20)
    assert again.added == 10
    assert time.monotonic() - began < 30
    assert pool_size("knm_managed") == 100_010


# -- only real numbers: imports --------------------------------------------------------------

def test_pool_import_refuses_numbers_that_are_not_real(kazoo_accounts: dict[str, str]) -> None:
    result = stock.import_pool("managed", MASTER, ["+1999", "+19995552600", "1000",
                                                   "+14158867900"])
    assert result["success"] == {"+14158867900": {}}
    assert {k: v["reason"] for k, v in result["errors"].items()} == {
        "+1999": "invalid", "+19995552600": "invalid", "1000": "invalid"}
    assert pool_size("knm_managed") == 1


def test_inventory_import_and_search(db: str) -> None:
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


def test_inventory_import_counts_what_it_refuses(db: str) -> None:
    report = importers.ImportReport()
    added = import_inventory(["+14158867900", "+1999", "12", "+15551234567", "+14158867900",
                              "+14158867901", "+1415886790123456"], report=report)
    assert added == 2 and inventory_size() == 2
    assert (report.read, report.imported, report.already_present, report.failed) == (7, 2, 1, 4)
    assert [(r.line, r.value) for r in report.rejected] == [
        (2, "+1999"), (3, "12"), (4, "+15551234567"), (7, "+1415886790123456")]
    assert "+1999 is not a valid number of country code +1" in report.rejected[0].message


def test_inventory_file_reports_bad_lines_by_line_number(db: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "stock.csv"
    csv_file.write_text("note,number\n"
                        "ok,+14158867900\n"
                        "\n"
                        "# a comment\n"
                        "bad,+1999\n"
                        "empty,\n"
                        "ok,(415) 886-7901\n"
                        "junk,call me\n")
    report = stock.import_inventory_file(csv_file)
    assert report.to_json() == {
        "imported": 2, "already_present": 0, "failed": 3, "read": 5,
        "errors": {
            "5": {"line": 5, "value": "+1999", "error": "invalid",
                  "message": "+1999 is not a valid number of country code +1"},
            "6": {"line": 6, "value": "", "error": "invalid", "message": "no number given"},
            "8": {"line": 8, "value": "call me", "error": "invalid",
                  "message": "'call me' is not a phone number"},
        }}
    assert inventory_size() == 2
    again = stock.import_inventory_file(csv_file)
    assert (again.imported, again.already_present, again.failed) == (0, 2, 3)
    refused(stock.import_inventory_file, tmp_path / "missing.csv", cause="csv")
