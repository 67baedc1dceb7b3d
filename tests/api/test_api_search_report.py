"""Search answers say how each asked carrier did (SPEC §10), over HTTP, against simulators.

The API runs on loopback; Telnyx and Bandwidth sit behind it as simulators whose failure
switches (`fail_with`, `hang`) are flipped over their own control endpoint, as a user testing
their application offline would. Every test runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from api_support import assert_error, assert_ok

from knm import accounts, config
from knm.simulators import registry
from knm.simulators.server import BackgroundServer

CARRIERS = ("knm_telnyx", "knm_bandwidth2")
#: what an account's search asks besides the network carriers: knm's own database
STORE_BACKED = {"local", "reserved", "reserved_reseller"}


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from knm.api import create_app

    folder: Path = tmp_path_factory.mktemp("report")
    with BackgroundServer(create_app(f"sqlite:///{folder / 'bootstrap.sqlite'}")) as server:
        yield server.url


@pytest.fixture
def sims(db: str) -> Iterator[dict[str, str]]:
    """Both simulators running and wired as the system's carriers, after `knm_local`."""
    urls: dict[str, str] = {}
    with BackgroundServer(registry.get(CARRIERS[0]).make_simulator().app) as telnyx, \
            BackgroundServer(registry.get(CARRIERS[1]).make_simulator().app) as bandwidth:
        for name, server in zip(CARRIERS, (telnyx, bandwidth), strict=True):
            urls[name.removeprefix("knm_")] = server.url
            for key, value in registry.wire(name, server.url, server.app.state.sim).items():
                config.set(f"number_manager.{name.removeprefix('knm_')}", key, value)
        config.set("number_manager", "carrier_modules", ["knm_local", *CARRIERS])
        # short enough for the hang tests, long enough for a healthy carrier on a busy machine
        config.set("number_manager", "number_search_timeout_ms", 1500)
        yield urls


def _switch(url: str, **switches: object) -> None:
    httpx.post(url + "/_sim/switches", json=switches, timeout=5).raise_for_status()


def _account_search(api_url: str, **params: object) -> httpx.Response:
    account = accounts.create("acme", is_reseller=True, allow_number_additions=True)
    token = accounts.create_token(account.id, 600)
    return httpx.get(f"{api_url}/v2/accounts/{account.id}/phone_numbers",
                     params={"prefix": "415", **params}, headers={"X-Auth-Token": token},
                     timeout=30)


def test_every_asked_carrier_is_reported_and_a_cached_page_reports_none(
        api_url: str, sims: dict[str, str]) -> None:
    first = _account_search(api_url, quantity=5)
    data = assert_ok(first)
    report = first.json()["carriers"]
    assert set(report) == STORE_BACKED | {"telnyx", "bandwidth2"}
    for name in STORE_BACKED:
        assert report[name] == {"outcome": "answered", "seconds": report[name]["seconds"],
                                "count": 0}
    for name in ("telnyx", "bandwidth2"):
        assert report[name]["outcome"] == "answered"
        assert report[name]["count"] > 5 and isinstance(report[name]["seconds"], float)
        assert "error" not in report[name]
    assert len(data) == 5

    account_id = first.request.url.path.split("/")[3]
    token = first.request.headers["x-auth-token"]
    second = httpx.get(f"{api_url}/v2/accounts/{account_id}/phone_numbers",
                       params={"prefix": "415", "quantity": 5, "offset": 5},
                       headers={"X-Auth-Token": token}, timeout=30)
    assert len(assert_ok(second)) == 5
    assert second.json()["carriers"] == {}  # the page came from the cache: nobody was asked


def test_a_failed_carrier_is_named_while_the_others_answer(api_url: str,
                                                           sims: dict[str, str]) -> None:
    _switch(sims["telnyx"], fail_with={"status": 500, "message": "telnyx is down"})
    answer = _account_search(api_url, quantity=3)
    assert len(assert_ok(answer)) == 3
    telnyx = answer.json()["carriers"]["telnyx"]
    assert telnyx["outcome"] == "failed" and telnyx["count"] == 0
    assert telnyx["error"]["error"] == "carrier_unavailable"
    assert telnyx["error"]["carrier"] == "knm_telnyx"
    assert "telnyx is down" in telnyx["error"]["carrier_message"]
    assert answer.json()["carriers"]["bandwidth2"]["outcome"] == "answered"


def test_nothing_found_while_carriers_failed_is_a_502_naming_them(
        api_url: str, sims: dict[str, str]) -> None:
    _switch(sims["telnyx"], fail_with={"status": 500, "message": "telnyx is down"})
    _switch(sims["bandwidth2"], empty_502=True)
    answer = _account_search(api_url)
    error = assert_error(answer, 502, "carrier_unavailable")
    assert error["cause"] == "bandwidth2, telnyx"
    assert "bandwidth2" in error["message"] and "telnyx" in error["message"]
    # knm_local answered "nothing": it does not turn the failures into an empty success
    assert error["carriers"]["local"] == {**error["carriers"]["local"], "outcome": "answered",
                                          "count": 0}
    assert error["carriers"]["telnyx"]["outcome"] == "failed"
    assert error["carriers"]["bandwidth2"]["error"]["error"] == "carrier_unavailable"
    assert answer.json()["carriers"] == error["carriers"]


def test_nothing_found_while_every_failure_was_a_timeout_is_a_504(
        api_url: str, sims: dict[str, str]) -> None:
    for url in sims.values():
        _switch(url, hang=True, hang_s=4)
    answer = _account_search(api_url)
    error = assert_error(answer, 504, "carrier_timeout")
    assert error["cause"] == "bandwidth2, telnyx"
    assert {r["outcome"] for n, r in error["carriers"].items()
            if n not in STORE_BACKED} == {"timed_out"}


def test_one_timeout_and_one_failure_is_a_502_and_one_failure_names_its_carrier(
        api_url: str, sims: dict[str, str]) -> None:
    _switch(sims["telnyx"], hang=True, hang_s=4)
    _switch(sims["bandwidth2"], fail_with={"status": 500, "message": "bandwidth is down"})
    assert_error(_account_search(api_url), 502, "carrier_unavailable")

    config.set("number_manager", "carrier_modules", ["knm_local", "knm_bandwidth2"])
    alone = assert_error(httpx.get(f"{api_url}/v2/phone_numbers", params={"prefix": "415"},
                                   timeout=30), 502, "carrier_unavailable")
    assert alone["cause"] == "bandwidth2" and alone["carrier"] == "knm_bandwidth2"
    assert "bandwidth is down" in alone["carrier_message"]


def test_every_carrier_answering_nothing_is_still_an_empty_success(
        api_url: str, sims: dict[str, str]) -> None:
    config.set("number_manager", "carrier_modules", ["knm_local"])
    answer = _account_search(api_url, quantity=5)
    assert assert_ok(answer) == []
    assert set(answer.json()["carriers"]) == STORE_BACKED
