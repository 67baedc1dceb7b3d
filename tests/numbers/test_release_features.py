"""Releasing or deleting a number removes what its carriers hold of its features first, and two
saves of one number's features never both reach the carrier (SPEC §13, issue 13;
`knm.numbers.providers.remove_held` and `claimed`) — over real HTTP to the carriers'
simulators, on SQLite and PostgreSQL.

The rule of a removal that does not succeed: the release goes on only when the carrier
holding the feature is the number's own and the release disconnects the number there (it
drops the feature with the number); otherwise the release fails naming the feature and the
number is kept as it was."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
from cli_support import knm as run_knm
from conftest import CHILD, MASTER
from test_providers import CARRIERS, GEARY, MARINA, carrier, held, registered, registrations

from knm import config, errors, numbers, store
from knm.numbers import providers, repository
from knm.simulators.base import Simulator
from knm.store.schema import claims


def kazoo_release() -> None:
    """Kazoo's release: no carrier is called for the number itself (it stays owned there,
    for a pool), so nothing but knm removes its registrations."""
    config.set("number_manager", "disconnect_on_release", False)


def street_at_carrier(sim: Simulator, number: str) -> str | None:
    """The street of the emergency address the carrier holds for `number` (None: none)."""
    found = registered(sim, number)
    if found is None:
        return None
    if sim.name == "knm_bandwidth2":
        return f"{found['HouseNumber']} {found['StreetName']}"
    return str(found.get("street_address") or found.get("street"))


def with_e911(sim: Simulator, number: str, **more: Any) -> None:
    held(sim, number)
    pn = numbers.update(number, merge_fields={"e911": GEARY, **more})
    assert pn.doc["e911"]["status"] == "PROVISIONED"
    assert registered(sim, number) is not None


# -- release removes the registration first --------------------------------------------------


@pytest.mark.parametrize("name", sorted(CARRIERS))
def test_after_release_the_carrier_holds_no_emergency_address(
        kazoo_accounts: dict[str, str], name: str) -> None:
    """`disconnect_on_release` false: the number stays owned at its carrier, and before this
    change its registration stayed too (the operator kept paying for an address that would
    greet the number's next user). Now `knm release` removes it there first."""
    number = CARRIERS[name]
    kazoo_release()
    with carrier(name) as sim:
        with_e911(sim, number)
        released = numbers.release(number)
        assert released.state == "available" and released.assigned_to is None
        assert registered(sim, number) is None  # what the user notices: no address there
        assert number in sim.owned  # the number itself was kept at the carrier
        stored = numbers.get(number)
        assert "e911" not in stored.doc and "e911" not in stored.features
        assert "e911_provider" not in stored.carrier_data
        assert providers.pending() == []


def test_knm_release_removes_the_address_and_the_caller_name(
        kazoo_accounts: dict[str, str], db: str) -> None:
    """The CLI, as an operator runs it: Telnyx's emergency settings disabled, its caller-name
    listing and lookup off, before the number is released."""
    number = CARRIERS["knm_telnyx"]
    kazoo_release()
    with carrier("knm_telnyx") as sim:
        with_e911(sim, number, cnam={"display_name": "ACME", "inbound_lookup": True})
        row = sim.owned[number]
        assert row["cnam_listing"]["cnam_listing_enabled"] is True
        result = run_knm(db, "release", number)
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)["pvt_state"] == "available"
        assert registered(sim, number) is None
        assert row["cnam_listing"]["cnam_listing_enabled"] is False
        assert row["caller_id_name_enabled"] is False
        # the address knm created for the number was deleted from the account's book
        assert sim.addresses == {}  # type: ignore[attr-defined]


def test_release_withdraws_a_bandwidth_caller_name(kazoo_accounts: dict[str, str]) -> None:
    """Bandwidth's LIDB has no deletion: the listing is made PRIVATE, and the TN option
    turns the inbound lookup off — both orders, before the number is released."""
    number = CARRIERS["knm_bandwidth2"]
    kazoo_release()
    with carrier("knm_bandwidth2") as sim:
        held(sim, number)
        numbers.update(number, merge_fields={"cnam": {"display_name": "ACME",
                                                      "inbound_lookup": True}})
        assert sim.lidb[number] == {"name": "ACME", "visibility": "PUBLIC"}  # type: ignore
        assert numbers.release(number).state == "available"
        assert sim.lidb[number]["visibility"] == "PRIVATE"  # type: ignore[attr-defined]
        assert sim.calling_name[number] == "off"  # type: ignore[attr-defined]
        stored = numbers.get(number)
        assert "cnam" not in stored.doc and stored.features_list() == []
        assert "cnam_provider" not in stored.carrier_data


def test_a_number_handed_back_to_its_previous_reserver_loses_the_address(
        kazoo_accounts: dict[str, str]) -> None:
    """Kazoo's reserve history: the release gives the number back to the account that had
    reserved it before — without the releasing account's emergency address."""
    number = CARRIERS["knm_vitelity"]
    with carrier("knm_vitelity") as sim:
        with_e911(sim, number)
        stored = repository.fetch(number)
        assert stored is not None
        stored.set_reserve_history([CHILD, MASTER])  # MASTER reserved it before CHILD
        with store.write() as conn:
            repository.update_one(stored, conn)
        back = numbers.release(number)
        assert (back.state, back.assigned_to) == ("reserved", MASTER)
        assert registered(sim, number) is None
        assert sim.received("POST", "/api.php")[-1].params.get("cmd") == "e911delete"


# -- a removal that does not succeed ------------------------------------------------------------


def test_a_refused_removal_fails_the_release_and_keeps_the_number(
        kazoo_accounts: dict[str, str]) -> None:
    """The number stays where it was (in service, its account's, its address registered and
    shown): the release is never half-done. The error names the feature and the carrier."""
    number = CARRIERS["knm_telnyx"]
    kazoo_release()
    with carrier("knm_telnyx") as sim:
        with_e911(sim, number)
        before = numbers.get(number)
        sim.set(fail_with={"status": 422, "message": "Emergency settings are locked"},
                match="update_emergency_settings")
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.release(number)
        assert refused.value.code == 500 and refused.value.carrier == "knm_telnyx"
        assert refused.value.operation == "e911"
        assert f"number {number} was not released: its e911 could not be removed at " \
               "knm_telnyx" in refused.value.message
        assert "locked" in (refused.value.carrier_message or "")
        after = numbers.get(number)
        assert after.version == before.version and after.state == "in_service"
        assert after.assigned_to == CHILD and after.doc == before.doc
        assert after.features["e911"] == before.features["e911"]
        assert registered(sim, number) is not None

        # the carrier answers again: the same release goes through
        sim.reset_switches()
        assert numbers.release(number).state == "available"
        assert registered(sim, number) is None


def test_a_caller_name_refused_after_the_address_was_removed(
        kazoo_accounts: dict[str, str]) -> None:
    """E911 first, then the caller name: the carrier removed the address, then refused the
    listing. The release fails naming `cnam`; the number stays in service with what the
    carrier did recorded — no address, its caller name as it was."""
    number = CARRIERS["knm_telnyx"]
    kazoo_release()
    with carrier("knm_telnyx") as sim:
        with_e911(sim, number, cnam={"display_name": "ACME"})
        sim.set(fail_with={"status": 422, "message": "CNAM listings are locked"},
                match="PATCH")
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.release(number)
        assert "its cnam could not be removed" in refused.value.message
        assert "(its e911 was removed)" in refused.value.message
        after = numbers.get(number)
        assert after.state == "in_service" and after.assigned_to == CHILD
        assert "e911" not in after.doc and "e911" not in after.features
        assert after.features["outbound_cnam"] == {"display_name": "ACME"}
        assert after.doc["cnam"]["status"] == "PROVISIONED"
        assert registered(sim, number) is None
        assert sim.owned[number]["cnam_listing"]["cnam_listing_details"] == "ACME"


def test_a_release_that_disconnects_the_number_goes_on_when_the_removal_fails(
        kazoo_accounts: dict[str, str]) -> None:
    """`disconnect_on_release` (the default) at the carrier holding the address: the carrier
    drops the registration with the number, so a failed removal does not keep the number."""
    number = CARRIERS["knm_telnyx"]
    with carrier("knm_telnyx") as sim:
        with_e911(sim, number)
        sim.set(fail_with={"status": 500}, match="update_emergency_settings")
        gone = numbers.release(number)
        assert gone.state == "deleted"
        assert number not in sim.owned  # disconnected: its emergency settings with it
        assert numbers.get([number]).failed  # knm no longer holds it
        assert len(sim.received("POST", "update_emergency_settings")) == 1  # it was asked


def test_a_feature_held_by_another_carrier_stops_a_disconnecting_release(
        kazoo_accounts: dict[str, str]) -> None:
    """A Telnyx number whose address the reseller's `e911_provider` registered elsewhere:
    disconnecting it at Telnyx does not drop that registration, so a failed removal there
    fails the release (the number is not disconnected)."""
    number = CARRIERS["knm_telnyx"]
    with carrier("knm_telnyx") as telnyx, carrier("knm_vitelity") as vitelity:
        held(telnyx, number)
        with vitelity.lock:
            vitelity.owned[number] = {"number": number, "routesip": "1.2.3.4"}
        config.set("number_manager", "e911_provider", "knm_vitelity",
                   account_id=kazoo_accounts["reseller"])
        pn = numbers.update(number, merge_fields={"e911": GEARY})
        assert pn.carrier_data["e911_provider"] == "knm_vitelity"
        vitelity.set(fail_with={"status": 500}, match="/api.php")
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.release(number)
        assert "its e911 could not be removed at knm_vitelity" in refused.value.message
        assert number in telnyx.owned  # not disconnected
        assert numbers.get(number).state == "in_service"
        assert registered(vitelity, number) is not None


# -- a removal the carrier finishes later -----------------------------------------------------


def test_a_pending_removal_is_recorded_settled_then_the_release_goes_through(
        kazoo_accounts: dict[str, str]) -> None:
    """Bandwidth's E911 removal is an order: still RECEIVED after `feature_wait_s`, it is
    not lost — the number shows the address being removed, `knm orders` lists the removal,
    the release answers `409 feature_pending` (the number kept), and once settled the
    carrier holds nothing and the release goes through."""
    number = CARRIERS["knm_bandwidth2"]
    kazoo_release()
    with carrier("knm_bandwidth2", feature_wait_s=0.05) as sim:
        with_e911(sim, number)
        sim.set(feature_complete_ms=400)
        with pytest.raises(errors.FeaturePending) as pending:
            numbers.release(number)
        assert pending.value.code == 409 and pending.value.cause == "e911"
        assert "still removing" in pending.value.message
        waiting = numbers.get(number)
        assert waiting.state == "in_service" and waiting.assigned_to == CHILD
        assert waiting.doc["e911"]["status"] == "PENDING"
        assert waiting.carrier_data["e911_removing"] is True
        assert "e911" in waiting.features  # still registered until Bandwidth is done
        [row] = numbers.pending_features()
        assert (row["number"], row["operation"], row["carrier"]) == (
            number, "e911", "knm_bandwidth2")
        assert registered(sim, number) is not None
        with pytest.raises(errors.FeaturePending):  # asked again while Bandwidth works
            numbers.release(number)

        time.sleep(0.5)
        assert numbers.settle([number]).ok
        settled = numbers.get(number)
        assert "e911" not in settled.doc and "e911" not in settled.features
        assert "e911_provider" not in settled.carrier_data
        assert "e911_removing" not in settled.carrier_data
        assert registered(sim, number) is None and numbers.pending_features() == []
        assert numbers.release(number).state == "available"


def test_a_pending_removal_the_carrier_fails_shows_the_address_still_registered(
        kazoo_accounts: dict[str, str]) -> None:
    """The removal order fails: the address is still registered at Bandwidth, and knm says
    so (`ERROR`, with why) — never as removed. A removal asked with `"e911": null` is
    pending the same way."""
    number = CARRIERS["knm_bandwidth2"]
    with carrier("knm_bandwidth2", feature_wait_s=0.05) as sim:
        with_e911(sim, number)
        confirmed = numbers.get(number).features["e911"]
        sim.set(feature_complete_ms=300, feature_result="failed")
        pn = numbers.update(number, merge_fields={"e911": None})
        assert pn.doc["e911"]["status"] == "PENDING" and pn.features["e911"] == confirmed
        time.sleep(0.4)
        assert numbers.settle([number]).ok
        failed = numbers.get(number)
        assert failed.doc["e911"]["status"] == "ERROR"
        assert "failed the removal" in failed.doc["e911"]["message"]
        assert failed.features["e911"] == confirmed
        assert failed.carrier_data["e911_provider"] == "knm_bandwidth2"
        assert registered(sim, number) is not None

        sim.reset_switches()  # the removal asked again: Bandwidth does it
        sim.set(feature_complete_ms=0)
        gone = numbers.update(number, merge_fields={"e911": None})
        assert "e911" not in gone.doc and "e911" not in gone.features
        assert registered(sim, number) is None


# -- deletion --------------------------------------------------------------------------------


def test_delete_removes_the_registration_first_or_deletes_nothing(
        kazoo_accounts: dict[str, str]) -> None:
    number = CARRIERS["knm_vitelity"]
    with carrier("knm_vitelity") as sim:
        with_e911(sim, number)
        sim.set(fail_with={"status": 500}, match="/api.php", times=1)
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.delete(number, auth_by=MASTER)
        assert f"number {number} was not deleted: its e911" in refused.value.message
        assert numbers.get(number).doc["e911"]["status"] == "PROVISIONED"
        assert registered(sim, number) is not None
        assert numbers.delete(number, auth_by=MASTER).state == "deleted"
        assert registered(sim, number) is None
        assert numbers.get([number]).failed


# -- two saves at once ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["knm_telnyx", "knm_bandwidth2"])
def test_two_simultaneous_saves_provision_once(kazoo_accounts: dict[str, str],
                                               name: str) -> None:
    """Two requests save different addresses on one number at the same moment: one is
    provisioned, the other is refused `409 conflict` before it asks any carrier — exactly
    one validation and one registration at the carrier, and knm's record is what the
    carrier holds. (Before: both registered, and knm recorded whichever wrote last.)"""
    number = CARRIERS[name]
    with carrier(name) as sim:
        held(sim, number)
        match = "enable_emergency" if name == "knm_telnyx" else "geocodeRequest"
        sim.set(latency_ms=800, match=match)
        start = threading.Barrier(2)
        outcomes: dict[str, Any] = {}

        def save(label: str, address: dict[str, Any]) -> None:
            start.wait()
            try:
                outcomes[label] = numbers.update(number, merge_fields={"e911": address})
            except errors.KnmError as exc:
                outcomes[label] = exc

        threads = [threading.Thread(target=save, args=(label, address))
                   for label, address in (("geary", GEARY), ("marina", MARINA))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        validations = sim.received("POST", "validate" if name == "knm_telnyx"
                                   else "geocodeRequest")
        assert len(validations) == 1 and len(registrations(sim, name)) == 1
        refused = [o for o in outcomes.values() if isinstance(o, errors.KnmError)]
        saved = [o for o in outcomes.values() if not isinstance(o, errors.KnmError)]
        assert len(saved) == 1 and len(refused) == 1, outcomes
        assert isinstance(refused[0], errors.Conflict) and refused[0].code == 409
        assert "no carrier was asked" in refused[0].message
        record = numbers.get(number)
        assert record.doc["e911"]["status"] == "PROVISIONED"
        assert record.doc["e911"]["street_address"] == street_at_carrier(sim, number)
        assert record.features["e911"] == record.doc["e911"]


def test_a_save_after_a_finished_one_goes_through_and_a_dead_claim_is_taken_over(
        kazoo_accounts: dict[str, str]) -> None:
    """The claim lives only while a save is at its carrier: the next save is not refused.
    A claim left by a process that died is taken over once its lease ran out."""
    number = CARRIERS["knm_vitelity"]
    with carrier("knm_vitelity") as sim:
        with_e911(sim, number)
        moved = numbers.update(number, merge_fields={"e911": {**GEARY, "street_address":
                                                             "1 Market St"}})
        assert moved.doc["e911"]["status"] == "PROVISIONED"
        with store.write() as conn:  # a save whose process died at the carrier
            conn.execute(claims.insert().values(number=number, holder="gone:1:dead",
                                                operation="feature",
                                                lease_until=time.time() + 60,
                                                started=time.time()))
        with pytest.raises(errors.Conflict):
            numbers.update(number, merge_fields={"e911": MARINA})
        with store.write() as conn:
            conn.execute(claims.update().values(lease_until=time.time() - 1))
        assert numbers.update(number, merge_fields={"e911": MARINA}).doc["e911"][
            "street_address"] == "301 MARINA BLVD."
        assert street_at_carrier(sim, number) is not None
