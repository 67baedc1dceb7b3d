"""The official `signalwire-sdk` REST client, unchanged, against the SignalWire simulator.

`signalwire-sdk` covers RELAY REST phone numbers (`client.phone_numbers`: search, create,
list, get, update by PUT, delete) and E911 addresses (`client.addresses`: create, list, get,
delete), so the Twilio-compatible `signalwire` package is not needed.
The SDK is pointed at the simulator with its own `host=` argument: for a loopback host it
speaks plain HTTP by design ("so a shipped example runs verbatim against the local mock").
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from signalwire.rest import RestClient, SignalWireRestError

from knm.simulators.server import BackgroundServer
from knm.simulators.signalwire import SignalWireSimulator

ENDPOINT = "6c1e8f80-3b4f-4c55-9a8e-3c1c0c0ffee0"


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[SignalWireSimulator, BackgroundServer]]:
    sim = SignalWireSimulator()
    with BackgroundServer(sim.app) as server:
        yield sim, server


@pytest.fixture
def sim(served: tuple[SignalWireSimulator, BackgroundServer]) -> Iterator[SignalWireSimulator]:
    served[0].reset()
    yield served[0]


def _client(served: tuple[SignalWireSimulator, BackgroundServer], token: str) -> RestClient:
    sim, server = served
    return RestClient(project=sim.credentials["project_id"], token=token,
                      host=server.url.removeprefix("http://"))


@pytest.fixture
def client(sim: SignalWireSimulator,
           served: tuple[SignalWireSimulator, BackgroundServer]) -> RestClient:
    return _client(served, sim.credentials["api_token"])


def test_search_by_area_code_starts_with_and_type(client: RestClient,
                                                   sim: SignalWireSimulator) -> None:
    found = client.phone_numbers.search(areacode="512", max_results=4)["data"]
    assert len(found) == 4 and all(n["number"].startswith("+1512") for n in found)
    assert found[0]["region"] == "TX" and found[0]["city"] == "Austin"
    assert found[0]["capabilities"]["voice"] is True
    sent = sim.received("GET", "/api/relay/rest/phone_numbers/search")[-1]
    assert sent.params == {"areacode": "512", "max_results": "4"}

    starts = client.phone_numbers.search(starts_with="415555", max_results=3)["data"]
    assert len(starts) == 3 and all(n["number"].startswith("+1415555") for n in starts)
    tail = found[1]["number"][-4:]
    ends = client.phone_numbers.search(areacode="512", ends_with=tail, max_results=5)["data"]
    assert found[1] in ends and all(n["number"].endswith(tail) for n in ends)
    tollfree = client.phone_numbers.search(number_type="toll-free", max_results=3)["data"]
    assert len(tollfree) == 3 and all(n["number"][2:5] in ("888", "877") for n in tollfree)
    texas = client.phone_numbers.search(region="TX", city="Austin", max_results=2)["data"]
    assert {n["city"] for n in texas} == {"Austin"}

    with pytest.raises(SignalWireRestError) as info:
        client.phone_numbers.search(starts_with="41", max_results=3)
    assert info.value.status_code == 422 and info.value.body["errors"][0]["status"] == "422"


def test_buy_route_list_release(client: RestClient, sim: SignalWireSimulator) -> None:
    number = client.phone_numbers.search(areacode="646", max_results=1)["data"][0]["number"]
    bought = client.phone_numbers.create(number=number)
    assert bought["number"] == number and bought["number_type"] == "longcode"
    assert sim.received("POST", "/api/relay/rest/phone_numbers")[-1].json() == {
        "number": number}
    assert number not in {n["number"] for n in
                          client.phone_numbers.search(areacode="646", max_results=100)["data"]}

    # settle: look the number up by filter_number
    listed = client.phone_numbers.list(filter_number=number.lstrip("+"))["data"]
    assert [n["id"] for n in listed] == [bought["id"]]
    assert client.phone_numbers.get(bought["id"])["number"] == number

    routed = client.phone_numbers.update(bought["id"], call_handler="relay_sip_endpoint",
                                         call_sip_endpoint_id=ENDPOINT)
    assert routed["call_handler"] == "relay_sip_endpoint"
    assert sim.owned[number]["call_sip_endpoint_id"] == ENDPOINT
    assert sim.received("PUT")[-1].path == f"/api/relay/rest/phone_numbers/{bought['id']}"
    client.phone_numbers.set_cxml_webhook(bought["id"], "https://pbx.example.com/cxml")
    assert sim.owned[number]["call_handler"] == "laml_webhooks"
    assert sim.owned[number]["call_request_url"] == "https://pbx.example.com/cxml"

    with pytest.raises(SignalWireRestError) as info:
        client.phone_numbers.update(bought["id"], extras={"call_handler": "sip_gateway"})
    assert info.value.status_code == 422
    assert sim.owned[number]["call_handler"] == "laml_webhooks"

    assert client.phone_numbers.delete(bought["id"]) == {}
    assert number not in sim.owned
    assert client.phone_numbers.list(filter_number=number.lstrip("+"))["data"] == []
    with pytest.raises(SignalWireRestError) as info:
        client.phone_numbers.get(bought["id"])
    assert info.value.status_code == 404 and info.value.body == {"error": "Not Found"}


def test_list_pages(client: RestClient) -> None:
    found = client.phone_numbers.search(areacode="303", max_results=3)["data"]
    bought = {client.phone_numbers.create(number=n["number"])["id"] for n in found}
    first = client.phone_numbers.list(page_size=2)
    assert len(first["data"]) == 2 and "next" in first["links"]
    assert {n["id"] for n in client.phone_numbers.paginate(page_size=2)} == bought


def test_buying_an_owned_number_is_not_available(client: RestClient) -> None:
    number = client.phone_numbers.search(areacode="702", max_results=1)["data"][0]["number"]
    client.phone_numbers.create(number=number)
    with pytest.raises(SignalWireRestError) as info:
        client.phone_numbers.create(number=number)
    assert info.value.status_code == 422
    assert "not available" in info.value.body["errors"][0]["detail"]


def test_wrong_credentials_raise_the_sdk_error_with_401(
        sim: SignalWireSimulator,
        served: tuple[SignalWireSimulator, BackgroundServer]) -> None:
    wrong = _client(served, "PTnot-the-token")
    with pytest.raises(SignalWireRestError) as info:
        wrong.phone_numbers.create(number="+15125550100")
    assert info.value.status_code == 401 and info.value.body == {"error": "Unauthorized"}
    with pytest.raises(SignalWireRestError) as info:
        wrong.phone_numbers.search(areacode="512")
    assert info.value.status_code == 401
    assert sim.owned == {}


def test_emergency_addresses_and_their_assignment(client: RestClient,
                                                  sim: SignalWireSimulator) -> None:
    """`client.addresses` (create, get, list, delete) as the SDK sends them: a validated
    emergency address, a correctable one refused with its `candidates` when not
    auto-corrected; the assignment (`phone_numbers/{id}/e911_address`, which the SDK's typed
    resource does not wrap yet) through the SDK's own HTTP client, and the number's
    `e911_address_id` / `e911_status` read back with `phone_numbers.get`."""
    fields = {"label": "ACME Corp", "country": "US", "first_name": "ACME", "last_name": "Corp",
              "street_number": "140", "street_name": "Geary St", "city": "San Francisco",
              "state": "CA", "postal_code": "94108"}
    made = client.addresses.create(**fields, address_type="Suite", address_number="5",
                                   extras={"emergency_enabled": True})
    assert made["validated"] is True and made["street_name"] == "GEARY ST"
    assert made["address_type"] == "Suite" and made["zip_code"] == "94108"
    sent = sim.received("POST", "/api/relay/rest/addresses")[-1].json()
    assert sent["emergency_enabled"] is True and sent["address_number"] == "5"
    assert client.addresses.get(made["id"])["id"] == made["id"]
    assert [a["id"] for a in client.addresses.list(filter_label="acme")["data"]] == [made["id"]]
    with pytest.raises(SignalWireRestError) as refused:
        client.addresses.create(**{**fields, "street_name": "Geary St CORRECTME"},
                                extras={"emergency_enabled": True,
                                        "auto_correct_address": False})
    assert refused.value.status_code == 422
    assert refused.value.body["candidates"][0]["street_name"] == "GEARY ST"

    bought = client.phone_numbers.create(number=client.phone_numbers.search(
        areacode="512", max_results=1)["data"][0]["number"])
    http = client.phone_numbers._http
    assigned = http.post(f"/api/relay/rest/phone_numbers/{bought['id']}/e911_address",
                         body={"e911_address_id": made["id"]})
    assert assigned["e911_status"] == "pending"  # SignalWire confirms asynchronously
    shown = client.phone_numbers.get(bought["id"])
    assert (shown["e911_address_id"], shown["e911_status"]) == (made["id"], "active")
    with pytest.raises(SignalWireRestError) as in_use:
        client.addresses.delete(made["id"])
    assert in_use.value.status_code == 422
    assert http.delete(f"/api/relay/rest/phone_numbers/{bought['id']}/e911_address")[
        "e911_status"] == "pending_removal"
    assert client.phone_numbers.get(bought["id"])["e911_status"] == "unregistered"
    client.addresses.delete(made["id"])
    assert made["id"] not in sim.addresses
