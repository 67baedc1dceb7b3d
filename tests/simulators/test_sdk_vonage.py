"""The official `vonage` SDK (`vonage-numbers`), unchanged, against the Vonage simulator.

The SDK always calls `https://{rest_host}{path}`, so the simulator is served over TLS with a
throw-away certificate authority (`trustme`) and the SDK gets its documented
`HttpClientOptions(rest_host="127.0.0.1:<port>")`; requests trusts the test CA through the
standard `REQUESTS_CA_BUNDLE` variable.

The Python SDK (vonage 4.x) has no module for the Address and Emergency Calling APIs (the .NET
SDK has: `Vonage.Voice.Emergency`); their test drives the simulator with the SDK's own HTTP
client (`vonage.http_client`, `api_host`, Basic auth, JSON), as an SDK module for them would.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from vonage import Auth, HttpClientOptions, Vonage
from vonage_http_client.errors import AuthenticationError, HttpRequestError, NotFoundError
from vonage_numbers import (
    ListOwnedNumbersFilter,
    NumberParams,
    NumbersError,
    SearchAvailableNumbersFilter,
    UpdateNumberParams,
)

from knm.simulators.server import BackgroundServer
from knm.simulators.vonage import VonageSimulator

APP_ID = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    for i, pem in enumerate(cert.cert_chain_pems):
        pem.write_to_path(str(folder / "cert.pem"), append=i > 0)
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    return {name: str(folder / f"{name}.pem") for name in ("key", "cert", "ca")}


@pytest.fixture(scope="module")
def served(tls: dict[str, str]) -> Iterator[tuple[VonageSimulator, BackgroundServer]]:
    sim = VonageSimulator()
    with BackgroundServer(sim.app, ssl_certfile=tls["cert"], ssl_keyfile=tls["key"]) as server:
        yield sim, server


@pytest.fixture
def sim(served: tuple[VonageSimulator, BackgroundServer], tls: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> Iterator[VonageSimulator]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", tls["ca"])
    served[0].reset()
    yield served[0]


def _vonage(served: tuple[VonageSimulator, BackgroundServer], secret: str) -> Vonage:
    sim, server = served
    host = server.url.removeprefix("https://")
    return Vonage(Auth(api_key=sim.credentials["api_key"], api_secret=secret),
                  HttpClientOptions(rest_host=host, api_host=host))


@pytest.fixture
def vonage(sim: VonageSimulator, served: tuple[VonageSimulator, BackgroundServer]) -> Vonage:
    return _vonage(served, sim.credentials["api_secret"])


def test_search_by_pattern_type_and_features(vonage: Vonage, sim: VonageSimulator) -> None:
    numbers, count, next_page = vonage.numbers.search_available_numbers(
        SearchAvailableNumbersFilter(country="GB", size=3, pattern="4420", search_pattern=0))
    assert len(numbers) == 3 and all(n.msisdn.startswith("4420") for n in numbers)
    assert count > 3 and next_page == 2
    assert numbers[0].type == "landline" and numbers[0].country == "GB"
    sent = sim.received("GET", "/number/search")[-1]
    assert sent.params == {"country": "GB", "size": "3", "pattern": "4420",
                           "search_pattern": "0"}
    assert sent.headers["authorization"].startswith("Basic ")

    mobiles, _, _ = vonage.numbers.search_available_numbers(SearchAvailableNumbersFilter(
        country="GB", type="mobile-lvn", features="SMS,VOICE", size=5))
    assert len(mobiles) == 5 and all(n.msisdn.startswith("447") for n in mobiles)
    assert all(set(n.features) == {"SMS", "VOICE"} for n in mobiles)
    us, _, _ = vonage.numbers.search_available_numbers(SearchAvailableNumbersFilter(
        country="US", pattern="1415", search_pattern=0, size=4))
    assert len(us) == 4 and all(n.msisdn.startswith("1415") for n in us)
    tail = us[0].msisdn[-5:]
    ends, _, _ = vonage.numbers.search_available_numbers(SearchAvailableNumbersFilter(
        country="US", pattern=tail, search_pattern=2, size=100))
    assert us[0].msisdn in {n.msisdn for n in ends}
    none, count, _ = vonage.numbers.search_available_numbers(SearchAvailableNumbersFilter(
        country="US", type="landline", size=5))
    assert none == [] and count == 0


def test_buy_route_list_cancel(vonage: Vonage, sim: VonageSimulator) -> None:
    numbers, _, _ = vonage.numbers.search_available_numbers(
        SearchAvailableNumbersFilter(country="GB", pattern="44161", search_pattern=0, size=1))
    msisdn = numbers[0].msisdn
    status = vonage.numbers.buy_number(NumberParams(country="GB", msisdn=msisdn))
    assert status.error_code == "200" and status.error_code_label == "success"
    assert sim.owned["+" + msisdn]["type"] == "landline"
    assert sim.received("POST", "/number/buy")[-1].text == f"country=GB&msisdn={msisdn}"

    vonage.numbers.update_number(UpdateNumberParams(
        country="GB", msisdn=msisdn, app_id=APP_ID, voice_callback_type="sip",
        voice_callback_value="sip:pbx@example.com"))
    assert sim.owned["+" + msisdn]["app_id"] == APP_ID
    assert sim.owned["+" + msisdn]["voiceCallbackValue"] == "sip:pbx@example.com"

    # settle: look the number up by pattern
    owned, count, _ = vonage.numbers.list_owned_numbers(
        ListOwnedNumbersFilter(pattern=msisdn, search_pattern=0))
    assert count == 1 and owned[0].msisdn == msisdn
    assert owned[0].voice_callback_type == "sip" and owned[0].app_id == APP_ID
    with_app, _, _ = vonage.numbers.list_owned_numbers(
        ListOwnedNumbersFilter(application_id=APP_ID))
    assert [n.msisdn for n in with_app] == [msisdn]

    assert vonage.numbers.cancel_number(
        NumberParams(country="GB", msisdn=msisdn)).error_code == "200"
    assert "+" + msisdn not in sim.owned
    assert vonage.numbers.list_owned_numbers(
        ListOwnedNumbersFilter(pattern=msisdn, search_pattern=0)) == ([], 0, None)
    with pytest.raises(NumbersError, match="420 method failed"):
        vonage.numbers.cancel_number(NumberParams(country="GB", msisdn=msisdn))


def test_buying_an_owned_number_fails_inside_a_200(vonage: Vonage,
                                                   sim: VonageSimulator) -> None:
    numbers, _, _ = vonage.numbers.search_available_numbers(
        SearchAvailableNumbersFilter(country="US", pattern="1512", search_pattern=0, size=1))
    params = NumberParams(country="US", msisdn=numbers[0].msisdn)
    vonage.numbers.buy_number(params)
    with pytest.raises(NumbersError, match="420 method failed"):
        vonage.numbers.buy_number(params)
    assert vonage.http_client.last_response.status_code == 200


def test_wrong_credentials_raise_authentication_error(
        sim: VonageSimulator, served: tuple[VonageSimulator, BackgroundServer]) -> None:
    wrong = _vonage(served, "not-the-secret")
    with pytest.raises(AuthenticationError) as info:
        wrong.numbers.buy_number(NumberParams(country="GB", msisdn="442079460000"))
    assert info.value.response.status_code == 401
    assert info.value.response.json() == {"error-code": "401",
                                          "error-code-label": "authentication failed"}
    with pytest.raises(AuthenticationError):
        wrong.numbers.search_available_numbers(SearchAvailableNumbersFilter(country="GB"))
    assert sim.owned == {}


def test_tls_is_real(served: tuple[VonageSimulator, BackgroundServer], tmp_path: Path,
                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the test CA the SDK refuses the simulator: it really talks HTTPS to it."""
    import requests

    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    empty = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(empty))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(empty))
    with pytest.raises(requests.exceptions.SSLError):
        _vonage(served, "x").numbers.list_owned_numbers()


def test_emergency_address_assigned_read_and_removed(vonage: Vonage,
                                                     sim: VonageSimulator) -> None:
    """Create an emergency address, assign it to an owned number, read it back, unassign it,
    delete it — with the SDK's client, as developer.vonage.com's references show them."""
    http, host = vonage.http_client, vonage.http_client.api_host
    number = "+14155550170"
    sim.owned[number] = {"id": number[1:], "number": number,
                         **sim._available("US", number[1:])}
    made = http.post(host, "/v1/addresses", {
        "address_name": "myaddress", "address_line1": "1 Regal Ct",
        "address_line2": "Merchant's House 205", "city": "New York", "region": "NJ",
        "type": "emergency", "address_location_type": "business", "postal_code": "10002",
        "country": "US"}, auth_type="basic")
    assert made["address_line1"] == "1 REGAL CT" and made["type"] == "emergency"
    assert http.last_response.status_code == 201
    sent = sim.received("POST", "/v1/addresses")[-1]
    assert sent.headers["authorization"].startswith("Basic ")
    assigned = http.patch(host, f"/v1/emergency/numbers/{number[1:]}",
                          {"address": {"id": made["id"]}, "contact_name": "John Smith"},
                          auth_type="basic")
    assert assigned == {"number": number[1:], "contact_name": "John Smith", "address": made}
    assert http.get(host, f"/v1/emergency/numbers/{number[1:]}", auth_type="basic") == assigned
    listed = http.get(host, "/v1/addresses", {"page": 1, "page_size": 100}, auth_type="basic")
    assert listed["total_items"] == 1 and listed["_embedded"]["addresses"] == [made]
    with pytest.raises(HttpRequestError) as in_use:
        http.delete(host, f"/v1/addresses/{made['id']}", auth_type="basic")
    assert in_use.value.response.status_code == 409
    assert http.delete(host, f"/v1/emergency/numbers/{number[1:]}", auth_type="basic") is None
    assert http.delete(host, f"/v1/addresses/{made['id']}", auth_type="basic") is None
    with pytest.raises(NotFoundError):
        http.get(host, f"/v1/addresses/{made['id']}", auth_type="basic")
    with pytest.raises(HttpRequestError) as rejected:
        http.post(host, "/v1/addresses", {"address_line1": "1 Main St", "city": "Seattle",
                                          "postal_code": "00000", "country": "US",
                                          "type": "emergency"}, auth_type="basic")
    assert rejected.value.response.status_code == 422
    assert rejected.value.response.json()["title"] == "Invalid address"
