"""knm_flowroute against its simulator: the Numbers v2 wire (Basic auth, JSON:API media type,
`starts_with` with the country code, pages), a purchase then the primary-route assignment (the
host route found or created once), 207 = bought without messaging, releases, settling by
`GET /numbers/{id}`, and the facade flow. The shared failure table runs in
tests/carriers/test_conformance.py."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import order_flows
import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.flowroute import (
    number_resource,
    purchase_body,
    purchase_data,
    route_type,
    search_params,
)
from knm.record import PhoneNumber
from knm.simulators import registry

ACCESS, SECRET = "12345678", "flowroute-simulated-secret"
HOST = "pbx.knm.example"


@pytest.fixture(scope="module")
def running() -> Iterator[registry.Live]:
    with registry.running("flowroute") as live:
        yield live


@pytest.fixture
def live(running: registry.Live) -> Iterator[registry.Live]:
    running.sim.reset()
    yield running
    running.sim.reset()


def search(live: registry.Live, prefix: str, quantity: int = 5, **extra: object) -> list:
    return live.carrier.find_numbers(prefix, quantity, SearchOptions(extra=extra))


# -- pure ---------------------------------------------------------------------------------------


def test_request_building_and_answers() -> None:
    assert search_params("206", 5, SearchOptions()) == {
        "limit": "5", "offset": "0", "starts_with": "1206"}
    assert search_params("888", 500, SearchOptions(), 200) == {
        "limit": "200", "offset": "200", "starts_with": "1888", "number_type": "toll-free"}
    assert search_params("", 3, SearchOptions(extra={"region": "WA",
                                                     "rate_center": "SEATTLE"})) == {
        "limit": "3", "offset": "0", "state": "wa", "rate_center": "seattle"}
    assert purchase_body({}) is None
    assert purchase_body({"messaging_enabled": True, "cnam_lookups_enabled": False}) == {
        "type": "number", "messaging_enabled": True, "cnam_lookups_enabled": False}
    assert (route_type("pbx.example.com"), route_type("sip:in@pbx.example.com")) == (
        "host", "uri")
    # Flowroute's v2.1 example nests the purchase document once more: both shapes read
    resource = {"id": "12012673307", "attributes": {"status": "PURCHASED"},
                "relationships": {"primary_route": {"data": {"type": "route", "id": "0"}}}}
    for doc in ({"data": resource}, {"data": {"data": resource, "included": []}}):
        assert number_resource(doc, "+12012673307") is resource
    assert purchase_data({"data": resource}, "+12012673307") == {
        "flowroute_id": "12012673307", "flowroute_status": "PURCHASED", "primary_route": "0"}
    with pytest.raises(ValueError):
        number_resource({"data": resource}, "+12012670000")


# -- search on the wire ----------------------------------------------------------------------


def test_search_wire_prices_and_locality(live: registry.Live) -> None:
    found = search(live, "+1206")
    assert len(found) == 5 and all(r.number.startswith("+1206") for r in found)
    sent = live.sim.received("GET")[-1]
    assert sent.path == "/v2/numbers/available"
    assert sent.params == {"limit": "5", "offset": "0", "starts_with": "1206"}
    token = base64.b64encode(f"{ACCESS}:{SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"
    assert "application/vnd.api+json" in sent.headers["accept"]
    assert found[0].price == {"currency": "USD", "monthly": "1.25", "upfront": "1"}
    assert found[0].locality["region"] == "WA" and found[0].locality["rate_center"]


def test_npanxx_tollfree_state_and_international(live: registry.Live) -> None:
    assert all(r.number.startswith("+1206555") for r in search(live, "+1206555", 3))
    tollfree = search(live, "+1888", 3)
    assert len(tollfree) == 3 and {r.carrier_data["number_type"] for r in tollfree} == {
        "toll-free"}
    assert live.sim.received("GET")[-1].params["number_type"] == "toll-free"
    texas = search(live, "+1", 3, region="TX")
    assert texas and {r.locality["region"] for r in texas} == {"TX"}
    assert live.sim.received("GET")[-1].params["state"] == "tx"
    before = len(live.sim.requests)
    assert search(live, "+4420", 3) == [] and len(live.sim.requests) == before


def test_search_pages_by_offset(live: registry.Live) -> None:
    assert len(search(live, "+1206", 240)) == 200  # one page unless told otherwise
    live.sim.requests.clear()
    found = live.make_carrier(max_search_pages=3).find_numbers("+1206", 240, SearchOptions())
    assert len(found) == 240 and len({r.number for r in found}) == 240
    pages = live.sim.received("GET", "/v2/numbers/available")
    assert [(p.params["limit"], p.params["offset"]) for p in pages] == [("200", "0"),
                                                                       ("40", "200")]


# -- purchase and routing ---------------------------------------------------------------------


def test_purchase_then_primary_route_to_the_host(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    buy = live.sim.received("POST", f"/v2/numbers/{number[1:]}")
    assert len(buy) == 1 and buy[0].body == b""
    created = live.sim.received("POST", "/v2/routes")[-1].json()
    assert created == {"data": {"type": "route", "attributes": {
        "route_type": "host", "value": HOST, "alias": "knm"}}}
    route_id = next(r for r, v in live.sim.routes_book.items() if v["value"] == HOST)
    patch = live.sim.received("PATCH")[-1]
    assert patch.path == f"/v2/numbers/{number[1:]}/relationships/primary_route"
    assert patch.json() == {"data": {"type": "route", "id": route_id}}
    assert patch.headers["content-type"] == "application/vnd.api+json"
    assert live.sim.owned[number]["primary_route"] == route_id
    assert bought.carrier_data["routing_status"] == "routed"
    assert bought.carrier_data["primary_route"] == route_id
    assert bought.carrier_data["flowroute_id"] == number[1:]
    assert live.carrier.check_numbers([number, "+12065550000"]) == {number: "in_service"}

    # the host's route is created once: this carrier remembers it, another one finds it
    second = search(live, "+1646", 1)[0].number
    live.carrier.acquire_number(PhoneNumber.new(second))
    fresh = live.make_carrier()
    third = search(live, "+1201", 1)[0].number
    fresh.acquire_number(PhoneNumber.new(third))
    assert len(live.sim.received("POST", "/v2/routes")) == 1
    assert len(live.sim.received("GET", "/v2/routes")) == 2
    assert live.sim.owned[third]["primary_route"] == route_id


def test_a_route_id_is_used_as_it_is(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.make_carrier(route="0").acquire_number(PhoneNumber.new(number))
    assert not live.sim.received("GET", "/v2/routes")
    assert live.sim.received("PATCH")[-1].json()["data"]["id"] == "0"


def test_207_is_bought_without_messaging(live: registry.Live,
                                         caplog: pytest.LogCaptureFixture) -> None:
    carrier = live.make_carrier(messaging_enabled=True)
    number = order_flows.buyable(live)
    live.sim.messaging_provisioning_up = False
    with caplog.at_level(logging.WARNING):
        bought = carrier.acquire_number(PhoneNumber.new(number))
    assert live.sim.received("POST", f"/v2/numbers/{number[1:]}")[-1].json() == {
        "type": "number", "messaging_enabled": True}
    assert number in live.sim.owned
    assert bought.carrier_data["messaging_status"] == "not_enabled"
    assert "unavailable" in bought.carrier_data["messaging_note"]
    assert bought.carrier_data["routing_status"] == "routed"
    assert "bought without messaging" in caplog.text
    live.sim.messaging_provisioning_up = True
    other = search(live, "+1646", 1)[0].number
    assert carrier.acquire_number(PhoneNumber.new(other)).carrier_data[
        "messaging_status"] == "pending"


def test_a_200_purchase_is_accepted_too(live: registry.Live) -> None:
    number = "+12065550123"
    live.sim.script("POST", f"/v2/numbers/{number[1:]}",
                    '{"data": {"type": "number", "id": "12065550123", "attributes": {}}}',
                    status=200, times=1)
    bought = live.make_carrier(route="0").acquire_number(PhoneNumber.new(number))
    assert bought.carrier_data["flowroute_id"] == "12065550123"


def test_missing_route_is_misconfigured_before_buying(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.requests.clear()
    with pytest.raises(errors.CarrierMisconfigured) as info:
        live.make_carrier(route=None).acquire_number(PhoneNumber.new(number))
    assert info.value.cause == "route"
    assert live.sim.requests == [] and number not in live.sim.owned


def test_a_taken_number_is_unavailable(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "Number is not available for purchase."
    assert info.value.status == 404 and info.value.unsettled is False


def test_a_failed_routing_call_leaves_the_number_bought(live: registry.Live) -> None:
    carrier = live.make_carrier()
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 422, "message": "Route does not exist."}, match="PATCH")
    bought = carrier.acquire_number(PhoneNumber.new(number))
    assert number in live.sim.owned and bought.carrier_data["routing_status"] == "failed"
    assert live.sim.owned[number]["primary_route"] == "0"
    # the route id it remembered was refused: it was looked up again, once
    assert len(live.sim.received("PATCH")) == 2
    assert len(live.sim.received("GET", "/v2/routes")) == 2


def test_a_deleted_route_is_found_again(live: registry.Live) -> None:
    carrier = live.make_carrier()
    carrier.acquire_number(PhoneNumber.new(order_flows.buyable(live)))
    live.sim.reset()  # Flowroute forgot the host route knm remembers
    number = order_flows.buyable(live, "+1646")
    bought = carrier.acquire_number(PhoneNumber.new(number))
    assert bought.carrier_data["routing_status"] == "routed"
    assert live.sim.owned[number]["primary_route"] == bought.carrier_data["primary_route"]
    assert len(live.sim.received("POST", "/v2/routes")) == 1


# -- release ----------------------------------------------------------------------------------


def test_release_deletes_the_number(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    live.carrier.disconnect_number(bought)
    assert live.sim.received("DELETE")[-1].path == f"/v2/numbers/{number[1:]}"
    assert number not in live.sim.owned and live.carrier.check_numbers([number]) == {}
    with pytest.raises(errors.CarrierNotFound) as info:
        live.carrier.disconnect_number(bought)
    assert info.value.carrier_message == "Could not find that resource on your account."


# -- settling --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_purchase_settles_complete(live: registry.Live, how: str) -> None:
    status = order_flows.lost_purchase_settles_complete(live, how, "/v2/numbers/")
    assert status.data["flowroute_id"]
    number = "+" + status.data["flowroute_id"]
    # the lost purchase never assigned the route: settling did
    assert live.sim.owned[number]["primary_route"] == status.data["primary_route"] != "0"
    assert live.sim.received("PATCH")[-1].json()["data"]["id"] == status.data["primary_route"]


def test_refused_purchase_settles_failed(live: registry.Live) -> None:
    order_flows.refused_purchase_settles_failed(live)


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_release_settles_complete(live: registry.Live, how: str) -> None:
    order_flows.lost_release_settles_complete(live, how)


def test_refused_release_settles_failed(live: registry.Live) -> None:
    order_flows.refused_release_settles_failed(live)


# -- failures of a purchase -----------------------------------------------------------------


def test_purchase_failure_bodies_and_timeout(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 400, "message": "Invalid number id."}, times=1)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "Invalid number id." and not info.value.unsettled
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
    live.sim.script("POST", f"/v2/numbers/{number[1:]}", '{"data": {"id": "1"}}', status=201,
                    times=1)
    with pytest.raises(errors.MalformedResponse) as malformed:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert malformed.value.unsettled is True
    assert not live.sim.received("PATCH"), "no routing without a purchase"


def test_secrets_stay_out_of_errors_and_logs(live: registry.Live,
                                             caplog: pytest.LogCaptureFixture) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 401, "message": f"secret {SECRET} is wrong"})
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierCredentials) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    text = f"{info.value.to_json()} {info.value!r} {info.value.__cause__} {caplog.text}"
    assert "is wrong" in text and SECRET not in text
    assert SECRET not in str(live.carrier.info())


# -- through knm.numbers, on both databases --------------------------------------------------


def test_facade_flow(db: str) -> None:
    order_flows.facade_flow("knm_flowroute", "+1415")


def test_unsettled_move_and_release_are_settled(db: str) -> None:
    order_flows.unsettled_move_is_settled("knm_flowroute", "+1206", "timeout", "/v2/numbers/")
