"""knm_telnyx's order path against the Telnyx simulator (audit §2.2): the ownership lookup by
number (a page of rows, the exact number, deleted and ported-out rows skipped), orders sent
with knm's reference and settled by it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from knm import errors
from knm.carriers.base import SearchOptions, new_order_reference
from knm.record import PhoneNumber
from knm.simulators import registry


@pytest.fixture
def live() -> Iterator[registry.Live]:
    with registry.running("telnyx") as live:
        yield live


def _claimed(number: str) -> PhoneNumber:
    pn = PhoneNumber.new(number)
    pn.set_carrier_data({"order_reference": new_order_reference(), "order_status": "unknown"})
    return pn


def _bought(live: registry.Live) -> tuple[str, PhoneNumber]:
    number = live.carrier.find_numbers("+1415", 3, SearchOptions())[-1].number
    return number, live.carrier.acquire_number(_claimed(number))


def test_the_order_carries_knms_reference(live: registry.Live) -> None:
    number, pn = _bought(live)
    sent = live.sim.received("POST", "/number_orders")[-1].json()
    assert sent["customer_reference"] == pn.carrier_data["order_reference"]
    assert pn.carrier_data["customer_reference"] == pn.carrier_data["order_reference"]


def test_release_finds_the_exact_live_row_among_a_page(live: registry.Live) -> None:
    number, pn = _bought(live)
    real_id = live.sim.owned[number]["id"]
    rows = [{"id": "near-1", "phone_number": number[:-1] + "9", "status": "active"},
            {"id": "gone-1", "phone_number": number, "status": "deleted"},
            {"id": "gone-2", "phone_number": number, "status": "ported-out"},
            {"id": real_id, "phone_number": number, "status": "active"}]
    live.sim.script("GET", "/phone_numbers", json.dumps({"data": rows, "meta": {}}), times=1)
    live.carrier.disconnect_number(pn)
    lookup = live.sim.received("GET", "/phone_numbers")[-1]
    assert int(lookup.params["page[size]"]) >= 20
    assert lookup.params["filter[phone_number]"] == number.lstrip("+")
    assert live.sim.received("DELETE")[-1].path == f"/phone_numbers/{real_id}"
    assert number not in live.sim.owned


def test_deleted_rows_are_not_held(live: registry.Live) -> None:
    number = "+14155550188"
    live.sim.script("GET", "/phone_numbers", json.dumps({"data": [
        {"id": "gone-1", "phone_number": number, "status": "deleted"}], "meta": {}}), times=2)
    assert live.carrier.check_numbers([number]) == {}
    with pytest.raises(errors.CarrierNotFound) as info:
        live.carrier.disconnect_number(PhoneNumber.new(number))
    assert info.value.unsettled is False


def test_a_lost_order_answer_is_found_by_reference(live: registry.Live) -> None:
    number = live.carrier.find_numbers("+1415", 3, SearchOptions())[-1].number
    live.sim.set(order_result="never", ambiguous="truncated", match="POST", times=1)
    pn = _claimed(number)
    with pytest.raises(errors.KnmError) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is True and "order_id" not in pn.carrier_data
    pending = live.carrier.settle(pn)
    assert pending.state == "pending" and pending.order_id in live.sim.orders
    listed = live.sim.received("GET", "/number_orders")[-1]
    assert listed.params["filter[customer_reference]"] == pn.carrier_data["order_reference"]
    live.sim.set(order_result="complete")
    done = live.carrier.settle(pn)
    assert done.state == "complete" and done.data["order_id"] == pending.order_id
    assert done.data["phone_number_id"] == live.sim.owned[number]["id"]
