"""Which simulator stands in for which carrier, and how to point the carrier at it.

One entry per built-in HTTP carrier. The conformance suite (tests/carriers/test_conformance.py), the
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

`knm simulate CARRIER` runs one simulator alone: `standalone(name)` builds it (with its
default credentials, or the ones given), `wire(name, url, sim)` gives the settings pointing
knm at it and `config_commands(name, url, sim)` the `knm config set` lines that write them.
"""

from __future__ import annotations

import importlib
import json
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from knm.carriers.base import Carrier, full_name, short_name
from knm.carriers.registry import carrier_class
from knm.simulators.base import Simulator
from knm.simulators.phonebook import REGISTRY_NUMBERS
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
    release_method: str = "DELETE"
    #: constructor arguments of the simulator when none are given (credentials it needs to
    #: pass the conformance suite, e.g. a key for a protocol where one is optional)
    defaults: dict[str, Any] = field(default_factory=dict)
    #: path of the request a search's numbers come from, for a carrier whose search is
    #: several requests (DIDWW looks its DID groups up first); "" = any request
    search_path: str = ""
    #: path fragment of the carrier's OAuth2 token endpoint, for one that mints bearer tokens:
    #: a token request is not the operation's, so counting a purchase's requests leaves it
    #: out (its simulator keeps failure switches off it unless `match` names it); "" = none
    token_path: str = ""

    def make_simulator(self, **kw: Any) -> Simulator:
        return _load(self.simulator)(**{**self.defaults, **kw})

    def make_carrier_class(self) -> type[Carrier]:
        if self.carrier_class:
            return _load(self.carrier_class)
        cls = carrier_class(self.carrier)
        if cls is None:
            raise LookupError(f"no carrier class for {self.carrier}")
        return cls


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


def standalone(name: str, **credentials: Any) -> Simulator:
    """One simulator, to run on its own (`knm simulate`): its default credentials, or those
    given (`standalone("telnyx", api_key="KEY…")`). Its ASGI app is `.app`."""
    return get(name).make_simulator(**credentials)


def config_commands(name: str, url: str, sim: Simulator) -> list[str]:
    """The `knm config set` commands pointing knm's carrier `name` at `sim` on `url` (the
    simulator's own test credentials are shown: they are not secrets of anyone's)."""
    category = f"number_manager.{short_name(full_name(name))}"
    out = []
    for key, value in wire(name, url, sim).items():
        text = value if isinstance(value, str) else json.dumps(value)
        out.append(f"knm config set {category} {key} {shlex.quote(str(text))}")
    return out


def _load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


# -- the built-in simulators ------------------------------------------------------------------

register(SimulatorSpec(
    carrier="knm_bandwidth2",
    simulator="knm.simulators.bandwidth2:Bandwidth2Simulator",
    # the default knm speaks: the Universal Platform (v2, E.164) with OAuth2 client
    # credentials; the v1 wire and Basic auth are tested in tests/carriers/test_bandwidth2.py
    config=lambda sim, url: {
        "base_url": url + "/api/v2", "token_url": url + "/api/v1/oauth2/token",
        "account_id": sim.credentials["account_id"],
        "client_id": sim.credentials["client_id"],
        "client_secret": sim.credentials["client_secret"], "site_id": "1337",
        "sip_peer": "13337", "webhook_username": sim.credentials["webhook_username"],
        "webhook_password": sim.credentials["webhook_password"]},
    prefixes={"local": "+1973", "npanxx": "+1415886", "tollfree": "+1855",
              "international": "+44161", "country": "GB"},
    xml=True,
    release_method="POST",
    token_path="/oauth2/token",
))

register(SimulatorSpec(
    carrier="knm_telnyx",
    simulator="knm.simulators.telnyx:TelnyxSimulator",
    config=lambda sim, url: {"base_url": url, "api_key": sim.credentials["api_key"],
                             "connection_id": "1494404757140276705",
                             "webhook_public_key": sim.webhook_public_key},
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
    release_method="POST",
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
    release_method="POST",
))

register(SimulatorSpec(
    carrier="knm_simwood",
    simulator="knm.simulators.simwood:SimwoodSimulator",
    config=lambda sim, url: {"base_url": url + "/v3/numbers",
                             "auth_username": sim.credentials["username"],
                             "auth_password": sim.credentials["password"],
                             "simwood_account_id": sim.credentials["account"],
                             "routing": "%e164@pbx.knm.example"},
    prefixes={"local": "+44207", "international": "+44161", "country": "GB"},
    purchase_method="PUT",
))

register(SimulatorSpec(
    carrier="knm_other",
    simulator="knm.simulators.phonebook:PhonebookSimulator",
    config=lambda sim, url: {"phonebook_url": url,
                             **({"api_key": sim.credentials["api_key"]}
                                if sim.credentials.get("api_key") else {})},
    prefixes={"local": "+1415", "npanxx": "+1415886"},
    purchase_method="PUT",
    defaults={"api_key": "phonebook-sim-key", "numbers": REGISTRY_NUMBERS},
))

register(SimulatorSpec(
    carrier="knm_didww",
    simulator="knm.simulators.didww:DidwwSimulator",
    # API version 2026-04-16 (Api-Key); the bearer mode is tested in tests/carriers
    config=lambda sim, url: {"base_url": url + "/v3", "api_key": sim.credentials["api_key"],
                             "trunk_id": sim.standing_trunk},
    prefixes={"local": "+1415", "npanxx": "+1415333", "tollfree": "+1800",
              "international": "+4420", "country": "GB"},
    release_method="PATCH",
    search_path="/v3/available_dids",
    defaults={"trunk_id": "7a1f0c2e-5b7d-4e11-9c3a-0d1f2e3a4b5c"},
))

register(SimulatorSpec(
    carrier="knm_sinch",
    simulator="knm.simulators.sinch:SinchSimulator",
    # Basic auth: the simulator's reset forgets OAuth2 tokens (tests/carriers test OAuth2)
    config=lambda sim, url: {"base_url": url, "project_id": sim.credentials["project_id"],
                             "key_id": sim.credentials["key_id"],
                             "key_secret": sim.credentials["key_secret"], "auth": "basic",
                             "trunk_id": "knm-est-trunk"},
    prefixes={"local": "+1206", "npanxx": "+1206555", "tollfree": "+1800",
              "international": "+4420", "country": "GB"},
    release_method="POST",
))

register(SimulatorSpec(
    carrier="knm_twilio",
    simulator="knm.simulators.twilio:TwilioSimulator",
    config=lambda sim, url: {"base_url": url, "trusthub_url": url + "/v1",
                             "account_sid": sim.credentials["account_sid"],
                             "auth_token": sim.credentials["auth_token"],
                             "trunk_sid": "TK" + "0" * 31 + "1"},
    prefixes={"local": "+1415", "npanxx": "+1415555", "tollfree": "+1888",
              "international": "+4420", "country": "GB"},
))

register(SimulatorSpec(
    carrier="knm_signalwire",
    simulator="knm.simulators.signalwire:SignalWireSimulator",
    config=lambda sim, url: {"base_url": url + "/api/relay/rest",
                             "space_url": f"{sim.credentials['space']}.signalwire.com",
                             "project_id": sim.credentials["project_id"],
                             "api_token": sim.credentials["api_token"],
                             "call_handler": "laml_webhooks",
                             "call_request_url": "https://pbx.knm.example/signalwire/voice"},
    prefixes={"local": "+1512", "npanxx": "+1512555", "tollfree": "+1877"},
))

register(SimulatorSpec(
    carrier="knm_vonage",
    simulator="knm.simulators.vonage:VonageSimulator",
    config=lambda sim, url: {"base_url": url, "api_key": sim.credentials["api_key"],
                             "api_secret": sim.credentials["api_secret"],
                             "sip_uri": "sip:inbound@pbx.knm.example"},
    prefixes={"local": "+1415", "npanxx": "+1415886", "tollfree": "+1800",
              "international": "+44161", "country": "GB"},
    release_method="POST",
))

register(SimulatorSpec(
    carrier="knm_flowroute",
    simulator="knm.simulators.flowroute:FlowrouteSimulator",
    config=lambda sim, url: {"base_url": url + "/v2", "access_key": sim.credentials["access_key"],
                             "secret_key": sim.credentials["secret_key"],
                             "route": "pbx.knm.example"},
    prefixes={"local": "+1206", "npanxx": "+1206555", "tollfree": "+1888"},
))
