"""`features_available`: Kazoo's `knm_providers:list_available_features`, rule by rule
(shared/reference/e911-cnam.md §1.1), on Kazoo's own fixture numbers."""

from __future__ import annotations

from conftest import RESELLER

from knm import config, numbers
from knm.numbers import features

ADMIN, RESELLER_ONLY = True, False
EVERYTHING_BUT_FAILOVER = ["carrier_name", "cnam", "e911", "force_outbound", "inbound_cnam",
                           "outbound_cnam", "port", "prepend", "ringback"]
LOCAL_ONES = ["carrier_name", "force_outbound", "prepend", "ringback"]


def available(number: str, *, is_admin: bool) -> list[str]:
    return features.available(numbers.get(number), is_admin=is_admin)


def test_a_foreign_carriers_number_may_have_every_feature_but_failover(
        kazoo_numbers: list[str]) -> None:
    # knm_vitelity, in service, in the reseller's account, used by nothing
    assert available("+13977031888", is_admin=ADMIN) == EVERYTHING_BUT_FAILOVER
    # carrier_name is admin-only (Kazoo's knm_rename_carrier_tests: the reseller gets none)
    assert available("+13977031888", is_admin=RESELLER_ONLY) == EVERYTHING_BUT_FAILOVER[1:]
    # sms and mms: knm has no provider that makes them available (Kazoo's `no_module`)
    assert not {"sms", "mms"} & set(available("+13977031888", is_admin=ADMIN))


def test_local_numbers_get_no_external_features(kazoo_numbers: list[str]) -> None:
    assert available("+15551233322", is_admin=ADMIN) == LOCAL_ONES  # knm_local
    assert available("+15551233324", is_admin=ADMIN) == LOCAL_ONES  # knm_mdn
    # Kazoo's knm_force_outbound_tests: force_outbound for local and MDN numbers alike
    assert "force_outbound" in available("+15551233324", is_admin=RESELLER_ONLY)
    config.set("number_manager", "local_feature_override", True)
    # the override lifts the local rule, but e911 and caller names need a carrier to serve
    # them, and knm_local offers neither (Kazoo's `no_module -> false`)
    assert available("+15551233322", is_admin=ADMIN) == LOCAL_ONES[:2] + ["port"] + \
        LOCAL_ONES[2:]
    # the reseller names carriers that do: they serve its local numbers too
    config.set("number_manager", "e911_provider", "knm_vitelity", account_id=RESELLER)
    config.set("number_manager", "cnam_provider", "vitelity_cnam", account_id=RESELLER)
    assert available("+15551233322", is_admin=ADMIN) == EVERYTHING_BUT_FAILOVER


def test_failover_only_for_trunkstore(kazoo_numbers: list[str]) -> None:
    # knm_local, used by trunkstore
    assert available("+12156774700", is_admin=ADMIN) == [
        "carrier_name", "failover", "force_outbound", "prepend", "ringback"]


def test_unassigned_numbers_get_no_external_features(kazoo_numbers: list[str]) -> None:
    assert available("+19162154006", is_admin=ADMIN) == LOCAL_ONES  # knm_telnyx, available


def test_the_numbers_own_lists_replace_the_rest(kazoo_numbers: list[str]) -> None:
    # +19377038881 denies failover itself: its own list replaces the local/used_by rules
    assert available("+19377038881", is_admin=ADMIN) == EVERYTHING_BUT_FAILOVER
    pn = numbers.get("+13977031888")
    pn.features_allowed = ["wnm_dash_e911", "knm_cnam_notifier", "prepend", "failover"]
    pn.features_denied = ["prepend"]
    # allowed names are cleansed (prefixes, provider names); `failover` is allowed by the
    # number and no longer denied (the number's denial list replaced the used_by rule)
    assert features.available(pn, is_admin=RESELLER_ONLY) == ["cnam", "e911", "failover"]


def test_system_and_reseller_lists(kazoo_numbers: list[str]) -> None:
    config.set("number_manager", "providers", ["knm_dash_e911", "knm_prepend"])
    assert available("+13977031888", is_admin=ADMIN) == ["e911", "prepend"]  # legacy list
    config.set("number_manager", "features", {"allow": ["cnam", "e911", "force_outbound"],
                                              "deny": ["cnam"]})
    assert available("+13977031888", is_admin=ADMIN) == ["e911", "force_outbound"]
    # the reseller's own list wins, key by key: its allow, the system's deny
    config.set("number_manager", "features", {"allow": ["cnam", "prepend", "ringback"]},
               account_id=RESELLER)
    assert available("+13977031888", is_admin=ADMIN) == ["prepend", "ringback"]
    # a deny list (even the system's) replaces the local rule, so a local number gets cnam
    # — from the carrier the reseller's `cnam_provider` names (knm_local has none)
    config.set("number_manager", "features", {"allow": ["cnam", "prepend"], "deny": []},
               account_id=RESELLER)
    assert available("+15551233322", is_admin=ADMIN) == ["prepend"]
    config.set("number_manager", "cnam_provider", "knm_telnyx")
    assert available("+15551233322", is_admin=ADMIN) == ["cnam", "prepend"]


def test_cleansing_reads_provider_names_as_features() -> None:
    assert features.cleansed(["wnm_knm_dash_e911", "telnyx_cnam", "knm_port_notifier",
                              "vitelity_e911", "prepend", "prepend"]) == [
        "cnam", "e911", "port", "prepend"]


def test_which_carrier_serves_a_feature(kazoo_numbers: list[str]) -> None:
    """Kazoo's `e911_provider` / `cnam_provider` (system, then reseller), its module names
    read as knm's carriers; the default is the number's own carrier when it offers the
    feature; a provider that does not offer it serves nobody."""
    rules = features.rules(RESELLER, is_admin=True)
    assert features.serving("e911", "knm_vitelity", rules) == "knm_vitelity"
    assert features.serving("e911", "knm_local", rules) is None
    assert features.serving("cnam", "knm_simwood", rules) is None  # no CNAM at Simwood
    config.set("number_manager", "e911_provider", "knm_telnyx_e911")  # Kazoo's name
    assert features.serving("e911", "knm_vitelity", features.rules(
        RESELLER, is_admin=True)) == "knm_telnyx"
    config.set("number_manager", "e911_provider", "knm_dash_e911", account_id=RESELLER)
    # Dash is not built: knm's default, the number's own carrier, serves it
    assert features.serving("e911", "knm_vitelity", features.rules(
        RESELLER, is_admin=True)) == "knm_vitelity"
    config.set("number_manager", "e911_provider", "simwood", account_id=RESELLER)
    assert features.serving("e911", "knm_vitelity", features.rules(
        RESELLER, is_admin=True)) is None
    assert "e911" not in available("+13977031888", is_admin=ADMIN)
    assert features.provider_setting("wnm_vitelity_cnam") == "knm_vitelity"
    assert features.provider_setting("carrier") is None
