"""The Twilio, SignalWire, Vonage and Flowroute simulators over plain httpx: the carriers'
quirks that knm must handle, and every failure switch of the framework answering in each
carrier's own error shape."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from knm.simulators.base import Simulator
from knm.simulators.flowroute import FlowrouteSimulator
from knm.simulators.server import BackgroundServer
from knm.simulators.signalwire import SignalWireSimulator
from knm.simulators.twilio import TwilioSimulator
from knm.simulators.vonage import VonageSimulator


@dataclass(frozen=True)
class Carrier:
    make: Callable[[], Simulator]
    user: str  # credential names of the Basic pair
    password: str
    search: Callable[[Simulator], tuple[str, dict[str, str]]]
    #: the carrier's error body for (status, message)
    error: Callable[[dict[str, Any], int, str], bool]
    #: the message of its 401
    unauthorized: str


def _twilio_search(sim: Simulator) -> tuple[str, dict[str, str]]:
    sid = sim.credentials["account_sid"]
    return f"/2010-04-01/Accounts/{sid}/AvailablePhoneNumbers/US/Local.json", {"AreaCode": "415"}


CARRIERS = {
    "twilio": Carrier(
        TwilioSimulator, "account_sid", "auth_token", _twilio_search,
        lambda b, s, m: (set(b) == {"code", "message", "more_info", "status"}
                         and isinstance(b["code"], int) and b["status"] == s
                         and b["message"] == m
                         and b["more_info"] == f"https://www.twilio.com/docs/errors/{b['code']}"),
        "Authenticate"),
    "signalwire": Carrier(
        SignalWireSimulator, "project_id", "api_token",
        lambda sim: ("/api/relay/rest/phone_numbers/search", {"areacode": "512"}),
        lambda b, s, m: (b == {"errors": [{"detail": m, "status": "422",
                                           "title": "Invalid Attribute", "code": "422"}]}
                         if s == 422 else b == {"error": m}),
        "Unauthorized"),
    "vonage": Carrier(
        VonageSimulator, "api_key", "api_secret",
        lambda sim: ("/number/search", {"country": "GB"}),
        lambda b, s, m: b == {"error-code": str(s), "error-code-label": m},
        "authentication failed"),
    "flowroute": Carrier(
        FlowrouteSimulator, "access_key", "secret_key",
        lambda sim: ("/v2/numbers/available", {"starts_with": "1206"}),
        lambda b, s, m: (len(b["errors"]) == 1 and b["errors"][0]["status"] == s
                         and b["errors"][0]["detail"] == m and bool(b["errors"][0]["id"])),
        "Authentication failed."),
}


@dataclass
class Running:
    carrier: Carrier
    sim: Simulator
    client: httpx.Client

    def search(self) -> httpx.Response:
        path, params = self.carrier.search(self.sim)
        return self.client.get(path, params=params)


@pytest.fixture(scope="module", params=sorted(CARRIERS))
def running_module(request: pytest.FixtureRequest) -> Iterator[Running]:
    carrier = CARRIERS[request.param]
    sim = carrier.make()
    with BackgroundServer(sim.app) as server:
        auth = (sim.credentials[carrier.user], sim.credentials[carrier.password])
        with httpx.Client(base_url=server.url, auth=auth, timeout=10) as client:
            yield Running(carrier, sim, client)


@pytest.fixture
def running(running_module: Running) -> Iterator[Running]:
    running_module.sim.reset()
    yield running_module
    running_module.sim.reset()


def _served(sim: Simulator, user: str, password: str) -> Iterator[httpx.Client]:
    with BackgroundServer(sim.app) as server:
        auth = (sim.credentials[user], sim.credentials[password])
        with httpx.Client(base_url=server.url, auth=auth, timeout=10) as client:
            yield client


# -- failure switches, on every one of the four ----------------------------------------------

def test_search_answers_without_switches(running: Running) -> None:
    answer = running.search()
    assert answer.status_code == 200 and answer.json()


def test_latency(running: Running) -> None:
    running.sim.set(latency_ms=250)
    started = time.monotonic()
    answer = running.search()
    assert time.monotonic() - started >= 0.25 and answer.status_code == 200


@pytest.mark.parametrize("status", [400, 401, 404, 422, 429, 500, 503])
def test_fail_with_gives_the_carriers_error_body(running: Running, status: int) -> None:
    running.sim.set(fail_with={"status": status, "message": "simulated outage"})
    answer = running.search()
    assert answer.status_code == status
    assert running.carrier.error(answer.json(), status, "simulated outage"), answer.text


def test_fail_with_headers_and_times(running: Running) -> None:
    running.sim.set(fail_with={"status": 429, "message": "slow down",
                               "headers": {"Retry-After": "2"}}, times=1)
    limited = running.search()
    assert limited.status_code == 429 and limited.headers["retry-after"] == "2"
    assert running.search().status_code == 200


def test_malformed(running: Running) -> None:
    running.sim.set(malformed=True)
    answer = running.search()
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith(running.sim.content_type)
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.content)


def test_empty_502(running: Running) -> None:
    running.sim.set(empty_502=True, match="GET")
    answer = running.search()
    assert answer.status_code == 502 and answer.content == b""


def test_wrong_credentials_give_401_in_the_carriers_shape(running: Running) -> None:
    path, params = running.carrier.search(running.sim)
    answer = running.client.get(path, params=params, auth=("someone", "else"))
    assert answer.status_code == 401
    assert running.carrier.error(answer.json(), 401, running.carrier.unauthorized)
    assert running.sim.credentials[running.carrier.password] not in answer.text


# -- carrier quirks ---------------------------------------------------------------------------

@pytest.fixture
def vonage() -> Iterator[tuple[VonageSimulator, httpx.Client]]:
    sim = VonageSimulator()
    for client in _served(sim, "api_key", "api_secret"):
        yield sim, client


def test_vonage_failure_is_http_200_with_an_error_code(
        vonage: tuple[VonageSimulator, httpx.Client]) -> None:
    sim, client = vonage
    form = {"country": "GB", "msisdn": "442079460123"}
    bought = client.post("/number/buy", data=form)
    assert bought.status_code == 200
    assert bought.json() == {"error-code": "200", "error-code-label": "success"}
    again = client.post("/number/buy", data=form)
    assert again.status_code == 200
    assert again.json() == {"error-code": "420", "error-code-label": "method failed"}
    wrong_country = client.post("/number/buy", data={"country": "US", "msisdn": "442079460124"})
    assert wrong_country.json()["error-code"] == "420"
    not_ours = client.post("/number/cancel", data={"country": "GB", "msisdn": "442079460999"})
    assert not_ours.status_code == 200 and not_ours.json()["error-code"] == "420"

    sim.method_failed_status = 420
    refused = client.post("/number/buy", data=form)
    assert refused.status_code == 420 and refused.json()["error-code"] == "420"
    sim.reset()
    assert sim.method_failed_status == 200


def test_vonage_takes_legacy_query_credentials(
        vonage: tuple[VonageSimulator, httpx.Client]) -> None:
    sim, client = vonage
    answer = httpx.get(str(client.base_url) + "/account/numbers",
                       params={"api_key": sim.credentials["api_key"],
                               "api_secret": sim.credentials["api_secret"]})
    assert answer.status_code == 200 and answer.json() == {"count": 0}


@pytest.fixture
def flowroute() -> Iterator[tuple[FlowrouteSimulator, httpx.Client]]:
    sim = FlowrouteSimulator()
    for client in _served(sim, "access_key", "secret_key"):
        yield sim, client


def test_flowroute_207_when_bought_but_messaging_not_enabled(
        flowroute: tuple[FlowrouteSimulator, httpx.Client]) -> None:
    sim, client = flowroute
    # by number pattern: …207 with messaging asked for
    partial = client.post("/v2/numbers/12065550207", json={"messaging_enabled": True})
    assert partial.status_code == 207
    assert partial.json()["data"]["attributes"]["messaging_enabled"] is False
    assert any(i["type"] == "message_provisioning_status" and
               i["attributes"]["status"] == "error" for i in partial.json()["included"])
    assert "+12065550207" in sim.owned  # bought all the same

    # the same pattern without messaging is a plain purchase
    assert client.post("/v2/numbers/12065551207").status_code == 201

    # by switch: messaging provisioning down
    assert client.post("/v2/numbers/12065550300?messaging_enabled=true").status_code == 201
    assert sim.owned["+12065550300"]["messaging_enabled"] is True
    sim.messaging_provisioning_up = False
    down = client.post("/v2/numbers/12065550301",
                       json={"data": {"attributes": {"messaging_enabled": True}}})
    assert down.status_code == 207 and "+12065550301" in sim.owned
    sim.reset()
    assert sim.messaging_provisioning_up is True and sim.owned == {}
    assert list(sim.routes_book) == ["0"]


def test_twilio_other_accounts_are_not_found() -> None:
    sim = TwilioSimulator()
    for client in _served(sim, "account_sid", "auth_token"):
        answer = client.get("/2010-04-01/Accounts/AC" + "0" * 32 + "/IncomingPhoneNumbers.json")
        assert answer.status_code == 404 and answer.json()["code"] == 20404


def test_signalwire_error_shapes() -> None:
    sim = SignalWireSimulator()
    for client in _served(sim, "project_id", "api_token"):
        invalid = client.post("/api/relay/rest/phone_numbers", json={"number": "555"})
        assert invalid.status_code == 422 and invalid.json()["errors"][0]["code"] == "422"
        missing = client.get("/api/relay/rest/phone_numbers/no-such-id")
        assert missing.status_code == 404 and missing.json() == {"error": "Not Found"}
        unauthorized = client.get("/api/relay/rest/phone_numbers", auth=("x", "y"))
        assert unauthorized.status_code == 401
        assert unauthorized.json() == {"error": "Unauthorized"}
