"""knm_signalwire against its simulator: the RELAY REST wire (Basic auth, the space's API
root, the search filters), a purchase followed by the `call_handler` routing request that
also names the number after knm's reference, a routing failure that leaves the number bought,
releases by id, settling by ownership, and the facade flow. The shared failure table runs in
tests/carriers/test_conformance.py."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import order_flows
import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.signalwire import SignalWire, routing_body, search_params, space_base_url
from knm.record import PhoneNumber
from knm.simulators import registry

PROJECT = "8a5f1c2e-5e1d-4f0b-9d2c-signalwire01"
TOKEN = "PTsignalwire-simulated-token"
ROOT = "/api/relay/rest"
ENDPOINT = "0e6c0b1c-2f0f-4c53-9a8e-5f1d8b5c0a11"


@pytest.fixture(scope="module")
def running() -> Iterator[registry.Live]:
    with registry.running("signalwire") as live:
        yield live


@pytest.fixture
def live(running: registry.Live) -> Iterator[registry.Live]:
    running.sim.reset()
    yield running
    running.sim.reset()


def search(live: registry.Live, prefix: str, quantity: int = 5, **extra: object) -> list:
    return live.carrier.find_numbers(prefix, quantity, SearchOptions(extra=extra))


# -- pure ---------------------------------------------------------------------------------------


def test_space_url_and_parameters() -> None:
    for given in ("example", "example.signalwire.com", "https://example.signalwire.com/"):
        assert space_base_url(given) == "https://example.signalwire.com/api/relay/rest"
    assert search_params("512", 5, SearchOptions()) == {"max_results": "5", "areacode": "512"}
    assert search_params("51255512", 500, SearchOptions()) == {
        "max_results": "100", "starts_with": "5125551"}
    assert search_params("877", 2, SearchOptions())["number_type"] == "toll-free"
    assert search_params("", 3, SearchOptions(extra={"region": "TX", "locality": "Austin"})
                         ) == {"max_results": "3", "region": "TX", "city": "Austin"}
    # region and city never go with an area code (SignalWire refuses the combination)
    assert "region" not in search_params("512", 3, SearchOptions(extra={"region": "TX"}))
    assert routing_body({"call_handler": "relay_sip_endpoint", "call_sip_endpoint_id": "e-1"},
                        "knm-1") == {"name": "knm-1", "call_handler": "relay_sip_endpoint",
                                     "call_sip_endpoint_id": "e-1"}


def test_settings_space_url_and_handler_are_checked() -> None:
    carrier = SignalWire({"space_url": "acme", "project_id": "p", "api_token": "t"})
    assert carrier.config["base_url"] == "https://acme.signalwire.com/api/relay/rest"
    with pytest.raises(errors.CarrierMisconfigured) as info:
        SignalWire({"project_id": "p", "api_token": "t"})
    assert info.value.cause == "space_url"
    with pytest.raises(errors.CarrierMisconfigured) as info:
        SignalWire({"space_url": "acme", "project_id": "p", "api_token": "t",
                    "call_handler": "sip_gateway"})
    assert info.value.cause == "call_handler" and "relay_sip_endpoint" in info.value.message


# -- search on the wire ----------------------------------------------------------------------


def test_local_search_wire_and_locality(live: registry.Live) -> None:
    found = search(live, "+1512")
    assert len(found) == 5 and all(r.number.startswith("+1512") for r in found)
    sent = live.sim.received("GET")[-1]
    assert sent.path == f"{ROOT}/phone_numbers/search"
    assert sent.params == {"areacode": "512", "max_results": "5"}
    token = base64.b64encode(f"{PROJECT}:{TOKEN}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"
    assert found[0].locality["city"] == "Austin" and found[0].locality["region"] == "TX"
    assert found[0].locality["country"] == "US"


def test_npanxx_tollfree_and_international(live: registry.Live) -> None:
    found = search(live, "+1512555", 3)
    assert len(found) == 3 and all(r.number.startswith("+1512555") for r in found)
    assert live.sim.received("GET")[-1].params == {"starts_with": "512555", "max_results": "3"}
    tollfree = search(live, "+1877", 2)
    assert len(tollfree) == 2 and all(r.number.startswith("+1877") for r in tollfree)
    assert live.sim.received("GET")[-1].params["number_type"] == "toll-free"
    before = len(live.sim.requests)
    assert search(live, "+4420", 2) == [] and len(live.sim.requests) == before


def test_region_city_and_capability_filters(live: registry.Live) -> None:
    found = search(live, "+1", 3, region="TX", locality="Austin")
    assert found and {(r.locality["region"], r.locality["city"]) for r in found} == {
        ("TX", "Austin")}
    assert live.sim.received("GET")[-1].params == {"max_results": "3", "region": "TX",
                                                  "city": "Austin"}
    # one digit pattern per search: with a longer prefix, `contains` is knm's to apply
    with_7 = search(live, "+1512555", 5, contains="7")
    assert with_7 and all("7" in r.number[2:] for r in with_7)
    assert "contains" not in live.sim.received("GET")[-1].params
    assert live.sim.received("GET")[-1].params["starts_with"] == "512555"
    assert live.sim.received("GET")[-1].params["max_results"] == "100"  # room to filter
    # SignalWire's search has no capability filter: knm keeps the rows that have it
    assert search(live, "+1877", 3, mms=True) == []
    assert len(search(live, "+1877", 3, sms=True)) == 3


# -- purchase and routing ---------------------------------------------------------------------


def test_purchase_then_routing_by_call_handler(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    pn = order_flows.unsettled_purchase(number, "knm-" + "d" * 32)
    bought = live.carrier.acquire_number(pn)
    post = live.sim.received("POST")[-1]
    assert post.path == f"{ROOT}/phone_numbers" and post.json() == {"number": number}
    owned = live.sim.owned[number]
    put = live.sim.received("PUT")[-1]
    assert put.path == f"{ROOT}/phone_numbers/{owned['id']}"
    assert put.json() == {"name": "knm-" + "d" * 32, "call_handler": "laml_webhooks",
                          "call_request_url": "https://pbx.knm.example/signalwire/voice"}
    assert owned["call_handler"] == "laml_webhooks" and owned["name"] == "knm-" + "d" * 32
    assert bought.carrier_data["signalwire_id"] == owned["id"]
    assert bought.carrier_data["routing_status"] == "routed"
    assert live.carrier.check_numbers([number, "+15125550000"]) == {number: "in_service"}


def test_routing_to_a_sip_endpoint(live: registry.Live) -> None:
    carrier = live.make_carrier(call_handler="relay_sip_endpoint",
                                call_sip_endpoint_id=ENDPOINT)
    number = order_flows.buyable(live, "+1646")
    carrier.acquire_number(PhoneNumber.new(number))
    assert live.sim.owned[number]["call_sip_endpoint_id"] == ENDPOINT
    assert live.sim.owned[number]["call_handler"] == "relay_sip_endpoint"


def test_missing_routing_is_misconfigured_before_buying(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.requests.clear()
    for overrides, key in (({"call_handler": None}, "call_handler"),
                           ({"call_handler": "relay_sip_endpoint"}, "call_sip_endpoint_id")):
        with pytest.raises(errors.CarrierMisconfigured) as info:
            live.make_carrier(**overrides).acquire_number(PhoneNumber.new(number))
        assert info.value.cause == key
    assert live.sim.requests == [] and number not in live.sim.owned


def test_a_failed_routing_call_leaves_the_number_bought(live: registry.Live,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 422, "message": "Call request url is invalid"},
                 match="PUT", times=1)
    with caplog.at_level(logging.WARNING):
        bought = live.carrier.acquire_number(PhoneNumber.new(number))
    assert number in live.sim.owned and bought.carrier_data["routing_status"] == "failed"
    assert "bought but not routed" in caplog.text
    other = order_flows.buyable(live)
    live.sim.set(ambiguous="empty_502", match="PUT", times=1)
    assert live.carrier.acquire_number(PhoneNumber.new(other)).carrier_data[
        "routing_status"] == "unknown"


def test_a_taken_number_is_unavailable(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "422: Number is not available for purchase."
    assert info.value.status == 422 and info.value.unsettled is False


# -- release ----------------------------------------------------------------------------------


def test_release_deletes_the_id_found_by_number(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    number_id = live.sim.owned[number]["id"]
    live.carrier.disconnect_number(bought)
    lookup = live.sim.received("GET", "/phone_numbers")[-1]
    assert lookup.path == f"{ROOT}/phone_numbers"
    assert lookup.params == {"filter_number": number[1:], "page_size": "50"}
    assert live.sim.received("DELETE")[-1].path == f"{ROOT}/phone_numbers/{number_id}"
    assert number not in live.sim.owned and live.carrier.check_numbers([number]) == {}
    with pytest.raises(errors.CarrierNotFound):
        live.carrier.disconnect_number(bought)


# -- settling --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_purchase_settles_complete(live: registry.Live, how: str) -> None:
    status = order_flows.lost_purchase_settles_complete(live, how)
    assert status.data["signalwire_id"]
    # the lost purchase never sent its routing request: settling did, once
    (row,) = live.sim.owned.values()
    assert row["call_handler"] == "laml_webhooks" and row["name"] == "knm-" + "a" * 32
    assert len(live.sim.received("PUT")) == 1


def test_refused_purchase_settles_failed(live: registry.Live) -> None:
    order_flows.refused_purchase_settles_failed(live)


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_release_settles_complete(live: registry.Live, how: str) -> None:
    order_flows.lost_release_settles_complete(live, how)


def test_refused_release_settles_failed(live: registry.Live) -> None:
    order_flows.refused_release_settles_failed(live)


# -- failures of a purchase -----------------------------------------------------------------


def test_purchase_failure_bodies_timeout_and_malformed(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 401, "message": "Unauthorized"}, times=1)
    with pytest.raises(errors.CarrierCredentials) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "Unauthorized" and info.value.unsettled is False
    live.sim.set(fail_with={"status": 500, "body": "<html>oops", "content_type": "text/html"},
                 times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    live.sim.set(empty_502=True, times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    live.sim.set(hang=True, hang_s=3, times=1)
    with pytest.raises(errors.CarrierTimeout) as timeout:
        live.make_carrier(timeout_ms=300).acquire_number(PhoneNumber.new(number))
    assert timeout.value.unsettled is True
    live.sim.script("POST", f"{ROOT}/phone_numbers", '{"id": "x", "number": "+1"}', times=1)
    with pytest.raises(errors.MalformedResponse) as malformed:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert malformed.value.unsettled is True
    assert not live.sim.received("PUT"), "no routing without a purchase"


def test_secrets_stay_out_of_errors_and_logs(live: registry.Live,
                                             caplog: pytest.LogCaptureFixture) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 422, "message": f"token {TOKEN} is not allowed"})
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    text = f"{info.value.to_json()} {info.value!r} {info.value.__cause__} {caplog.text}"
    assert "is not allowed" in text and TOKEN not in text
    assert TOKEN not in str(live.carrier.info())


# -- through knm.numbers, on both databases --------------------------------------------------


def test_facade_flow(db: str) -> None:
    order_flows.facade_flow("knm_signalwire", "+1415")


def test_unsettled_move_and_release_are_settled(db: str) -> None:
    order_flows.unsettled_move_is_settled("knm_signalwire", "+1512", "html_500")
