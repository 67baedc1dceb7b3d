"""`knm orders` and `knm orders settle` (SPEC §5.1, §9): purchases and releases whose outcome
at the carrier is not known yet are listed, and settled by asking the carrier."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
from cli_support import human, knm, ok, refused
from conftest import CHILD, MASTER

from knm import errors
from knm.carriers import registry
from knm.carriers.base import Carrier, SearchResult
from knm.carriers.orders import COMPLETE, FAILED, PENDING, OrderStatus

pytest_plugins = ["cli_support"]


class _Unsure(Carrier):
    """A carrier whose answers to buying and releasing are lost (a timeout), and which tells
    what happened when asked afterwards: `verdict` (complete, failed or pending)."""

    name = "knm_cli_test_unsure"
    verdict: ClassVar[str] = COMPLETE
    release_works: ClassVar[bool] = False

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        return [SearchResult(f"{prefix}55502{i:02d}", self.name) for i in range(3)]

    def acquire_number(self, number):  # type: ignore[no-untyped-def]
        raise errors.CarrierTimeout(self.name, "the answer was lost", number=number.number)

    def disconnect_number(self, number):  # type: ignore[no-untyped-def]
        if self.release_works:
            return number
        raise errors.CarrierTimeout(self.name, "the answer was lost", number=number.number)

    def settle(self, number: Any) -> OrderStatus:
        return OrderStatus(self.verdict, status=self.verdict.upper())


@pytest.fixture
def unsure() -> Iterator[type[_Unsure]]:
    registry.register(_Unsure)
    _Unsure.verdict, _Unsure.release_works = COMPLETE, False
    yield _Unsure
    registry.unregister(_Unsure.name)


def _unsettled_purchase(db: str, number: str = "+14155550200") -> None:
    ok(db, "search", "415", "--account", CHILD, "--carrier", "cli_test_unsure")
    err = refused(db, "buy", number, "--account", CHILD, slug="carrier_timeout")
    assert err["unsettled"] is True


def test_orders_lists_unsettled_purchases(db: str, master: str, unsure: type[_Unsure]) -> None:
    assert ok(db, "orders") == []
    _unsettled_purchase(db)
    (row,) = ok(db, "orders")
    assert row["number"] == "+14155550200" and row["carrier"] == "knm_cli_test_unsure"
    assert row["operation"] == "acquire" and row["status"] == "unknown"
    assert row["reference"].startswith("knm-") and row["account"] == CHILD
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", row["since"])
    assert [r["number"] for r in ok(db, "orders", "--account", MASTER)] == [row["number"]]
    ok(db, "accounts", "create", "elsewhere", "--id", "e" * 32)
    assert ok(db, "orders", "--account", "e" * 32) == []
    refused(db, "orders", "--account", "f" * 32, cause="account_id")
    shown = human(db, "orders", columns=80)
    assert row["reference"] in shown.stdout and "knm orders settle" in shown.stdout


def test_orders_settle_asks_the_carrier_and_finishes_each(db: str, master: str,
                                                          unsure: type[_Unsure]) -> None:
    _unsettled_purchase(db, "+14155550200")
    _unsettled_purchase(db, "+14155550201")
    unsure.verdict = COMPLETE
    out = ok(db, "orders", "settle", "+14155550200")
    assert out["outcomes"] == {"+14155550200": "bought"} and out["error"] == {}
    assert out["success"]["+14155550200"]["pvt_state"] == "in_service"
    assert [r["number"] for r in ok(db, "orders")] == ["+14155550201"]

    unsure.verdict = FAILED  # the carrier never took the second order
    shown = human(db, "orders", "settle")
    assert shown.exit_code == 0 and "not bought" in shown.stdout
    assert ok(db, "orders") == []
    refused(db, "numbers", "get", "+14155550201", slug="not_found")
    assert ok(db, "numbers", "get", "+14155550200")["pvt_assigned_to"] == CHILD
    assert ok(db, "orders", "settle") == {"success": {}, "error": {}, "outcomes": {}}


def test_orders_settle_exits_non_zero_while_the_carrier_is_still_at_work(
        db: str, master: str, unsure: type[_Unsure]) -> None:
    _unsettled_purchase(db)
    unsure.verdict = PENDING
    result = knm(db, "orders", "settle")
    assert result.exit_code == 1
    out = json.loads(result.stdout)
    assert out["error"]["+14155550200"]["error"] == "carrier_timeout"
    assert [r["status"] for r in ok(db, "orders")] == ["pending"]


def test_orders_settle_finishes_an_unsettled_release(db: str, master: str,
                                                     unsure: type[_Unsure]) -> None:
    _unsettled_purchase(db)
    ok(db, "orders", "settle")  # bought
    refused(db, "release", "+14155550200", slug="carrier_timeout")
    (row,) = ok(db, "orders")
    assert row["operation"] == "disconnect" and row["status"] == "unknown"
    out = ok(db, "orders", "settle")
    assert out["outcomes"] == {"+14155550200": "released"}
    assert ok(db, "orders") == []
