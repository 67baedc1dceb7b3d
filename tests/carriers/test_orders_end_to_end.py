"""The carrier side of SPEC §5.1 through the operations layer, over real HTTP: a purchase
whose answer the simulator spoils is kept unsettled, and `knm.numbers.settle` — or the
carrier's webhook — finishes it with what the carrier says, for every HTTP carrier that
settles; a release likewise."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from fastapi import FastAPI, Request

from knm import accounts, carriers, config, errors, numbers
from knm.carriers.base import short_name
from knm.simulators import registry
from knm.simulators.server import BackgroundServer

SETTLING = [n for n in registry.names()
            if "settle" in registry.get(n).make_carrier_class().capabilities]
#: carriers whose API takes a client reference with a purchase
TAKES_A_REFERENCE = {"knm_telnyx", "knm_bandwidth2", "knm_voip_innovations"}


@pytest.fixture
def wired(request: pytest.FixtureRequest, sqlite_db: str) -> Iterator[registry.Live]:
    name = request.param
    spec = registry.get(name)
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        for key, value in {**registry.wire(name, server.url, sim), **spec.fast_orders}.items():
            config.set(f"number_manager.{short_name(name)}", key, value)
        config.set("number_manager", "carrier_modules", [name])
        carriers.registry.clear_instances()
        carrier = carriers.get_carrier(name)
        yield registry.Live(spec, sim, server, {}, carrier)
    carriers.registry.clear_instances()


def _offered(live: registry.Live) -> str:
    prefix = live.spec.prefixes["local"]
    country = "US" if prefix.startswith("+1") else live.spec.prefixes.get("country", "US")
    return carriers.find(prefix, 3, country=country, query_id=f"e2e-{time.time()}")[-1]["number"]


@pytest.mark.parametrize("wired", SETTLING, indirect=True)
def test_a_lost_purchase_answer_is_kept_then_settled_in_service(wired: registry.Live) -> None:
    live = wired
    buyer = accounts.create("Buyer", allow_number_additions=True)
    number = _offered(live)
    live.sim.set(ambiguous="html_500", match=live.spec.purchase_method, times=1)
    with pytest.raises(errors.KnmError) as info:
        numbers.move(number, buyer.id)
    assert info.value.unsettled is True
    kept = {pn.number: pn for pn in numbers.unsettled()}
    assert number in kept and kept[number].pending_operation == "acquire"
    if live.spec.carrier in TAKES_A_REFERENCE:
        sent = kept[number].carrier_data["order_reference"]
        wire = [f"{r.query} {r.text}" for r in live.sim.received(live.spec.purchase_method)]
        assert any(sent in text for text in wire), "knm's stored reference went to the carrier"
    settled = numbers.settle([number])
    assert not settled.failed, {n: e.to_json() for n, e in settled.failed.items()}
    [pn] = settled.succeeded
    assert (pn.state, pn.assigned_to) == ("in_service", buyer.id)
    assert numbers.unsettled() == []
    assert len([o for o in getattr(live.sim, "orders", {}).values()
                if number in o.get("numbers", ())]) <= 1, "never ordered twice"


@pytest.mark.parametrize("wired", [n for n in SETTLING
                                   if "release" in registry.get(n).make_carrier_class()
                                   .capabilities], indirect=True)
def test_a_lost_release_answer_is_kept_then_settled_released(wired: registry.Live) -> None:
    live = wired
    buyer = accounts.create("Buyer", allow_number_additions=True)
    number = _offered(live)
    numbers.move(number, buyer.id)
    live.sim.set(ambiguous="truncated", match=live.spec.release_method, times=1)
    with pytest.raises(errors.KnmError) as info:
        numbers.release(number)
    assert info.value.unsettled is True
    assert number not in live.sim.owned
    settled = numbers.settle([number])
    assert not settled.failed, {n: e.to_json() for n, e in settled.failed.items()}
    assert numbers.unsettled() == []
    with pytest.raises(errors.NotFound):
        numbers.get(number)  # released at the carrier: knm no longer holds it


@pytest.mark.parametrize("wired", ["knm_telnyx", "knm_bandwidth2"], indirect=True)
def test_a_lost_purchase_answer_is_settled_by_the_carriers_webhook(wired: registry.Live
                                                                  ) -> None:
    live = wired
    hooks: list[tuple[dict[str, str], bytes]] = []
    receiver = FastAPI()

    @receiver.post("/hooks")
    async def receive(request: Request) -> dict[str, bool]:
        hooks.append((dict(request.headers), await request.body()))
        return {"ok": True}

    buyer = accounts.create("Buyer", allow_number_additions=True)
    number = _offered(live)
    with BackgroundServer(receiver) as hook_server:
        live.sim.set(ambiguous="empty_502", match="POST", times=1, order_complete_ms=100,
                     webhook_url=hook_server.url + "/hooks")
        with pytest.raises(errors.KnmError) as info:
            numbers.move(number, buyer.id)
        assert info.value.unsettled is True
        deadline = time.monotonic() + 5
        while not hooks and time.monotonic() < deadline:
            time.sleep(0.02)
    assert hooks, "the simulator sent its webhook"
    [outcome] = numbers.apply_webhook(short_name(live.spec.carrier), *hooks[-1])
    assert numbers.get(number).state == "in_service" and numbers.unsettled() == []
    assert outcome is not None
