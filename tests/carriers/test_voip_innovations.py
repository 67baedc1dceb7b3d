"""knm_voip_innovations against its simulator: the SOAP wire (escaped envelope, `getDIDs` by
`npa`, `npa` + `nxx` and toll-free `state=TF`; `assignDID` with `tn`, `endpointId`, `refId`
and the older WSDL's `epg`), Kazoo's cases (kazoo-http-carriers.md §14.5, served from Kazoo's
fixture files), no sandbox URL, `check` by `queryDID` or `auditDIDs`, settling by `queryDID`,
its own failures and the facade flow. The shared failure table runs in
tests/carriers/test_conformance.py."""

from __future__ import annotations

from collections.abc import Iterator

import order_flows
import pytest
from conftest import FIXTURES

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.voip_innovations import (
    PRODUCTION_URL,
    SoapReply,
    VoipInnovations,
    did_params_body,
    envelope,
    get_dids_body,
    parse_search,
    search_filters,
)
from knm.record import PhoneNumber
from knm.simulators import registry

SERVICE = "/Services/APIService.asmx"
ENDPOINT = "8674"
REFERENCE = "knm-" + "a" * 32


@pytest.fixture(scope="module")
def running() -> Iterator[registry.Live]:
    with registry.running("voip_innovations") as live:
        yield live


@pytest.fixture
def live(running: registry.Live) -> Iterator[registry.Live]:
    running.sim.reset()
    yield running
    running.sim.reset()


@pytest.fixture
def kazoo(live: registry.Live) -> Iterator[registry.Live]:
    """The simulator answering with Kazoo's fixture files, as Kazoo's TEST build did."""
    live.sim.kazoo_fixtures = FIXTURES
    yield live
    live.sim.kazoo_fixtures = None


def find(live: registry.Live, prefix: str, quantity: int = 5) -> list[str]:
    return [r.number for r in live.carrier.find_numbers(prefix, quantity, SearchOptions())]


def action(request) -> str:
    return request.headers.get("soapaction", "").rsplit("/", 1)[-1]


def sent(live: registry.Live, name: str) -> list:
    """The requests of SOAP action `name` the simulator received."""
    return [r for r in live.sim.received("POST") if action(r) == name]


def assignments(live: registry.Live) -> int:
    return len(sent(live, "assignDID"))


# -- pure ---------------------------------------------------------------------------------------


def test_envelope_escapes_values() -> None:
    xml = envelope("getDIDs", get_dids_body(npa="435"), "me", "a<b&c")
    assert xml.startswith("<?xml version='1.0' encoding='UTF-8'?><env:Envelope")
    assert "<tns:getDIDs><tns:cnam xsi:nil='true'/><tns:lata xsi:nil='true'/>" \
           "<tns:npa>435</tns:npa><tns:nxx xsi:nil='true'/>" in xml
    assert "<tns:secret>a&lt;b&amp;c</tns:secret></tns:getDIDs>" in xml


def test_search_criteria() -> None:
    assert search_filters("435") == {"npa": "435"}
    assert search_filters("43520") == {"npa": "435"}  # Kazoo crashed on 4–5 digits
    # the wiki's separate criteria (Kazoo sent `nxx=435201`)
    assert search_filters("4352016526") == {"npa": "435", "nxx": "201"}
    # toll-free numbers are browsed by state TF (Kazoo sent `npa=877`)
    assert search_filters("877") == search_filters("8772207") == {"state": "TF"}
    assert search_filters("43") is None
    body = get_dids_body(**search_filters("8002"))
    assert "<tns:npa xsi:nil='true'/>" in body and "<tns:state>TF</tns:state>" in body


def test_did_params() -> None:
    assert did_params_body(["+14352154006"], ENDPOINT, REFERENCE) == (
        "<tns:didParams><tns:DIDParam><tns:tn>4352154006</tns:tn>"
        f"<tns:endpointId>{ENDPOINT}</tns:endpointId><tns:refId>{REFERENCE}</tns:refId>"
        f"<tns:epg>{ENDPOINT}</tns:epg></tns:DIDParam></tns:didParams>")
    assert did_params_body(["+14352154006"]) == (
        "<tns:didParams><tns:DIDParam><tns:tn>4352154006</tns:tn></tns:DIDParam>"
        "</tns:didParams>")


def test_kazoo_get_response_parses() -> None:
    reply = SoapReply.parse((FIXTURES / "voip_innovations_get_response.xml").read_bytes(),
                            "getDIDs")
    results = parse_search(reply, "+1435", 500)
    assert [r.number for r in results] == ["+14352016526", "+14352016527", "+14352165994"]
    assert results[0].carrier_data == {"e164": "+14352016526", "rate_center": "RICHFIELD",
                                       "state": "UT", "cnam": True, "t38": True}
    assert results[0].locality == {"rate_center": "RICHFIELD", "region": "UT",
                                   "country": "US"}


def test_sandbox_provisioning_never_changes_the_service_url() -> None:
    # VI's sandbox is deprecated: the flag only pretends purchases succeed (SPEC §12)
    c = VoipInnovations({"login": "a", "password": "b", "sandbox_provisioning": "true"})
    assert c.config["base_url"] == PRODUCTION_URL
    assert c.config["base_url"].startswith("https://")
    off = VoipInnovations({"login": "a", "password": "b", "enable_provisioning": False,
                           "sandbox_provisioning": True})
    assert off.acquire_number(PhoneNumber.new("+14352154006")).carrier_data == {}


# -- Kazoo's cases (§14.5), from Kazoo's fixture files ---------------------------------------


def test_kazoo_npa_search(kazoo: registry.Live) -> None:
    assert find(kazoo, "+1435", 2) == ["+14352016526", "+14352016527"]
    request = kazoo.sim.requests[-1]
    assert request.method == "POST" and request.path == SERVICE
    assert request.headers["soapaction"] == "http://tempuri.org/getDIDs"
    assert request.headers["content-type"] == "text/xml;charset=UTF-8"
    assert "<tns:npa>435</tns:npa>" in request.text
    assert f"<tns:login>{kazoo.config['login']}</tns:login>" in request.text


def test_kazoo_tollfree(kazoo: registry.Live) -> None:
    assert find(kazoo, "+1877", 1) == ["+18772207304"]
    # the wire changed from Kazoo's `npa=877` to the wiki's `state=TF`
    text = kazoo.sim.requests[-1].text
    assert "<tns:state>TF</tns:state>" in text and "<tns:npa xsi:nil='true'/>" in text


def test_kazoo_acquire(kazoo: registry.Live) -> None:
    record = order_flows.unsettled_purchase("+14352154006", REFERENCE)
    bought = kazoo.carrier.acquire_number(record)
    assert bought.number == "+14352154006" and bought.is_dirty
    assert bought.carrier_data["endpoint_group"] == ENDPOINT
    assert bought.carrier_data["routing_status"] == "routed"
    assert bought.carrier_data["status"].startswith("Assigned to endpoint '8674'")
    request = kazoo.sim.requests[-1]
    assert request.headers["soapaction"] == "http://tempuri.org/assignDID"
    # the wire changed from Kazoo's `<tns:epg>` alone to the wiki's `endpointId` (epg last)
    assert (f"<tns:didParams><tns:DIDParam><tns:tn>4352154006</tns:tn>"
            f"<tns:endpointId>8674</tns:endpointId><tns:refId>{REFERENCE}</tns:refId>"
            "<tns:epg>8674</tns:epg></tns:DIDParam></tns:didParams>") in request.text


def test_kazoo_disconnect_failure(kazoo: registry.Live) -> None:
    with pytest.raises(errors.CarrierFault) as info:
        kazoo.carrier.disconnect_number(PhoneNumber.new("+14352154974"))
    assert info.value.to_json() == {
        "code": 500, "error": "unspecified_fault", "message": "fault by carrier",
        "cause": "+14352154974", "carrier": "knm_voip_innovations",
        "carrier_message": "Number currently available"}
    assert "<tns:tn>4352154974</tns:tn></tns:DIDParam>" in kazoo.sim.requests[-1].text


# -- search against the generated stock ------------------------------------------------------


def test_npanxx_and_tollfree_searches(live: registry.Live) -> None:
    assert all(n.startswith("+1435201") for n in find(live, "+1435201", 3))
    text = live.sim.requests[-1].text
    assert "<tns:npa>435</tns:npa><tns:nxx>201</tns:nxx>" in text
    tollfree = find(live, "+1877", 3)
    assert len(tollfree) == 3 and all(n.startswith("+1877") for n in tollfree)
    assert "<tns:state>TF</tns:state>" in live.sim.requests[-1].text
    assert all(n.startswith("+18882") for n in find(live, "+18882", 3))


def test_the_simulator_browses_tollfree_only_by_state(live: registry.Live) -> None:
    reply = live.carrier.soap("getDIDs", get_dids_body(npa="877"), idempotent=True)
    assert reply.locators() == []
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.soap("getDIDs", get_dids_body(nxx="435201"), idempotent=True)
    assert "At least one search criteria" in (info.value.carrier_message or "")


# -- purchase ---------------------------------------------------------------------------------


def test_buy_check_release(live: registry.Live) -> None:
    number = find(live, "+1415", 3)[-1]
    pn = order_flows.unsettled_purchase(number, REFERENCE)
    live.carrier.acquire_number(pn)
    assert live.sim.owned[number] == {"number": number, "endpoint": ENDPOINT,
                                      "ref_id": REFERENCE}
    assert live.carrier.check_numbers([number, "+14155550000"]) == {number: "assigned"}
    assert action(live.sim.requests[-1]) == "queryDID"
    live.carrier.disconnect_number(pn)
    assert live.carrier.check_numbers([number]) == {}


def test_a_reference_is_sent_for_a_third_party_caller_too(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    reference = bought.carrier_data["order_reference"]
    assert reference.startswith("knm-") and live.sim.owned[number]["ref_id"] == reference


def test_an_endpoint_group_is_needed_to_buy(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.requests.clear()
    for value, problem in ((None, "is required"), ("EPG-1", "numeric id")):
        with pytest.raises(errors.CarrierMisconfigured) as info:
            live.make_carrier(endpoint_group=value).acquire_number(PhoneNumber.new(number))
        assert info.value.cause == "endpoint_group" and problem in info.value.message
    assert live.sim.requests == [] and number not in live.sim.owned
    assert find(live, "+1415", 1), "searching needs no endpoint group"


def test_the_simulator_wants_an_endpoint(live: registry.Live) -> None:
    """What the simulator accepts: `endpointId` (the wiki), else `epg` (the 2017 WSDL); a
    DIDParam with neither is refused per DID."""
    a, b, c = find(live, "+1415", 3)
    for number, params in ((a, "<tns:endpointId>11</tns:endpointId>"),
                           (b, "<tns:epg>12</tns:epg>"), (c, "")):
        body = f"<tns:didParams><tns:DIDParam><tns:tn>{number[2:]}</tns:tn>{params}" \
               "</tns:DIDParam></tns:didParams>"
        reply = live.carrier.soap("assignDID", body)
        [did] = reply.dids()
        if params:
            assert did["statusCode"] == "100" and live.sim.owned[number]["endpoint"] in (
                "11", "12")
        else:
            assert (did["statusCode"], did["status"]) == ("106232", "endpointId is required")
            assert number not in live.sim.owned


def test_a_taken_number_is_unavailable(live: registry.Live) -> None:
    number = order_flows.buyable(live)
    live.sim.taken.add(number)
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier_message == "Number not available"
    assert info.value.unsettled is False


# -- check --------------------------------------------------------------------------------------


def test_many_numbers_are_checked_with_one_audit(live: registry.Live) -> None:
    mine = find(live, "+1415", 3)
    for number in mine:
        live.carrier.acquire_number(order_flows.unsettled_purchase(number, REFERENCE))
    others = [f"+1415555{n:04d}" for n in range(10)]
    live.sim.requests.clear()
    assert live.carrier.check_numbers(others + mine) == {n: "assigned" for n in mine}
    assert [action(r) for r in live.sim.requests] == ["auditDIDs"]
    audit = live.carrier.soap("auditDIDs", "", idempotent=True)
    assert {d["tn"]: (d["refId"], d["endpointId"]) for d in audit.dids()} == {
        n[2:]: (REFERENCE, ENDPOINT) for n in mine}


# -- settling --------------------------------------------------------------------------------


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_purchase_settles_complete(live: registry.Live, how: str) -> None:
    status = order_flows.lost_purchase_settles_complete(live, how, count=assignments)
    # what VI keeps with the DID comes back: knm's reference and the endpoint
    assert status.data["ref_id"] == "knm-" + "a" * 32
    assert status.data["endpoint_id"] == ENDPOINT
    assert [action(r) for r in live.sim.requests][-2:] == ["queryDID", "queryDID"]


def test_a_number_on_another_endpoint_settles_with_its_routing_unknown(live: registry.Live
                                                                     ) -> None:
    number = order_flows.buyable(live)
    live.make_carrier(endpoint_group="9999").acquire_number(PhoneNumber.new(number))
    status = live.carrier.settle(order_flows.unsettled_purchase(number))
    assert (status.state, status.data["routing_status"]) == ("complete", "unknown")
    assert status.data["endpoint_id"] == "9999"


def test_refused_purchase_settles_failed(live: registry.Live) -> None:
    order_flows.refused_purchase_settles_failed(live)


@pytest.mark.parametrize("how", order_flows.AMBIGUOUS)
def test_lost_release_settles_complete(live: registry.Live, how: str) -> None:
    order_flows.lost_release_settles_complete(live, how)


def test_refused_release_settles_failed(live: registry.Live) -> None:
    order_flows.refused_release_settles_failed(live)


# -- failures ---------------------------------------------------------------------------------


def test_secret_with_markup_is_sent_escaped_and_never_shown(live: registry.Live) -> None:
    secret = "vi-s3cret<&>"
    live.sim.credentials["secret"] = secret
    try:
        carrier = live.make_carrier(password=secret)
        assert carrier.find_numbers("+1415", 1, SearchOptions())  # read back correctly
        assert "<tns:secret>vi-s3cret&lt;&amp;&gt;</tns:secret>" in live.sim.requests[-1].text
        live.sim.set(fail_with={"status": 500, "message": f"secret {secret} refused"})
        with pytest.raises(errors.CarrierUnavailable) as info:
            carrier.find_numbers("+1415", 1, SearchOptions())
    finally:
        live.sim.credentials["secret"] = "sim-secret"
    assert secret not in str(info.value.to_json())
    assert "refused" in (info.value.carrier_message or "")


def test_soap_client_fault_is_not_an_outage(live: registry.Live) -> None:
    body = ('<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            'envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>'
            "Server was unable to read request</faultstring></soap:Fault></soap:Body>"
            "</soap:Envelope>")
    live.sim.set(fail_with={"status": 500, "body": body, "content_type": "text/xml"})
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new("+14155550100"))
    assert type(info.value) is errors.CarrierFault and info.value.unsettled is False
    assert info.value.carrier_message == "Server was unable to read request"


def test_response_code_failure_and_unexpected_did_count(live: registry.Live) -> None:
    live.sim.script("POST", SERVICE, (
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
        'envelope/"><soap:Body><assignDIDResponse xmlns="http://tempuri.org/"><assignDIDResult>'
        "<responseCode>100</responseCode><responseMessage>Success</responseMessage><DIDs/>"
        "</assignDIDResult></assignDIDResponse></soap:Body></soap:Envelope>"), times=1)
    with pytest.raises(errors.MalformedResponse):
        live.carrier.acquire_number(PhoneNumber.new("+14155550100"))
    live.sim.script("POST", SERVICE, (
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
        'envelope/"><soap:Body><getDIDsResponse xmlns="http://tempuri.org/"><getDIDsResult>'
        "<responseCode>202</responseCode><responseMessage>Rate center unknown</responseMessage>"
        "</getDIDsResult></getDIDsResponse></soap:Body></soap:Envelope>"), times=1)
    with pytest.raises(errors.CarrierFault) as info:
        find(live, "+1415", 1)
    assert info.value.carrier_message == "Rate center unknown"


# -- through knm.numbers, on both databases --------------------------------------------------


def test_facade_flow(db: str) -> None:
    order_flows.facade_flow("knm_voip_innovations", "+1435")


def test_unsettled_move_and_release_are_settled(db: str) -> None:
    order_flows.unsettled_move_is_settled("knm_voip_innovations", "+1435", count=assignments)
