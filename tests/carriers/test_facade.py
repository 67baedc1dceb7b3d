"""The carrier facade: registry, available carriers, info, check, acquire/disconnect, flags
(SPEC §2, §4; kazoo-core.md §2 and §10.2)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import CHILD, MASTER, RESELLER

from knm import carriers, config, errors
from knm.carriers import Carrier, SearchOptions, SearchResult, Setting, registry
from knm.record import PhoneNumber


class Plugin(Carrier):
    """A third-party carrier defined at run time."""

    name = "knm_plugin"
    settings = (Setting("api_token", str, required=True, secret=True),
                Setting("region", str, default="eu"))
    acquired: list[str] = []

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return [SearchResult(prefix + "5550100", self.name, "discovery",
                             {"region": self.config["region"]})]

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        if number.number.endswith("666"):
            raise ValueError(f"upstream said no to token {self.config['api_token']}")
        if number.number.endswith("409"):
            raise errors.NumberUnavailable(self.name, "already sold", number=number.number)
        type(self).acquired.append(number.number)
        number.update_carrier_data({"order_id": "o-1"})
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        raise RuntimeError("disconnect exploded")

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        return {n: "active" for n in numbers if n.endswith("1")}


@pytest.fixture
def plugin(db: str) -> Iterator[type[Plugin]]:
    Plugin.acquired = []
    carriers.register(Plugin)
    config.set("number_manager.plugin", "api_token", "tok-SECRET-42")
    yield Plugin
    carriers.unregister("plugin")


def pn(number: str, module: str | None = "knm_local", **kw: Any) -> PhoneNumber:
    doc = {"_id": number, "pvt_state": "discovery", **kw}
    if module is not None:
        doc["pvt_module_name"] = module
    return PhoneNumber.from_json(doc)


# -- registry --------------------------------------------------------------------------------

def test_names_with_or_without_prefix(db: str) -> None:
    assert carriers.get_carrier("local") is carriers.get_carrier("knm_local")
    assert carriers.get_carrier("knm_local").name == "knm_local"
    assert carriers.get_carrier("knm_nonesuch") is None
    assert carriers.get_carrier(None) is None


def test_builtin_local_carriers_are_reachable(db: str) -> None:
    for name in ("local", "inventory", "managed", "mdn", "reserved", "reserved_reseller",
                 "inum", "other"):
        assert carriers.is_reachable(name), name
    assert carriers.keep_only_reachable(["knm_local", "knm_pacwest", "undefined", "local"]
                                        ) == ["knm_local", "knm_local"]


def test_config_change_takes_effect_on_next_call(plugin: type[Plugin]) -> None:
    first = carriers.get_carrier("plugin")
    assert first.config["region"] == "eu"
    assert carriers.get_carrier("plugin") is first
    config.set("number_manager.plugin", "region", "us")
    second = carriers.get_carrier("plugin")
    assert second is not first and second.config["region"] == "us"
    assert carriers.find("415", 1, carriers=["plugin"]) == [
        {"number": "+14155550100", "state": "discovery"}]


def test_misconfigured_carrier_names_the_key(plugin: type[Plugin]) -> None:
    config.set("number_manager.plugin", "api_token", None)
    with pytest.raises(errors.CarrierMisconfigured) as caught:
        carriers.get_carrier("plugin")
    assert caught.value.cause == "api_token"
    # a search loses only that carrier, and the flags still answer from the class
    assert carriers.find("415", 1, carriers=["plugin"]) == []
    assert carriers.is_local("plugin") is False


def test_register_refuses_non_carriers(db: str) -> None:
    with pytest.raises(errors.Invalid):
        carriers.register(dict)  # type: ignore[arg-type]


# -- available carriers / defaults -----------------------------------------------------------

def test_available_carriers(kazoo_accounts: dict[str, str]) -> None:
    assert carriers.available_carriers() == ["knm_local"]
    assert carriers.available_carriers(CHILD, None) == ["knm_local"]
    assert carriers.available_carriers(CHILD, RESELLER) == [
        "knm_reserved", "knm_reserved_reseller", "knm_local"]
    # CHILD's own override: knm_bandwidth2 is kept only if installed
    expected = ["knm_reserved", "knm_reserved_reseller", "knm_local"]
    if carriers.is_reachable("knm_bandwidth2"):
        expected.append("knm_bandwidth2")
    assert carriers.available_carriers(CHILD, CHILD) == expected
    config.set("number_manager", "carrier_modules", ["knm_other", "knm_local", "knm_gone"])
    assert carriers.available_carriers() == ["knm_other", "knm_local"]
    assert carriers.available_carriers(MASTER, MASTER) == [
        "knm_reserved", "knm_reserved_reseller", "knm_local", "knm_other"]


def test_default_carrier(db: str) -> None:
    assert carriers.default_carrier() == "knm_local"
    assert carriers.default_carriers() == ["knm_local"]
    config.set("number_manager", "available_module_name", "knm_pacwest")
    assert carriers.default_carrier() == "knm_pacwest"
    assert carriers.default_carriers() == []


def test_all_modules_is_kazoos_list_first(db: str) -> None:
    modules = carriers.all_modules()
    assert modules[:4] == ["knm_bandwidth2", "knm_bandwidth", "knm_inum", "knm_local"]
    assert len(set(modules)) == len(modules)


# -- info (kazoo-core §10.2) -----------------------------------------------------------------

def test_info_prefix_length(kazoo_accounts: dict[str, str]) -> None:
    for auth, account, reseller in [(MASTER, RESELLER, RESELLER), (MASTER, CHILD, RESELLER),
                                    (MASTER, CHILD, None)]:
        assert carriers.info(auth, account, reseller)["maximal_prefix_length"] == 10


def test_info_reseller_override(kazoo_accounts: dict[str, str]) -> None:
    result = carriers.info(MASTER, CHILD, CHILD)
    # Kazoo gets 3 from knm_bandwidth2; without it installed the local carriers give 10
    assert result["maximal_prefix_length"] == (3 if carriers.is_reachable("bandwidth2")
                                               else 10)
    assert "local" in result["usable_carriers"]
    assert "reserved" not in result["usable_carriers"]
    assert {"in_service", "reserved", "available"} <= set(result["usable_creation_states"])
    assert sorted(result) == ["maximal_prefix_length", "usable_carriers",
                              "usable_creation_states"]


def test_info_with_bandwidth_like_override(kazoo_accounts: dict[str, str]) -> None:
    class ThreeDigits(Plugin):
        name = "knm_three"
        settings = ()
        maximal_prefix_length = 3

    carriers.register(ThreeDigits)
    try:
        config.set("number_manager", "carrier_modules", ["knm_local", "knm_three"],
                   account_id=CHILD)
        assert carriers.info(MASTER, CHILD, CHILD)["maximal_prefix_length"] == 3
        assert carriers.info(MASTER, CHILD, RESELLER)["maximal_prefix_length"] == 10
    finally:
        carriers.unregister("knm_three")


def test_info_creation_states(kazoo_accounts: dict[str, str]) -> None:
    assert sorted(carriers.info(RESELLER, RESELLER, RESELLER)["usable_creation_states"]) == [
        "in_service", "reserved"]
    assert carriers.info(CHILD, CHILD, CHILD)["usable_creation_states"] == []
    assert carriers.info(MASTER, CHILD, CHILD)["usable_creation_states"] == [
        "aging", "available", "in_service", "port_in", "reserved"]
    assert carriers.info(None, CHILD, CHILD)["usable_creation_states"] == []


# -- check -----------------------------------------------------------------------------------

def test_check_kazoo_cases(kazoo_accounts: dict[str, str]) -> None:
    assert carriers.check([]) == {}
    numbers = ["+15551239876", "+15551233322", "+15551255693", "+18005551212"]
    assert carriers.check(numbers) == {n: "error" for n in numbers}


def test_check_first_carrier_that_knows_wins(plugin: type[Plugin]) -> None:
    class Second(Plugin):
        name = "knm_second"
        settings = ()

        def check_numbers(self, numbers: list[str]) -> dict[str, str]:
            return {n: "second" for n in numbers}

    carriers.register(Second)
    try:
        config.set("number_manager", "carrier_modules", ["knm_local", "knm_plugin",
                                                         "knm_second"])
        result = carriers.check(["4155550101", "+14155550102", "+14155550101"])
    finally:
        carriers.unregister("knm_second")
    # no lag: the number plugin knew is not asked of the next carrier, the other one is
    assert result == {"+14155550101": "active", "+14155550102": "second"}


# -- acquire / disconnect --------------------------------------------------------------------

def test_acquire_without_carrier_is_carrier_not_specified(db: str) -> None:
    number = pn("+14155550100")
    number.module_name = None
    number.set_dry_run(True)
    with pytest.raises(errors.CarrierNotSpecified) as caught:
        carriers.acquire(number)
    assert caught.value.cause == "+14155550100"


def test_acquire_dry_run_and_unknown_carrier_return_unchanged(plugin: type[Plugin]) -> None:
    dry = pn("+14155550100", "knm_plugin")
    dry.set_dry_run(True)
    assert carriers.acquire(dry) is dry and dry.carrier_data == {}
    assert Plugin.acquired == []
    unknown = pn("+14155550100", "knm_pacwest")
    assert carriers.acquire(unknown) is unknown
    assert carriers.disconnect(unknown) is unknown


def test_acquire_reaches_the_carrier(plugin: type[Plugin]) -> None:
    bought = carriers.acquire(pn("+14155550100", "knm_plugin"))
    assert bought.carrier_data == {"order_id": "o-1"}
    assert Plugin.acquired == ["+14155550100"]


def test_carrier_errors_reach_the_caller(plugin: type[Plugin]) -> None:
    with pytest.raises(errors.NumberUnavailable) as unavailable:
        carriers.acquire(pn("+14155550409", "knm_plugin"))
    assert unavailable.value.to_json()["carrier"] == "knm_plugin"
    with pytest.raises(errors.CarrierFault) as crashed:
        carriers.acquire(pn("+14155550666", "knm_plugin"))
    doc = crashed.value.to_json()
    assert doc["code"] == 500 and doc["carrier"] == "knm_plugin"
    assert doc["cause"] == "+14155550666"
    assert "tok-SECRET-42" not in str(doc) and "***" in doc["carrier_message"]
    with pytest.raises(errors.CarrierFault) as disconnect:
        carriers.disconnect(pn("+14155550100", "knm_plugin"))
    assert "disconnect exploded" in disconnect.value.carrier_message


def test_local_acquire_and_disconnect_are_bookkeeping(db: str) -> None:
    number = pn("+14155550100", "knm_local")
    assert carriers.acquire(number) is number
    assert carriers.disconnect(number) is number


# -- flags -----------------------------------------------------------------------------------

def test_is_number_billable_kazoo_cases(db: str) -> None:
    number = pn("+15045551226", "knm_local")
    assert carriers.is_number_billable(number) is False
    number.set_module_name("knm_bandwidth2")
    assert carriers.is_number_billable(number) is True
    number.set_module_name("wnm_pacwest")
    assert number.module_name == "knm_pacwest"
    assert carriers.is_number_billable(number) is True


BUILTIN_FLAGS = [
    ("knm_local", False, True, 10), ("knm_inventory", False, False, 10),
    ("knm_managed", True, True, 15), ("knm_mdn", False, False, 0),
    ("knm_reserved", False, True, 10), ("knm_reserved_reseller", False, True, 10),
    ("knm_inum", False, True, 15), ("knm_other", True, False, 10),
]


def test_builtin_flags(db: str) -> None:
    for name, billable, local, prefix_length in BUILTIN_FLAGS:
        assert carriers.is_number_billable(pn("+14155550100", name)) is billable, name
        assert carriers.is_local(name) is local, name
        assert carriers.is_local(name.removeprefix("knm_")) is local, name
        carrier = carriers.get_carrier(name)
        assert carrier.info() == {"maximal_prefix_length": prefix_length}, name
        assert carrier.should_lookup_cnam() is True
        if name != "knm_other":
            with pytest.raises(errors.NotImplementedByCarrier):
                carrier.check_numbers(["+14155550100"])


def test_is_local_unknown_is_true(db: str) -> None:
    assert carriers.is_local("knm_pacwest") is True


def test_registry_module_fallback_without_entry_point(db: str) -> None:
    # a built-in module is found by name even if the installed metadata lags behind
    registry.reload(entry_points={})
    try:
        assert carriers.carrier_class("mdn").name == "knm_mdn"
    finally:
        registry.reload()
