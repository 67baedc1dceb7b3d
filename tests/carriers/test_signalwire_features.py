"""knm_signalwire's number features (SPEC §13) against its simulator, over real HTTP: the E911
wire of SignalWire's RELAY REST API (an `addresses` resource validated when created, never
corrected silently; `POST`/`DELETE phone_numbers/{id}/e911_address`; `e911_status` pending →
active | failed, pending_removal → unregistered), the address mapping (house number and
street name, SignalWire's unit types, US only), provisioning end to end through `knm.numbers`
(registered asynchronously; rejected or to be corrected with nothing stored; a failure
half-way undone; a lost answer; removal; release and delete removing it first), caller names
SignalWire has no per-number API for (not offered; 501), secrets kept out of errors and
logs, and Monster UI's save on a SignalWire number through the HTTP API — on SQLite and
PostgreSQL."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

import feature_flows
import httpx
import pytest
from api_support import Api
from conftest import CHILD

from knm import carriers, config, errors, numbers
from knm.carriers.features import Address
from knm.carriers.signalwire import (
    address_body,
    from_signalwire,
    refused_check,
    to_e911_status,
    unit_of,
)
from knm.numbers import features
from knm.simulators import registry
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer
from knm.simulators.signalwire import SignalWireSimulator

PROJECT, TOKEN = "8a5f1c2e-5e1d-4f0b-9d2c-signalwire01", "PTsignalwire-simulated-token"
NUMBER = "+15125550140"
GEARY = {"street_address": "140 Geary St", "extended_address": "Ste 5",
         "locality": "San Francisco", "region": "CA", "postal_code": "94108",
         "caller_name": "ACME Corp", "notification_contact_emails": ["noc@example.com"]}
MARKET = {"street_address": "1 Market St", "locality": "San Francisco", "region": "CA",
          "postal_code": "94105"}
ASSIGN = "POST /api/relay/rest/phone_numbers/"


def signalwire(**settings: Any) -> AbstractContextManager[SignalWireSimulator]:
    """SignalWire's simulator on loopback, knm's `knm_signalwire` wired to it by config (fast
    polling, a short wait on registrations). The carrier instance is closed afterwards, so
    its credentials leave the process-wide secret registry."""
    fast = {**registry.get("knm_signalwire").fast_orders, "feature_wait_s": 1, **settings}
    return feature_flows.simulated("knm_signalwire", SignalWireSimulator, **fast)


def held(sim: SignalWireSimulator, number: str = NUMBER, account: str = CHILD) -> None:
    """`number` in the SignalWire project (the simulator's books) and in service in knm."""
    with sim.lock:
        sim.owned[number] = sim._new_row(number)
    feature_flows.in_service("knm_signalwire", number, account)


def assigned(sim: SignalWireSimulator, number: str = NUMBER) -> dict[str, Any] | None:
    """The address SignalWire holds for the number (None: none)."""
    address_id = sim.owned[number].get("e911_address_id")
    return sim.addresses[address_id] if address_id else None


def books(sim: SignalWireSimulator, number: str = NUMBER) -> feature_flows.E911Books:
    """SignalWire's addresses as the shared flows read them."""
    return feature_flows.E911Books("knm_signalwire", "signalwire_e911_address_id",
                                   "signalwire_e911_previous_id", lambda: list(sim.addresses),
                                   lambda: assigned(sim, number))


def e911_status(sim: Simulator, number: str = NUMBER) -> str | None:
    return sim.owned[number].get("e911_status")


# -- pure: knm's address in SignalWire's fields ------------------------------------------------


def test_an_address_in_signalwires_fields() -> None:
    address = Address("140 Geary St", "San Francisco", "CA", "94108", "Ste 5",
                      caller_name="ACME Corporation of Northern California")
    assert address_body(address, NUMBER) == {
        "label": "ACME Corporation of Northern Cal", "country": "US",
        "first_name": "ACME Corporation of Northern", "last_name": "California",
        "street_number": "140", "street_name": "Geary St", "city": "San Francisco",
        "state": "CA", "postal_code": "94108", "emergency_enabled": True,
        "auto_correct_address": False, "address_type": "Suite", "address_number": "5"}
    bare = address_body(Address("1 Main St", "Austin", "TX", "78701"), NUMBER)
    assert bare["label"] == "knm +15125550140" and "address_type" not in bare
    for unit, parts in (("Apt 4B", ("Apartment", "4B")), ("#5B", ("Unit", "5B")),
                        ("FL. 3", ("Floor", "3")), ("Bldg C", ("Building", "C")),
                        ("Penthouse 2", ("Penthouse", "2"))):
        assert unit_of(unit) == parts
    assert unit_of("") is None
    # what SignalWire's fields cannot carry (or would not validate) is refused, never dropped
    for bad, word in ((Address("3rd Ave", "Austin", "TX", "78701"), "house number"),
                      (Address("1 Main St", "Austin", "TX", "78701", "Room 5"), "Suite"),
                      (Address("1 Main St", "Austin", "TX", "78701", "Lobby"), "Suite 5"),
                      (Address("200 Bay St", "Toronto", "ON", "M5J 2J5", country="CA"),
                       "US only")):
        with pytest.raises(ValueError, match=word):
            address_body(bad, NUMBER)


def test_signalwires_answers_read_back() -> None:
    given = Address("140 Geary St", "San Francisco", "CA", "94108", "Ste 5",
                    caller_name="ACME Corp")
    stored = {"id": "a1", "street_number": "140", "street_name": "GEARY ST",
              "address_type": "Suite", "address_number": "5", "city": "SAN FRANCISCO",
              "state": "ca", "postal_code": "94108", "country": "US"}
    assert from_signalwire(stored, given) == Address(
        "140 GEARY ST", "SAN FRANCISCO", "CA", "94108", "Suite 5", "US", "ACME Corp")
    assert from_signalwire({}, given) == given
    suggested = refused_check({"errors": [{"detail": "see candidates"}], "candidates": [
        {"street_number": "140", "street_name": "GEARY ST", "city": "SAN FRANCISCO",
         "state": "CA", "postal_code": "94108"}]}, given)
    assert suggested.verdict == "corrected" and suggested.message == "see candidates"
    assert suggested.suggestions[0].street_address == "140 GEARY ST"
    assert suggested.suggestions[0].extended_address == "Ste 5"  # a candidate names no unit
    rejected = refused_check({"errors": [{"detail": "could not be geocoded"}]}, given)
    assert (rejected.verdict, rejected.message) == ("invalid", "could not be geocoded")
    assert refused_check(None, given).message  # a reason even without a body
    states = {w: to_e911_status({"id": "n", "e911_status": w}).state
              for w in ("active", "pending", "failed", "pending_removal", "unregistered", None)}
    assert states == {"active": "PROVISIONED", "pending": "PENDING", "failed": "ERROR",
                      "pending_removal": "PENDING", "unregistered": "REMOVED", None: "REMOVED"}
    with pytest.raises(ValueError):
        to_e911_status({"e911_status": "active"})


# -- the wire ----------------------------------------------------------------------------------


def test_validation_on_the_wire(kazoo_accounts: dict[str, str]) -> None:
    """A trial `POST /api/relay/rest/addresses` (Basic auth, `emergency_enabled`, never
    auto-corrected), deleted afterwards: valid with SignalWire's spelling, corrected with its
    candidates, invalid with its reason; an address SignalWire cannot take is refused with
    no call. Nothing is left in the project."""
    with signalwire() as sim:
        held(sim)
        pn = numbers.get(NUMBER)
        address = Address("140 Geary St", "San Francisco", "CA", "94108", "Ste 5",
                          caller_name="ACME Corp")
        valid = carriers.feature("knm_signalwire", "validate_address", pn, address)
        assert valid.verdict == "valid" and valid.address.street_address == "140 GEARY ST"
        [sent] = sim.received("POST", "/api/relay/rest/addresses")
        assert sent.headers["authorization"] == "Basic " + feature_flows.basic_pair(PROJECT, TOKEN)
        assert sent.json()["emergency_enabled"] is True
        assert sent.json()["auto_correct_address"] is False
        assert sim.received("DELETE", "/api/relay/rest/addresses/")
        corrected = carriers.feature("knm_signalwire", "validate_address", pn, Address(
            "140 Geary St CORRECTME", "San Francisco", "CA", "94108"))
        assert corrected.verdict == "corrected"
        assert [s.street_address for s in corrected.suggestions] == ["140 GEARY ST"]
        rejected = carriers.feature("knm_signalwire", "validate_address", pn,
                                    Address("140 Geary St", "San Francisco", "CA", "00000"))
        assert rejected.verdict == "invalid" and "geocoded" in (rejected.message or "")
        asked = len(sim.requests)
        unnumbered = carriers.feature("knm_signalwire", "validate_address", pn,
                                      Address("Geary St", "San Francisco", "CA", "94108"))
        assert unnumbered.verdict == "invalid" and "house number" in (unnumbered.message or "")
        assert len(sim.requests) == asked and sim.addresses == {}


# -- E911 end to end through knm.numbers -------------------------------------------------------


def test_an_address_is_registered_changed_and_removed(kazoo_accounts: dict[str, str]) -> None:
    with signalwire() as sim:
        held(sim)
        offered = set(features.available(numbers.get(NUMBER)))
        # SignalWire has no per-number caller name: not offered, rather than a 501 later
        assert "e911" in offered and not offered & {"cnam", "inbound_cnam", "outbound_cnam"}
        pn = feature_flows.registered(NUMBER, books(sim), GEARY, (
            "140 GEARY ST", "Suite 5", "SAN FRANCISCO"))  # as SignalWire registered it
        first_id = pn.carrier_data["signalwire_e911_address_id"]
        assert e911_status(sim) == "active" and assigned(sim)["id"] == first_id
        record = assigned(sim)
        assert (record["street_number"], record["street_name"], record["address_type"],
                record["address_number"], record["label"]) == (
            "140", "GEARY ST", "Suite", "5", "ACME Corp")
        [assign] = sim.received("POST", "/e911_address")
        assert assign.json() == {"e911_address_id": first_id}

        feature_flows.same_address_sends_nothing(sim, NUMBER, pn.doc["e911"], pn.version)

        # a new address: assigned over the active one, knm's previous address deleted
        moved = feature_flows.moved_to(NUMBER, books(sim), MARKET, "1 MARKET ST", first_id)
        assert "signalwire_e911_previous_id" not in moved.carrier_data

        feature_flows.removed(NUMBER, books(sim))
        assert e911_status(sim) == "unregistered" and assigned(sim) is None
        assert sim.addresses == {}
        assert sim.received("DELETE", "/e911_address")


def test_an_address_made_outside_knm_is_never_deleted(kazoo_accounts: dict[str, str]) -> None:
    """The number holds an address made in SignalWire's dashboard: knm's replaces it on the
    number, and the dashboard's stays in the project."""
    with signalwire() as sim:
        held(sim)
        outside = httpx.post(
            f"{config.get('number_manager.signalwire', 'base_url')}/addresses",
            auth=(PROJECT, TOKEN), json={
                "label": "HQ", "country": "US", "first_name": "A", "last_name": "B",
                "street_number": "1", "street_name": "Congress Ave", "city": "Austin",
                "state": "TX", "postal_code": "78701", "emergency_enabled": True}).json()
        with sim.lock:
            sim.owned[NUMBER].update(e911_address_id=outside["id"], e911_status="active")
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PROVISIONED"
        assert assigned(sim)["id"] == pn.carrier_data["signalwire_e911_address_id"]
        assert outside["id"] in sim.addresses
        numbers.update(NUMBER, merge_fields={"e911": None})
        assert list(sim.addresses) == [outside["id"]]


def test_a_registration_is_pending_then_settled(kazoo_accounts: dict[str, str]) -> None:
    """SignalWire confirms later than knm waits: PENDING (never shown as registered), then
    settled to PROVISIONED; a failed one settles to ERROR with the previous address assigned
    again and the new one deleted."""
    with signalwire(feature_wait_s=0.05) as sim:
        held(sim)
        sim.set(feature_complete_ms=300)
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PENDING" and "e911" not in pn.features
        assert e911_status(sim) == "pending"
        [waiting] = numbers.pending_features()
        assert (waiting["operation"], waiting["carrier"]) == ("e911", "knm_signalwire")
        assert numbers.settle([NUMBER]).failed[NUMBER].error == "feature_pending"
        sim.set(feature_complete_ms=0)  # SignalWire confirms
        assert numbers.settle([NUMBER]).ok
        done = numbers.get(NUMBER)
        assert done.doc["e911"]["status"] == "PROVISIONED"
        assert done.features["e911"]["street_address"] == "140 GEARY ST"
        first_id = done.carrier_data["signalwire_e911_address_id"]

        sim.set(feature_complete_ms=300, feature_result="failed")
        moved = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert moved.doc["e911"]["status"] == "PENDING"
        assert moved.features["e911"]["street_address"] == "140 GEARY ST"  # the confirmed one
        order = sim.e911_orders[NUMBER]
        sim.feature_orders[order]["created"] -= 1
        sim.feature_progress(order)  # SignalWire fails it
        assert e911_status(sim) == "failed"
        sim.set(feature_complete_ms=0, feature_result="complete")
        assert numbers.settle([NUMBER]).ok
        failed = numbers.get(NUMBER)
        assert failed.doc["e911"]["status"] == "ERROR"
        assert failed.features["e911"]["street_address"] == "140 GEARY ST"
        assert failed.carrier_data["signalwire_e911_address_id"] == first_id
        assert assigned(sim)["id"] == first_id and list(sim.addresses) == [first_id]
        assert numbers.pending_features() == []


def test_a_rejected_address_stores_nothing_and_keeps_the_previous_one(
        kazoo_accounts: dict[str, str]) -> None:
    with signalwire() as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY, "tag": "a"})
        kept = first.carrier_data["signalwire_e911_address_id"]
        for street, postal in (("1 Market St", "00000"), ("Market St", "94105")):
            wanted = {**MARKET, "street_address": street, "postal_code": postal}
            with pytest.raises(errors.AddressInvalid) as invalid:
                numbers.update(NUMBER, merge_fields={"e911": wanted, "tag": "b"})
            body = invalid.value.to_json()
            cause = body["address"]["invalid"]["cause"]
            assert (cause["street_address"], cause["postal_code"]) == (street, postal)
            assert body["address"]["invalid"]["provider"] == "knm_signalwire"
            after = numbers.get(NUMBER)
            assert after.version == first.version and after.doc == first.doc
        # a correctable one: SignalWire's candidate offered as Kazoo's multiple choice
        with pytest.raises(errors.MultipleChoice) as choice:
            numbers.update(NUMBER, merge_fields={"e911": {
                **MARKET, "street_address": "1 Market St CORRECTME"}})
        [offered] = choice.value.to_json()["multiple_choice"]["e911"]["details"]
        assert offered["street_address"] == "1 MARKET ST"
        assert numbers.get(NUMBER).doc == first.doc
        assert list(sim.addresses) == [kept] and assigned(sim)["id"] == kept


@pytest.mark.parametrize("failure", [
    {"fail_with": {"status": 422, "message": "E911 is not supported for this number"}},
    {"fail_with": {"status": 500, "message": "Internal Server Error"}},
])
def test_a_failed_assignment_is_undone(kazoo_accounts: dict[str, str],
                                       failure: dict[str, Any]) -> None:
    """The address is created, then SignalWire refuses the assignment (a 422), or answers a
    500 (knm reads the number at once: not assigned): the address just created is deleted,
    the refusal answered, and the number keeps its previous address — at SignalWire and in
    knm."""
    with signalwire() as sim:
        held(sim)
        feature_flows.refused_change_is_undone(sim, NUMBER, books(sim), first=GEARY,
                                               moved=MARKET, failure=failure,
                                               match="/e911_address")
        assert e911_status(sim) == "active"


def test_a_failure_signalwire_reports_at_once_is_undone(kazoo_accounts: dict[str, str]) -> None:
    with signalwire() as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        kept = first.carrier_data["signalwire_e911_address_id"]
        sim.set(feature_result="failed")
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert refused.value.carrier_message == "SignalWire says failed"
        sim.set(feature_result="complete")
        assert numbers.get(NUMBER).doc == first.doc
        # the previous address is assigned again (SignalWire registers it anew), the new
        # one deleted
        assert sim.received("POST", "/e911_address")[-1].json() == {"e911_address_id": kept}
        assert assigned(sim)["id"] == kept and list(sim.addresses) == [kept]
        # and on a number that held none, nothing is left behind
        other = "+15125550141"
        held(sim, other)
        sim.set(feature_result="failed")
        with pytest.raises(errors.CarrierFault):
            numbers.update(other, merge_fields={"e911": MARKET})
        assert "e911" not in numbers.get(other).doc and assigned(sim, other) is None
        assert list(sim.addresses) == [kept]


def test_an_assignment_whose_answer_is_lost(kazoo_accounts: dict[str, str]) -> None:
    """SignalWire assigned the address, then its answer was lost (a proxy's HTML 500): knm
    reads the number at once and finds it assigned — PROVISIONED. When that read fails too,
    the address is PENDING and settling finishes it, deleting knm's previous address."""
    with signalwire() as sim:
        held(sim)
        feature_flows.lost_answer_checked_then_settled(
            sim, NUMBER, books(sim), first=GEARY, moved=MARKET, assign="/e911_address",
            number_path=f"/phone_numbers/{sim.owned[NUMBER]['id']}",
            moved_street=lambda: assigned(sim)["street_name"], wanted="MARKET ST",
            registered=("140 GEARY ST", "1 MARKET ST"))


def test_a_lost_assignment_that_did_not_take_settles_to_error(
        kazoo_accounts: dict[str, str]) -> None:
    with signalwire() as sim:
        held(sim)
        # the assignment is answered a 500 (SignalWire may have done it), and so is the
        # read of the number that follows
        first = feature_flows.lost_change_is_pending(
            sim, NUMBER, books(sim), first=GEARY, moved=MARKET,
            number_path=f"/phone_numbers/{sim.owned[NUMBER]['id']}")
        assert len(sim.addresses) == 2
        feature_flows.settles_to_error_keeping(NUMBER, books(sim), first, "not knm's address")


def test_a_pending_removal_is_settled_then_the_address_deleted(
        kazoo_accounts: dict[str, str]) -> None:
    with signalwire(feature_wait_s=0.05) as sim:
        held(sim)
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        own = pn.carrier_data["signalwire_e911_address_id"]
        sim.set(feature_complete_ms=300)
        removing = numbers.update(NUMBER, merge_fields={"e911": None})
        assert removing.doc["e911"]["status"] == "PENDING"
        assert e911_status(sim) == "pending_removal" and own in sim.addresses
        sim.feature_orders[sim.e911_orders[NUMBER]]["created"] -= 1
        assert numbers.settle([NUMBER]).ok
        gone = numbers.get(NUMBER)
        assert "e911" not in gone.doc and "e911" not in gone.features
        assert e911_status(sim) == "unregistered" and sim.addresses == {}


def test_release_and_delete_remove_the_address_first(kazoo_accounts: dict[str, str]) -> None:
    """`knm release` with the number kept at SignalWire (Kazoo's release) unassigns its
    address and deletes knm's; a refused removal stops the release and keeps the number
    with its address; deleting the number removes the address first too."""
    with signalwire() as sim:
        held(sim)
        feature_flows.released_kept_at_carrier(sim, NUMBER, GEARY)
        assert e911_status(sim) == "unregistered" and sim.addresses == {}

        other = "+15125550142"
        held(sim, other)
        kept = numbers.update(other, merge_fields={"e911": GEARY})
        sim.set(fail_with={"status": 500}, match="DELETE /api/relay/rest/phone_numbers/")
        with pytest.raises(errors.CarrierFault):
            numbers.release(other)
        sim.reset_switches()
        after = numbers.get(other)
        assert after.state == "in_service" and after.doc["e911"] == kept.doc["e911"]
        assert e911_status(sim, other) == "active"

        numbers.delete(other)
        assert e911_status(sim, other) == "unregistered" and sim.addresses == {}


def test_caller_names_are_refused(kazoo_accounts: dict[str, str]) -> None:
    """SignalWire has no per-number caller name (no `cnam` capability): asking its carrier
    is a 501 with no request sent, and a number's save asking for one is refused as a feature
    the number does not have (Kazoo's 403), with nothing stored."""
    with signalwire() as sim:
        held(sim)
        pn = numbers.get(NUMBER)
        for method, arg in (("set_cnam", "ACME"), ("set_inbound_lookup", True)):
            with pytest.raises(errors.NotImplementedByCarrier) as refused:
                carriers.feature("knm_signalwire", method, pn, arg)
            assert refused.value.code == 501 and refused.value.cause == "cnam"
        assert sim.requests == []
        for cnam in ({"display_name": "ACME"}, {"inbound_lookup": True}):
            with pytest.raises(errors.Forbidden) as refused_save:  # Kazoo's answer: 403
                numbers.update(NUMBER, merge_fields={"cnam": cnam})
            assert refused_save.value.cause == "cnam"
        assert numbers.get(NUMBER).version == pn.version and sim.requests == []


def test_secrets_stay_out_of_errors_logs_and_records(kazoo_accounts: dict[str, str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    basic = feature_flows.basic_pair(PROJECT, TOKEN)
    with signalwire() as sim, caplog.at_level(logging.DEBUG):
        held(sim)
        feature_flows.secrets_stay_out(
            sim, caplog, NUMBER, [TOKEN, basic],
            refusal={"status": 422, "message": f"bad credentials {TOKEN} {basic}"},
            match="/e911_address", change={"e911": GEARY}, words="bad credentials")


# -- over HTTP: Monster UI's save on a SignalWire number ---------------------------------------


servers = feature_flows.servers
api = feature_flows.api


def test_monster_saves_an_e911_address_on_a_signalwire_number(api: Api) -> None:
    with signalwire() as sim:
        held(sim)
        available = feature_flows.monster_reads(api, NUMBER, "e911", "knm_signalwire")
        assert "cnam" not in available
        form = feature_flows.monster_form(GEARY)
        feature_flows.monster_address_refused(api, NUMBER, "knm_signalwire", form)
        assert sim.addresses == {}
        feature_flows.monster_address_saved(api, NUMBER, form, "140 GEARY ST")
        assert assigned(sim)["label"] == "child"
        feature_flows.monster_address_removed(api, NUMBER)
        assert assigned(sim) is None and sim.addresses == {}


# -- the simulator's own rules -----------------------------------------------------------------


def test_the_simulator_keeps_signalwires_rules() -> None:
    """What knm relies on SignalWire refusing: an address a number uses is not deleted, an
    unvalidated address is not assigned, nothing is assigned to a toll-free number or while
    a change is pending, removal only while active; a missing field is a 422."""
    sim = SignalWireSimulator()
    with BackgroundServer(sim.app) as server, httpx.Client(
            base_url=server.url + "/api/relay/rest", auth=(PROJECT, TOKEN)) as http:
        with sim.lock:
            sim.owned[NUMBER] = sim._new_row(NUMBER)
            sim.owned["+18885550140"] = sim._new_row("+18885550140")
        number_id, tollfree_id = sim.owned[NUMBER]["id"], sim.owned["+18885550140"]["id"]
        fields = {"label": "x", "country": "US", "first_name": "A", "last_name": "B",
                  "street_number": "1", "street_name": "Main St", "city": "Austin",
                  "state": "TX", "postal_code": "78701"}
        blank = http.post("/addresses", json={**fields, "postal_code": ""})
        assert blank.status_code == 422 and "Postal code" in blank.json()["errors"][0]["detail"]
        plain = http.post("/addresses", json=fields).json()  # no emergency_enabled: stored
        assert (plain["emergency_enabled"], plain["validated"]) == (False, False)
        assert http.post(f"/phone_numbers/{number_id}/e911_address",
                         json={"e911_address_id": plain["id"]}).status_code == 422
        fixed = http.post("/addresses", json={**fields, "emergency_enabled": True,
                                              "street_name": "Main St CORRECTME"}).json()
        assert fixed["street_name"] == "MAIN ST"  # auto-corrected by default
        made = http.post("/addresses", json={**fields, "emergency_enabled": True}).json()
        assert made["validated"] is True and made["zip_code"] == "78701"
        assert http.post(f"/phone_numbers/{tollfree_id}/e911_address",
                         json={"e911_address_id": made["id"]}).status_code == 422
        assert http.delete(f"/phone_numbers/{number_id}/e911_address").status_code == 422
        sim.set(feature_result="never")
        pending = http.post(f"/phone_numbers/{number_id}/e911_address",
                            json={"e911_address_id": made["id"]})
        assert pending.status_code == 200 and pending.json()["e911_status"] == "pending"
        assert http.post(f"/phone_numbers/{number_id}/e911_address",
                         json={"e911_address_id": fixed["id"]}).status_code == 422
        assert http.delete(f"/addresses/{made['id']}").status_code == 422  # in use
        sim.set(feature_result="complete")
        assert http.get(f"/phone_numbers/{number_id}").json()["e911_status"] == "active"
        assert http.delete(f"/phone_numbers/{number_id}/e911_address").json()[
            "e911_status"] == "pending_removal"
        shown = http.get(f"/phone_numbers/{number_id}").json()
        assert (shown["e911_status"], shown["e911_address_id"]) == ("unregistered", None)
        assert http.delete(f"/addresses/{made['id']}").status_code == 204
        assert http.get("/addresses", params={"filter_label": "X"}).json()["data"]
        assert http.post("/addresses", auth=("x", "y"), json=fields).status_code == 401
