"""The Flowroute simulator over plain httpx, in the shapes of Flowroute's Numbers v2 docs.

No Flowroute numbers SDK installs from PyPI (flowroute/flowroute-sdk-v3-python is on GitHub
only; PyPI's `flowroute` is an unrelated project and `flowroute-messaging-fossum` covers
messaging), so these tests make the requests that SDK makes (paths, Basic auth, bodies) and
check the answers against the documented shapes (current-apis.md §6).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from knm.simulators.flowroute import FlowrouteSimulator
from knm.simulators.server import BackgroundServer


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[FlowrouteSimulator, BackgroundServer]]:
    sim = FlowrouteSimulator()
    with BackgroundServer(sim.app) as server:
        yield sim, server


@pytest.fixture
def sim(served: tuple[FlowrouteSimulator, BackgroundServer]) -> Iterator[FlowrouteSimulator]:
    served[0].reset()
    yield served[0]


@pytest.fixture
def api(sim: FlowrouteSimulator,
        served: tuple[FlowrouteSimulator, BackgroundServer]) -> Iterator[httpx.Client]:
    auth = (sim.credentials["access_key"], sim.credentials["secret_key"])
    with httpx.Client(base_url=served[1].url, auth=auth,
                      headers={"accept": "application/vnd.api+json"}) as client:
        yield client


def _search(api: httpx.Client, **params: object) -> list[dict]:
    answer = api.get("/v2/numbers/available", params=params)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/vnd.api+json")
    return answer.json()["data"]


def test_search_filters_and_pages(api: httpx.Client) -> None:
    found = _search(api, starts_with=1646, limit=3)
    assert len(found) == 3 and all(n["id"].startswith("1646") for n in found)
    first = found[0]
    assert first["type"] == "number" and first["attributes"]["value"] == first["id"]
    assert first["attributes"]["state"] == "ny" and first["attributes"]["rate_center"]
    assert first["attributes"]["number_type"] == "longcode"
    assert _search(api, starts_with=646, limit=3) == found  # country code 1 assumed

    page = api.get("/v2/numbers/available", params={"starts_with": 1646, "limit": 3}).json()
    following = httpx.URL(page["links"]["next"])
    assert following.path == "/v2/numbers/available"
    assert following.params["offset"] == "3"
    second = _search(api, starts_with=1646, limit=3, offset=3)
    assert not {n["id"] for n in second} & {n["id"] for n in found}

    tollfree = _search(api, number_type="toll-free", limit=4)
    assert len(tollfree) == 4 and all(n["attributes"]["number_type"] == "toll-free"
                                      for n in tollfree)
    tail = found[0]["id"][-4:]
    assert found[0] in _search(api, starts_with=1646, ends_with=tail, limit=200)
    washington = _search(api, state="wa", rate_center="seattle", limit=2)
    assert len(washington) == 2 and {n["attributes"]["state"] for n in washington} == {"wa"}

    bad = api.get("/v2/numbers/available", params={"limit": 500})
    assert bad.status_code == 400 and bad.json()["errors"][0]["status"] == 400


def test_buy_route_list_release(api: httpx.Client, sim: FlowrouteSimulator) -> None:
    number_id = _search(api, starts_with=1206, limit=1)[0]["id"]
    bought = api.post(f"/v2/numbers/{number_id}")
    assert bought.status_code == 201
    doc = bought.json()
    assert doc["data"]["id"] == number_id and doc["data"]["attributes"]["status"] == "PURCHASED"
    assert doc["data"]["relationships"]["primary_route"]["data"] == {"type": "route", "id": "0"}
    assert doc["included"][0]["attributes"]["route_type"] == "sip-reg"
    assert sim.owned["+" + number_id]["primary_route"] == "0"

    route = api.post("/v2/routes", json={"data": {"type": "route", "attributes": {
        "route_type": "host", "value": "pbx.example.com", "alias": "customer 42"}}})
    assert route.status_code == 201
    route_id = route.json()["data"]["id"]
    assigned = api.patch(f"/v2/numbers/{number_id}/relationships/primary_route",
                         json={"data": {"type": "route", "id": route_id}})
    assert assigned.status_code == 204 and assigned.content == b""
    assert sim.owned["+" + number_id]["primary_route"] == route_id
    assert sim.routes_book[route_id]["value"] == "pbx.example.com"
    failover = api.patch(f"/v2/numbers/{number_id}/relationships/failover_route",
                         json={"data": {"type": "route", "id": "0"}})
    assert failover.status_code == 204

    # settle: the number's details, and the account listing
    details = api.get(f"/v2/numbers/{number_id}").json()
    assert details["data"]["relationships"]["primary_route"]["data"]["id"] == route_id
    assert {r["id"] for r in details["included"]} == {route_id, "0"}
    listed = api.get("/v2/numbers", params={"starts_with": number_id[:4]}).json()["data"]
    assert [n["id"] for n in listed] == [number_id]

    assert api.delete(f"/v2/numbers/{number_id}").status_code == 204
    assert "+" + number_id not in sim.owned
    gone = api.get(f"/v2/numbers/{number_id}")
    assert gone.status_code == 404
    assert gone.json()["errors"][0]["detail"] == "Could not find that resource on your account."
    assert api.delete(f"/v2/numbers/{number_id}").status_code == 404


def test_buying_an_owned_number_is_not_available(api: httpx.Client) -> None:
    number_id = _search(api, starts_with=1201, limit=1)[0]["id"]
    assert api.post(f"/v2/numbers/{number_id}").status_code == 201
    again = api.post(f"/v2/numbers/{number_id}")
    assert again.status_code == 404
    error = again.json()["errors"][0]
    assert error["status"] == 404 and "not available" in error["detail"]


def test_assigning_an_unknown_route_is_refused(api: httpx.Client, sim: FlowrouteSimulator) -> None:
    number_id = _search(api, starts_with=1206, limit=1)[0]["id"]
    api.post(f"/v2/numbers/{number_id}")
    refused = api.patch(f"/v2/numbers/{number_id}/relationships/primary_route",
                        json={"data": {"type": "route", "id": "424242"}})
    assert refused.status_code == 422
    assert sim.owned["+" + number_id]["primary_route"] == "0"


def test_wrong_credentials_are_flowroutes_401(
        served: tuple[FlowrouteSimulator, BackgroundServer], sim: FlowrouteSimulator) -> None:
    answer = httpx.post(served[1].url + "/v2/numbers/12065550100",
                        auth=(sim.credentials["access_key"], "wrong"))
    assert answer.status_code == 401
    error = answer.json()["errors"][0]
    assert error["detail"] == "Authentication failed." and error["status"] == 401
    assert error["title"] == "Unauthorized" and sim.owned == {}
