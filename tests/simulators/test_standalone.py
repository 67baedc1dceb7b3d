"""`knm simulate CARRIER`: every registered simulator runs on its own, and the settings the
registry prints point knm's carrier at it (knm.simulators.registry.standalone, wire,
config_commands)."""

from __future__ import annotations

import shlex

import pytest

from knm import carriers, config
from knm.carriers.base import SearchOptions, short_name
from knm.simulators import registry
from knm.simulators.server import BackgroundServer


@pytest.mark.parametrize("name", registry.names())
def test_a_simulator_alone_and_the_settings_that_point_knm_at_it(name: str,
                                                                 sqlite_db: str) -> None:
    sim = registry.standalone(name)
    with BackgroundServer(sim.app) as server:
        commands = registry.config_commands(name, server.url, sim)
        category = f"number_manager.{short_name(name)}"
        assert commands and all(c.startswith(f"knm config set {category} ") for c in commands)
        for command in commands:  # what an operator would paste, applied
            _, _, _, _, key, value = shlex.split(command)
            config.set(category, key, value)
        carriers.registry.clear_instances()
        carrier = carriers.get_carrier(name)
        spec = registry.get(name)
        country = spec.prefixes.get("country", "US") if not spec.prefixes["local"].startswith(
            "+1") else "US"
        found = carrier.find_numbers(spec.prefixes["local"], 2, SearchOptions(country=country))
        assert found and sim.received(), f"{name} was asked over the wire"
    carriers.registry.clear_instances()
