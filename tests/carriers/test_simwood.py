"""knm_simwood against its simulator: the wire (paths, Basic auth, the pattern, US searches
with `country_code=1`), UK numbers made E.164, the allocation then the routing configuration
(`PUT …/allocated/{n}/config`), Simwood's "Number not available" 404 and its
`{"success": false, "errors": […]}` bodies, releases, settling by `GET allocated/{n}` (routing
a held number written then), and the facade flow. Kazoo had no Simwood fixtures or tests
(kazoo-http-carriers.md §7.4); the shared failure table runs in
tests/carriers/test_conformance.py."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import httpx
import order_flows
import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.simwood import (
    allocated_path,
    allocation_data,
    config_path,
    e164,
    number_config,
    parse_search,
    result_size,
    routes_to,
    routing_config,
    search_path,
    sip_endpoint,
)
from knm.record import PhoneNumber
from knm.simulators import registry

USER, PASSWORD, ACCOUNT = "sim-user", "sim-password", "930000"
ENDPOINT = "%e164@pbx.knm.example"
ROUTED = {"routing": {"default": [[{"type": "sip", "endpoint": ENDPOINT}]]}}


@pytest.fixture(scope="module")
def running() -> Iterator[registry.Live]:
    with registry.running("simwood") as live:
        yield live


@pytest.fixture
def live(running: registry.Live) -> Iterator[registry.Live]:
    running.sim.reset()
    yield running
    running.sim.reset()


def find(live: registry.Live, prefix: str, quantity: int = 5, carrier=None) -> list[str]:
    found = (carrier or live.carrier).find_numbers(prefix, quantity, SearchOptions(country="GB"))
    return [r.number for r in found]


def allocations(live: registry.Live) -> int:
    """Allocation PUTs received (not the routing PUTs to `…/config`)."""
    return len([r for r in live.sim.received("PUT") if not r.path.endswith("/config")])


def configs(live: registry.Live) -> list[dict]:
    """The configurations PUT, in order."""
    return [r.json() for r in live.sim.received("PUT") if r.path.endswith("/config")]


# -- pure ---------------------------------------------------------------------------------------


def test_request_building() -> None:
    assert [result_size(q) for q in (1, 2, 10, 11, 500)] == [1, 10, 10, 100, 100]
    assert search_path("93 1", "+44207", 500) == ("93%201/available/standard/100",
                                                 {"pattern": "44207*"})
    assert search_path("931234", "+1212", 3) == (
        "931234/available/standard/10", {"pattern": "212*", "country_code": "1"})
    assert allocated_path("931234", "+442079460000") == "931234/allocated/442079460000"
    assert config_path("931234", "+442079460000") == "931234/allocated/442079460000/config"


def test_the_routing_setting_becomes_a_sip_endpoint() -> None:
    assert sip_endpoint("%e164@pbx.example.com") == "%e164@pbx.example.com"
    assert sip_endpoint("SIP:in@pbx.example.com:5080") == "in@pbx.example.com:5080"
    assert sip_endpoint(" pbx.example.com ") == "%e164@pbx.example.com"
    for bad in ("", "@pbx.example.com", "a@b@c", "in@", "in@pbx example.com"):
        assert sip_endpoint(bad) is None, bad
    assert routing_config("in@pbx") == {
        "routing": {"default": [[{"type": "sip", "endpoint": "in@pbx"}]]}}
    kept = routing_config("in@pbx", {"options": {"acr": True}, "meta": {"k": "v"},
                                     "rules": {"night": []}, "routing": {"night": []}})
    assert kept == {"options": {"acr": True}, "meta": {"k": "v"},
                    "routing": {"default": [[{"type": "sip", "endpoint": "in@pbx"}]]}}


def test_answers_are_read() -> None:
    assert e164({"country_code": "44", "number": "2079460000"}) == "+442079460000"
    doc = [{"country_code": "44", "number": "2079460000", "block": "207946"},
           {"country_code": "44", "number": "1614960000"},
           {"country_code": "44", "number": "2079460001"}]
    results = parse_search(doc, "+44207", 1)
    assert [r.number for r in results] == ["+442079460000"]
    assert results[0].carrier_data == doc[0] and results[0].state == "discovery"
    with pytest.raises(ValueError):  # Kazoo crashed on an error object
        parse_search({"success": False, "errors": ["nope"]}, "+44", 10)
    assert allocation_data({"basic": {"block": "207946", "bill_class": "Standard",
                                      "link": "/v3/…"}, "voice": {"link": "/v3/…"}}) == {
        "block": "207946", "bill_class": "Standard"}
    assert allocation_data(None) == allocation_data({"voice": {}}) == {}
    assert number_config({"success": True, "data": ROUTED}) == ROUTED
    assert routes_to(ROUTED, ENDPOINT) and not routes_to(ROUTED, "other@pbx")
    assert not routes_to({}, ENDPOINT)
    assert not routes_to({"routing": {"default": [[{"type": "pstn", "number": "44"}],
                                                  [{"type": "sip", "endpoint": ENDPOINT}]]}},
                         ENDPOINT), "a PSTN divert first is not routed to the PBX"


# -- search on the wire ----------------------------------------------------------------------


def test_search_wire(live: registry.Live) -> None:
    numbers = find(live, "+44207", 5)
    assert len(numbers) == 5 and all(n.startswith("+44207") and len(n) == 13 for n in numbers)
    request = live.sim.requests[-1]
    assert request.method == "GET"
    assert request.path == f"/v3/numbers/{ACCOUNT}/available/standard/10"
    assert request.params == {"pattern": "44207*"}
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {token}"
    assert find(live, "+44207", 5) == numbers  # deterministic stock


def test_us_numbers_are_searched_only_when_asked_for(live: registry.Live) -> None:
    assert find(live, "+1415", 5) == [] and live.sim.requests == []
    us = live.make_carrier(search_us=True)
    found = us.find_numbers("+1212", 3, SearchOptions())
    assert len(found) == 3 and all(r.number.startswith("+1212") and len(r.number) == 12
                                   for r in found)
    assert live.sim.requests[-1].params == {"pattern": "212*", "country_code": "1"}
    assert us.find_numbers("+33", 3, SearchOptions()) == []
    bought = us.acquire_number(PhoneNumber.new(found[0].number))
    assert live.sim.received("PUT")[0].path.endswith(f"/allocated/{found[0].number[1:]}")
    assert bought.carrier_data["routing_status"] == "routed"


# -- purchase and routing ---------------------------------------------------------------------


def test_buy_routes_checks_and_releases(live: registry.Live) -> None:
    number = find(live, "+44161", 1)[0]
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    allocate, route = live.sim.received("PUT")
    assert allocate.path == f"/v3/numbers/{ACCOUNT}/allocated/{number[1:]}"
    assert allocate.body == b""
    assert route.path == f"/v3/numbers/{ACCOUNT}/allocated/{number[1:]}/config"
    assert route.json() == ROUTED and "application/json" in route.headers["content-type"]
    assert live.sim.owned[number]["config"] == ROUTED
    assert bought.carrier_data == {"simwood_account_id": ACCOUNT, "block": number[3:9],
                                   "bill_class": "Standard", "routing_status": "routed",
                                   "routing": ENDPOINT}
    assert number not in find(live, "+44161", 100)
    assert live.carrier.check_numbers([number, "+442079460000"]) == {number: "in_service"}
    live.carrier.disconnect_number(bought)
    assert live.sim.requests[-1].method == "DELETE" and number not in live.sim.owned
    with pytest.raises(errors.CarrierNotFound) as info:
        live.carrier.disconnect_number(bought)
    assert info.value.cause == number and info.value.carrier_message == "Number not allocated"


def test_a_taken_number_is_simwoods_404_not_available(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.taken.add(number)
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert (info.value.status, info.value.carrier_message) == (404, "Number not available")
    assert info.value.unsettled is False
    assert configs(live) == [], "nothing to route: nothing was bought"


def test_without_routing_the_account_default_routes(live: registry.Live) -> None:
    carrier = live.make_carrier(routing=None)
    number = order_flows.buyable(live)
    stale = PhoneNumber.new(number)
    stale.set_carrier_data({"routing": "old@pbx", "routing_status": "routed"})
    bought = carrier.acquire_number(stale)
    assert allocations(live) == 1 and configs(live) == []
    assert bought.carrier_data["routing_status"] == "account_default"
    assert "routing" not in bought.carrier_data, "a re-bought number forgets its old routing"
    status = carrier.settle(order_flows.unsettled_purchase(number))
    assert (status.state, status.data["routing_status"]) == ("complete", "account_default")
    assert configs(live) == []


def test_a_bad_routing_setting_is_misconfigured_before_buying(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.requests.clear()
    with pytest.raises(errors.CarrierMisconfigured) as info:
        live.make_carrier(routing="in@").acquire_number(PhoneNumber.new(number))
    assert info.value.cause == "routing"
    assert live.sim.requests == [] and number not in live.sim.owned


@pytest.mark.parametrize("answer,status", [
    ({"status": 200, "body": '{"success": false, "errors": ["Routing block must be an '
                             'array."]}'}, "failed"),
    ({"status": 400, "message": "Routing block must be an array."}, "failed"),
    ({"status": 503, "message": "busy"}, "unknown"),
])
def test_a_refused_routing_leaves_the_number_bought(live: registry.Live, answer: dict,
                                                   status: str,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with=answer, match="/config")
    with caplog.at_level(logging.WARNING):
        bought = live.carrier.acquire_number(PhoneNumber.new(number))
    assert number in live.sim.owned and bought.carrier_data["routing_status"] == status
    assert "routing" not in bought.carrier_data
    assert "bought but not routed" in caplog.text
    if status == "unknown":  # an idempotent PUT: retried on a 503 like a read
        assert len(configs(live)) == 3
    live.sim.reset_switches()
    settled = live.carrier.settle(order_flows.unsettled_purchase(number))
    assert settled.data["routing_status"] == "routed"
    assert live.sim.owned[number]["config"] == ROUTED


def test_the_simulator_refuses_what_simwood_would(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    url = f"{live.url}/v3/numbers/{ACCOUNT}/allocated/{number[1:]}/config"
    auth = (USER, PASSWORD)
    bad = httpx.put(url, json={"routing": {"default": [{"type": "sip"}]}}, auth=auth)
    assert bad.status_code == 200 and bad.json()["success"] is False
    assert live.sim.owned[number]["config"] == ROUTED, "the extant configuration stays"
    assert httpx.get(url, auth=auth).json() == ROUTED


def test_a_200_saying_no_is_a_refusal(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.script("PUT", f"/v3/numbers/{ACCOUNT}/allocated/{number[1:]}",
                    '{"success": false, "errors": ["Account suspended"]}', times=1)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "Account suspended"
    assert info.value.unsettled is False and info.value.cause == number
    assert configs(live) == []


def test_an_empty_allocation_answer_is_a_purchase(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.script("PUT", f"/v3/numbers/{ACCOUNT}/allocated/{number[1:]}", "", status=204,
                    times=1)
    bought = live.make_carrier(routing=None).acquire_number(PhoneNumber.new(number))
    assert bought.carrier_data == {"simwood_account_id": ACCOUNT,
                                   "routing_status": "account_default"}


def test_both_error_shapes_reach_the_user(live: registry.Live) -> None:
    for body in ('{"success": false, "errors": ["Invalid pattern", "try 20*"]}',
                 '{"error": "Invalid pattern; try 20*"}'):
        live.sim.set(fail_with={"status": 400, "body": body}, times=1)
        with pytest.raises(errors.CarrierFault) as info:
            find(live, "+44207")
        assert info.value.carrier_message == "Invalid pattern; try 20*"
        assert info.value.status == 400


def test_purchase_failure_bodies_and_timeout(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 400, "message": "Invalid number"}, times=1)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert (info.value.carrier_message, info.value.status) == ("Invalid number", 400)
    assert info.value.unsettled is False
    live.sim.set(fail_with={"status": 500, "body": "<html>boom", "content_type": "text/html"},
                 times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    live.sim.set(hang=True, hang_s=3, times=1)
    with pytest.raises(errors.CarrierTimeout) as timeout:
        live.make_carrier(timeout_ms=300).acquire_number(PhoneNumber.new(number))
    assert timeout.value.unsettled is True
    assert configs(live) == [], "no routing without an allocation"
    live.sim.set(empty_502=True, times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.disconnect_number(PhoneNumber.new(number))
    assert info.value.unsettled is True and PASSWORD not in str(info.value.to_json())


def test_wrong_account_is_refused(live: registry.Live) -> None:
    with pytest.raises(errors.CarrierCredentials) as info:
        find(live, "+44207", 1, live.make_carrier(simwood_account_id="999999"))
    assert "999999" in (info.value.carrier_message or "")


def test_secrets_stay_out_of_errors_and_logs(live: registry.Live,
                                             caplog: pytest.LogCaptureFixture) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 401, "message": f"password {PASSWORD} is wrong"})
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierCredentials) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    text = f"{info.value.to_json()} {info.value!r} {info.value.__cause__} {caplog.text}"
    assert "is wrong" in text and PASSWORD not in text
    assert PASSWORD not in str(live.carrier.info())


# -- settling --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_purchase_settles_complete_and_routed(live: registry.Live, how: str) -> None:
    status = order_flows.lost_purchase_settles_complete(live, how, count=allocations)
    assert status.data["routing"] == ENDPOINT
    # the lost allocation never wrote the routing: settling did, once
    assert configs(live) == [ROUTED]
    # the allocation and the configuration were both read (side by side: in either order)
    assert sorted(r.path.endswith("/config") for r in live.sim.received("GET")[-2:]) == [
        False, True]


def test_settling_rewrites_a_configuration_routed_elsewhere(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.make_carrier(routing=None).acquire_number(PhoneNumber.new(number))
    live.sim.owned[number]["config"] = {
        "options": {"acr": True}, "meta": {"customer": "42"}, "rules": {"day": []},
        "routing": {"default": [[{"type": "pstn", "number": "447700900123"}]]}}
    status = live.carrier.settle(order_flows.unsettled_purchase(number))
    assert (status.state, status.data["routing_status"]) == ("complete", "routed")
    assert live.sim.owned[number]["config"] == {"options": {"acr": True},
                                                "meta": {"customer": "42"}, **ROUTED}


def test_a_configuration_simwood_will_not_show_is_written(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.make_carrier(routing=None).acquire_number(PhoneNumber.new(number))
    live.sim.requests.clear()
    # a 404 to the configuration read is "no configuration" (the allocation read said held)
    live.sim.set(fail_with={"status": 404, "message": "No configuration"},
                 match="/config", times=1)
    status = live.carrier.settle(order_flows.unsettled_purchase(number))
    assert status.data["routing_status"] == "routed" and configs(live) == [ROUTED]


def test_refused_purchase_settles_failed(live: registry.Live) -> None:
    order_flows.refused_purchase_settles_failed(live)


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_release_settles_complete(live: registry.Live, how: str) -> None:
    order_flows.lost_release_settles_complete(live, how)


def test_refused_release_settles_failed(live: registry.Live) -> None:
    order_flows.refused_release_settles_failed(live)


# -- through knm.numbers, on both databases --------------------------------------------------


def test_facade_flow(db: str) -> None:
    order_flows.facade_flow("knm_simwood", "+44207", country="GB")


def test_unsettled_move_and_release_are_settled(db: str) -> None:
    order_flows.unsettled_move_is_settled("knm_simwood", "+44207", count=allocations)
