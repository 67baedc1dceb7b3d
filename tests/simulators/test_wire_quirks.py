"""Plain-httpx checks of the carrier quirks the new simulators reproduce, and of the
framework's failure switches on them (DIDWW, Sinch, Bandwidth v2, Telnyx)."""

from __future__ import annotations

import base64
import socket
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from knm.simulators.bandwidth2 import Bandwidth2Simulator
from knm.simulators.base import Simulator
from knm.simulators.didww import DidwwSimulator
from knm.simulators.server import BackgroundServer
from knm.simulators.sinch import SinchSimulator
from knm.simulators.telnyx import TelnyxSimulator

XML_ORDER = ("<Order><CustomerOrderId>{ref}</CustomerOrderId><SiteId>1337</SiteId>"
             "<ExistingTelephoneNumberOrderType><TelephoneNumberList><TelephoneNumber>{tn}"
             "</TelephoneNumber></TelephoneNumberList></ExistingTelephoneNumberOrderType>"
             "</Order>")


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def running(sim: Simulator) -> Iterator[tuple[Any, httpx.Client]]:
    with BackgroundServer(sim.app) as server, httpx.Client(base_url=server.url,
                                                           timeout=5) as http:
        yield sim, http


@pytest.fixture
def didww() -> Iterator[tuple[DidwwSimulator, httpx.Client]]:
    yield from running(DidwwSimulator())


@pytest.fixture
def sinch() -> Iterator[tuple[SinchSimulator, httpx.Client]]:
    yield from running(SinchSimulator(voice_provisioning_ms=200))


@pytest.fixture
def bandwidth() -> Iterator[tuple[Bandwidth2Simulator, httpx.Client]]:
    yield from running(Bandwidth2Simulator())


# -- DIDWW ------------------------------------------------------------------------------------

def didww_key(sim: DidwwSimulator, version: str = "2026-04-16") -> dict[str, str]:
    return {"Api-Key": sim.credentials["api_key"], "X-DIDWW-API-Version": version,
            "Accept": "application/vnd.api+json"}


def test_didww_both_auth_modes(didww: tuple[DidwwSimulator, httpx.Client]) -> None:
    sim, http = didww
    keyed = http.get("/v3/did_groups", headers=didww_key(sim))
    assert keyed.status_code == 200
    assert keyed.headers["content-type"] == "application/vnd.api+json"
    assert keyed.json()["meta"]["api_version"] == "2026-04-16"
    # in 2026-11-19 the API key only mints tokens
    refused = http.get("/v3/did_groups", headers=didww_key(sim, "2026-11-19"))
    assert refused.status_code == 401 and refused.json()["errors"][0]["status"] == "401"
    assert http.post("/token", headers={"Api-Key": "wrong"}).status_code == 401
    token = http.post("/token", headers={"Api-Key": sim.credentials["api_key"]}).json()
    assert token["token_type"] == "Bearer" and token["expires_in"] > 0
    bearer = http.get("/v3/did_groups",
                      headers={"Authorization": f"Bearer {token['access_token']}"})
    assert bearer.status_code == 200 and bearer.json()["meta"]["api_version"] == "2026-11-19"
    with sim.lock:
        sim.tokens[token["access_token"]] = time.time() - 1
    expired = http.get("/v3/did_groups",
                       headers={"Authorization": f"Bearer {token['access_token']}"})
    assert expired.status_code == 401


def test_didww_order_is_pending_then_completed(
        didww: tuple[DidwwSimulator, httpx.Client]) -> None:
    sim, http = didww
    sim.set(order_complete_ms=150)
    headers = didww_key(sim)
    group = http.get("/v3/did_groups", params={"filter[prefix]": "212",
                                               "include": "stock_keeping_units"},
                     headers=headers).json()
    sku = group["included"][0]["id"]
    body = {"data": {"type": "orders", "attributes": {
        "external_reference_id": "knm-1", "callback_url": "https://example.invalid/cb",
        "items": [{"type": "did_order_items", "attributes": {"sku_id": sku, "qty": 2}}]}}}
    created = http.post("/v3/orders", json=body, headers=headers)
    assert created.status_code == 201
    order = created.json()["data"]
    assert order["attributes"]["status"] == "pending"
    assert order["attributes"]["callback_url"] == "https://example.invalid/cb"
    dids = http.get("/v3/dids", params={"filter[order.id]": order["id"]}, headers=headers)
    assert dids.json()["data"] == []
    time.sleep(0.2)
    status = http.get(f"/v3/orders/{order['id']}", headers=headers).json()
    assert status["data"]["attributes"]["status"] == "completed"
    dids = http.get("/v3/dids", params={"filter[order.id]": order["id"]}, headers=headers)
    numbers = [d["attributes"]["number"] for d in dids.json()["data"]]
    assert len(numbers) == 2 and all(n.startswith("1212") for n in numbers)
    by_ref = http.get("/v3/orders", params={"filter[external_reference_id]": "knm-1"},
                      headers=headers).json()
    assert [o["id"] for o in by_ref["data"]] == [order["id"]]


def test_didww_failed_order_is_canceled_and_frees_the_numbers(
        didww: tuple[DidwwSimulator, httpx.Client]) -> None:
    sim, http = didww
    sim.set(order_result="failed")
    headers = didww_key(sim)
    available = http.get("/v3/available_dids", params={"page[size]": 1},
                         headers=headers).json()["data"][0]
    body = {"data": {"type": "orders", "attributes": {"items": [{
        "type": "did_order_items", "attributes": {"available_did_id": available["id"]}}]}}}
    order = http.post("/v3/orders", json=body, headers=headers).json()["data"]
    assert order["attributes"]["status"] == "canceled"
    assert not sim.owned


def test_didww_billing_cycles_and_routing_patch(
        didww: tuple[DidwwSimulator, httpx.Client]) -> None:
    sim, http = didww
    headers = didww_key(sim)
    available = http.get("/v3/available_dids", params={"filter[number_contains]": "1415"},
                         headers=headers).json()["data"][0]
    body = {"data": {"type": "orders", "attributes": {"items": [{
        "type": "did_order_items", "attributes": {"available_did_id": available["id"]}}]}}}
    order = http.post("/v3/orders", json=body, headers=headers).json()["data"]
    did = http.get("/v3/dids", params={"filter[order.id]": order["id"]},
                   headers=headers).json()["data"][0]
    unknown = http.patch(f"/v3/dids/{did['id']}", headers=headers, json={"data": {
        "type": "dids", "id": did["id"], "relationships": {
            "voice_in_trunk": {"data": {"type": "voice_in_trunks", "id": "nope"}}}}})
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["source"]["pointer"] == \
        "/data/relationships/voice_in_trunk"
    stopped = http.patch(f"/v3/dids/{did['id']}", headers=headers, json={"data": {
        "type": "dids", "id": did["id"], "attributes": {"billing_cycles_count": 0}}})
    assert stopped.json()["data"]["attributes"]["billing_cycles_count"] == 0
    assert stopped.json()["data"]["attributes"]["terminated"] is False
    not_allowed = http.patch(f"/v3/dids/{did['id']}", headers=headers, json={"data": {
        "type": "dids", "id": did["id"], "attributes": {"number": "1"}}})
    assert not_allowed.status_code == 400


# -- Sinch ------------------------------------------------------------------------------------

def sinch_basic(sim: SinchSimulator) -> dict[str, str]:
    return {"Authorization": basic(sim.credentials["key_id"], sim.credentials["key_secret"])}


def sinch_base(sim: SinchSimulator) -> str:
    return f"/v1/projects/{sim.credentials['project_id']}"


def test_sinch_basic_and_oauth(sinch: tuple[SinchSimulator, httpx.Client]) -> None:
    sim, http = sinch
    params = {"regionCode": "US", "type": "LOCAL"}
    assert http.get(f"{sinch_base(sim)}/availableNumbers", params=params,
                    headers=sinch_basic(sim)).status_code == 200
    bad = http.get(f"{sinch_base(sim)}/availableNumbers", params=params,
                   headers={"Authorization": basic("x", "y")})
    assert bad.status_code == 401 and bad.json()["error"]["status"] == "UNAUTHENTICATED"
    token = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                      headers=sinch_basic(sim)).json()
    assert token["token_type"] == "bearer"
    ok = http.get(f"{sinch_base(sim)}/availableNumbers", params=params,
                  headers={"Authorization": f"Bearer {token['access_token']}"})
    assert ok.status_code == 200 and ok.json()["availableNumbers"]
    denied = http.post("/oauth2/token", data={"grant_type": "client_credentials"},
                       headers={"Authorization": basic("x", "y")})
    assert denied.status_code == 401 and denied.json()["error"] == "invalid_client"


def test_sinch_voice_provisioning_is_scheduled(
        sinch: tuple[SinchSimulator, httpx.Client]) -> None:
    sim, http = sinch
    number = http.get(f"{sinch_base(sim)}/availableNumbers",
                      params={"regionCode": "US", "type": "LOCAL", "size": 1},
                      headers=sinch_basic(sim)).json()["availableNumbers"][0]["phoneNumber"]
    rented = http.post(f"{sinch_base(sim)}/availableNumbers/{number}:rent",
                       json={"voiceConfiguration": {"type": "EST", "trunkId": "T1"}},
                       headers=sinch_basic(sim)).json()
    voice = rented["voiceConfiguration"]
    assert voice["scheduledVoiceProvisioning"]["status"] == "WAITING"
    assert voice["scheduledVoiceProvisioning"]["trunkId"] == "T1" and "trunkId" not in voice
    now = http.get(f"{sinch_base(sim)}/activeNumbers/{number}", headers=sinch_basic(sim))
    assert now.json()["voiceConfiguration"]["scheduledVoiceProvisioning"] is not None
    time.sleep(0.25)
    later = http.get(f"{sinch_base(sim)}/activeNumbers/{number}",
                     headers=sinch_basic(sim)).json()["voiceConfiguration"]
    assert later["trunkId"] == "T1" and later["scheduledVoiceProvisioning"] is None
    # a failed provisioning stays visible, not applied
    sim.voice_provisioning_result = "failed"
    http.patch(f"{sinch_base(sim)}/activeNumbers/{number}", headers=sinch_basic(sim),
               json={"voiceConfiguration": {"type": "EST", "trunkId": "T2"}})
    time.sleep(0.25)
    failed = http.get(f"{sinch_base(sim)}/activeNumbers/{number}",
                      headers=sinch_basic(sim)).json()["voiceConfiguration"]
    assert failed["scheduledVoiceProvisioning"]["status"] == "FAILED"
    assert failed["trunkId"] == "T1"


def test_sinch_error_bodies(sinch: tuple[SinchSimulator, httpx.Client]) -> None:
    sim, http = sinch
    missing = http.get(f"{sinch_base(sim)}/availableNumbers", params={"type": "LOCAL"},
                       headers=sinch_basic(sim)).json()["error"]
    assert (missing["code"], missing["status"]) == (400, "INVALID_ARGUMENT")
    assert missing["details"][0]["fieldViolations"][0]["field"] == "regionCode"
    gone = http.post(f"{sinch_base(sim)}/activeNumbers/+12065550100:release",
                     headers=sinch_basic(sim))
    assert gone.status_code == 404
    assert gone.json()["error"]["details"][0]["resourceName"] == "+12065550100"


# -- Bandwidth v2 -------------------------------------------------------------------------------

def bw_auth(sim: Bandwidth2Simulator) -> dict[str, str]:
    return {"Authorization": basic(sim.credentials["api_username"],
                                   sim.credentials["api_password"])}


def test_bandwidth_v2_e164_and_country(
        bandwidth: tuple[Bandwidth2Simulator, httpx.Client]) -> None:
    sim, http = bandwidth
    path = f"/api/v2/accounts/{sim.credentials['account_id']}/availableNumbers"
    no_country = http.get(path, params={"areaCode": "919"}, headers=bw_auth(sim))
    assert no_country.status_code == 400 and "countryCodeA3" in no_country.text
    us = http.get(path, params={"areaCode": "919", "countryCodeA3": "USA", "quantity": 2,
                                "enableTNDetail": "true"}, headers=bw_auth(sim))
    assert "<FullNumber>+1919" in us.text and "<CountryCodeA3>USA</CountryCodeA3>" in us.text
    gb = http.get(path, params={"areaCode": "161", "countryCodeA3": "GBR", "quantity": 2},
                  headers={**bw_auth(sim), "Accept": "application/json"})
    doc = gb.json()
    assert doc["resultCount"] == 2
    assert all(n.startswith("+44161") for n in doc["telephoneNumberList"])
    v1 = http.get(f"/api/v1/accounts/{sim.credentials['account_id']}/availableNumbers",
                  params={"areaCode": "919", "quantity": 1}, headers=bw_auth(sim))
    assert "<TelephoneNumber>919" in v1.text


def test_bandwidth_5005_failure_is_asynchronous_on_v2(
        bandwidth: tuple[Bandwidth2Simulator, httpx.Client]) -> None:
    sim, http = bandwidth
    account = sim.credentials["account_id"]
    sim.owned["+19195550100"] = {"id": "x", "order_id": "other", "number": "+19195550100"}
    post = http.post(f"/api/v2/accounts/{account}/orders", headers=bw_auth(sim),
                     content=XML_ORDER.format(ref="knm-5005", tn="+19195550100"))
    assert post.status_code == 201 and "<OrderStatus>RECEIVED</OrderStatus>" in post.text
    order_id = post.headers["location"].rsplit("/", 1)[1]
    got = http.get(f"/api/v2/accounts/{account}/orders/{order_id}", headers=bw_auth(sim))
    assert "<OrderStatus>FAILED</OrderStatus>" in got.text
    assert "<Code>5005</Code>" in got.text and "<FailedQuantity>1</FailedQuantity>" in got.text
    listed = http.get(f"/api/v2/accounts/{account}/orders",
                      params={"customerOrderId": "knm-5005"}, headers=bw_auth(sim))
    assert f"<orderId>{order_id}</orderId>" in listed.text
    assert "<OrderStatus>FAILED</OrderStatus>" in listed.text
    # v1 keeps the synchronous refusal knm's v1 carrier is built on
    sync = http.post(f"/accounts/{account}/orders", headers=bw_auth(sim),
                     content=XML_ORDER.format(ref="knm-v1", tn="9195550100"))
    assert sync.status_code == 400 and "<Code>5005</Code>" in sync.text


def test_bandwidth_backordered_and_tns(
        bandwidth: tuple[Bandwidth2Simulator, httpx.Client]) -> None:
    sim, http = bandwidth
    account = sim.credentials["account_id"]
    sim.set(order_result="backordered")
    post = http.post(f"/api/v2/accounts/{account}/orders", headers=bw_auth(sim),
                     content=XML_ORDER.format(ref="knm-bo", tn="+19195550101"))
    order_id = post.headers["location"].rsplit("/", 1)[1]
    got = http.get(f"/orders/{order_id}", headers=bw_auth(sim))
    assert "<OrderStatus>BACKORDERED</OrderStatus>" in got.text
    assert "+19195550101" not in sim.owned
    sim.reset()
    sim.foreign["+19195550102"] = "7700001"
    other = http.get("/api/v2/tns/+19195550102", headers=bw_auth(sim)).text
    assert "<Status>Inservice</Status>" in other and "<AccountId>7700001</AccountId>" in other
    post = http.post(f"/api/v2/accounts/{account}/orders", headers=bw_auth(sim),
                     content=XML_ORDER.format(ref="knm-tn", tn="+19195550103"))
    mine = http.get("/api/v2/tns/+19195550103", headers=bw_auth(sim)).text
    assert f"<AccountId>{account}</AccountId>" in mine
    sim.release("+19195550103")
    assert http.get("/tns/9195550103", headers=bw_auth(sim)).status_code == 404
    sim.report_aging = True
    assert "<Status>Aging</Status>" in http.get("/tns/9195550103", headers=bw_auth(sim)).text


def test_bandwidth_token_url_serves_v1_and_v2(
        bandwidth: tuple[Bandwidth2Simulator, httpx.Client]) -> None:
    sim, http = bandwidth
    c = sim.credentials
    token = http.post("/api/v1/oauth2/token", data={"grant_type": "client_credentials"},
                      headers={"Authorization": basic(c["client_id"], c["client_secret"])})
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    for version in ("v1", "v2"):
        found = http.get(f"/api/{version}/accounts/{c['account_id']}/availableNumbers",
                         params={"areaCode": "919", "countryCodeA3": "USA"}, headers=bearer)
        assert found.status_code == 200


# -- failure switches on every new or reworked simulator ---------------------------------------

Request = Callable[[Any, httpx.Client], httpx.Response]

CASES: dict[str, tuple[Callable[[], Simulator], Request]] = {
    "didww": (DidwwSimulator, lambda sim, http: http.get(
        "/v3/did_groups", headers=didww_key(sim))),
    "sinch": (SinchSimulator, lambda sim, http: http.get(
        f"{sinch_base(sim)}/availableNumbers", params={"regionCode": "US", "type": "LOCAL"},
        headers=sinch_basic(sim))),
    "bandwidth_v2": (Bandwidth2Simulator, lambda sim, http: http.get(
        f"/api/v2/accounts/{sim.credentials['account_id']}/availableNumbers",
        params={"areaCode": "919", "countryCodeA3": "USA"}, headers=bw_auth(sim))),
    "telnyx": (TelnyxSimulator, lambda sim, http: http.get(
        "/available_phone_numbers", params={"filter[country_code]": "US"},
        headers={"Authorization": f"Bearer {sim.credentials['api_key']}"})),
}


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Iterator[tuple[Simulator, httpx.Client, Request]]:
    make, call = CASES[request.param]
    for sim, http in running(make()):
        yield sim, http, call


def test_switch_latency(case: tuple[Simulator, httpx.Client, Request]) -> None:
    sim, http, call = case
    sim.set(latency_ms=150)
    started = time.monotonic()
    assert call(sim, http).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_switch_fail_with_is_the_carriers_error_body(
        case: tuple[Simulator, httpx.Client, Request]) -> None:
    sim, http, call = case
    sim.set(fail_with={"status": 503, "message": "down for maintenance"}, times=1)
    failed = call(sim, http)
    assert failed.status_code == 503 and "down for maintenance" in failed.text
    if "json" in sim.content_type:
        body = failed.json()
        assert "errors" in body or "error" in body
    else:
        assert failed.text.lstrip().startswith("<?xml")
    assert call(sim, http).status_code == 200, "times=1 applies once"


def test_switch_malformed_and_empty_502(case: tuple[Simulator, httpx.Client, Request]) -> None:
    sim, http, call = case
    sim.set(malformed=True, times=1)
    broken = call(sim, http)
    assert broken.status_code == 200
    assert broken.headers["content-type"].startswith(sim.content_type)
    if "json" in sim.content_type:
        with pytest.raises(ValueError):
            broken.json()
    sim.set(empty_502=True, times=1)
    empty = call(sim, http)
    assert empty.status_code == 502 and empty.content == b""


def test_a_request_whose_body_never_arrives_is_neither_recorded_nor_served() -> None:
    """A buyer killed while sending its order: the carrier saw headers and part of a body, so
    no order exists and none may be recorded (the load-kill test counts recorded orders)."""
    sim = TelnyxSimulator()
    with BackgroundServer(sim.app) as server:
        host, port = server.url.removeprefix("http://").split(":")
        order = b'{"phone_numbers": [{"phone_number": "+13125550100"}]}'
        with socket.create_connection((host, int(port)), timeout=5) as raw:
            raw.sendall(b"POST /number_orders HTTP/1.1\r\nHost: sim\r\n"
                        b"Authorization: Bearer " + sim.credentials["api_key"].encode() +
                        b"\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(order) + order[:20])
            time.sleep(0.3)
        with httpx.Client(base_url=server.url, timeout=5) as http:
            whole = http.post("/number_orders", json={"phone_numbers": []},
                              headers={"Authorization": f"Bearer {sim.credentials['api_key']}"})
        recorded = sim.received("POST", "/number_orders")
    assert whole.status_code < 500
    assert [r.body for r in recorded] == [b'{"phone_numbers":[]}'], \
        "only the whole request was recorded"
    assert not sim.owned, "the cut order bought nothing"
