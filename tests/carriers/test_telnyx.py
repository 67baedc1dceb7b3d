"""knm_telnyx (API v2) on the wire, and Kazoo's telnyx cases (kazoo-http-carriers.md §14.3)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.record import PhoneNumber
from knm.simulators import registry

KEY = "KEYtelnyx-simulated-secret"


@pytest.fixture
def live() -> Iterator[registry.Live]:
    with registry.running("telnyx") as live:
        yield live


def test_kazoo_npanxx_search(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+1301359", 5, SearchOptions())
    assert sorted(r.number for r in found) == [
        "+13013590340", "+13013591789", "+13013596520", "+13013596526", "+13013596695"]
    sent = live.sim.received("GET", "/available_phone_numbers")[-1]
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.params["filter[country_code]"] == "US"
    assert sent.params["filter[national_destination_code]"] == "301"
    assert sent.params["filter[phone_number][starts_with]"] == "359"
    assert sent.params["filter[limit]"] == "5"
    assert found[0].locality and found[0].locality["country"] == "US"


def test_kazoo_tollfree_search(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+1800", 2, SearchOptions())
    assert [r.number for r in found] == ["+18006198104", "+18009177894"]
    assert live.sim.received("GET")[-1].params["filter[phone_number_type]"] == "toll_free"


def test_kazoo_international_search(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+441", 2, SearchOptions(country="GB"))
    assert len(found) == 2 and all(r.number.startswith("+441") for r in found)
    assert live.sim.received("GET")[-1].params["filter[country_code]"] == "GB"


def test_kazoo_acquire(live: registry.Live) -> None:
    pn = PhoneNumber.new("+14352154006")
    out = live.carrier.acquire_number(pn)
    assert out.number == "+14352154006" and out.is_dirty
    order_id = out.carrier_data["order_id"]
    assert order_id in live.sim.orders
    body = live.sim.received("POST", "/number_orders")[-1].json()
    assert body["phone_numbers"] == [{"phone_number": "+14352154006"}]
    assert body["connection_id"] == "1494404757140276705"
    assert body["customer_reference"] == out.carrier_data["customer_reference"]


def test_pending_order_is_polled(live: registry.Live) -> None:
    live.sim.set(order_complete_ms=100)
    out = live.carrier.acquire_number(PhoneNumber.new("+14352154007"))
    assert out.carrier_data["order_status"] == "success"
    assert live.sim.received("GET", "/number_orders/")


def test_best_effort_dropped_unless_kept(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+1415555901", 20, SearchOptions())
    assert all(r.number.startswith("+1415555901") for r in found)
    assert live.sim.received("GET")[-1].params["filter[best_effort]"] == "false"
    keep = live.make_carrier(should_keep_best_effort=True)
    more = keep.find_numbers("+1415555901", 20, SearchOptions())
    assert len(more) > len(found)
    assert any(r.carrier_data.get("best_effort") for r in more)
    # a best-effort row sent anyway is still dropped when not kept
    live.sim.script("GET", "/available_phone_numbers", (
        '{"data": [{"phone_number": "+14155550001", "best_effort": true},'
        ' {"phone_number": "+14155590002", "best_effort": false}], "meta": {}}'))
    assert [r.number for r in live.carrier.find_numbers("+14155", 5, SearchOptions())] == [
        "+14155590002"]


def test_release_deletes_the_phone_number_resource(live: registry.Live) -> None:
    pn = live.carrier.acquire_number(PhoneNumber.new("+14352154008"))
    owned_id = live.sim.owned["+14352154008"]["id"]
    live.carrier.disconnect_number(pn)
    lookup = live.sim.received("GET", "/phone_numbers")[-1]
    assert lookup.params["filter[phone_number]"] == "14352154008"
    assert live.sim.received("DELETE")[-1].path == f"/phone_numbers/{owned_id}"
    with pytest.raises(errors.CarrierNotFound):
        live.carrier.disconnect_number(pn)


def test_telnyx_error_shape(live: registry.Live) -> None:
    live.sim.set(fail_with={"status": 422, "message": "You must provide at least 1 number."})
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.find_numbers("+1415", 2, SearchOptions())
    assert info.value.carrier_message == "10015: You must provide at least 1 number."
    assert info.value.status == 422


# -- regulated countries (audit T2) --------------------------------------------------------------


def test_regulated_order_sends_the_countrys_requirement_group(live: registry.Live) -> None:
    carrier = live.make_carrier(requirement_groups={"de": "rg-de-1"}, bundles={"GB": "bu-gb"})
    out = carrier.acquire_number(PhoneNumber.new("+4930901820"))
    sent = live.sim.received("POST", "/number_orders")[-1].json()
    assert sent["phone_numbers"] == [{"phone_number": "+4930901820",
                                      "requirement_group_id": "rg-de-1"}]
    assert out.carrier_data["requirements_status"] == "approved"
    assert out.carrier_data["requirement_group_id"] == "rg-de-1"
    # a US number carries neither id; GB gets its bundle
    carrier.acquire_number(PhoneNumber.new("+14352154010"))
    assert live.sim.received("POST", "/number_orders")[-1].json()["phone_numbers"] == [
        {"phone_number": "+14352154010"}]
    carrier.acquire_number(PhoneNumber.new("+441432760001"))
    assert live.sim.received("POST", "/number_orders")[-1].json()["phone_numbers"] == [
        {"phone_number": "+441432760001", "bundle_id": "bu-gb"}]


def test_regulated_order_without_documents_is_held_and_says_why(live: registry.Live) -> None:
    carrier = live.make_carrier(order_timeout_s=0.3, order_poll_interval_ms=50)
    pn = PhoneNumber.new("+4930901821")
    with pytest.raises(errors.CarrierTimeout) as info:
        carrier.acquire_number(pn)
    assert info.value.unsettled
    assert "requirement-info-pending" in info.value.carrier_message
    assert "requirement_groups" in info.value.carrier_message
    assert pn.carrier_data["requirements_status"] == "requirement-info-pending"
    assert pn.carrier_data["requirements_met"] is False
    assert pn.carrier_data["order_id"] in live.sim.orders


def test_requirement_groups_must_be_a_mapping(live: registry.Live) -> None:
    with pytest.raises(errors.CarrierMisconfigured) as info:
        live.make_carrier(requirement_groups="rg-for-everyone")
    assert info.value.cause == "requirement_groups"
    # `knm config set` hands JSON text over: accepted
    carrier = live.make_carrier(requirement_groups='{"DE": "rg-de-2"}')
    assert carrier.config["requirement_groups"] == {"DE": "rg-de-2"}
