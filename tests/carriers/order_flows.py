"""What every carrier whose purchases and releases are synchronous must do against its
simulator, beyond the conformance suite: settle a purchase or release whose answer was lost
(by asking the carrier whether it holds the number), settle a refusal as `failed`, and go
through the facade — a search across carriers, `knm.numbers.move` buying from the right one —
the way Kazoo's `knm_search` / `knm_number` flow does. The carriers' own test modules call
these with their registry name (tests/carriers/test_twilio.py, …)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from knm import accounts, cache, carriers, config, errors, numbers
from knm.carriers.base import SearchOptions, short_name
from knm.carriers.orders import OrderStatus
from knm.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.server import BackgroundServer

AMBIGUOUS = ("timeout", "truncated", "empty_502", "html_500")
#: the other carrier a facade search runs beside the one under test
NEIGHBOUR = "knm_telnyx"


def unsettled_purchase(number: str, reference: str = "knm-" + "a" * 32) -> PhoneNumber:
    """A record as the operations layer hands it to a carrier for a purchase."""
    pn = PhoneNumber.new(number)
    pn.set_carrier_data({"order_reference": reference, "order_status": "unknown"})
    return pn


def unsettled_release(bought: PhoneNumber) -> PhoneNumber:
    """A bought record as the operations layer hands it to a carrier for a release."""
    pn = bought.copy()
    pn.set_carrier_data({**bought.carrier_data, "order_reference": "knm-" + "b" * 32,
                         "disconnect_status": "unknown"})
    return pn


def buyable(live: registry.Live, prefix: str | None = None) -> str:
    prefix = prefix or live.spec.prefixes["local"]
    found = live.carrier.find_numbers(prefix, 5, SearchOptions())
    assert found, f"{live.spec.carrier} offered nothing under {prefix}"
    return found[-1].number


def spoil(live: registry.Live, how: str, method: str):  # -> Carrier
    """The carrier, with the simulator set to DO the next `method` request and spoil its
    answer; a short timeout for the answer that never comes."""
    live.sim.set(ambiguous=how, match=method, times=1, hang_s=5)
    return live.make_carrier(timeout_ms=600) if how == "timeout" else live.carrier


def purchases(live: registry.Live, path: str = "") -> int:
    """How many purchase requests the simulator received (`path`: a fragment telling them
    from other requests of the same method, e.g. Vonage's routing POST)."""
    return len(live.sim.received(live.spec.purchase_method, path))


#: counts a carrier's purchase requests, for a carrier whose purchase no method and path
#: fragment tells apart (a SOAP action, a PUT beside a routing PUT on a longer path)
Counter = Callable[[registry.Live], int]


def _counter(path: str, count: Counter | None) -> Counter:
    return count or (lambda live: purchases(live, path))


def lost_purchase_settles_complete(live: registry.Live, how: str, path: str = "", *,
                                   count: Counter | None = None) -> OrderStatus:
    """A purchase whose answer is spoilt is unsettled, the carrier bought it exactly once,
    and settling says `complete` — and routes the number, whose routing request never went
    out, as configured."""
    bought = _counter(path, count)
    number = buyable(live)
    live.sim.requests.clear()
    carrier = spoil(live, how, live.spec.purchase_method)
    pn = unsettled_purchase(number)
    started = time.monotonic()
    with pytest.raises(errors.KnmError) as info:
        carrier.acquire_number(pn)
    assert info.value.unsettled is True, f"{type(info.value).__name__}: {info.value}"
    assert time.monotonic() - started < 5
    assert number in live.sim.owned
    assert bought(live) == 1
    status = live.carrier.settle(pn)
    assert status.state == "complete", status
    assert status.data["routing_status"] == "routed", status
    assert bought(live) == 1, "settling never buys"
    again = live.carrier.settle(pn)
    assert (again.state, again.data["routing_status"]) == ("complete", "routed")
    return status


def refused_purchase_settles_failed(live: registry.Live) -> None:
    """A purchase the carrier refused leaves nothing bought: settling says `failed`."""
    number = buyable(live)
    live.sim.set(fail_with={"status": 400, "message": "simulated refusal"},
                 match=live.spec.purchase_method, times=1)
    pn = unsettled_purchase(number)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is False
    assert "simulated refusal" in (info.value.carrier_message or "")
    assert number not in live.sim.owned
    assert live.carrier.settle(pn).state == "failed"


def lost_release_settles_complete(live: registry.Live, how: str) -> None:
    """A release whose answer is spoilt is unsettled, the carrier released it, and settling
    says `complete` (no longer held)."""
    number = buyable(live)
    bought = live.carrier.acquire_number(unsettled_purchase(number))
    carrier = spoil(live, how, live.spec.release_method)
    pn = unsettled_release(bought)
    with pytest.raises(errors.KnmError) as info:
        carrier.disconnect_number(pn)
    assert info.value.unsettled is True, f"{type(info.value).__name__}: {info.value}"
    assert number not in live.sim.owned
    assert live.carrier.settle(pn).state == "complete"


def refused_release_settles_failed(live: registry.Live) -> None:
    """A release the carrier refused leaves the number held: settling says `failed`."""
    number = buyable(live)
    bought = live.carrier.acquire_number(unsettled_purchase(number))
    live.sim.set(fail_with={"status": 400, "message": "number has an E911 address"},
                 match=live.spec.release_method, times=1)
    pn = unsettled_release(bought)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.disconnect_number(pn)
    assert info.value.unsettled is False
    assert number in live.sim.owned
    assert live.carrier.settle(pn).state == "failed"


# -- through knm.numbers and the facade, on a database ---------------------------------------


@contextmanager
def wired(*names: str) -> Iterator[dict[str, registry.Live]]:
    """Simulators for `names` on loopback, and knm's config pointing the carriers at them
    (what `knm demo` and an operator do): `carrier_modules` lists them in this order."""
    started: dict[str, registry.Live] = {}
    servers: list[BackgroundServer] = []
    try:
        for name in names:
            spec = registry.get(name)
            sim = spec.make_simulator()
            server = BackgroundServer(sim.app).start()
            servers.append(server)
            settings = {**registry.wire(name, server.url, sim), **spec.fast_orders}
            for key, value in settings.items():
                config.set(f"number_manager.{short_name(name)}", key, value)
            carrier = spec.make_carrier_class()(settings)
            started[name] = registry.Live(spec, sim, server, settings, carrier)
        config.set("number_manager", "carrier_modules", list(names))
        carriers.registry.clear_instances()
        yield started
    finally:
        carriers.registry.clear_instances()
        for live in started.values():
            live.carrier.close()
        for server in servers:
            server.stop()


def facade_flow(name: str, prefix: str, *, country: str = "US") -> None:
    """`knm.carriers.find` across `name` and another carrier; `knm.numbers.move` of one of
    `name`'s numbers buys it there (and nowhere else) and puts it in service; `release` gives
    it back there and knm no longer holds it."""
    with wired(name, NEIGHBOUR) as live:
        found = carriers.find(prefix, 100, country=country, query_id=f"facade-{name}")
        by_carrier: dict[str, list[str]] = {}
        for result in found:
            discovered = cache.get_cache().discovered(result["number"])
            assert discovered is not None
            by_carrier.setdefault(discovered.carrier, []).append(result["number"])
        assert set(by_carrier) == {name, NEIGHBOUR}, by_carrier
        assert all(n.startswith(prefix) for n in sum(by_carrier.values(), []))
        number = by_carrier[name][-1]
        account = accounts.create("Buyer", allow_number_additions=True)
        neighbour_before = len(live[NEIGHBOUR].sim.requests)

        pn = numbers.move(number, account.id)

        assert (pn.state, pn.assigned_to, pn.module_name) == ("in_service", account.id, name)
        assert number in live[name].sim.owned
        assert len(live[NEIGHBOUR].sim.requests) == neighbour_before
        assert numbers.get(number).state == "in_service"

        numbers.release(number)

        assert number not in live[name].sim.owned
        assert len(live[NEIGHBOUR].sim.requests) == neighbour_before
        with pytest.raises(errors.NotFound):
            numbers.get(number)


def unsettled_move_is_settled(name: str, prefix: str, how: str = "truncated",
                              path: str = "", *, count: Counter | None = None) -> None:
    """`knm.numbers.move` whose purchase answer is lost keeps the number unsettled for its
    buyer; `knm.numbers.settle` asks the carrier and puts it in service, with no second
    purchase. The same for a release: settled, the number is gone."""
    bought = _counter(path, count)
    with wired(name) as live:
        sim, spec = live[name].sim, live[name].spec
        if how == "timeout":  # the answer never comes: do not wait 10 s for it
            config.set(f"number_manager.{short_name(name)}", "timeout_ms", 600)
            carriers.registry.clear_instances()
        found = carriers.find(prefix, 5, query_id=f"unsettled-{name}")
        number = found[-1]["number"]
        account = accounts.create("Buyer", allow_number_additions=True)
        sim.set(ambiguous=how, match=spec.purchase_method, times=1, hang_s=5)
        with pytest.raises(errors.KnmError) as info:
            numbers.move(number, account.id)
        assert info.value.unsettled is True
        kept = numbers.unsettled()
        assert [pn.number for pn in kept] == [number]
        assert kept[0].carrier_data["order_reference"].startswith("knm-")
        assert number in sim.owned and bought(live[name]) == 1

        settled = numbers.settle(number)

        assert (settled.state, settled.assigned_to) == ("in_service", account.id)
        assert numbers.unsettled() == []
        assert bought(live[name]) == 1, "settling never buys"

        sim.set(ambiguous=how, match=spec.release_method, times=1, hang_s=5)
        with pytest.raises(errors.KnmError) as info:
            numbers.release(number)
        assert info.value.unsettled is True
        assert numbers.get(number).state == "in_service"  # kept until settled
        assert number not in sim.owned

        assert numbers.settle(number).state == "deleted"
        with pytest.raises(errors.NotFound):
            numbers.get(number)
