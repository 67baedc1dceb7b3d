"""knm_flowroute's number features (SPEC §13) against its simulator, over real HTTP: the E911
record wire (validate 204/404, create, associate, dissociate, delete), the address mapping
(street number and name, unit type and number, USA/Canada), provisioning end to end through
`knm.numbers` (registered; rejected with nothing stored; a failure half-way undone; removal),
caller-name records awaiting Flowroute's approval settled to PROVISIONED or ERROR, the inbound
lookup Flowroute has no API for (501), secrets kept out of errors and logs, and Monster UI's
save on a Flowroute number through the HTTP API — on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
import time
from contextlib import AbstractContextManager
from typing import Any

import feature_flows
import httpx
import pytest
from api_support import Api
from conftest import CHILD

from knm import carriers, config, errors, numbers
from knm.carriers.features import Address
from knm.carriers.flowroute import (
    cnam_fault,
    e911_attributes,
    from_flowroute,
    person,
    reusable,
    street_parts,
    to_address_check,
    unit_parts,
)
from knm.numbers import features, settler
from knm.simulators.base import Simulator
from knm.simulators.flowroute import FlowrouteSimulator
from knm.simulators.server import BackgroundServer

ACCESS, SECRET = "12345678", "flowroute-simulated-secret"
NUMBER = "+12065550140"
OTHER = "+12065550141"
GEARY = {"street_address": "140 Geary St", "extended_address": "Suite 5",
         "locality": "San Francisco", "region": "CA", "postal_code": "94108",
         "caller_name": "ACME Corp", "notification_contact_emails": ["noc@example.com"]}
MARKET = {"street_address": "1 Market St", "locality": "San Francisco", "region": "CA",
          "postal_code": "94105"}
ASSOCIATE = "PATCH /v2/numbers/12065550140/relationships/e911s/"


def flowroute(**settings: Any) -> AbstractContextManager[FlowrouteSimulator]:
    """Flowroute's simulator on loopback, knm's `knm_flowroute` wired to it by config. The
    carrier instance knm made for it is closed afterwards, so the credentials it learnt
    (the Basic pair, access key included) leave the process-wide secret registry."""
    return feature_flows.simulated("knm_flowroute", FlowrouteSimulator, **settings)


def held(sim: Simulator, number: str = NUMBER, account: str = CHILD) -> None:
    """`number` on the Flowroute account (the simulator's books) and in service in knm."""
    with sim.lock:
        sim.owned[number] = {"id": number[1:], "number": number, "primary_route": "0",
                             "failover_route": None, "alias": None, "messaging_enabled": False,
                             "cnam_lookups_enabled": True}
    feature_flows.in_service("knm_flowroute", number, account)


def associated(sim: FlowrouteSimulator, number: str = NUMBER) -> dict[str, Any] | None:
    """The E911 record Flowroute holds for the number (None: none)."""
    e911_id = sim.owned[number].get("e911_id")
    return sim.e911s[e911_id] if e911_id else None


def books(sim: FlowrouteSimulator) -> feature_flows.E911Books:
    """Flowroute's E911 records as the shared flows read them."""
    return feature_flows.E911Books("knm_flowroute", "flowroute_e911_id",
                                   "flowroute_e911_previous_id", lambda: list(sim.e911s),
                                   lambda: associated(sim))


# -- pure: knm's address in Flowroute's fields -------------------------------------------------


def test_an_address_in_flowroutes_fields() -> None:
    address = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                      caller_name="ACME Corp")
    assert e911_attributes(address, NUMBER) == {
        "label": "knm +12065550140", "first_name": "ACME", "last_name": "Corp",
        "street_name": "Geary St", "street_number": "140", "city": "San Francisco",
        "state": "CA", "country": "USA", "zip": "94108", "address_type": "Suite",
        "address_type_number": "5"}
    canada = e911_attributes(Address("200 Bay St", "Toronto", "ON", "M5J 2J5", country="CA"),
                             NUMBER)
    assert canada["country"] == "Canada" and "address_type" not in canada
    assert (canada["first_name"], canada["last_name"]) == ("Valued", "Customer")
    # the house number: digits, a letter, a range, a half
    for street, parts in (("140A Geary St", ("140A", "Geary St")),
                          ("12-14  Main   St", ("12-14", "Main St")),
                          ("140 1/2 Main St", ("140 1/2", "Main St")),
                          ("1182 3rd Ave", ("1182", "3rd Ave"))):
        assert street_parts(street) == parts
    for unit, parts in (("Floor 3", ("Floor", "3")), ("#5B", ("Unit", "5B")),
                        ("5B", ("Unit", "5B")), ("Suite #600", ("Suite", "600"))):
        assert unit_parts(unit) == parts
    assert unit_parts("  ") is None
    assert person("ACME") == ("ACME", "ACME")
    assert person("Front Desk Team") == ("Front Desk", "Team")
    # what Flowroute's fields cannot carry is refused, never dropped
    for bad, word in ((Address("3rd Ave", "Seattle", "WA", "98101"), "house number"),
                      (Address("1 Main St", "Seattle", "WA", "98101", "Lobby"), "Suite 5"),
                      (Address("1 Main St", "London", "LN", "W1A 1AA", country="GB"),
                       "US and Canada")):
        with pytest.raises(ValueError, match=word):
            e911_attributes(bad, NUMBER)


def test_flowroutes_answers_read_back() -> None:
    given = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                    caller_name="ACME Corp")
    record = {"street_number": "140", "street_name": "GEARY ST", "address_type": "SUITE",
              "address_type_number": "5", "city": "SAN FRANCISCO", "state": "ca",
              "country": "USA", "zip": "94108"}
    assert from_flowroute(record, given) == Address(
        "140 GEARY ST", "SAN FRANCISCO", "CA", "94108", "SUITE 5", "US", "ACME Corp")
    assert from_flowroute({}, given) == given  # no address shown: what was sent
    assert to_address_check(204, None, given).verdict == "valid"
    refused = to_address_check(404, {"errors": [{"detail": "Could not geocode this address.",
                                                 "status": 404}]}, given)
    assert (refused.verdict, refused.message) == ("invalid", "Could not geocode this address.")
    assert to_address_check(400, None, given).message  # a reason even without a body
    assert cnam_fault("ACME") is None
    assert "15" in (cnam_fault("A" * 16) or "") and "letter" in (cnam_fault("2065550100") or "")
    records = [{"id": "1", "value": "ACME", "is_approved": False, "rejection_reason": "no"},
               {"id": "2", "value": "acme", "is_approved": False, "rejection_reason": None},
               {"id": "3", "value": "ACME ", "is_approved": True, "rejection_reason": None}]
    assert reusable(records, "Acme")["id"] == "3"  # approved first; rejected never
    assert reusable(records[:2], "ACME")["id"] == "2"
    assert reusable(records[:1], "ACME") is None


# -- the wire ----------------------------------------------------------------------------------


def test_validation_on_the_wire(kazoo_accounts: dict[str, str]) -> None:
    """`POST /v2/e911s/validate`: JSON:API e911 attributes with Basic auth; 204 is valid, 404
    invalid with Flowroute's reason; an address Flowroute's fields cannot carry is refused
    with no call. Nothing is created by a validation."""
    with flowroute() as sim:
        held(sim)
        pn = numbers.get(NUMBER)
        address = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                          caller_name="ACME Corp")
        assert carriers.feature("knm_flowroute", "validate_address", pn, address).verdict == \
            "valid"
        [sent] = sim.received("POST", "/v2/e911s/validate")
        assert sent.headers["authorization"] == "Basic " + feature_flows.basic_pair(ACCESS, SECRET)
        assert sent.headers["content-type"] == "application/vnd.api+json"
        assert sent.json() == {"data": {"type": "e911", "attributes": {
            "label": "knm +12065550140", "first_name": "ACME", "last_name": "Corp",
            "street_name": "Geary St", "street_number": "140", "city": "San Francisco",
            "state": "CA", "country": "USA", "zip": "94108", "address_type": "Suite",
            "address_type_number": "5"}}}
        rejected = carriers.feature("knm_flowroute", "validate_address", pn,
                                    Address("140 Geary St", "San Francisco", "CA", "00000"))
        assert rejected.verdict == "invalid" and "geocode" in (rejected.message or "")
        # Flowroute suggests nothing: what another carrier would correct is rejected
        corrected = carriers.feature("knm_flowroute", "validate_address", pn,
                                     Address("140 Geary St CORRECTME", "San Francisco", "CA",
                                             "94108"))
        assert corrected.verdict == "invalid" and corrected.suggestions == []
        asked = len(sim.requests)
        unnumbered = carriers.feature("knm_flowroute", "validate_address", pn,
                                      Address("Geary St", "San Francisco", "CA", "94108"))
        assert unnumbered.verdict == "invalid" and "house number" in unnumbered.message
        assert len(sim.requests) == asked and sim.e911s == {}


# -- E911 end to end through knm.numbers -------------------------------------------------------


def test_an_address_is_registered_changed_and_removed(kazoo_accounts: dict[str, str]) -> None:
    with flowroute() as sim:
        held(sim)
        offered = set(features.available(numbers.get(NUMBER)))
        # no per-number inbound lookup at Flowroute: not offered, rather than a 501 later
        assert {"e911", "cnam", "outbound_cnam"} <= offered and "inbound_cnam" not in offered
        pn = feature_flows.registered(NUMBER, books(sim), GEARY, (
            "140 GEARY ST", "SUITE 5", "SAN FRANCISCO"))  # as Flowroute registered it
        first_id = pn.carrier_data["flowroute_e911_id"]
        record = associated(sim)
        assert (record["street_number"], record["street_name"], record["address_type"],
                record["address_type_number"], record["country"]) == (
            "140", "GEARY ST", "SUITE", "5", "USA")
        assert (record["first_name"], record["last_name"]) == ("ACME", "Corp")
        created = sim.received("POST", "/v2/e911s")
        assert [r.path for r in created] == ["/v2/e911s/validate", "/v2/e911s"]
        assert sim.received("PATCH", f"/relationships/e911s/{first_id}")

        feature_flows.same_address_sends_nothing(sim, NUMBER, pn.doc["e911"], pn.version)

        # a new address: a new record associated, knm's previous record deleted
        feature_flows.moved_to(NUMBER, books(sim), MARKET, "1 MARKET ST", first_id)

        feature_flows.removed(NUMBER, books(sim))
        assert associated(sim) is None and sim.e911s == {}
        assert sim.received("DELETE", "/v2/numbers/12065550140/relationships/e911s")


def test_a_rejected_address_stores_nothing_and_keeps_the_previous_one(
        kazoo_accounts: dict[str, str]) -> None:
    with flowroute() as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY, "tag": "a"})
        kept = first.carrier_data["flowroute_e911_id"]
        for street, postal in (("1 Market St", "00000"), ("1 Market St CORRECTME", "94105"),
                               ("Market St", "94105")):
            wanted = {**MARKET, "street_address": street, "postal_code": postal}
            with pytest.raises(errors.AddressInvalid) as invalid:
                numbers.update(NUMBER, merge_fields={"e911": wanted, "tag": "b"})
            body = invalid.value.to_json()
            assert invalid.value.code == 400 and invalid.value.error == "invalid data"
            cause = body["address"]["invalid"]["cause"]  # the e911 as merged and sent
            assert (cause["street_address"], cause["postal_code"]) == (street, postal)
            assert body["address"]["invalid"]["provider"] == "knm_flowroute"
            assert body["address"]["invalid"]["message"]
            assert "multiple_choice" not in body
            after = numbers.get(NUMBER)
            assert after.version == first.version and after.doc == first.doc
        assert list(sim.e911s) == [kept] and associated(sim)["id"] == kept


@pytest.mark.parametrize("failure", [
    {"fail_with": {"status": 422, "message": "E911 service is not available for this "
                                             "number."}},
    {"fail_with": {"status": 500, "message": "Internal error"}},
])
def test_a_failed_association_is_undone(kazoo_accounts: dict[str, str],
                                        failure: dict[str, Any]) -> None:
    """The record is created, then Flowroute refuses the association (a 422), or answers a
    500 (knm reads the number at once: not associated): the record just created is deleted,
    the refusal answered, and the number keeps its previous address — at Flowroute and in
    knm."""
    with flowroute() as sim:
        held(sim)
        feature_flows.refused_change_is_undone(sim, NUMBER, books(sim), first=GEARY,
                                               moved=MARKET, failure=failure, match=ASSOCIATE)
        kept = numbers.get(NUMBER).carrier_data["flowroute_e911_id"]  # the registered one
        assert list(sim.e911s) == [kept]  # the new record was deleted again
        assert associated(sim)["street_name"] == "GEARY ST"
        deleted = [r.path for r in sim.received("DELETE", "/v2/e911s/")]
        assert deleted == [f"/v2/e911s/{int(kept) + 1}"]


def test_an_association_whose_answer_is_lost(kazoo_accounts: dict[str, str]) -> None:
    """Flowroute associated the record, then its answer was lost (a proxy's HTML 500): knm
    reads the number at once and finds it associated — PROVISIONED, no settling needed. When
    that read fails too, the address is PENDING (never shown as registered) and settling
    finishes it, deleting knm's previous record."""
    with flowroute() as sim:
        held(sim)
        feature_flows.lost_answer_checked_then_settled(
            sim, NUMBER, books(sim), first=GEARY, moved=MARKET, assign=ASSOCIATE,
            number_path="/12065550140",  # the PATCH, the GET
            moved_street=lambda: associated(sim)["street_name"], wanted="MARKET ST",
            registered=("140 GEARY ST", "1 MARKET ST"))


def test_a_lost_association_that_did_not_take_settles_to_error(
        kazoo_accounts: dict[str, str]) -> None:
    with flowroute() as sim:
        held(sim)
        # the association is answered a 500 (Flowroute may have done it), and so is the
        # check of the number that follows
        first = feature_flows.lost_change_is_pending(sim, NUMBER, books(sim), first=GEARY,
                                                     moved=MARKET, number_path="/12065550140")
        feature_flows.settles_to_error_keeping(NUMBER, books(sim), first, "not knm's record")


# -- caller names --------------------------------------------------------------------------------


def test_a_caller_name_awaits_approval_then_settles(kazoo_accounts: dict[str, str]) -> None:
    """A new CNAM record awaits Flowroute's approval: PENDING (not yet the number's listing),
    associated once approved — by `knm.numbers.settle`, or the background settler's round;
    a second number with the same name reuses the approved record at once."""
    with flowroute() as sim:
        held(sim)
        sim.set(feature_complete_ms=300)
        pn = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        assert pn.doc["cnam"] == {"display_name": "ACME", "status": "PENDING"}
        assert "outbound_cnam" not in pn.features
        cnam_id = pn.carrier_data["flowroute_cnam_id"]
        [made] = sim.received("POST", "/v2/cnams")
        assert made.json() == {"value": "ACME"}
        assert sim.owned[NUMBER].get("cnam_id") is None  # not associable before approval
        [waiting] = numbers.pending_features()
        assert (waiting["operation"], waiting["order_id"]) == ("cnam", cnam_id)
        assert numbers.settle([NUMBER]).failed[NUMBER].error == "feature_pending"
        time.sleep(0.4)
        settled = numbers.settle([NUMBER])
        assert settled.ok, settled.failed
        done = numbers.get(NUMBER)
        assert done.doc["cnam"]["status"] == "PROVISIONED"
        assert done.features["outbound_cnam"] == {"display_name": "ACME"}
        assert sim.owned[NUMBER]["cnam_id"] == cnam_id
        assert sim.received("PATCH", f"/relationships/cnam/{cnam_id}")

        held(sim, OTHER)
        other = numbers.update(OTHER, merge_fields={"cnam": {"display_name": "Acme"}})
        assert other.doc["cnam"]["status"] == "PROVISIONED"
        assert len(sim.received("POST", "/v2/cnams")) == 1 and sim.owned[OTHER]["cnam_id"] == \
            cnam_id

        off = numbers.update(NUMBER, merge_fields={"cnam": None})
        assert "cnam" not in off.doc and "outbound_cnam" not in off.features
        assert sim.owned[NUMBER]["cnam_id"] is None and cnam_id in sim.cnams  # shared record

        # the background settler's round, with Flowroute's staff approving by hand
        sim.set(feature_result="never")
        pending = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME WEST"}})
        assert pending.doc["cnam"]["status"] == "PENDING"
        assert settler.settle_round()["settled"] == 0
        new_id = pending.carrier_data["flowroute_cnam_id"]
        host = str(config.get("number_manager.flowroute", "base_url")).removesuffix("/v2")
        assert httpx.post(f"{host}/_sim/cnams/{new_id}/approve").status_code == 200
        assert settler.settle_round()["settled"] == 1
        assert numbers.get(NUMBER).doc["cnam"]["status"] == "PROVISIONED"
        assert sim.owned[NUMBER]["cnam_id"] == new_id


def test_a_rejected_or_deleted_caller_name_is_an_error(kazoo_accounts: dict[str, str]) -> None:
    with flowroute() as sim:
        held(sim)
        sim.set(feature_result="failed")
        pn = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "SEATTLE POLICE"}})
        assert pn.doc["cnam"]["status"] == "PENDING"
        assert numbers.settle([NUMBER]).ok
        failed = numbers.get(NUMBER)
        assert failed.doc["cnam"]["status"] == "ERROR"
        assert "rejected" in failed.doc["cnam"]["message"]
        assert "misleading" in failed.doc["cnam"]["message"]  # Flowroute's reason
        assert "outbound_cnam" not in failed.features and sim.owned[NUMBER].get("cnam_id") is None

        # asking again is a new record (the rejected one is not reused); deleted meanwhile
        sim.set(feature_result="never")
        again = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "SEATTLE POLICE",
                                                              "status": None,
                                                              "message": None}})
        again_id = again.carrier_data["flowroute_cnam_id"]
        assert again_id != pn.carrier_data["flowroute_cnam_id"]
        with sim.lock:
            sim.cnams.pop(again_id)
        assert numbers.settle([NUMBER]).ok
        gone = numbers.get(NUMBER)
        assert gone.doc["cnam"]["status"] == "ERROR" and "deleted" in gone.doc["cnam"]["message"]


def test_the_inbound_lookup_is_not_offered(kazoo_accounts: dict[str, str]) -> None:
    """Flowroute has no API for a number's inbound caller-name lookup: `501`, saying where
    it is set. Asked with an outbound name, the outbound part is done (and kept) and the
    501 answered; toll-free numbers take no outbound name either."""
    with flowroute() as sim:
        held(sim)
        before = numbers.get(NUMBER)
        with pytest.raises(errors.NotImplementedByCarrier) as refused:
            numbers.update(NUMBER, merge_fields={"cnam": {"inbound_lookup": True}})
        assert refused.value.code == 501 and refused.value.cause == "cnam.inbound_lookup"
        assert "cnam_lookups_enabled" in refused.value.message
        assert numbers.get(NUMBER).version == before.version
        with pytest.raises(errors.NotImplementedByCarrier):
            numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME",
                                                          "inbound_lookup": True}})
        kept = numbers.get(NUMBER)
        assert kept.doc["cnam"] == {"display_name": "ACME", "status": "PENDING"}
        assert "inbound_cnam" not in kept.features

        tollfree = "+18885550140"
        held(sim, tollfree)
        with pytest.raises(errors.NotImplementedByCarrier) as long_codes:
            numbers.update(tollfree, merge_fields={"cnam": {"display_name": "ACME"}})
        assert "toll-free" in long_codes.value.message
        assert "cnam" not in numbers.get(tollfree).doc


def test_secrets_stay_out_of_errors_logs_and_records(kazoo_accounts: dict[str, str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    basic = feature_flows.basic_pair(ACCESS, SECRET)
    with flowroute() as sim, caplog.at_level(logging.DEBUG):
        held(sim)
        feature_flows.secrets_stay_out(
            sim, caplog, NUMBER, [SECRET, basic],
            refusal={"status": 422, "message": f"bad credentials {SECRET} {basic}"},
            match=ASSOCIATE, change={"e911": GEARY}, words="bad credentials",
            then={"e911": GEARY, "cnam": {"display_name": "ACME"}})


# -- over HTTP: Monster UI's save on a Flowroute number ----------------------------------------


servers = feature_flows.servers
api = feature_flows.api


def test_monster_saves_an_e911_address_on_a_flowroute_number(api: Api) -> None:
    with flowroute() as sim:
        held(sim)
        assert "cnam" in feature_flows.monster_reads(api, NUMBER, "e911", "knm_flowroute")
        form = feature_flows.monster_form(GEARY)
        feature_flows.monster_address_refused(api, NUMBER, "knm_flowroute", form)
        assert sim.e911s == {}
        feature_flows.monster_address_saved(api, NUMBER, form, "140 GEARY ST")
        assert associated(sim)["first_name"] == "child"
        feature_flows.monster_address_removed(api, NUMBER)
        assert associated(sim) is None and sim.e911s == {}


# -- the simulator's own rules -----------------------------------------------------------------


def test_the_simulator_keeps_flowroutes_rules() -> None:
    """What knm relies on Flowroute refusing: a record a number uses is not deleted, an
    unapproved CNAM record is not associated, a malformed e911 body is a 400; deleting a CNAM
    record disassociates its numbers."""
    sim = FlowrouteSimulator()
    auth = (ACCESS, SECRET)
    with BackgroundServer(sim.app) as server, httpx.Client(base_url=server.url + "/v2",
                                                           auth=auth) as http:
        sim.owned[NUMBER] = {"id": NUMBER[1:], "number": NUMBER, "primary_route": "0",
                             "failover_route": None, "alias": None,
                             "messaging_enabled": False, "cnam_lookups_enabled": True}
        attrs = {"label": "x", "first_name": "A", "last_name": "B", "street_name": "Main St",
                 "street_number": "1", "city": "Seattle", "state": "WA", "country": "USA",
                 "zip": "98101"}
        assert http.post("/e911s", json={"data": {"type": "e911", "attributes": {
            **attrs, "zip": ""}}}).status_code == 400
        made = http.post("/e911s", json={"data": {"type": "e911", "attributes": attrs}})
        assert made.status_code == 201
        e911_id = made.json()["data"]["id"]
        assert http.patch(f"/numbers/{NUMBER[1:]}/relationships/e911s/{e911_id}"
                          ).status_code == 204
        assert http.delete(f"/e911s/{e911_id}").status_code == 400  # in use
        shown = http.get(f"/numbers/{NUMBER[1:]}").json()["data"]["relationships"]
        assert shown["e911_address"]["data"] == {"type": "e911", "id": e911_id}

        sim.set(feature_result="never")
        cnam = http.post("/cnams", data={"value": "acme"})  # the SDK's form encoding
        assert cnam.status_code == 201 and cnam.json()["data"]["attributes"]["value"] == "ACME"
        cnam_id = cnam.json()["data"]["id"]
        assert http.patch(f"/numbers/{NUMBER[1:]}/relationships/cnam/{cnam_id}"
                          ).status_code == 400  # not approved yet
        assert http.get("/cnams", params={"is_approved": "true"}).json()["data"] == []
        assert httpx.post(f"{server.url}/_sim/cnams/{cnam_id}/approve").status_code == 200
        assert http.patch(f"/numbers/{NUMBER[1:]}/relationships/cnam/{cnam_id}"
                          ).status_code == 202
        assert http.delete(f"/cnams/{cnam_id}").status_code == 204
        assert sim.owned[NUMBER]["cnam_id"] is None
        assert http.post("/e911s/validate", auth=("x", "y"),
                         json={"data": {"type": "e911", "attributes": attrs}}).status_code == 401
