"""knm_twilio against its simulator: what goes on the wire (Basic auth, the account path, the
AvailablePhoneNumbers lists and filters, the purchase form with its routing and reference),
Twilio's error body, releases by PN sid, settling by ownership, and the facade flow. The shared
failure table runs in tests/carriers/test_conformance.py."""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterator

import order_flows
import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.twilio import number_kind, search_request
from knm.record import PhoneNumber
from knm.simulators import registry

SID = "AC" + "5" * 32
TOKEN = "twilio-simulated-auth-token"
TRUNK = "TK" + "0" * 31 + "1"
ACCOUNT = f"/2010-04-01/Accounts/{SID}"


@pytest.fixture(scope="module")
def running() -> Iterator[registry.Live]:
    with registry.running("twilio") as live:
        yield live


@pytest.fixture
def live(running: registry.Live) -> Iterator[registry.Live]:
    running.sim.reset()
    yield running
    running.sim.reset()


def search(live: registry.Live, prefix: str, quantity: int = 5, **kw: object) -> list:
    extra = kw.pop("extra", {})
    return live.carrier.find_numbers(prefix, quantity, SearchOptions(extra=extra, **kw))


# -- pure ---------------------------------------------------------------------------------------


def test_which_list_and_which_filters() -> None:
    assert search_request("+1415", 5, SearchOptions()) == (
        "US", "Local", {"PageSize": "5", "AreaCode": "415"})
    assert search_request("+1415886", 5, SearchOptions())[2] == {
        "PageSize": "5", "AreaCode": "415", "Contains": "+1415886"}
    assert search_request("+1888", 2, SearchOptions())[:2] == ("US", "TollFree")
    assert search_request("+1416", 2, SearchOptions(country="CA"))[0] == "CA"
    assert search_request("+447700", 2, SearchOptions())[:2] == ("GB", "Mobile")
    assert search_request("+4420", 2, SearchOptions()) == (
        "GB", "Local", {"PageSize": "2", "Contains": "+4420"})
    assert search_request("+9", 2, SearchOptions()) is None
    assert number_kind("+1415", SearchOptions(extra={"tollfree": True})) == "TollFree"
    assert search_request("+1415", 5000, SearchOptions())[2]["PageSize"] == "1000"
    filters = search_request("+1512", 3, SearchOptions(extra={
        "sms": True, "fax": True, "region": "TX", "locality": "Austin", "postal_code": "78701",
        "rate_center": "AUSTIN", "lata": "558", "contains": "55*"}))[2]
    assert filters == {"PageSize": "3", "AreaCode": "512", "Contains": "55*",
                       "SmsEnabled": "true", "FaxEnabled": "true", "InRegion": "TX",
                       "InLocality": "Austin", "InPostalCode": "78701",
                       "InRateCenter": "AUSTIN", "InLata": "558"}


# -- search on the wire ----------------------------------------------------------------------


def test_local_search_wire_and_locality(live: registry.Live) -> None:
    found = search(live, "+1415")
    assert len(found) == 5 and all(r.number.startswith("+1415") for r in found)
    sent = live.sim.received("GET")[-1]
    assert sent.path == f"{ACCOUNT}/AvailablePhoneNumbers/US/Local.json"
    assert sent.params == {"AreaCode": "415", "PageSize": "5"}
    token = base64.b64encode(f"{SID}:{TOKEN}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {token}"
    assert found[0].locality == {"city": "San Francisco", "region": "CA", "country": "US",
                                 "rate_center": found[0].locality["rate_center"]}
    assert found[0].carrier_data["kind"] == "Local" and found[0].state == "discovery"
    assert search(live, "+1415") == found  # deterministic stock


def test_npanxx_tollfree_and_canada(live: registry.Live) -> None:
    assert all(r.number.startswith("+1415555") for r in search(live, "+1415555", 3))
    assert live.sim.received("GET")[-1].params["Contains"] == "+1415555"
    tollfree = search(live, "+1888", 3)
    assert len(tollfree) == 3 and all(r.number.startswith("+1888") for r in tollfree)
    assert live.sim.received("GET")[-1].path.endswith("/AvailablePhoneNumbers/US/TollFree.json")
    canada = search(live, "+1416", 2, country="CA")
    assert canada and live.sim.received("GET")[-1].path.endswith("/CA/Local.json")


def test_international_local_and_mobile(live: registry.Live) -> None:
    london = search(live, "+4420", 3, country="GB")
    assert len(london) == 3 and all(r.number.startswith("+4420") for r in london)
    assert live.sim.received("GET")[-1].path.endswith("/AvailablePhoneNumbers/GB/Local.json")
    assert london[0].carrier_data["address_requirements"] == "any"
    mobile = search(live, "+447700", 2)
    assert len(mobile) == 2 and all(r.number.startswith("+447700") for r in mobile)
    assert live.sim.received("GET")[-1].path.endswith("/GB/Mobile.json")
    # Twilio has no US mobile list: its 404 is the carrier's word, not an empty answer
    with pytest.raises(errors.CarrierNotFound) as info:
        search(live, "+1415", 2, extra={"mobile": True})
    assert info.value.carrier_message.startswith("20404: ")


def test_capability_and_locality_filters(live: registry.Live) -> None:
    found = search(live, "+1512", 3, extra={"voice": True, "region": "TX",
                                            "locality": "Austin"})
    assert len(found) == 3 and {r.locality["region"] for r in found} == {"TX"}
    sent = live.sim.received("GET")[-1].params
    assert (sent["VoiceEnabled"], sent["InRegion"], sent["InLocality"]) == (
        "true", "TX", "Austin")
    assert search(live, "+1512", 3, extra={"region": "CA"}) == []
    # toll-free numbers here have no MMS: the filter reaches Twilio and it answers none
    assert search(live, "+1888", 3, extra={"mms": True}) == []
    with pytest.raises(errors.CarrierFault) as info:  # InRateCenter needs InLata
        search(live, "+1512", 3, extra={"rate_center": "AUSTIN"})
    assert info.value.carrier_message.startswith("21606: ")


# -- purchase and routing ---------------------------------------------------------------------


def test_purchase_routes_to_the_trunk_and_carries_the_reference(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    pn = order_flows.unsettled_purchase(number, "knm-" + "c" * 32)
    bought = live.carrier.acquire_number(pn)
    sent = live.sim.received("POST")[-1]
    assert sent.path == f"{ACCOUNT}/IncomingPhoneNumbers.json"
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert sent.params == {} and dict(_form(sent.text)) == {
        "PhoneNumber": number, "FriendlyName": "knm-" + "c" * 32, "TrunkSid": TRUNK}
    owned = live.sim.owned[number]
    assert owned["trunk_sid"] == TRUNK and owned["friendly_name"] == "knm-" + "c" * 32
    assert bought.carrier_data["twilio_sid"] == owned["id"]
    assert bought.carrier_data["trunk_sid"] == TRUNK
    assert bought.carrier_data["routing_status"] == "routed"
    assert number in live.carrier.check_numbers([number, "+14155550000"])


def test_purchase_by_voice_url_with_address_and_bundle(live: registry.Live) -> None:
    carrier = live.make_carrier(trunk_sid=None, voice_url="https://pbx.example.com/twiml",
                                voice_method="GET", address_sid="AD" + "1" * 32,
                                bundle_sid="BU" + "2" * 32)
    number = order_flows.buyable(live, "+1303")
    bought = carrier.acquire_number(PhoneNumber.new(number))
    form = dict(_form(live.sim.received("POST")[-1].text))
    assert form["VoiceUrl"] == "https://pbx.example.com/twiml" and form["VoiceMethod"] == "GET"
    assert "TrunkSid" not in form
    assert (form["AddressSid"], form["BundleSid"]) == ("AD" + "1" * 32, "BU" + "2" * 32)
    assert form["FriendlyName"] == bought.carrier_data["order_reference"]
    assert live.sim.owned[number]["voice_url"] == "https://pbx.example.com/twiml"


def test_missing_routing_is_misconfigured_before_buying(live: registry.Live) -> None:
    carrier = live.make_carrier(trunk_sid=None)
    number = order_flows.buyable(live)
    live.sim.requests.clear()
    with pytest.raises(errors.CarrierMisconfigured) as info:
        carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.cause == "trunk_sid" and "voice_url" in info.value.message
    assert live.sim.requests == [] and number not in live.sim.owned
    assert carrier.find_numbers("+1415", 1, SearchOptions()), "searching needs no routing"


def test_a_taken_number_is_unavailable_with_twilios_code(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == f"21422: The phone number {number} is not available."
    assert info.value.status == 400 and info.value.unsettled is False


# -- release, check ------------------------------------------------------------------------


def test_release_deletes_the_pn_sid_found_by_number(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    sid = live.sim.owned[number]["id"]
    live.carrier.disconnect_number(bought)
    lookup = live.sim.received("GET", "/IncomingPhoneNumbers.json")[-1]
    assert lookup.params == {"PhoneNumber": number, "PageSize": "50"}
    assert live.sim.received("DELETE")[-1].path == f"{ACCOUNT}/IncomingPhoneNumbers/{sid}.json"
    assert number not in live.sim.owned
    assert live.carrier.check_numbers([number]) == {}
    with pytest.raises(errors.CarrierNotFound):
        live.carrier.disconnect_number(bought)


# -- settling --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_purchase_settles_complete(live: registry.Live, how: str) -> None:
    status = order_flows.lost_purchase_settles_complete(live, how)
    assert status.data["twilio_sid"].startswith("PN")
    assert status.data["friendly_name"] == "knm-" + "a" * 32
    # routed in the purchase itself: settling changes nothing
    assert not live.sim.received("POST", "/IncomingPhoneNumbers/PN")


def test_settling_routes_a_held_number_routed_elsewhere(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    elsewhere = live.make_carrier(trunk_sid=None, voice_url="https://old.example.com/twiml")
    elsewhere.acquire_number(PhoneNumber.new(number))
    status = live.carrier.settle(order_flows.unsettled_purchase(number))
    assert (status.state, status.data["routing_status"]) == ("complete", "routed")
    update = live.sim.received("POST", "/IncomingPhoneNumbers/PN")[-1]
    assert dict(_form(update.text)) == {"TrunkSid": TRUNK}
    assert live.sim.owned[number]["trunk_sid"] == TRUNK
    unrouted = live.make_carrier(trunk_sid=None)
    assert unrouted.settle(order_flows.unsettled_purchase(number)).data[
        "routing_status"] == "unknown"


def test_refused_purchase_settles_failed(live: registry.Live) -> None:
    order_flows.refused_purchase_settles_failed(live)


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_release_settles_complete(live: registry.Live, how: str) -> None:
    order_flows.lost_release_settles_complete(live, how)


def test_refused_release_settles_failed(live: registry.Live) -> None:
    order_flows.refused_release_settles_failed(live)


# -- failures of a purchase -----------------------------------------------------------------


def test_purchase_failure_bodies(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 400, "message": "AddressSid is required"}, times=1)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "20001: AddressSid is required"
    assert info.value.unsettled is False
    live.sim.set(fail_with={"status": 500, "body": "<html>oops", "content_type": "text/html"},
                 times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True and info.value.carrier_message == "<html>oops"
    live.sim.set(empty_502=True, times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    assert len(live.sim.received("POST")) == 3, "each purchase was sent once"


def test_purchase_timeout_and_malformed_answer_are_unsettled(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.set(hang=True, hang_s=3, times=1)
    with pytest.raises(errors.CarrierTimeout) as info:
        live.make_carrier(timeout_ms=300).acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    live.sim.script("POST", f"{ACCOUNT}/IncomingPhoneNumbers.json", '{"sid": null}',
                    status=201, times=1)
    with pytest.raises(errors.MalformedResponse) as malformed:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert malformed.value.unsettled is True


def test_secrets_stay_out_of_errors_and_logs(live: registry.Live,
                                             caplog: pytest.LogCaptureFixture) -> None:
    number = order_flows.buyable(live)
    live.sim.set(fail_with={"status": 400, "message": f"bad token {TOKEN}"})
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    text = f"{info.value.to_json()} {info.value!r} {info.value.__cause__} {caplog.text}"
    assert "bad token" in text and TOKEN not in text
    assert base64.b64encode(f"{SID}:{TOKEN}".encode()).decode() not in text
    assert TOKEN not in str(live.carrier.info())


# -- through knm.numbers, on both databases --------------------------------------------------


def test_facade_flow(db: str) -> None:
    order_flows.facade_flow("knm_twilio", "+1415")


def test_unsettled_move_and_release_are_settled(db: str) -> None:
    order_flows.unsettled_move_is_settled("knm_twilio", "+1415", "empty_502")


def _form(text: str) -> list[tuple[str, str]]:
    from urllib.parse import parse_qsl

    return parse_qsl(text, keep_blank_values=True)
