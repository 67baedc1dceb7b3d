"""The official `bandwidth-numbers-sdk` (PyPI), unchanged, against the Bandwidth simulator.

The SDK is given Bandwidth's real URLs (`https://api.bandwidth.com/api/v2` and its
hard-coded token URL `https://api.bandwidth.com/api/v1/oauth2/token`); a requests transport
adapter installed for the test sends every `https://api.bandwidth.com` request to the
simulator on loopback instead. The SDK's code is untouched.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

pytest.importorskip("bandwidth_numbers")
import requests  # noqa: E402
from bandwidth_numbers import Account, Client, Tns  # noqa: E402
from bandwidth_numbers.utils.rest import RestError  # noqa: E402
from requests.adapters import HTTPAdapter  # noqa: E402

from knm.simulators.bandwidth2 import Bandwidth2Simulator  # noqa: E402
from knm.simulators.server import BackgroundServer  # noqa: E402

HOST = "https://api.bandwidth.com"


@pytest.fixture
def sim(monkeypatch: pytest.MonkeyPatch) -> Iterator[Bandwidth2Simulator]:
    simulator = Bandwidth2Simulator()
    with BackgroundServer(simulator.app) as server:
        send = HTTPAdapter.send

        def to_loopback(adapter: HTTPAdapter, request: requests.PreparedRequest,
                        *args: object, **kwargs: object) -> requests.Response:
            if request.url and request.url.startswith(HOST):
                request.url = server.url + request.url[len(HOST):]
            return send(adapter, request, *args, **kwargs)

        monkeypatch.setattr(HTTPAdapter, "send", to_loopback)
        yield simulator


def oauth_client(sim: Bandwidth2Simulator, version: str = "v2",
                 secret: str | None = None) -> Client:
    c = sim.credentials
    return Client(url=f"{HOST}/api/{version}", account_id=c["account_id"],
                  client_id=c["client_id"], client_secret=secret or c["client_secret"],
                  access_token=None)


def order_body(number: str, reference: str) -> dict:
    return {"name": "knm", "customer_order_id": reference, "site_id": "1337",
            "peer_id": "13337", "existing_telephone_number_order_type": {
                "telephone_number_list": {"telephone_number": [number]}}}


def wait_status(account: Account, order_id: str) -> str:
    deadline = time.monotonic() + 5
    while True:
        status = account.orders.get(order_id).order_status
        if status != "RECEIVED" or time.monotonic() > deadline:
            return status
        time.sleep(0.02)


def test_v2_search_buy_list_release(sim: Bandwidth2Simulator) -> None:
    sim.set(order_complete_ms=100)
    client = oauth_client(sim)
    account = Account(client=client)

    # (the SDK reuses its result lists between calls: copy them)
    found = list(account.available_numbers.list({"areaCode": "919", "countryCodeA3": "USA",
                                                 "quantity": 3}).items)
    assert len(found) == 3 and all(n.startswith("+1919") for n in found)
    detail = account.available_numbers.list({"areaCode": "919", "countryCodeA3": "USA",
                                             "quantity": 1, "enableTNDetail": "true"}).items
    assert detail[0].full_number == found[0]
    number = found[0]

    order = account.orders.create(order_body(number, "knm-ref-1"))
    assert order.order_status == "RECEIVED" and order.id
    assert wait_status(account, order.id) == "COMPLETE"
    listed = account.orders.list({"customerOrderId": "knm-ref-1"})
    assert [o.order_id for o in listed.items] == [order.id]
    assert sim.received("POST", "/api/v1/oauth2/token"), "client credentials were used"
    assert sim.received("POST", "/api/v2/accounts/")[-1].headers["authorization"].startswith(
        "Bearer ")

    assert number in account.in_service_numbers.list().items
    tn = Tns(client=client).get(number)
    assert tn.status == "Inservice" and tn.account_id == sim.credentials["account_id"]

    disconnect = account.disconnects.create({
        "name": "knm", "customer_order_id": "knm-ref-2",
        "disconnect_telephone_number_order_type": {
            "telephone_number_list": {"telephone_number": [number]}}})
    assert disconnect.order_status == "RECEIVED"
    assert number not in account.in_service_numbers.list().items


def test_v2_unavailable_number_fails_the_order_later(sim: Bandwidth2Simulator) -> None:
    account = Account(client=oauth_client(sim))
    number = account.available_numbers.list({"areaCode": "20", "countryCodeA3": "GBR",
                                             "quantity": 1}).items[0]
    assert number.startswith("+4420")
    first = account.orders.create(order_body(number, "knm-ref-3"))
    assert wait_status(account, first.id) == "COMPLETE"
    second = account.orders.create(order_body(number, "knm-ref-4"))
    assert second.order_status == "RECEIVED"
    failed = account.orders.get(second.id)
    assert failed.order_status == "FAILED"
    assert failed.error_list.error.items[0].code == "5005"


def test_v1_legacy_basic_auth(sim: Bandwidth2Simulator) -> None:
    c = sim.credentials
    client = Client(url=f"{HOST}/api/v1", account_id=c["account_id"],
                    username=c["api_username"], password=c["api_password"])
    account = Account(client=client)
    found = list(account.available_numbers.list({"areaCode": "973", "quantity": 2}).items)
    assert found == ["9733705112", "9733705183"]
    order = account.orders.create(order_body(found[0], "knm-ref-5"))
    assert wait_status(account, order.id) == "COMPLETE"
    assert "9733705112" in account.in_service_numbers.list().items


def test_wrong_credentials_raise_the_sdk_errors(sim: Bandwidth2Simulator) -> None:
    c = sim.credentials
    basic = Client(url=f"{HOST}/api/v1", account_id=c["account_id"],
                   username=c["api_username"], password="wrong")
    with pytest.raises(RestError) as info:
        Account(client=basic).available_numbers.list({"areaCode": "973"})
    assert "401" in str(info.value)
    with pytest.raises(requests.HTTPError) as http:
        Account(client=oauth_client(sim, secret="wrong")).available_numbers.list(
            {"areaCode": "919", "countryCodeA3": "USA"})
    assert http.value.response.status_code == 401
