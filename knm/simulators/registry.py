"""Which simulator stands in for which carrier, and how to point the carrier at it.

One entry per built-in HTTP carrier. The conformance suite (tests/test_conformance.py), the
benchmarks and `knm demo` read this table, so a carrier joins all three by adding an entry::

    register(SimulatorSpec(
        carrier="knm_acme",
        simulator="knm.simulators.acme:AcmeSimulator",      # imported lazily
        config=lambda sim, url: {"base_url": url, "api_key": sim.credentials["api_key"]},
        prefixes={"local": "+1415", "npanxx": "+1415886", "tollfree": "+1800"},
    ))

`config(sim, url)` returns the carrier's settings for a simulator listening on `url` (it may
read the simulator's credentials). `prefixes` says which searches the carrier supports and a
prefix for each that the simulator stocks (keys: `local`, `npanxx`, `tollfree`,
`international`, with `country` for the last). `xml` marks carriers whose wire format is XML
(they get the XML-bomb test).

    with running("knm_telnyx") as live:    # simulator on loopback + a carrier wired to it
        live.carrier.find_numbers("+1415", 5, SearchOptions())
        live.sim.set(latency_ms=100)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from knm.carriers.base import Carrier, full_name
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer


@dataclass(frozen=True)
class SimulatorSpec:
    carrier: str
    simulator: str  # "module:Class"
    config: Callable[[Simulator, str], dict[str, Any]]
    prefixes: dict[str, str] = field(default_factory=dict)
    xml: bool = False
    #: config added when the carrier's orders are asynchronous, so tests do not wait 2 s
    fast_orders: dict[str, Any] = field(default_factory=lambda: {
        "order_poll_interval_ms": 20, "order_timeout_s": 2})
    carrier_class: str = ""  # "module:Class"; default from the carrier name
    #: HTTP methods of a search and of a purchase on this carrier's wire (SOAP: POST both)
    search_method: str = "GET"
    purchase_method: str = "POST"

    def make_simulator(self, **kw: Any) -> Simulator:
        return _load(self.simulator)(**kw)

    def make_carrier_class(self) -> type[Carrier]:
        if self.carrier_class:
            return _load(self.carrier_class)
        from importlib.metadata import entry_points

        short = self.carrier.removeprefix("knm_")
        for ep in entry_points(group="knm.carriers"):
            if ep.name == short:
                return ep.load()
        raise LookupError(f"no carrier class for {self.carrier}")


SIMULATORS: dict[str, SimulatorSpec] = {}


def register(spec: SimulatorSpec) -> SimulatorSpec:
    SIMULATORS[spec.carrier] = spec
    return spec


def get(name: str) -> SimulatorSpec:
    return SIMULATORS[full_name(name)]


def names() -> list[str]:
    """Carrier names with a simulator whose module can be imported, sorted."""
    out = []
    for name, spec in sorted(SIMULATORS.items()):
        try:
            importlib.import_module(spec.simulator.split(":")[0])
        except ImportError:
            continue
        out.append(name)
    return out


@dataclass
class Live:
    """A simulator running on loopback and a carrier instance pointed at it."""

    spec: SimulatorSpec
    sim: Simulator
    server: BackgroundServer
    config: dict[str, Any]
    carrier: Carrier

    @property
    def url(self) -> str:
        return self.server.url

    def make_carrier(self, **overrides: Any) -> Carrier:
        """Another carrier instance on the same simulator, with settings changed."""
        config = {**self.config, **overrides}
        return self.spec.make_carrier_class()({k: v for k, v in config.items()
                                               if v is not None})


@contextmanager
def running(name: str, *, fast: bool = True, **overrides: Any) -> Iterator[Live]:
    """Start `name`'s simulator, yield a `Live` with a wired carrier, stop it afterwards."""
    spec = get(name)
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        cls = spec.make_carrier_class()
        config = dict(spec.config(sim, server.url))
        if fast and getattr(cls, "async_orders", False):
            config.update(spec.fast_orders)
        config.update(overrides)
        carrier = cls(config)
        try:
            yield Live(spec, sim, server, config, carrier)
        finally:
            carrier.close()


def wire(name: str, url: str, sim: Simulator | None = None) -> dict[str, Any]:
    """The settings (`number_manager.<short>`) pointing carrier `name` at a simulator on
    `url` — what `knm demo` writes into the config."""
    spec = get(name)
    return dict(spec.config(sim or spec.make_simulator(), url))


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- the built-in simulators ------------------------------------------------------------------

register(SimulatorSpec(
    carrier="knm_bandwidth2",
    simulator="knm.simulators.bandwidth2:Bandwidth2Simulator",
    config=lambda sim, url: {
        "base_url": url, "account_id": sim.credentials["account_id"],
        "api_username": sim.credentials["api_username"],
        "api_password": sim.credentials["api_password"], "site_id": "1337",
        "sip_peer": "13337"},
    prefixes={"local": "+1973", "npanxx": "+1415886", "tollfree": "+1855"},
    xml=True,
))

register(SimulatorSpec(
    carrier="knm_telnyx",
    simulator="knm.simulators.telnyx:TelnyxSimulator",
    config=lambda sim, url: {"base_url": url, "api_key": sim.credentials["api_key"],
                             "connection_id": "1494404757140276705"},
    prefixes={"local": "+1415", "npanxx": "+1301359", "tollfree": "+1800",
              "international": "+441", "country": "GB"},
))

register(SimulatorSpec(
    carrier="knm_vitelity",
    simulator="knm.simulators.vitelity:VitelitySimulator",
    config=lambda sim, url: {"base_url": url, "login": sim.credentials["login"],
                             "password": sim.credentials["password"], "routesip": "1.2.3.4"},
    prefixes={"local": "+1415", "npanxx": "+1415886", "tollfree": "+1800"},
    xml=True,
))

register(SimulatorSpec(
    carrier="knm_voip_innovations",
    simulator="knm.simulators.voip_innovations:VoipInnovationsSimulator",
    config=lambda sim, url: {"base_url": url + "/Services/APIService.asmx",
                             "login": sim.credentials["login"],
                             "password": sim.credentials["secret"], "endpoint_group": "8674"},
    prefixes={"local": "+1435", "npanxx": "+1435201", "tollfree": "+1877"},
    xml=True,
    search_method="POST",
))

register(SimulatorSpec(
    carrier="knm_simwood",
    simulator="knm.simulators.simwood:SimwoodSimulator",
    config=lambda sim, url: {"base_url": url + "/v3/numbers",
                             "auth_username": sim.credentials["username"],
                             "auth_password": sim.credentials["password"],
                             "simwood_account_id": sim.credentials["account"]},
    prefixes={"local": "+44207", "international": "+44161", "country": "GB"},
    purchase_method="PUT",
))
