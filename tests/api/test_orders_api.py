"""Orders over HTTP (SPEC §5.1, §10): an account's unsettled orders, "settle now", and the
carrier's signed webhook settling a purchase at once — Telnyx's simulator and knm's API over
loopback, on both databases."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from knm import accounts, config, numbers
from knm.simulators import registry
from knm.simulators.server import BackgroundServer


@dataclass
class Setup:
    api: httpx.Client
    sim: object
    account: str
    child: str
    token: str

    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}

    def path(self, tail: str = "", account: str | None = None) -> str:
        base = f"/v2/accounts/{account or self.account}/phone_numbers"
        return f"{base}/{tail}" if tail else base


@pytest.fixture
def setup(db: str) -> Iterator[Setup]:
    from knm.api import create_app

    spec = registry.get("knm_telnyx")
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as sim_server, BackgroundServer(create_app()) as api_server, \
            httpx.Client(base_url=api_server.url, timeout=20) as client:
        settings = {**registry.wire("knm_telnyx", sim_server.url, sim),
                    "order_poll_interval_ms": 50, "order_timeout_s": 0.3,
                    "webhook_public_key": sim.webhook_public_key}
        for key, value in settings.items():
            config.set("number_manager.telnyx", key, value)
        config.set("number_manager", "carrier_modules", ["knm_local", "knm_telnyx"])
        # no background settler: what settles here is the request or the webhook under test
        config.set("number_manager", "order_settle_interval_s", 0)
        reseller = accounts.create("Reseller", is_reseller=True)
        child = accounts.create("Child", parent_id=reseller.id)
        key = accounts.create_api_key(reseller.id)
        token = client.put("/v2/api_auth", json={"data": {"api_key": key}}).json()["auth_token"]
        yield Setup(client, sim, reseller.id, child.id, token)


def _buy_pending(s: Setup, account: str) -> str:
    """A purchase the carrier is still working on when knm stops waiting."""
    found = s.api.get(s.path(account=account), params={"prefix": "415", "quantity": 3},
                      headers=s.headers()).json()["data"]
    number = found[0]["number"]
    s.sim.set(order_result="never")
    answer = s.api.put(s.path(f"{number}/activate", account), json={"data": {}},
                       headers=s.headers())
    assert answer.status_code == 504 and answer.json()["data"]["unsettled"] is True
    return number


def test_an_accounts_orders_are_listed_and_settled_now(setup: Setup) -> None:
    s = setup
    number = _buy_pending(s, s.child)  # the child's purchase: the reseller sees it
    listed = s.api.get(s.path("orders"), headers=s.headers())
    assert listed.status_code == 200
    [order] = listed.json()["data"]
    assert (order["number"], order["operation"], order["status"], order["account_id"]) == \
        (number, "acquire", "pending", s.child)
    assert order["carrier"] == "knm_telnyx" and order["order_id"]
    assert order["order_reference"].startswith("knm-")
    # still pending at the carrier: settling leaves it, and says so per number
    pending = s.api.post(s.path("orders/settle"), json={"data": {}}, headers=s.headers())
    assert pending.status_code == 400
    assert pending.json()["data"]["error"][number]["error"] == "carrier_timeout"
    s.sim.set(order_result="complete")
    done = s.api.post(s.path("orders/settle"), json={"data": {"numbers": [number]}},
                      headers=s.headers())
    assert done.status_code == 200, done.text
    settled = done.json()["data"]["success"][number]
    assert settled["_read_only"]["state"] == "in_service"
    assert s.api.get(s.path("orders"), headers=s.headers()).json()["data"] == []
    assert numbers.get(number).assigned_to == s.child


def test_a_signed_webhook_settles_at_once_and_a_forged_one_is_refused(setup: Setup) -> None:
    s = setup
    number = _buy_pending(s, s.account)
    forged = s.api.post("/v2/carriers/telnyx/webhooks", content=b'{"data": {}}',
                        headers={"telnyx-signature-ed25519": "AAAA", "telnyx-timestamp":
                                 str(int(time.time()))})
    assert forged.status_code == 401
    assert numbers.unsettled()[0].number == number  # nothing changed
    hook_url = str(s.api.base_url).rstrip("/") + "/v2/carriers/telnyx/webhooks"
    started = time.time()
    s.sim.set(order_result="complete", order_complete_ms=0, webhook_url=hook_url)
    # the carrier completes the order and tells knm: settled without anyone asking
    s.sim.order_progress(numbers.unsettled()[0].carrier_data["order_id"])
    deadline = time.monotonic() + 5
    while numbers.unsettled() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert numbers.unsettled() == []
    assert numbers.get(number).state == "in_service"
    # nobody asked the carrier: no order lookup after the purchase gave up waiting
    polls = [r for r in s.sim.received("GET", "/number_orders") if r.at > started]
    assert polls == []


def test_orders_of_another_account_are_not_reachable(setup: Setup) -> None:
    s = setup
    stranger = accounts.create("Stranger", is_reseller=True)
    answer = s.api.get(s.path("orders", stranger.id), headers=s.headers())
    assert answer.status_code == 403
