"""Every simulator at once, wired through knm.config the way `knm demo` and an operator wire
real carriers: a search fans out to all of them under one deadline, a hung carrier costs only
its own results, and a number bought through `knm.numbers.move` is ordered from — and released
at — the simulator that offered it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from conftest import DEADLINE_SLACK_S

from knm import accounts, cache, carriers, config, numbers
from knm.carriers import search
from knm.carriers.base import short_name
from knm.simulators import registry
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer

NAMES = registry.names()
#: a prefix most NANP simulators stock (their stock is generated for any area code)
SHARED_PREFIX = "+1415"
DEADLINE_MS = 1500
#: deadline of the searches that are not about deadlines (generous: CI machines are busy)
RELAXED_MS = 10000
#: numbers asked of each carrier per search (kept small: parsing is CPU, and CPU is shared)
PER_CARRIER = 100
#: time the search may take beyond its deadline (thread hand-off, merging, the cache)
MARGIN_S = DEADLINE_SLACK_S


@dataclass
class Running:
    name: str
    sim: Simulator
    server: BackgroundServer


@pytest.fixture(scope="module")
def running() -> Iterator[dict[str, Running]]:
    """Every registered simulator on its own loopback port, for the whole module."""
    started: dict[str, Running] = {}
    try:
        for name in NAMES:
            sim = registry.get(name).make_simulator()
            started[name] = Running(name, sim, BackgroundServer(sim.app).start())
        yield started
    finally:
        for live in started.values():
            live.sim.set(hang=False)
            live.server.stop()


@pytest.fixture
def wired(db: str, running: dict[str, Running]) -> Iterator[dict[str, Running]]:
    """The carriers pointed at the simulators through config, as an operator would do it."""
    for live in running.values():
        live.sim.reset()
        spec = registry.get(live.name)
        settings = {**registry.wire(live.name, live.server.url, live.sim), **spec.fast_orders}
        for key, value in settings.items():
            config.set(f"number_manager.{short_name(live.name)}", key, value)
    config.set("number_manager", "carrier_modules", list(running))
    config.set("number_manager", "number_search_timeout_ms", RELAXED_MS)
    config.set("number_manager", "maximum_search_quantity", PER_CARRIER)
    carriers.registry.clear_instances()
    yield running
    for live in running.values():
        live.sim.reset()
    carriers.registry.clear_instances()


def _carrier_of(number: str) -> str:
    found = cache.get_cache().discovered(number)
    assert found is not None, f"{number} was not remembered by the search"
    return found.carrier


def test_registry_has_several_simulators() -> None:
    assert len(NAMES) >= 3, NAMES


def test_search_across_all_simulators(wired: dict[str, Running]) -> None:
    outcome = search.find_with_report(SHARED_PREFIX, PER_CARRIER)
    answered = {name for name, report in outcome.carriers.items() if report.count > 0}
    assert len(answered) >= 3, {n: r.to_json() for n, r in outcome.carriers.items()}
    # every carrier was asked over the wire, and none of them failed
    assert set(outcome.carriers) == set(wired)
    assert all(r.outcome == search.ANSWERED for r in outcome.carriers.values())
    # the page holds numbers of several carriers, each remembered with the right carrier
    by_carrier = {_carrier_of(r["number"]) for r in outcome.results}
    assert len(by_carrier) >= 3 and by_carrier <= answered
    assert all(r["number"].startswith(SHARED_PREFIX) for r in outcome.results)
    # same search through the public facade: the same numbers (served from the cache)
    page = carriers.find(SHARED_PREFIX, 20, offset=0, query_id=outcome.query_id)
    assert [r["number"] for r in page] == [r["number"] for r in outcome.results[:20]]


def test_a_hung_carrier_costs_only_its_own_results(wired: dict[str, Running]) -> None:
    hung = "knm_telnyx" if "knm_telnyx" in wired else NAMES[0]
    healthy = search.find_with_report(SHARED_PREFIX, PER_CARRIER, query_id="healthy")
    config.set("number_manager", "number_search_timeout_ms", DEADLINE_MS)
    wired[hung].sim.set(hang=True)
    started = time.monotonic()
    outcome = search.find_with_report(SHARED_PREFIX, PER_CARRIER, query_id="one-hung")
    took = time.monotonic() - started
    assert took <= DEADLINE_MS / 1000 + MARGIN_S, f"search took {took:.2f}s"
    assert outcome.carriers[hung].outcome in (search.TIMED_OUT, search.FAILED)
    assert outcome.carriers[hung].error["error"] == "carrier_timeout"
    assert wired[hung].sim.received(), "the hung simulator was asked"
    others = {n for n, r in healthy.carriers.items() if r.count > 0 and n != hung}
    assert others and all(outcome.carriers[n].count > 0 for n in others)
    # the others offered what they offer when all are healthy; the page is theirs only
    assert {n: outcome.carriers[n].count for n in others} == {
        n: healthy.carriers[n].count for n in others}
    assert {_carrier_of(r["number"]) for r in outcome.results} == others
    # a search through the facade with the carrier still hung answers in time as well
    started = time.monotonic()
    assert carriers.find(SHARED_PREFIX, 5, query_id="facade-hung")
    assert time.monotonic() - started <= DEADLINE_MS / 1000 + MARGIN_S


@pytest.mark.parametrize("name", NAMES)
def test_buy_and_release_reach_the_right_simulator(wired: dict[str, Running],
                                                   name: str) -> None:
    account = accounts.create("Buyer", allow_number_additions=True)
    spec = registry.get(name)
    prefix = spec.prefixes["local"]
    country = "US" if prefix.startswith("+1") else spec.prefixes.get("country", "US")
    # one search across every carrier; later pages come from the search cache
    mine: list[str] = []
    for offset in range(0, PER_CARRIER * len(NAMES), 50):
        page = carriers.find(prefix, 50, offset=offset, country=country,
                             query_id=f"buy-{name}")
        mine += [r["number"] for r in page if _carrier_of(r["number"]) == name]
        if mine or not page:
            break
    assert mine, f"{name} offered nothing for {prefix}"
    number = mine[-1]
    sim = wired[name].sim
    others = [live.sim for n, live in wired.items() if n != name]
    before = {id(s): len(s.requests) for s in others}

    pn = numbers.move(number, account.id)

    assert (pn.state, pn.assigned_to, pn.module_name) == ("in_service", account.id, name)
    assert number in sim.owned, f"{name}'s simulator did not record the purchase"
    purchases = sim.received(spec.purchase_method)
    assert purchases, f"no {spec.purchase_method} reached {name}"
    # the purchase names the number, or the carrier's own id of the offer the search found
    # (DIDWW orders an `available_did_id`)
    offer = cache.get_cache().discovered(number)
    names = [number.lstrip("+")[-10:], *(v for v in (offer.carrier_data if offer else {})
                                         .values() if isinstance(v, str) and len(v) >= 8)]
    assert any(n in f"{r.path} {r.query} {r.text}" for r in purchases for n in names)
    # no other carrier was asked to buy anything
    assert all(len(s.requests) == before[id(s)] for s in others)
    assert numbers.get(number).state == "in_service"
    if "release" not in registry.get(name).make_carrier_class().capabilities:
        return  # a carrier without a release (knm_other's phonebook): nothing to check there

    released = numbers.release(number)

    assert released.state != "in_service"
    assert number not in sim.owned, f"{name}'s simulator still holds {number}"
    assert all(len(s.requests) == before[id(s)] for s in others)
