"""`features_available`: Kazoo's `knm_providers:list_available_features`, rule by rule
(shared/reference/e911-cnam.md §1.1), on Kazoo's own fixture numbers."""

from __future__ import annotations

import pytest
from conftest import RESELLER

from knm import config, errors, numbers
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
    config.set("number_manager", "features", {"allow": ["cnam", "prepend"], "deny": []},
               account_id=RESELLER)
    assert available("+15551233322", is_admin=ADMIN) == ["cnam", "prepend"]


def test_cleansing_reads_provider_names_as_features() -> None:
    assert features.cleansed(["wnm_knm_dash_e911", "telnyx_cnam", "knm_port_notifier",
                              "vitelity_e911", "prepend", "prepend"]) == [
        "cnam", "e911", "port", "prepend"]


def test_an_e911_write_is_refused_until_a_provider_exists(kazoo_numbers: list[str]) -> None:
    address = {"street_address": "140 Geary St", "postal_code": "94108"}
    with pytest.raises(errors.KnmError) as refused:
        numbers.update("+13977031888", public_fields={"e911": address})
    assert (refused.value.code, refused.value.error, refused.value.cause) == (
        501, "not_implemented", "e911")
    assert "e911" not in numbers.get("+13977031888").doc
    created = numbers.create(["+14155550990"], assign_to=RESELLER,
                             public_fields={"e911": address})
    assert created.failed["+14155550990"].cause == "e911"
    with pytest.raises(errors.KnmError):
        numbers.update("+13977031888", merge_fields={"e911": address})
    # an unchanged address (imported with the number) and removing it are fine
    stored = numbers.get("+14082141751").doc.get("e911")
    assert stored, "fixture has an e911 address"
    kept = numbers.update("+14082141751", merge_fields={"tag": "x"})
    assert kept.doc["e911"] == stored
    assert "e911" not in numbers.update("+14082141751", merge_fields={"e911": None}).doc
