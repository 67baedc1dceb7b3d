"""knm.carriers.http: the plumbing every HTTP carrier shares, through a minimal carrier."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from conftest import DEADLINE_SLACK_S
from fastapi import FastAPI

from knm import errors
from knm.carriers.base import Setting
from knm.carriers.http import HttpCarrier, OrderStatus, error_class_for_status, parse_xml_text
from knm.record import PhoneNumber
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer


class EchoSim(Simulator):
    name = "knm_echo"

    def routes(self, app: FastAPI) -> None:
        @app.get("/ping")
        def ping() -> dict:
            return {"ok": True}


class Echo(HttpCarrier):
    name = "knm_echo"
    default_base_url = "https://echo.invalid"
    async_orders = True
    settings = (Setting("api_key", required=True, secret=True),)

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        return []


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[EchoSim, str]]:
    sim = EchoSim()
    with BackgroundServer(sim.app) as srv:
        yield sim, srv.url


def test_settings_are_merged_with_defaults() -> None:
    names = [s.name for s in Echo.settings]
    assert names[:4] == ["base_url", "timeout_ms", "enable_provisioning", "sandbox_provisioning"]
    assert {"order_poll_interval_ms", "order_timeout_s", "api_key"} <= set(names)
    carrier = Echo({"api_key": "k-123456"})
    assert carrier.config["base_url"] == "https://echo.invalid"
    assert carrier.config["order_poll_interval_ms"] == 2000
    assert carrier.config["order_timeout_s"] == 120
    assert carrier.config["sandbox_provisioning"] is False


def test_status_table() -> None:
    assert error_class_for_status(401) is errors.CarrierCredentials
    assert error_class_for_status(404) is errors.CarrierNotFound
    assert error_class_for_status(409) is errors.NumberUnavailable
    assert error_class_for_status(429) is errors.RateLimited
    assert error_class_for_status(503) is errors.CarrierUnavailable
    assert error_class_for_status(418) is errors.CarrierFault


def test_scrub_masks_plain_encoded_and_header_forms() -> None:
    carrier = Echo({"api_key": "s3cr3t/+key"})
    text = carrier.scrub("k=s3cr3t/+key q=s3cr3t%2F%2Bkey Authorization: Bearer abc.def")
    assert "s3cr3t" not in text and "abc.def" not in text


def test_request_timeout_never_outlives_the_deadline(server) -> None:
    sim, url = server
    sim.reset()
    sim.set(hang=True, hang_s=3)
    carrier = Echo({"api_key": "k-123456", "base_url": url, "timeout_ms": 10000})
    started = time.monotonic()
    with pytest.raises(errors.CarrierTimeout):
        carrier.get("/ping", deadline=time.monotonic() + 0.2)
    assert time.monotonic() - started < 0.2 + DEADLINE_SLACK_S
    with pytest.raises(errors.CarrierTimeout):  # a spent deadline sends nothing
        carrier.get("/ping", deadline=time.monotonic() - 1)
    sim.reset()


def test_latency_is_applied(server) -> None:
    sim, url = server
    sim.reset()
    sim.set(latency_ms=150)
    carrier = Echo({"api_key": "k-123456", "base_url": url})
    started = time.monotonic()
    assert carrier.get("/ping").json() == {"ok": True}
    assert time.monotonic() - started >= 0.15
    sim.reset()


def test_xml_parser_refuses_entities_and_dtds() -> None:
    with pytest.raises(ValueError):
        parse_xml_text('<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>')
    with pytest.raises(ValueError):
        parse_xml_text("<x><unclosed></x>")
    assert parse_xml_text("<x><y>1</y></x>").findtext("y") == "1"


def test_poll_order_completes_fails_or_stays_pending() -> None:
    carrier = Echo({"api_key": "k-123456", "order_poll_interval_ms": 5, "order_timeout_s": 0.2})
    states = iter(["pending", "pending", "complete"])
    done = carrier.poll_order(PhoneNumber.new("+14155550100"), "o1",
                              lambda: OrderStatus(next(states), "X"))
    assert done.state == "complete"
    with pytest.raises(errors.CarrierFault) as info:
        carrier.poll_order(PhoneNumber.new("+14155550100"), "o2",
                           lambda: OrderStatus("failed", "FAILED", message="nope"))
    assert info.value.carrier_message == "nope"
    pn = PhoneNumber.new("+14155550100")
    started = time.monotonic()
    with pytest.raises(errors.CarrierTimeout) as info:
        carrier.poll_order(pn, "o3", lambda: OrderStatus("pending", "RECEIVED"))
    assert time.monotonic() - started < 0.2 + DEADLINE_SLACK_S  # order_timeout_s
    assert pn.carrier_data == {"order_id": "o3", "order_status": "pending"}
    assert info.value.pending is pn


def test_control_endpoints_over_http(server) -> None:
    import httpx

    sim, url = server
    sim.reset()
    assert httpx.post(f"{url}/_sim/switches", json={"latency_ms": 5}).json()["latency_ms"] == 5
    assert sim.switches.latency_ms == 5
    assert httpx.post(f"{url}/_sim/switches", json={"nope": 1}).status_code == 400
    httpx.get(f"{url}/ping")
    assert httpx.get(f"{url}/_sim/requests").json()[-1]["path"] == "/ping"
    httpx.post(f"{url}/_sim/reset")
    assert sim.switches.latency_ms == 0 and not sim.requests
