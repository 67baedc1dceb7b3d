"""knm_vonage's emergency addresses (SPEC §13) against its simulator, over real HTTP: the
Address API and Emergency Calling wire (trial address created then deleted, 422 problems,
assignment by PATCH, unassignment), the address mapping, provisioning end to end through
`knm.numbers` (registered; rejected or corrected with nothing stored; a failure half-way
undone; a lost answer checked at once or settled; removal; an address made outside knm never
deleted), release removing the address first, secrets kept out of errors and logs, and
Monster UI's save on a Vonage number through the HTTP API — on SQLite and PostgreSQL."""

from __future__ import annotations

import json
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
from knm.carriers.vonage import (
    Vonage,
    address_body,
    assigned_address,
    assignment_body,
    from_vonage,
    problem_message,
    to_address_check,
)
from knm.numbers import features, providers
from knm.simulators.server import BackgroundServer
from knm.simulators.vonage import VonageSimulator

KEY, SECRET = "a1b2c3d4", "vonage-simulated-secret"
NUMBER = "+14155550140"
MSISDN = NUMBER[1:]
GEARY = {"street_address": "140 Geary St", "extended_address": "Suite 5",
         "locality": "San Francisco", "region": "CA", "postal_code": "94108",
         "caller_name": "ACME Corp", "notification_contact_emails": ["noc@example.com"]}
MARKET = {"street_address": "1 Market St", "locality": "San Francisco", "region": "CA",
          "postal_code": "94105"}
ASSIGN = f"PATCH /v1/emergency/numbers/{MSISDN}"
REFUSED = json.dumps({"type": "https://developer.vonage.com/api-errors#422",
                      "title": "Invalid parameters",
                      "detail": "Emergency calling is not available for this number",
                      "instance": "bf0ca0bf927b3b52e3cb03217e1a1ddf"})


def vonage(**settings: Any) -> AbstractContextManager[VonageSimulator]:
    """Vonage's simulator on loopback, knm's `knm_vonage` wired to it by config (its
    `base_url` only: the addresses and emergency APIs follow it there)."""
    return feature_flows.simulated("knm_vonage", VonageSimulator, **settings)


def held(sim: VonageSimulator, number: str = NUMBER, account: str = CHILD) -> None:
    """`number` on the Vonage account (the simulator's books) and in service in knm."""
    with sim.lock:
        sim.owned[number] = {"id": number[1:], "number": number,
                             **sim._available("US", number[1:])}
    feature_flows.in_service("knm_vonage", number, account)


def assigned(sim: VonageSimulator, number: str = NUMBER) -> dict[str, Any] | None:
    """The address Vonage holds for the number's emergency calls (None: none)."""
    found = sim.emergency.get(number)
    return sim.addresses[found["address_id"]] if found else None


def books(sim: VonageSimulator) -> feature_flows.E911Books:
    """Vonage's addresses as the shared flows read them."""
    return feature_flows.E911Books("knm_vonage", "vonage_e911_address_id",
                                   "vonage_e911_previous_id", lambda: list(sim.addresses),
                                   lambda: assigned(sim))


# -- pure: knm's address in Vonage's fields ----------------------------------------------------


def test_an_address_in_vonages_fields() -> None:
    address = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                      caller_name="ACME Corp")
    assert address_body(address, NUMBER) == {
        "address_name": "knm +14155550140", "address_line1": "140 Geary St",
        "address_line2": "Suite 5", "city": "San Francisco", "region": "CA",
        "postal_code": "94108", "country": "US", "type": "emergency",
        "address_location_type": "business"}
    trial = address_body(Address("1 Main St", "Toronto", "ON", "M5J 2J5", country="ca"),
                         "+14165550100", "residential", trial=True)
    assert trial["address_name"] == "knm check +14165550100" and "address_line2" not in trial
    assert (trial["country"], trial["address_location_type"]) == ("CA", "residential")
    assert len(address_body(address, "+" + "9" * 40)["address_name"]) == 32  # Vonage's bound
    assert assignment_body("c49f", address) == {"address": {"id": "c49f"},
                                                "contact_name": "ACME Corp"}
    assert assignment_body("c49f", Address("1 Main St", "X", "CA", "1"))["contact_name"]


def test_vonages_answers_read_back() -> None:
    given = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                    caller_name="ACME Corp")
    kept = {"id": "c49f", "address_line1": "140  GEARY ST", "address_line2": "SUITE 5",
            "city": "SAN FRANCISCO", "region": "ca", "postal_code": "94108", "country": "US"}
    assert from_vonage(kept, given) == Address("140 GEARY ST", "SAN FRANCISCO", "CA",
                                               "94108", "SUITE 5", "US", "ACME Corp")
    assert from_vonage({}, given) == given
    assert to_address_check(201, kept, given).verdict == "valid"
    moved = to_address_check(201, {**kept, "address_line1": "142 GEARY ST"}, given)
    assert moved.verdict == "corrected" and moved.suggestions[0].street_address == \
        "142 GEARY ST"
    refused = to_address_check(422, {"title": "Invalid address", "detail": "Not geocoded",
                                     "invalid_parameters": [{"name": "address",
                                                             "reason": "not found"}]}, given)
    assert (refused.verdict, refused.message) == (
        "invalid", "Invalid address: Not geocoded (address: not found)")
    assert to_address_check(400, None, given).message  # a reason even without a body
    assert problem_message({"error-code": "420"}) is None
    assert assigned_address({"number": MSISDN}) is None
    assert assigned_address({"number": MSISDN, "address": {"id": "c49f"}}) == "c49f"
    with pytest.raises(ValueError):
        assigned_address({"address": "c49f"})


def test_the_apis_root_follows_the_setting_or_base_url() -> None:
    real = Vonage({"api_key": KEY, "api_secret": SECRET})
    assert real.api_url("/v1/addresses") == "https://api.nexmo.com/v1/addresses"
    local = Vonage({"api_key": KEY, "api_secret": SECRET, "base_url": "http://127.0.0.1:9/"})
    assert local.api_url("/v1/addresses") == "http://127.0.0.1:9/v1/addresses"
    own = Vonage({"api_key": KEY, "api_secret": SECRET, "api_base_url": "https://eu.x/"})
    assert own.api_url("/v1/emergency") == "https://eu.x/v1/emergency"


# -- the wire ----------------------------------------------------------------------------------


def test_validation_on_the_wire(kazoo_accounts: dict[str, str]) -> None:
    """Vonage validates by creating: a trial address (JSON, Basic auth), compared with the one
    given and deleted at once; 422 is invalid with Vonage's reason; a street Vonage keeps
    elsewhere is a correction offered, never registered."""
    with vonage() as sim:
        held(sim)
        pn = numbers.get(NUMBER)
        address = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                          caller_name="ACME Corp")
        check = carriers.feature("knm_vonage", "validate_address", pn, address)
        assert check.verdict == "valid" and check.address.street_address == "140 GEARY ST"
        [sent] = sim.received("POST", "/v1/addresses")
        assert sent.headers["authorization"] == "Basic " + feature_flows.basic_pair(KEY, SECRET)
        assert sent.headers["content-type"] == "application/json"
        assert sent.json()["type"] == "emergency"
        assert sent.json()["address_name"] == "knm check +14155550140"
        assert len(sim.received("DELETE", "/v1/addresses/")) == 1 and sim.addresses == {}

        rejected = carriers.feature("knm_vonage", "validate_address", pn,
                                    Address("140 Geary St", "San Francisco", "CA", "00000"))
        assert rejected.verdict == "invalid" and "geocoded" in (rejected.message or "")
        corrected = carriers.feature("knm_vonage", "validate_address", pn,
                                     Address("140 Geary St CORRECTME", "San Francisco", "CA",
                                             "94108"))
        assert corrected.verdict == "corrected"
        assert [s.street_address for s in corrected.suggestions] == ["140 GEARY ST"]
        abroad = carriers.feature("knm_vonage", "validate_address", pn,
                                  Address("10 Downing St", "London", "LN", "SW1A 2AA",
                                          country="GB"))
        assert abroad.verdict == "invalid"
        assert sim.addresses == {} and sim.emergency == {}


# -- E911 end to end through knm.numbers -------------------------------------------------------


def test_an_address_is_registered_changed_and_removed(kazoo_accounts: dict[str, str]) -> None:
    with vonage() as sim:
        held(sim)
        offered = set(features.available(numbers.get(NUMBER)))
        assert "e911" in offered and not offered & {"cnam", "outbound_cnam", "inbound_cnam"}
        pn = feature_flows.registered(NUMBER, books(sim), GEARY, (
            "140 GEARY ST", "SUITE 5", "SAN FRANCISCO"))  # as Vonage registered it
        first_id = pn.carrier_data["vonage_e911_address_id"]
        address = assigned(sim)
        assert (address["address_line1"], address["address_line2"], address["country"],
                address["address_name"]) == ("140 GEARY ST", "SUITE 5", "US",
                                             "knm +14155550140")
        assert sim.emergency[NUMBER]["contact_name"] == "ACME Corp"
        [patch] = sim.received("PATCH", "/v1/emergency/numbers/")
        assert patch.path == f"/v1/emergency/numbers/{MSISDN}"
        assert patch.json() == {"address": {"id": first_id}, "contact_name": "ACME Corp"}
        assert list(sim.addresses) == [first_id]  # the trial one deleted

        feature_flows.same_address_sends_nothing(sim, NUMBER, pn.doc["e911"], pn.version)

        # a new address: a new one assigned, knm's previous address deleted
        feature_flows.moved_to(NUMBER, books(sim), MARKET, "1 MARKET ST", first_id)

        feature_flows.removed(NUMBER, books(sim))
        assert assigned(sim) is None and sim.addresses == {}
        assert sim.received("DELETE", f"/v1/emergency/numbers/{MSISDN}")


def test_a_rejected_or_corrected_address_stores_nothing_and_keeps_the_previous_one(
        kazoo_accounts: dict[str, str]) -> None:
    with vonage() as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY, "tag": "a"})
        kept = first.carrier_data["vonage_e911_address_id"]
        for postal in ("00000", "ABCDE"):
            wanted = {**MARKET, "postal_code": postal,
                      "country": "GB" if postal == "ABCDE" else "US"}
            with pytest.raises(errors.AddressInvalid) as invalid:
                numbers.update(NUMBER, merge_fields={"e911": wanted, "tag": "b"})
            body = invalid.value.to_json()
            assert invalid.value.code == 400 and invalid.value.error == "invalid data"
            assert body["address"]["invalid"]["cause"]["postal_code"] == postal
            assert body["address"]["invalid"]["provider"] == "knm_vonage"
            assert body["address"]["invalid"]["message"]
        with pytest.raises(errors.MultipleChoice) as choice:
            numbers.update(NUMBER, merge_fields={"e911": {
                **MARKET, "street_address": "1 Market St CORRECTME"}, "tag": "b"})
        [suggested] = choice.value.to_json()["multiple_choice"]["e911"]["details"]
        assert suggested["street_address"] == "1 MARKET ST"
        after = numbers.get(NUMBER)
        assert after.version == first.version and after.doc == first.doc
        assert list(sim.addresses) == [kept] and assigned(sim)["id"] == kept


@pytest.mark.parametrize("failure", [
    {"fail_with": {"status": 422, "body": REFUSED, "content_type": "application/json"}},
    {"fail_with": {"status": 500, "message": "Internal error"}},
])
def test_a_failed_assignment_is_undone(kazoo_accounts: dict[str, str],
                                       failure: dict[str, Any]) -> None:
    """The address is created, then Vonage refuses the assignment (a 422 problem), or answers
    a 500 (knm reads the number at once: not assigned): the address just created is deleted,
    the refusal answered, and the number keeps its previous address — at Vonage and in
    knm."""
    with vonage() as sim:
        held(sim)
        refused = feature_flows.refused_change_is_undone(
            sim, NUMBER, books(sim), first=GEARY, moved=MARKET, failure=failure, match=ASSIGN)
        if failure["fail_with"]["status"] == 422:
            assert "not available for this number" in refused.carrier_message
        else:
            assert sim.received("GET", f"/v1/emergency/numbers/{MSISDN}")  # checked


def test_an_assignment_whose_answer_is_lost(kazoo_accounts: dict[str, str]) -> None:
    """Vonage assigned the address, then its answer was lost (a proxy's HTML 500): knm reads
    the number at once and finds it assigned — PROVISIONED, no settling needed. When that
    read fails too, the address is PENDING (never shown as registered) and settling
    finishes it, deleting knm's previous address."""
    with vonage() as sim:
        held(sim)
        feature_flows.lost_answer_checked_then_settled(
            sim, NUMBER, books(sim), first=GEARY, moved=MARKET, assign=ASSIGN,
            number_path=f"/v1/emergency/numbers/{MSISDN}",
            moved_street=lambda: assigned(sim)["address_line1"], wanted="1 MARKET ST",
            registered=("140 GEARY ST", "1 MARKET ST"))


@pytest.mark.parametrize("spoilt", ["truncated", "timeout"])
def test_an_assignment_answer_cut_or_never_sent_is_checked(kazoo_accounts: dict[str, str],
                                                           spoilt: str) -> None:
    """The assignment is done but its answer is cut short, or never comes (knm gives up at
    `timeout_ms`): the check on the number finds it assigned — PROVISIONED, the previous
    address deleted."""
    with vonage(timeout_ms=1500) as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        sim.set(ambiguous=spoilt, match=ASSIGN, times=1, hang_s=3)
        moved = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert moved.doc["e911"]["status"] == "PROVISIONED"
        assert moved.features["e911"]["street_address"] == "1 MARKET ST"
        new_id = moved.carrier_data["vonage_e911_address_id"]
        assert new_id != first.carrier_data["vonage_e911_address_id"]
        assert assigned(sim)["id"] == new_id and list(sim.addresses) == [new_id]
        assert numbers.pending_features() == []


def test_a_validation_whose_answer_is_lost_stores_nothing(
        kazoo_accounts: dict[str, str]) -> None:
    """The trial address's creation is answered a truncated body: knm cannot read Vonage's
    verdict, so it answers the failure and neither registers nor stores anything."""
    with vonage() as sim:
        held(sim)
        before = numbers.get(NUMBER)
        sim.set(ambiguous="truncated", match="POST /v1/addresses", times=1)
        with pytest.raises(errors.KnmError):
            numbers.update(NUMBER, merge_fields={"e911": GEARY})
        after = numbers.get(NUMBER)
        assert after.version == before.version and "e911" not in after.doc
        assert sim.emergency == {} and not sim.received("PATCH")


def test_a_lost_assignment_that_did_not_take_settles_to_error(
        kazoo_accounts: dict[str, str]) -> None:
    with vonage() as sim:
        held(sim)
        # the assignment is answered a 500 (Vonage may have done it), and so is the check
        # of the number that follows
        first = feature_flows.lost_change_is_pending(
            sim, NUMBER, books(sim), first=GEARY, moved=MARKET,
            number_path=f"/v1/emergency/numbers/{MSISDN}")
        feature_flows.settles_to_error_keeping(NUMBER, books(sim), first, "not knm's address")


def test_an_address_made_outside_knm_is_never_deleted(kazoo_accounts: dict[str, str]) -> None:
    """The number came with an address assigned in Vonage's dashboard: knm replaces the
    assignment, and neither that nor removing knm's address deletes the dashboard's one."""
    with vonage() as sim:
        held(sim)
        portal = "0f3c52a1-portal"
        with sim.lock:
            sim.addresses[portal] = {"id": portal, "address_name": "HQ", "type": "emergency",
                                     "address_line1": "1 PORTAL WAY", "city": "SEATTLE",
                                     "region": "WA", "postal_code": "98101", "country": "US"}
            sim.emergency[NUMBER] = {"address_id": portal, "contact_name": "Front desk"}
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert assigned(sim)["id"] == pn.carrier_data["vonage_e911_address_id"] != portal
        numbers.update(NUMBER, merge_fields={"e911": None})
        assert assigned(sim) is None and list(sim.addresses) == [portal]
        assert not sim.received("DELETE", f"/v1/addresses/{portal}")


# -- release and deletion remove the address first ----------------------------------------------


def test_release_removes_the_address_first(kazoo_accounts: dict[str, str]) -> None:
    """Kept at Vonage (`disconnect_on_release` false): its emergency assignment and knm's
    address are removed there. Disconnected (the default): removed first, then cancelled."""
    with vonage() as sim:
        held(sim)
        feature_flows.released_kept_at_carrier(sim, NUMBER, GEARY)
        assert assigned(sim) is None and sim.addresses == {}

        config.set("number_manager", "disconnect_on_release", True)
        other = "+14155550141"
        held(sim, other)
        assert numbers.update(other, merge_fields={"e911": MARKET}).doc["e911"][
            "status"] == "PROVISIONED"
        assert numbers.release(other).state == "deleted"
        assert other not in sim.owned and sim.addresses == {}
        unassigned = sim.received("DELETE", "/v1/emergency/numbers/14155550141")
        [cancel] = sim.received("POST", "/number/cancel")
        assert unassigned and sim.requests.index(unassigned[0]) < sim.requests.index(cancel)
        assert providers.pending() == []


def test_a_refused_removal_keeps_the_number(kazoo_accounts: dict[str, str]) -> None:
    """Vonage refuses the unassignment while the number stays there: the release fails naming
    the feature, the number and its address are kept as they were."""
    with vonage() as sim:
        config.set("number_manager", "disconnect_on_release", False)
        held(sim)
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        sim.set(fail_with={"status": 403, "message": "not permitted"},
                match=f"DELETE /v1/emergency/numbers/{MSISDN}")
        with pytest.raises(errors.KnmError) as refused:
            numbers.release(NUMBER)
        assert "e911" in refused.value.message
        kept = numbers.get(NUMBER)
        assert kept.state == "in_service" and kept.doc["e911"] == pn.doc["e911"]
        assert assigned(sim)["id"] == pn.carrier_data["vonage_e911_address_id"]


def test_secrets_stay_out_of_errors_logs_and_records(kazoo_accounts: dict[str, str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    basic = feature_flows.basic_pair(KEY, SECRET)
    with vonage() as sim, caplog.at_level(logging.DEBUG):
        held(sim)
        feature_flows.secrets_stay_out(
            sim, caplog, NUMBER, [SECRET, basic],
            refusal={"status": 422, "content_type": "application/json",
                     "body": json.dumps({"title": "Invalid", "detail": f"bad {SECRET} {basic}"})},
            match=ASSIGN, change={"e911": GEARY}, words="Invalid: bad")


# -- over HTTP: Monster UI's save on a Vonage number -------------------------------------------


servers = feature_flows.servers
api = feature_flows.api


def test_monster_saves_an_e911_address_on_a_vonage_number(api: Api) -> None:
    with vonage() as sim:
        held(sim)
        feature_flows.monster_reads(api, NUMBER, "e911", "knm_vonage")
        form = feature_flows.monster_form(GEARY)
        feature_flows.monster_address_refused(api, NUMBER, "knm_vonage", form)
        assert sim.addresses == {}
        feature_flows.monster_address_saved(api, NUMBER, form, "140 GEARY ST")
        assert sim.emergency[NUMBER]["contact_name"] == "child"
        feature_flows.monster_address_removed(api, NUMBER)
        assert assigned(sim) is None and sim.addresses == {}


# -- the simulator's own rules -----------------------------------------------------------------


def test_the_simulator_keeps_vonages_rules() -> None:
    """What knm relies on Vonage refusing: an address a number uses is not deleted, an
    unknown address or a missing contact is not assigned, a body missing fields is a 422
    naming them, a number the account does not hold is a 404, wrong credentials a 401."""
    sim = VonageSimulator()
    with BackgroundServer(sim.app) as server, httpx.Client(base_url=server.url,
                                                           auth=(KEY, SECRET)) as http:
        sim.owned[NUMBER] = {"id": MSISDN, "number": NUMBER, **sim._available("US", MSISDN)}
        body = {"address_line1": "1 Main St", "city": "Seattle", "region": "WA",
                "postal_code": "98101", "country": "US", "type": "emergency"}
        missing = http.post("/v1/addresses", json={**body, "city": "", "type": "home"})
        assert missing.status_code == 422
        assert {p["name"] for p in missing.json()["invalid_parameters"]} == {"city", "type"}
        made = http.post("/v1/addresses", json=body)
        assert made.status_code == 201 and made.json()["address_line1"] == "1 MAIN ST"
        address_id = made.json()["id"]
        listed = http.get("/v1/addresses", params={"page_size": 10}).json()
        assert listed["total_items"] == 1 and listed["_embedded"]["addresses"][0]["id"] == \
            address_id
        assert http.get(f"/v1/emergency/numbers/{MSISDN}").json() == {"number": MSISDN}
        assert http.patch(f"/v1/emergency/numbers/{MSISDN}",
                          json={"address": {"id": "nope"}, "contact_name": "A"}
                          ).status_code == 422
        assert http.patch(f"/v1/emergency/numbers/{MSISDN}",
                          json={"address": {"id": address_id}}).status_code == 422
        done = http.patch(f"/v1/emergency/numbers/{MSISDN}",
                          json={"address": {"id": address_id}, "contact_name": "A"})
        assert done.status_code == 200 and done.json()["address"]["id"] == address_id
        assert http.get(f"/v1/emergency/numbers/{MSISDN}").json()["contact_name"] == "A"
        assert http.delete(f"/v1/addresses/{address_id}").status_code == 409  # in use
        assert http.patch("/v1/emergency/numbers/14155550199",
                          json={"address": {"id": address_id}, "contact_name": "A"}
                          ).status_code == 404
        assert http.delete(f"/v1/emergency/numbers/{MSISDN}").status_code == 204
        assert http.delete(f"/v1/emergency/numbers/{MSISDN}").status_code == 404
        assert http.delete(f"/v1/addresses/{address_id}").status_code == 204
        assert http.get(f"/v1/addresses/{address_id}").status_code == 404
        assert http.post("/v1/addresses", json=body, auth=("x", "y")).status_code == 401
