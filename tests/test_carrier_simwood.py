"""knm_simwood against its simulator: the wire (paths, Basic auth, encoded pattern), UK
numbers made E.164, purchases and releases. Kazoo had no Simwood fixtures or tests
(kazoo-http-carriers.md §7.4); the shared failure table runs in tests/test_conformance.py."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.simwood import (
    Simwood,
    allocated_path,
    e164,
    parse_search,
    result_size,
    search_path,
)
from knm.record import PhoneNumber
from knm.simulators.server import BackgroundServer, free_port
from knm.simulators.simwood import SimwoodSimulator

USER, PASSWORD, ACCOUNT = "sw-user", "sw-Pa55word-q", "931234"


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[SimwoodSimulator, str]]:
    sim = SimwoodSimulator(USER, PASSWORD, ACCOUNT)
    with BackgroundServer(sim.app) as server:
        yield sim, server.url


def carrier(url: str, **overrides: Any) -> Simwood:
    return Simwood({"auth_username": USER, "auth_password": PASSWORD,
                    "simwood_account_id": ACCOUNT, "numbers_api_url": url + "/v3/numbers",
                    "timeout_ms": 2000, **overrides})


@pytest.fixture
def live(sim_server: tuple[SimwoodSimulator, str]) -> Iterator[tuple[SimwoodSimulator, Simwood]]:
    sim, url = sim_server
    sim.reset()
    c = carrier(url)
    yield sim, c
    c.close()


def pn(number: str) -> PhoneNumber:
    return PhoneNumber.from_json({"_id": number, "pvt_module_name": "knm_simwood",
                                  "pvt_state": "discovery"})


def find(c: Simwood, prefix: str, quantity: int) -> list[str]:
    return [r.number for r in c.find_numbers(prefix, quantity, SearchOptions(country="GB"))]


# -- pure ---------------------------------------------------------------------------------------


def test_request_building() -> None:
    assert [result_size(q) for q in (1, 2, 10, 11, 500)] == [1, 10, 10, 100, 100]
    assert search_path("93 1", "+44207", 500) == ("93%201/available/standard/100",
                                                 {"pattern": "44207*"})
    assert allocated_path("931234", "+442079460000") == "931234/allocated/442079460000"


def test_numbers_get_their_plus_and_are_filtered() -> None:
    assert e164({"country_code": "44", "number": "2079460000"}) == "+442079460000"
    doc = [{"country_code": "44", "number": "2079460000", "block": "207946"},
           {"country_code": "44", "number": "1614960000"},
           {"country_code": "44", "number": "2079460001"}]
    results = parse_search(doc, "+44207", 1)
    assert [r.number for r in results] == ["+442079460000"]
    assert results[0].carrier_data == doc[0] and results[0].state == "discovery"
    with pytest.raises(ValueError):  # Kazoo crashed on an error object
        parse_search({"error": "nope"}, "+44", 10)


# -- the wire -------------------------------------------------------------------------------------


def test_search_wire(live: tuple[SimwoodSimulator, Simwood]) -> None:
    sim, c = live
    numbers = find(c, "+44207", 5)
    assert len(numbers) == 5 and all(n.startswith("+44207") and len(n) == 13 for n in numbers)
    request = sim.requests[-1]
    assert request.method == "GET"
    assert request.path == f"/v3/numbers/{ACCOUNT}/available/standard/10"
    assert request.params == {"pattern": "44207*"}
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {token}"
    assert find(c, "+44207", 5) == numbers  # deterministic stock


def test_countries_simwood_does_not_sell_are_not_asked(live: tuple[SimwoodSimulator, Simwood]
                                                       ) -> None:
    sim, c = live
    assert find(c, "+1415", 5) == []
    assert sim.requests == []


def test_buy_check_release(live: tuple[SimwoodSimulator, Simwood]) -> None:
    sim, c = live
    number = find(c, "+44161", 1)[0]
    bought = c.acquire_number(pn(number))
    request = sim.requests[-1]
    assert (request.method, request.path) == ("PUT", f"/v3/numbers/{ACCOUNT}/allocated/"
                                                     f"{number[1:]}")
    assert bought.carrier_data["simwood_account_id"] == ACCOUNT
    assert number not in find(c, "+44161", 100)
    assert c.check_numbers([number, "+442079460000"]) == {number: "in_service"}
    with pytest.raises(errors.NumberUnavailable) as info:
        c.acquire_number(pn(number))
    assert info.value.carrier_message == f"Number {number[1:]} is not available"
    c.disconnect_number(pn(number))
    assert sim.requests[-1].method == "DELETE"
    with pytest.raises(errors.CarrierNotFound) as info:
        c.disconnect_number(pn(number))
    assert info.value.cause == number


def test_wrong_account_is_refused(live: tuple[SimwoodSimulator, Simwood],
                                  sim_server: tuple[SimwoodSimulator, str]) -> None:
    c = carrier(sim_server[1], simwood_account_id="999999")
    with pytest.raises(errors.CarrierCredentials) as info:
        find(c, "+44207", 1)
    assert "999999" in (info.value.carrier_message or "")


# -- failures ---------------------------------------------------------------------------


def test_failure_bodies(live: tuple[SimwoodSimulator, Simwood]) -> None:
    sim, c = live
    sim.set(fail_with={"status": 400, "message": "Invalid pattern"})
    with pytest.raises(errors.CarrierFault) as info:
        c.acquire_number(pn("+442079460000"))
    assert info.value.carrier_message == "Invalid pattern" and info.value.status == 400
    sim.reset()
    sim.set(fail_with={"status": 500, "body": "<html>boom", "content_type": "text/html"})
    with pytest.raises(errors.CarrierUnavailable):
        c.acquire_number(pn("+442079460000"))
    sim.reset()
    sim.set(empty_502=True)
    with pytest.raises(errors.CarrierUnavailable) as info:
        c.disconnect_number(pn("+442079460000"))
    assert PASSWORD not in str(info.value.to_json())


def test_timeout_and_refused(live: tuple[SimwoodSimulator, Simwood],
                             sim_server: tuple[SimwoodSimulator, str]) -> None:
    sim, _ = live
    sim.set(hang=True, hang_s=2)
    with pytest.raises(errors.CarrierTimeout):
        carrier(sim_server[1], timeout_ms=200).acquire_number(pn("+442079460000"))
    with pytest.raises(errors.CarrierUnavailable):
        find(carrier(f"http://127.0.0.1:{free_port()}"), "+44207", 1)
