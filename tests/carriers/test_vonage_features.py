"""knm_vonage's emergency addresses (SPEC §13) against its simulator, over real HTTP: the
Address API and Emergency Calling wire (trial address created then deleted, 422 problems,
assignment by PATCH, unassignment), the address mapping, provisioning end to end through
`knm.numbers` (registered; rejected or corrected with nothing stored; a failure half-way
undone; a lost answer checked at once or settled; removal; an address made outside knm never
deleted), release removing the address first, secrets kept out of errors and logs, and
Monster UI's save on a Vonage number through the HTTP API — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from api_support import Api, Servers, assert_error, assert_ok, start_api
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
from knm.simulators import registry
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


@contextmanager
def vonage(**settings: Any) -> Iterator[VonageSimulator]:
    """Vonage's simulator on loopback, knm's `knm_vonage` wired to it by config (its
    `base_url` only: the addresses and emergency APIs follow it there)."""
    sim = registry.get("knm_vonage").make_simulator()
    assert isinstance(sim, VonageSimulator)
    try:
        with BackgroundServer(sim.app) as server:
            for key, value in {**registry.wire("knm_vonage", server.url, sim),
                               **settings}.items():
                config.set("number_manager.vonage", key, value)
            yield sim
    finally:
        carriers.registry.clear_instances()


def held(sim: VonageSimulator, number: str = NUMBER, account: str = CHILD) -> None:
    """`number` on the Vonage account (the simulator's books) and in service in knm."""
    with sim.lock:
        sim.owned[number] = {"id": number[1:], "number": number,
                             **sim._available("US", number[1:])}
    if numbers.get([number]).failed:
        assert numbers.create(number, assign_to=account, module_name="knm_vonage",
                              state="in_service")


def assigned(sim: VonageSimulator, number: str = NUMBER) -> dict[str, Any] | None:
    """The address Vonage holds for the number's emergency calls (None: none)."""
    found = sim.emergency.get(number)
    return sim.addresses[found["address_id"]] if found else None


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
        assert sent.headers["authorization"] == "Basic " + base64.b64encode(
            f"{KEY}:{SECRET}".encode()).decode()
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
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        e911 = pn.doc["e911"]
        assert e911["status"] == "PROVISIONED" and pn.features["e911"] == e911
        assert (e911["street_address"], e911["extended_address"], e911["locality"]) == (
            "140 GEARY ST", "SUITE 5", "SAN FRANCISCO")  # as Vonage registered it
        assert e911["notification_contact_emails"] == ["noc@example.com"]
        assert pn.carrier_data["e911_provider"] == "knm_vonage"
        first_id = pn.carrier_data["vonage_e911_address_id"]
        address = assigned(sim)
        assert address is not None and address["id"] == first_id
        assert (address["address_line1"], address["address_line2"], address["country"],
                address["address_name"]) == ("140 GEARY ST", "SUITE 5", "US",
                                             "knm +14155550140")
        assert sim.emergency[NUMBER]["contact_name"] == "ACME Corp"
        [patch] = sim.received("PATCH", "/v1/emergency/numbers/")
        assert patch.path == f"/v1/emergency/numbers/{MSISDN}"
        assert patch.json() == {"address": {"id": first_id}, "contact_name": "ACME Corp"}
        assert list(sim.addresses) == [first_id]  # the trial one deleted

        # the same address sent back (Monster sends the whole number): no carrier call
        asked = len(sim.requests)
        assert numbers.update(NUMBER, merge_fields={"e911": e911}).version == pn.version
        assert len(sim.requests) == asked

        # a new address: a new one assigned, knm's previous address deleted
        moved = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert moved.doc["e911"]["street_address"] == "1 MARKET ST"
        second_id = moved.carrier_data["vonage_e911_address_id"]
        assert second_id != first_id and assigned(sim)["id"] == second_id
        assert list(sim.addresses) == [second_id]

        gone = numbers.update(NUMBER, merge_fields={"e911": None})
        assert "e911" not in gone.doc and "e911" not in gone.features
        assert "vonage_e911_address_id" not in gone.carrier_data
        assert "e911_provider" not in gone.carrier_data
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
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        kept = first.carrier_data["vonage_e911_address_id"]
        sim.set(**failure, match=ASSIGN)
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert refused.value.carrier == "knm_vonage" and refused.value.operation == "e911"
        if failure["fail_with"]["status"] == 422:
            assert "not available for this number" in refused.value.carrier_message
        else:
            assert sim.received("GET", f"/v1/emergency/numbers/{MSISDN}")  # checked
        after = numbers.get(NUMBER)
        assert after.version == first.version and after.doc == first.doc
        assert list(sim.addresses) == [kept] and assigned(sim)["id"] == kept


def test_an_assignment_whose_answer_is_lost(kazoo_accounts: dict[str, str]) -> None:
    """Vonage assigned the address, then its answer was lost (a proxy's HTML 500): knm reads
    the number at once and finds it assigned — PROVISIONED, no settling needed. When that
    read fails too, the address is PENDING (never shown as registered) and settling
    finishes it, deleting knm's previous address."""
    with vonage() as sim:
        held(sim)
        sim.set(ambiguous="html_500", match=ASSIGN, times=1)
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PROVISIONED" and "e911" in pn.features
        first_id = pn.carrier_data["vonage_e911_address_id"]

        sim.set(ambiguous="html_500", match=f"/v1/emergency/numbers/{MSISDN}", times=2)
        moved = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert moved.doc["e911"]["status"] == "PENDING"
        assert moved.features["e911"]["street_address"] == "140 GEARY ST"  # confirmed one
        [waiting] = numbers.pending_features()
        assert (waiting["number"], waiting["operation"], waiting["carrier"]) == (
            NUMBER, "e911", "knm_vonage")
        assert assigned(sim)["address_line1"] == "1 MARKET ST" and first_id in sim.addresses
        settled = numbers.settle([NUMBER])
        assert settled.ok, settled.failed
        done = numbers.get(NUMBER)
        assert done.doc["e911"]["status"] == "PROVISIONED"
        assert done.features["e911"]["street_address"] == "1 MARKET ST"
        assert "vonage_e911_previous_id" not in done.carrier_data
        assert list(sim.addresses) == [done.carrier_data["vonage_e911_address_id"]]
        assert numbers.pending_features() == []


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
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        kept = first.carrier_data["vonage_e911_address_id"]
        # the assignment is answered a 500 (Vonage may have done it), and so is the check
        # of the number that follows
        sim.set(fail_with={"status": 500}, match=f"/v1/emergency/numbers/{MSISDN}", times=2)
        assert numbers.update(NUMBER, merge_fields={"e911": MARKET}).doc["e911"][
            "status"] == "PENDING"
        assert numbers.settle([NUMBER]).ok
        failed = numbers.get(NUMBER)
        assert failed.doc["e911"]["status"] == "ERROR"
        assert "not knm's address" in failed.doc["e911"]["message"]
        assert failed.features["e911"] == first.features["e911"]  # kept: 140 GEARY ST
        assert failed.carrier_data["vonage_e911_address_id"] == kept
        assert list(sim.addresses) == [kept] and assigned(sim)["id"] == kept


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
        config.set("number_manager", "disconnect_on_release", False)
        held(sim)
        assert numbers.update(NUMBER, merge_fields={"e911": GEARY}).doc["e911"][
            "status"] == "PROVISIONED"
        released = numbers.release(NUMBER)
        assert released.state == "available" and NUMBER in sim.owned
        assert assigned(sim) is None and sim.addresses == {}
        stored = numbers.get(NUMBER)
        assert "e911" not in stored.doc and "e911_provider" not in stored.carrier_data

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
    basic = base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()
    with vonage() as sim, caplog.at_level(logging.DEBUG):
        held(sim)
        sim.set(fail_with={"status": 422, "content_type": "application/json",
                           "body": json.dumps({"title": "Invalid",
                                               "detail": f"bad {SECRET} {basic}"})},
                match=ASSIGN)
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"e911": GEARY})
        sim.reset_switches()
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        said = str(refused.value.to_json()) + str(refused.value) + caplog.text + str(
            pn.doc) + str(pn.carrier_data)
        assert SECRET not in said and basic not in said
        assert "Invalid: bad" in str(refused.value.to_json())


# -- over HTTP: Monster UI's save on a Vonage number -------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    yield from Servers.run(tmp_path_factory.mktemp("vonage_features"))


@pytest.fixture
def api(servers: Servers, kazoo_accounts: dict[str, str]) -> Iterator[Api]:
    yield from start_api(servers, kazoo_accounts)


def _monster_save(api: Api, number: str, change: dict[str, Any]) -> httpx.Response:
    """`e911UpdateNumber`: the number as read, `features` and `metadata` dropped, the change
    applied, POSTed back with Monster's `ui_metadata`."""
    path = api.numbers_path("child", number)
    data = assert_ok(api.call("GET", path, "child"))
    payload = {k: v for k, v in data.items() if k not in ("features", "metadata")}
    for key, value in change.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    payload["ui_metadata"] = {"version": "4.3-0", "ui": "monster-ui", "origin": "common"}
    return api.call("POST", path, "child", data=payload)


def test_monster_saves_an_e911_address_on_a_vonage_number(api: Api) -> None:
    with vonage() as sim:
        held(sim)
        read = assert_ok(api.call("GET", api.numbers_path("child", NUMBER), "child"))
        assert "e911" in read["_read_only"]["features"]["available"]
        assert read["_read_only"]["features"]["settings"]["e911"] == {"provider": "knm_vonage"}

        form = {**GEARY, "caller_name": "child", "country": "US"}
        refused = _monster_save(api, NUMBER, {"e911": {**form, "postal_code": "00000"}})
        invalid = assert_error(refused, 400, "invalid data")["address"]["invalid"]
        assert invalid["cause"]["postal_code"] == "00000" and invalid["provider"] == \
            "knm_vonage"
        assert "e911" not in assert_ok(api.call("GET", api.numbers_path("child", NUMBER),
                                                "child"))
        assert sim.addresses == {}

        saved = assert_ok(_monster_save(api, NUMBER, {"e911": form}))
        assert saved["e911"]["status"] == "PROVISIONED"
        assert saved["e911"]["street_address"] == "140 GEARY ST"
        assert "e911" in saved["features"]
        assert sim.emergency[NUMBER]["contact_name"] == "child"

        removed = assert_ok(_monster_save(api, NUMBER, {"e911": None}))
        assert "e911" not in removed and "e911" not in removed.get("features", [])
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
