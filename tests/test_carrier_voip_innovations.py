"""knm_voip_innovations against its simulator: the SOAP wire, Kazoo's cases
(kazoo-http-carriers.md §14.5, served from Kazoo's fixture files), and its own failures.
The shared failure table (statuses, empty 502, timeouts, refused connections) runs in
tests/test_conformance.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FIXTURES

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.voip_innovations import (
    SANDBOX_URL,
    SoapReply,
    VoipInnovations,
    envelope,
    get_dids_body,
    parse_search,
    search_filters,
)
from knm.record import PhoneNumber
from knm.simulators.server import BackgroundServer
from knm.simulators.voip_innovations import VoipInnovationsSimulator

LOGIN, SECRET = "vi-login", "vi-s3cret<&>"


@pytest.fixture(scope="module")
def kazoo_server() -> Iterator[tuple[VoipInnovationsSimulator, str]]:
    sim = VoipInnovationsSimulator(LOGIN, SECRET, kazoo_fixtures=FIXTURES)
    with BackgroundServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[VoipInnovationsSimulator, str]]:
    sim = VoipInnovationsSimulator(LOGIN, SECRET)
    with BackgroundServer(sim.app) as server:
        yield sim, server.url


def carrier(url: str, **overrides: Any) -> VoipInnovations:
    return VoipInnovations({"login": LOGIN, "password": SECRET, "endpoint_group": "8674",
                            "base_url": url + "/Services/APIService.asmx", "timeout_ms": 2000,
                            **overrides})


@pytest.fixture
def kazoo(kazoo_server: tuple[VoipInnovationsSimulator, str]
          ) -> Iterator[tuple[VoipInnovationsSimulator, VoipInnovations]]:
    sim, url = kazoo_server
    sim.reset()
    c = carrier(url)
    yield sim, c
    c.close()


@pytest.fixture
def live(sim_server: tuple[VoipInnovationsSimulator, str]
         ) -> Iterator[tuple[VoipInnovationsSimulator, VoipInnovations]]:
    sim, url = sim_server
    sim.reset()
    c = carrier(url)
    yield sim, c
    c.close()


def pn(number: str) -> PhoneNumber:
    return PhoneNumber.from_json({"_id": number, "pvt_module_name": "knm_voip_innovations",
                                  "pvt_state": "discovery"})


def find(c: VoipInnovations, prefix: str, quantity: int) -> list[str]:
    return [r.number for r in c.find_numbers(prefix, quantity, SearchOptions())]


# -- pure ---------------------------------------------------------------------------------------


def test_envelope_escapes_values() -> None:
    xml = envelope("getDIDs", get_dids_body(npa="435"), "me", "a<b&c")
    assert xml.startswith("<?xml version='1.0' encoding='UTF-8'?><env:Envelope")
    assert "<tns:getDIDs><tns:cnam xsi:nil='true'/><tns:lata xsi:nil='true'/>" \
           "<tns:npa>435</tns:npa><tns:nxx xsi:nil='true'/>" in xml
    assert "<tns:secret>a&lt;b&amp;c</tns:secret></tns:getDIDs>" in xml


def test_prefix_lengths() -> None:
    assert search_filters("435") == {"npa": "435"}
    assert search_filters("43520") == {"npa": "435"}  # Kazoo crashed on 4–5 digits
    assert search_filters("4352016526") == {"nxx": "435201"}
    assert search_filters("43") is None


def test_kazoo_get_response_parses() -> None:
    reply = SoapReply.parse((FIXTURES / "voip_innovations_get_response.xml").read_bytes(),
                            "getDIDs")
    results = parse_search(reply, "+1435", 500)
    assert [r.number for r in results] == ["+14352016526", "+14352016527", "+14352165994"]
    assert results[0].carrier_data == {"e164": "+14352016526", "rate_center": "RICHFIELD",
                                       "state": "UT", "cnam": True, "t38": True}
    assert results[0].locality == {"rate_center": "RICHFIELD", "region": "UT",
                                   "country": "US"}


def test_sandbox_flag_selects_the_sandbox_service() -> None:
    c = VoipInnovations({"login": "a", "password": "b", "sandbox_provisioning": "true"})
    assert c.config["base_url"] == SANDBOX_URL


# -- Kazoo's cases (§14.5) ------------------------------------------------------------------------


def test_kazoo_npa_search(kazoo: tuple[VoipInnovationsSimulator, VoipInnovations]) -> None:
    sim, c = kazoo
    assert find(c, "+1435", 2) == ["+14352016526", "+14352016527"]
    request = sim.requests[-1]
    assert request.method == "POST" and request.path == "/Services/APIService.asmx"
    assert request.headers["soapaction"] == "http://tempuri.org/getDIDs"
    assert request.headers["content-type"] == "text/xml;charset=UTF-8"
    assert "<tns:npa>435</tns:npa>" in request.text
    assert f"<tns:login>{LOGIN}</tns:login>" in request.text


def test_kazoo_tollfree_npa(kazoo: tuple[VoipInnovationsSimulator, VoipInnovations]) -> None:
    _, c = kazoo
    assert find(c, "+1877", 1) == ["+18772207304"]


def test_kazoo_acquire(kazoo: tuple[VoipInnovationsSimulator, VoipInnovations]) -> None:
    sim, c = kazoo
    record = pn("+14352154006")
    bought = c.acquire_number(record)
    assert bought.number == "+14352154006" and bought.is_dirty
    assert bought.carrier_data["endpoint_group"] == "8674"
    body = sim.requests[-1].text
    assert sim.requests[-1].headers["soapaction"] == "http://tempuri.org/assignDID"
    assert ("<tns:didParams><tns:DIDParam><tns:tn>4352154006</tns:tn><tns:epg>8674</tns:epg>"
            "</tns:DIDParam></tns:didParams>") in body


def test_kazoo_disconnect_failure(kazoo: tuple[VoipInnovationsSimulator, VoipInnovations]
                                  ) -> None:
    sim, c = kazoo
    with pytest.raises(errors.CarrierFault) as info:
        c.disconnect_number(pn("+14352154974"))
    assert info.value.to_json() == {
        "code": 500, "error": "unspecified_fault", "message": "fault by carrier",
        "cause": "+14352154974", "carrier": "knm_voip_innovations",
        "carrier_message": "Number currently available"}
    assert "<tns:tn>4352154974</tns:tn></tns:DIDParam>" in sim.requests[-1].text


# -- against the generated stock ----------------------------------------------------------------


def test_buy_check_release(live: tuple[VoipInnovationsSimulator, VoipInnovations]) -> None:
    sim, c = live
    number = find(c, "+1415", 3)[-1]
    c.acquire_number(pn(number))
    assert c.check_numbers([number, "+14155550000"]) == {number: "assigned"}
    assert sim.requests[-1].headers["soapaction"] == "http://tempuri.org/queryDID"
    c.disconnect_number(pn(number))
    assert c.check_numbers([number]) == {}


def test_secret_with_markup_is_sent_escaped_and_never_shown(
        live: tuple[VoipInnovationsSimulator, VoipInnovations]) -> None:
    sim, c = live
    assert find(c, "+1415", 1)  # the simulator read the escaped secret back correctly
    assert "<tns:secret>vi-s3cret&lt;&amp;&gt;</tns:secret>" in sim.requests[-1].text
    sim.set(fail_with={"status": 500, "message": f"secret {SECRET} refused"})
    with pytest.raises(errors.CarrierUnavailable) as info:
        find(c, "+1415", 1)
    assert SECRET not in str(info.value.to_json())
    assert "refused" in (info.value.carrier_message or "")


def test_soap_client_fault_is_not_an_outage(live: tuple[VoipInnovationsSimulator,
                                                         VoipInnovations]) -> None:
    sim, c = live
    body = ('<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
            'envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>'
            "Server was unable to read request</faultstring></soap:Fault></soap:Body>"
            "</soap:Envelope>")
    sim.set(fail_with={"status": 500, "body": body, "content_type": "text/xml"})
    with pytest.raises(errors.CarrierFault) as info:
        c.acquire_number(pn("+14155550100"))
    assert type(info.value) is errors.CarrierFault
    assert info.value.carrier_message == "Server was unable to read request"


def test_response_code_failure_and_unexpected_did_count(
        live: tuple[VoipInnovationsSimulator, VoipInnovations]) -> None:
    sim, c = live
    sim.script("POST", "/Services/APIService.asmx", (
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
        'envelope/"><soap:Body><assignDIDResponse xmlns="http://tempuri.org/"><assignDIDResult>'
        "<responseCode>100</responseCode><responseMessage>Success</responseMessage><DIDs/>"
        "</assignDIDResult></assignDIDResponse></soap:Body></soap:Envelope>"), times=1)
    with pytest.raises(errors.MalformedResponse):
        c.acquire_number(pn("+14155550100"))
    sim.script("POST", "/Services/APIService.asmx", (
        '<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/'
        'envelope/"><soap:Body><getDIDsResponse xmlns="http://tempuri.org/"><getDIDsResult>'
        "<responseCode>202</responseCode><responseMessage>Rate center unknown</responseMessage>"
        "</getDIDsResult></getDIDsResponse></soap:Body></soap:Envelope>"), times=1)
    with pytest.raises(errors.CarrierFault) as info:
        find(c, "+1415", 1)
    assert info.value.carrier_message == "Rate center unknown"
