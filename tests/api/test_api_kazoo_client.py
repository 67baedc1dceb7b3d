"""A Kazoo client's whole session against `knm serve`, as the issue's "done when" puts it.

The server is the `knm` command itself (`knm serve --workers 2 --db …`) in its own process,
on each database; the carrier behind it is the Telnyx simulator on loopback. The client knows
only Crossbar's conventions: `PUT /v2/api_auth` with `{"data": {"api_key"}}`, the
`X-Auth-Token` header, `{"data": …}` bodies, numbers in the path `%2B`-encoded. It
authenticates, searches, creates, buys, reads, lists and releases numbers. The second test
does the same through `kazoo-sdk` (PyPI), a Kazoo client library used unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import kazoo  # kazoo-sdk: a Kazoo client library, a test dependency
import pytest
from api_support import knm_serve_process as _knm_serve
from kazoo.exceptions import KazooApiError

from knm import accounts, config
from knm.simulators import registry
from knm.simulators.server import BackgroundServer


@pytest.fixture
def telnyx() -> Iterator[tuple[object, BackgroundServer]]:
    spec = registry.get("knm_telnyx")
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        yield sim, server


@pytest.fixture
def knm_serve(db: str, tmp_path: Path) -> Iterator[str]:
    with _knm_serve(db, tmp_path) as url:
        yield url


def _reseller_on_telnyx(telnyx) -> tuple[accounts.Account, str]:  # type: ignore[no-untyped-def]
    """A reseller account with an API key; the system's carriers: local, then Telnyx."""
    sim, sim_server = telnyx
    reseller = accounts.create("reseller", is_reseller=True, allow_number_additions=True)
    key = accounts.create_api_key(reseller.id)
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_telnyx"])
    for name, value in {**registry.wire("knm_telnyx", sim_server.url, sim),
                        **registry.get("knm_telnyx").fast_orders}.items():
        config.set("number_manager.telnyx", name, value)
    return reseller, key


def test_kazoo_client_authenticates_searches_creates_buys_reads_lists_releases(
        db: str, telnyx, knm_serve: str, tmp_path: Path) -> None:
    sim, _ = telnyx
    reseller, key = _reseller_on_telnyx(telnyx)

    with httpx.Client(base_url=knm_serve, timeout=30) as client:
        # authenticate: an API key for a token, Crossbar's shape
        auth = client.put("/api_auth", json={"data": {"api_key": key}})
        assert auth.status_code == 201, auth.text
        assert auth.json()["data"]["account_id"] == reseller.id
        token = auth.json()["auth_token"]
        headers = {"X-Auth-Token": token}
        numbers = f"/accounts/{reseller.id}/phone_numbers"

        def path(number: str, tail: str = "") -> str:
            return f"{numbers}/{number.replace('+', '%2B')}{tail}"

        # search: the carrier's stock, offered in state discovery
        found = client.get(numbers, params={"prefix": "415", "quantity": 3}, headers=headers)
        assert found.status_code == 200, found.text
        offered = [row["number"] for row in found.json()["data"]]
        assert len(offered) == 3 and all(n.startswith("+1415") for n in offered)
        assert sim.received("GET", "/available_phone_numbers")

        # create: a number the reseller brings itself
        own = "+14155550177"
        made = client.put(path(own), headers=headers,
                          json={"data": {"create_with_state": "in_service",
                                         "label": {"display_name": "ACME"}}})
        assert made.status_code == 201, made.text
        assert made.json()["data"]["_read_only"]["state"] == "in_service"

        # buy: the number is ordered from the carrier and lands in the account
        bought = client.put(path(offered[0], "/activate"), headers=headers, json={"data": {}})
        assert bought.status_code == 201, bought.text
        assert bought.json()["data"]["_read_only"]["state"] == "in_service"
        assert bought.json()["data"]["_read_only"]["carrier_module"] == "telnyx"
        assert offered[0] in sim.owned  # the carrier really sold it

        # read
        read = client.get(path(offered[0]), headers=headers)
        assert read.status_code == 200, read.text
        assert read.json()["data"]["id"] == offered[0]
        assert read.json()["data"]["_read_only"]["assigned_to"] == reseller.id
        mine = client.get(path(own), headers=headers).json()["data"]
        assert mine["label"] == {"display_name": "ACME"}

        # list: both numbers in the account, Crossbar's `numbers` map
        listed = client.get(numbers, headers=headers)
        assert listed.status_code == 200, listed.text
        held = listed.json()["data"]["numbers"]
        assert set(held) == {own, offered[0]}
        assert all(row["state"] == "in_service" for row in held.values())

        # release: the carrier is told, and the numbers leave the account
        for number in (offered[0], own):
            gone = client.delete(path(number), headers=headers)
            assert gone.status_code == 200, gone.text
        assert offered[0] not in sim.owned
        assert sim.received("DELETE", "/phone_numbers/")
        after = client.get(numbers, headers=headers).json()["data"]["numbers"]
        assert after == {}

        # the token is the only credential the client used; the server never echoed the key
        assert key not in (tmp_path / "serve.log").read_text()


def test_kazoo_sdk_works_unchanged(db: str, telnyx, knm_serve: str) -> None:
    sim, _ = telnyx
    reseller, key = _reseller_on_telnyx(telnyx)
    client = kazoo.Client(api_key=key, base_url=knm_serve)
    assert client.authenticate()

    found = client.search_phone_numbers("415", 3)  # the system search, GET /v2/phone_numbers
    assert found["status"] == "success" and len(found["data"]) == 3
    offered = found["data"][0]["number"]
    # the SDK puts the number in the path with its raw `+`, and sends no body for an empty
    # `data` (create, and activate with {})
    own = "+14155550188"
    made = client.create_phone_number(reseller.id, own)
    assert made["data"]["_read_only"]["state"] == "in_service"
    bought = client.activate_phone_number(reseller.id, offered, {})
    assert bought["data"]["_read_only"]["state"] == "in_service"
    assert offered in sim.owned
    assert client.get_phone_number(reseller.id, offered)["data"]["id"] == offered
    assert set(client.get_phone_numbers(reseller.id)["data"]["numbers"]) == {own, offered}
    updated = client.update_phone_number(reseller.id, own, {"label": {"display_name": "ACME"}})
    assert updated["data"]["label"] == {"display_name": "ACME"}
    assert client.delete_phone_number(reseller.id, offered)["status"] == "success"
    assert offered not in sim.owned
    assert set(client.get_phone_numbers(reseller.id)["data"]["numbers"]) == {own}
    # errors arrive in the envelope the SDK reads: its exception carries Kazoo's slug
    with pytest.raises(KazooApiError) as missing:
        client.get_phone_number(reseller.id, "+19995550000")
    assert "not_found" in missing.value.args


def test_a_number_found_through_one_server_is_bought_through_another(
        db: str, telnyx, tmp_path: Path) -> None:
    """What a multi-worker `knm serve` does to a client: its search and its `activate` may be
    served by different processes. Two servers on one database show it deterministically."""
    sim, _ = telnyx
    reseller, key = _reseller_on_telnyx(telnyx)
    with _knm_serve(db, tmp_path / "a", workers=1) as a, \
            _knm_serve(db, tmp_path / "b", workers=1) as b:
        token = httpx.put(a + "/api_auth", json={"data": {"api_key": key}}
                          ).json()["auth_token"]
        headers = {"X-Auth-Token": token}
        path = f"/accounts/{reseller.id}/phone_numbers"
        found = httpx.get(a + path, params={"prefix": "415", "quantity": 20}, headers=headers)
        assert found.status_code == 200, found.text
        numbers = [row["number"] for row in found.json()["data"]]
        later = httpx.get(b + path, params={"prefix": "415", "quantity": 5, "offset": 5},
                          headers=headers)
        assert [row["number"] for row in later.json()["data"]] == numbers[5:10]
        asked = len(sim.received("GET", "/available_phone_numbers"))
        assert asked == 1  # the second page came from the shared cache, not the carrier
        bought = httpx.put(f"{b}{path}/{numbers[7].replace('+', '%2B')}/activate",
                           json={"data": {}}, headers=headers)
        assert bought.status_code == 201, bought.text
        assert numbers[7] in sim.owned
