"""`knm_other` against the phonebook simulator over loopback (kazoo-core.md §3.5, §4.8,
§10.2)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from conftest import DEADLINE_SLACK_S, MASTER, RESELLER

from knm import cache, carriers, config, errors
from knm.carriers import SearchOptions, search
from knm.record import PhoneNumber
from knm.simulators.phonebook import create_app
from knm.simulators.server import BackgroundServer

START_BLOCK, END_BLOCK = "+14158867900", "+14158897909"


@pytest.fixture
def phonebook(kazoo_accounts: dict[str, str]) -> Iterator[BackgroundServer]:
    app = create_app()
    with BackgroundServer(app) as server:
        config.set("number_manager.other", "phonebook_url", server.url)
        yield server


def control(server: BackgroundServer, **settings: object) -> None:
    httpx.post(f"{server.url}/_sim/control", json=settings).raise_for_status()


def test_no_phonebook_finds_nothing(db: str) -> None:
    assert carriers.find("415", 10, carriers=["knm_other"], query_id="QID") == []
    # plain default carriers, no account: knm_local only, which needs an account
    assert carriers.find("415") == []


def test_numbers_search(phonebook: BackgroundServer) -> None:
    found = carriers.find("415", 10, carriers=["knm_other"], query_id="QID",
                          account_id=MASTER)
    assert found == [{"number": f"+141588679{i:02d}", "state": "discovery"}
                     for i in range(10)]
    # a purchase later takes the carrier and its data from the search cache
    hit = cache.get_cache().discovered("+14158867903")
    assert (hit.carrier, hit.carrier_data) == ("knm_other", {"extension": 3})
    # the prefix travelled URL-encoded, so the phonebook saw `+1415`, not ` 1415`
    sent = phonebook.app.state.sim.requests[-1]
    method, path, query = sent.method, sent.path, sent.query
    assert (method, path) == ("GET", "/numbers/US/search") and "prefix=%2B1415" in query


def test_blocks_search(phonebook: BackgroundServer) -> None:
    other = carriers.get_carrier("knm_other")
    rows = other.find_numbers("+1415", 10, SearchOptions(blocks=True, account_id=RESELLER))
    assert [(r.number, r.carrier) for r in rows] == [(START_BLOCK, "knm_other"),
                                                     (END_BLOCK, "knm_other")]
    assert rows[0].block == (START_BLOCK, END_BLOCK)
    found = carriers.find("415", 10, carriers=["knm_other"], query_id="QID", blocks=True,
                          account_id=RESELLER)
    assert [r["number"] for r in found] == [START_BLOCK, END_BLOCK]


def test_acquire_orders_the_number(phonebook: BackgroundServer) -> None:
    config.set("number_manager.other", "endpoints", "10.0.0.1")
    number = PhoneNumber.from_json({"_id": "+14158867905", "pvt_module_name": "knm_other",
                                    "pvt_state": "discovery"})
    bought = carriers.acquire(number)
    assert bought.carrier_data == {"order_id": "order-1"}
    assert bought.features["locality"] == {"country": "US"}
    assert phonebook.app.state.orders["+14158867905"]["gateways"] == ["10.0.0.1"]
    # sold: no longer offered, and a second purchase is refused by the carrier
    assert "+14158867905" not in [r["number"] for r in carriers.find(
        "415", 10, carriers=["other"])]
    again = PhoneNumber.from_json({"_id": "+14158867905", "pvt_module_name": "knm_other"})
    with pytest.raises(errors.CarrierFault) as caught:
        carriers.acquire(again)
    doc = caught.value.to_json()
    assert (doc["carrier"], doc["cause"]) == ("knm_other", "+14158867905")
    assert "lookup_resp_error" in doc["carrier_message"]
    assert carriers.disconnect(bought) is bought


def test_acquire_without_phonebook_names_the_setting(db: str) -> None:
    number = PhoneNumber.from_json({"_id": "+14158867905", "pvt_module_name": "knm_other"})
    with pytest.raises(errors.CarrierMisconfigured) as caught:
        carriers.acquire(number)
    assert caught.value.cause == "phonebook_url"


def test_failing_phonebook(phonebook: BackgroundServer) -> None:
    control(phonebook, fail_status=503)
    outcome = search.find_with_report("415", 10, carriers=["knm_other"], account_id=MASTER)
    assert outcome.results == []
    report = outcome.carriers["knm_other"]
    assert report.outcome == "failed" and report.error["error"] == "carrier_unavailable"
    number = PhoneNumber.from_json({"_id": "+14158867905", "pvt_module_name": "knm_other"})
    with pytest.raises(errors.CarrierUnavailable) as caught:
        carriers.acquire(number)
    assert "503" in caught.value.carrier_message


def test_slow_phonebook_loses_only_its_results(phonebook: BackgroundServer) -> None:
    control(phonebook, latency_ms=2000)
    config.set("number_manager", "number_search_timeout_ms", 500)
    outcome = search.find_with_report("415", 10, carriers=["knm_other", "knm_mdn"],
                                      account_id=MASTER)
    assert outcome.results == []
    assert outcome.carriers["knm_other"].outcome in ("timed_out", "failed")
    assert outcome.carriers["knm_mdn"].outcome == "answered"
    assert outcome.carriers["knm_other"].seconds < 0.5 + DEADLINE_SLACK_S


def test_check_numbers(phonebook: BackgroundServer) -> None:
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_other"])
    carriers.acquire(PhoneNumber.from_json({"_id": "+14158867901",
                                            "pvt_module_name": "knm_other"}))
    assert carriers.check(["+14158867900", "4158867901", "+15551239876"]) == {
        "+14158867900": "available", "+14158867901": "in_service", "+15551239876": "error"}
