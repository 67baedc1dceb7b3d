"""knm_vonage against its simulator (plain HTTP through `base_url`; the SDK test serves it over
TLS): the wire (Basic auth, `number/search` patterns with the country code, pages), a purchase
followed by `number/update` routing, and Vonage's peculiarity — a failure answered with HTTP
200 and an `error-code` other than "200" (or with HTTP 420) — read as a refusal; releases by
`number/cancel`, settling by `/account/numbers`, and the facade flow. The shared failure table
runs in tests/carriers/test_conformance.py."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator
from urllib.parse import parse_qsl

import order_flows
import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.vonage import search_params
from knm.record import PhoneNumber
from knm.simulators import registry

KEY, SECRET = "a1b2c3d4", "vonage-simulated-secret"
APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"
SIP = "sip:inbound@pbx.knm.example"


@pytest.fixture(scope="module")
def running() -> Iterator[registry.Live]:
    with registry.running("vonage") as live:
        yield live


@pytest.fixture
def live(running: registry.Live) -> Iterator[registry.Live]:
    running.sim.reset()
    yield running
    running.sim.reset()


def search(live: registry.Live, prefix: str, quantity: int = 5, country: str = "US",
           **extra: object) -> list:
    return live.carrier.find_numbers(prefix, quantity,
                                     SearchOptions(country=country, extra=extra))


def form(request) -> dict[str, str]:  # noqa: ANN001 - a RecordedRequest
    return dict(parse_qsl(request.text, keep_blank_values=True))


# -- pure ---------------------------------------------------------------------------------------


def test_search_parameters() -> None:
    assert search_params("+1415", "US", 5, SearchOptions()) == {
        "country": "US", "size": "5", "index": "1", "pattern": "1415", "search_pattern": "0"}
    assert search_params("+44161", "GB", 500, SearchOptions(), 2) == {
        "country": "GB", "size": "100", "index": "2", "pattern": "44161",
        "search_pattern": "0"}
    assert search_params("+1800", "US", 2, SearchOptions())["type"] == "landline-toll-free"
    assert search_params("+44", "GB", 2, SearchOptions(extra={"mobile": True,
                                                              "contains": "777"})) == {
        "country": "GB", "size": "2", "index": "1", "type": "mobile-lvn", "pattern": "777",
        "search_pattern": "1"}
    assert search_params("+1", "US", 2, SearchOptions(extra={"voice": True, "sms": True})
                         )["features"] == "SMS,VOICE"


# -- search on the wire ----------------------------------------------------------------------


def test_search_wire_prices_and_locality(live: registry.Live) -> None:
    found = search(live, "+1415")
    assert len(found) == 5 and all(r.number.startswith("+1415") for r in found)
    sent = live.sim.received("GET")[-1]
    assert sent.path == "/number/search"
    assert sent.params == {"country": "US", "size": "5", "index": "1", "pattern": "1415",
                           "search_pattern": "0"}
    token = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"
    assert SECRET not in sent.query
    assert found[0].price == {"currency": "EUR", "monthly": "1.25"}
    assert found[0].locality == {"country": "US"}
    assert found[0].carrier_data == {"country": "US", "type": "mobile-lvn",
                                     "features": ["SMS", "VOICE"]}


def test_tollfree_international_mobile_and_features(live: registry.Live) -> None:
    tollfree = search(live, "+1800", 3)
    assert len(tollfree) == 3 and {r.carrier_data["type"] for r in tollfree} == {
        "landline-toll-free"}
    manchester = search(live, "+44161", 3, country="GB")
    assert len(manchester) == 3 and all(r.number.startswith("+44161") for r in manchester)
    assert live.sim.received("GET")[-1].params["country"] == "GB"
    assert manchester[0].price == {"currency": "EUR", "monthly": "0.90"}
    mobile = search(live, "+447700", 2, country="GB")
    assert {r.carrier_data["type"] for r in mobile} == {"mobile-lvn"}
    # GB landlines are voice only here: asking for SMS among them finds none
    assert search(live, "+44161", 3, country="GB", sms=True) == []
    assert live.sim.received("GET")[-1].params["features"] == "SMS"
    # one pattern per search: with a prefix, `contains` is knm's to apply
    with_77 = search(live, "+1415", 5, contains="77")
    assert with_77 and all("77" in r.number for r in with_77)
    assert live.sim.received("GET")[-1].params["pattern"] == "1415"
    assert live.sim.received("GET")[-1].params["size"] == "100"  # room to filter
    usd = live.make_carrier(currency="USD")
    assert usd.find_numbers("+1415", 1, SearchOptions())[0].price["currency"] == "USD"


def test_search_pages_until_the_quantity(live: registry.Live) -> None:
    assert len(search(live, "+1415", 150)) == 100  # one page unless told otherwise
    live.sim.requests.clear()
    carrier = live.make_carrier(max_search_pages=5)
    found = carrier.find_numbers("+1415", 150, SearchOptions())
    assert len(found) == 150 and len({r.number for r in found}) == 150
    pages = live.sim.received("GET", "/number/search")
    assert [p.params["index"] for p in pages] == ["1", "2"]
    assert all(p.params["size"] == "100" for p in pages)
    live.sim.requests.clear()
    assert len(carrier.find_numbers("+141588600", 150, SearchOptions())) == 100
    assert len(live.sim.received("GET")) == 1  # all there is: its count says so


# -- purchase and routing ---------------------------------------------------------------------


def test_purchase_then_sip_routing(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    buy, update = live.sim.received("POST")[-2:]
    assert buy.path == "/number/buy" and form(buy) == {"country": "US", "msisdn": number[1:]}
    assert buy.headers["content-type"] == "application/x-www-form-urlencoded"
    assert update.path == "/number/update" and form(update) == {
        "country": "US", "msisdn": number[1:], "voiceCallbackType": "sip",
        "voiceCallbackValue": SIP}
    assert live.sim.owned[number]["voiceCallbackValue"] == SIP
    assert bought.carrier_data["routing_status"] == "routed"
    assert bought.carrier_data["country"] == "US"
    assert live.carrier.check_numbers([number, "+14155550000"]) == {number: "in_service"}


def test_purchase_routed_to_an_application_in_the_searched_country(live: registry.Live
                                                                    ) -> None:
    carrier = live.make_carrier(app_id=APP_ID)
    found = search(live, "+44161", 1, country="GB")[0]
    pn = PhoneNumber.new(found.number)
    pn.set_carrier_data(dict(found.carrier_data))  # what the search cache hands a purchase
    carrier.acquire_number(pn)
    update = live.sim.received("POST", "/number/update")[-1]
    assert form(update) == {"country": "GB", "msisdn": found.number[1:], "app_id": APP_ID}
    assert live.sim.owned[found.number]["app_id"] == APP_ID


def test_missing_routing_is_misconfigured_before_buying(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.requests.clear()
    with pytest.raises(errors.CarrierMisconfigured) as info:
        live.make_carrier(sip_uri=None).acquire_number(PhoneNumber.new(number))
    assert info.value.cause == "app_id" and "sip_uri" in info.value.message
    assert live.sim.requests == [] and number not in live.sim.owned


@pytest.mark.parametrize("http_status", [200, 420])
def test_method_failed_on_buy_is_number_unavailable(live: registry.Live,
                                                    http_status: int) -> None:
    number = order_flows.buyable(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    live.sim.method_failed_status = http_status
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "method failed (error-code 420)"
    assert info.value.status == http_status and info.value.unsettled is False


def test_a_200_saying_failure_is_a_refusal_by_its_code(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    for body, kind in (('{"error-code": "429", "error-code-label": "throttled"}',
                        errors.RateLimited),
                       ('{"error-code": "401", "error-code-label": "authentication failed"}',
                        errors.CarrierCredentials),
                       ('{"error-code": "500", "error-code-label": "internal error"}',
                        errors.CarrierFault)):
        live.sim.set(fail_with={"status": 200, "body": body}, match="POST", times=1)
        with pytest.raises(kind) as info:
            live.carrier.acquire_number(PhoneNumber.new(number))
        assert info.value.unsettled is False and info.value.status == 200
    assert number not in live.sim.owned
    # a 200 without any error-code says nothing: the purchase may have happened
    live.sim.set(fail_with={"status": 200, "body": '{"count": 1}'}, match="POST", times=1)
    with pytest.raises(errors.MalformedResponse) as unreadable:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert unreadable.value.unsettled is True


def test_a_failed_routing_call_leaves_the_number_bought(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 200, "body": '{"error-code": "420", '
                                                   '"error-code-label": "method failed"}'},
                 match="POST /number/update", times=1)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    assert number in live.sim.owned and bought.carrier_data["routing_status"] == "failed"


# -- release ----------------------------------------------------------------------------------


def test_release_cancels_the_number(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    live.carrier.disconnect_number(bought)
    cancel = live.sim.received("POST")[-1]
    assert cancel.path == "/number/cancel"
    assert form(cancel) == {"country": "US", "msisdn": number[1:]}
    assert number not in live.sim.owned and live.carrier.check_numbers([number]) == {}
    lookup = live.sim.received("GET", "/account/numbers")[-1]
    assert lookup.params == {"pattern": number[1:], "search_pattern": "0", "size": "100"}
    with pytest.raises(errors.CarrierFault) as info:  # not the account's any more
        live.carrier.disconnect_number(bought)
    assert info.value.carrier_message == "method failed (error-code 420)"
    assert info.value.unsettled is False


# -- settling --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_purchase_settles_complete(live: registry.Live, how: str) -> None:
    status = order_flows.lost_purchase_settles_complete(live, how, "/number/buy")
    assert status.data["country"] == "US"
    # the lost purchase never sent its number/update: settling did, once
    routed = [r for r in live.sim.owned.values() if r.get("voiceCallbackValue") == SIP]
    assert len(routed) == 1 and len(live.sim.received("POST", "/number/update")) == 1


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
    live.sim.set(fail_with={"status": 400, "message": "missing parameter country"}, times=1)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "missing parameter country (error-code 400)"
    assert info.value.unsettled is False and type(info.value) is errors.CarrierFault
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
    assert not live.sim.received("POST", "/number/update"), "no routing without a purchase"


def test_secrets_stay_out_of_errors_and_logs(live: registry.Live,
                                             caplog: pytest.LogCaptureFixture) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 200, "body": '{"error-code": "420", '
                            f'"error-code-label": "secret {SECRET} refused"}}'})
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    text = f"{info.value.to_json()} {info.value!r} {info.value.__cause__} {caplog.text}"
    assert "refused" in text and SECRET not in text
    assert SECRET not in str(live.carrier.info())


# -- through knm.numbers, on both databases --------------------------------------------------


def test_facade_flow(db: str) -> None:
    order_flows.facade_flow("knm_vonage", "+1415")


def test_unsettled_move_and_release_are_settled(db: str) -> None:
    order_flows.unsettled_move_is_settled("knm_vonage", "+1415", "truncated", "/number/buy")
