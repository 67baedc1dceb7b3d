"""Carrier webhooks (SPEC §5.1): the Telnyx and Bandwidth simulators send their carrier's own
notifications to `webhook_url`, and the carriers' `parse_webhook` verifies and reads them —
a valid one gives the order's events, a forged or stale one is `Unauthenticated`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request

from knm import errors
from knm.carriers.base import SearchOptions, new_order_reference
from knm.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.server import BackgroundServer


class Receiver:
    """A webhook endpoint on loopback that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.app = FastAPI()

        @self.app.post("/hooks")
        async def hooks(request: Request) -> dict[str, Any]:
            self.received.append((dict(request.headers), await request.body()))
            return {"ok": True}

    def wait(self, count: int = 1, timeout: float = 5) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.received) >= count, "no webhook arrived"
        return self.received


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[Receiver, str]]:
    hooks = Receiver()
    with BackgroundServer(hooks.app) as server:
        yield hooks, server.url + "/hooks"


def _claimed(number: str) -> PhoneNumber:
    pn = PhoneNumber.new(number)
    pn.set_carrier_data({"order_reference": new_order_reference(), "order_status": "unknown"})
    return pn


def _webhook_of_a_purchase(name: str, receiver: tuple[Receiver, str], **switches: Any
                           ) -> Iterator[tuple[registry.Live, PhoneNumber, dict, bytes]]:
    hooks, url = receiver
    hooks.received.clear()
    with registry.running(name) as live:
        live.sim.set(webhook_url=url, **switches)
        number = live.carrier.find_numbers(live.spec.prefixes["local"], 3,
                                           SearchOptions())[-1].number
        pn = _claimed(number)
        try:
            live.carrier.acquire_number(pn)
        except errors.CarrierFault:
            pass  # a failed order: its webhook is what the test reads
        headers, body = hooks.wait()[-1]
        yield live, pn, headers, body


# -- Telnyx: Ed25519 ---------------------------------------------------------------------------


@pytest.fixture
def telnyx_hook(receiver: tuple[Receiver, str]
                ) -> Iterator[tuple[registry.Live, PhoneNumber, dict, bytes]]:
    yield from _webhook_of_a_purchase("telnyx", receiver)


def test_telnyx_signed_webhook_reads_as_the_orders_completion(telnyx_hook: tuple) -> None:
    live, pn, headers, body = telnyx_hook
    assert headers["telnyx-signature-ed25519"] and headers["telnyx-timestamp"]
    [event] = live.carrier.parse_webhook(headers, body)
    assert (event.operation, event.number, event.status.state) == (
        "acquire", pn.number, "complete")
    assert event.order_reference == pn.carrier_data["order_reference"]
    assert event.order_id == pn.carrier_data["order_id"]


def test_telnyx_forged_or_stale_webhooks_are_refused(telnyx_hook: tuple) -> None:
    live, pn, headers, body = telnyx_hook
    forged = body.replace(b'"success"', b'"failure"')
    with pytest.raises(errors.Unauthenticated):
        live.carrier.parse_webhook(headers, forged)
    stale = str(int(time.time()) - 3600)  # signed by the simulator, an hour ago
    with pytest.raises(errors.Unauthenticated) as info:
        live.carrier.parse_webhook({**headers, "telnyx-timestamp": stale,
                                    "telnyx-signature-ed25519": live.sim.sign(body, stale)},
                                   body)
    assert "timestamp" in info.value.message
    with pytest.raises(errors.Unauthenticated):  # another key pair's signature
        other = registry.standalone("telnyx")
        live.carrier.parse_webhook(
            {**headers, "telnyx-signature-ed25519": other.sign(body, headers["telnyx-timestamp"])},
            body)
    with pytest.raises(errors.Unauthenticated):
        live.make_carrier(webhook_public_key=None).parse_webhook(headers, body)


def test_telnyx_signed_but_unreadable_body_is_invalid(telnyx_hook: tuple) -> None:
    live, _pn, headers, _body = telnyx_hook
    junk = b"not json"
    stamp = str(int(time.time()))
    with pytest.raises(errors.Invalid):
        live.carrier.parse_webhook({"telnyx-timestamp": stamp,
                                    "telnyx-signature-ed25519": live.sim.sign(junk, stamp)}, junk)


def test_telnyx_failed_order_webhook(receiver: tuple[Receiver, str]) -> None:
    for live, pn, headers, body in _webhook_of_a_purchase(
            "telnyx", receiver, order_result="failed", order_complete_ms=30):
        [event] = live.carrier.parse_webhook(headers, body)
        assert event.status.state == "failed" and event.number == pn.number
        assert json.loads(body)["data"]["event_type"] == "number_order.complete"


def test_a_webhook_goes_out_for_an_order_nobody_polls(receiver: tuple[Receiver, str]) -> None:
    hooks, url = receiver
    hooks.received.clear()
    with registry.running("telnyx") as live:
        live.sim.set(webhook_url=url, order_complete_ms=200)
        order = live.sim.place_order(["+14155550166"], customer_reference="knm-x")
        assert order["state"] == "pending"
        headers, body = hooks.wait()[-1]
        [event] = live.carrier.parse_webhook(headers, body)
        assert event.status.state == "complete" and event.order_reference == "knm-x"


# -- Bandwidth: Basic credentials --------------------------------------------------------------


def test_bandwidth_order_and_disconnect_notifications(receiver: tuple[Receiver, str]) -> None:
    hooks, _url = receiver
    for live, pn, headers, body in _webhook_of_a_purchase("bandwidth2", receiver):
        [event] = live.carrier.parse_webhook(headers, body)
        assert (event.operation, event.number, event.status.state) == (
            "acquire", pn.number, "complete")
        assert event.order_reference == pn.carrier_data["order_reference"]
        assert event.order_id == pn.carrier_data["order_id"]
        with pytest.raises(errors.Unauthenticated):
            live.carrier.parse_webhook({**headers, "authorization": "Basic AAAA"}, body)
        with pytest.raises(errors.Unauthenticated):
            live.make_carrier(webhook_password="not-it").parse_webhook(headers, body)
        with pytest.raises(errors.Invalid):
            live.carrier.parse_webhook(headers, b"<Notification><Oops")
        live.carrier.disconnect_number(pn)
        headers, body = hooks.wait(2)[-1]
        [gone] = live.carrier.parse_webhook(headers, body)
        assert (gone.operation, gone.number, gone.status.state) == (
            "disconnect", pn.number, "complete")
