"""knm_didww's emergency calling (SPEC §13; DIDWW API v3 Emergency Resources) against its
simulator, over real HTTP: the wire (requirement lookup by country and number type in both
API versions, identity and address made for a check and deleted after it, the requirement
validation 201/422, the verification of the DID), provisioning end to end through
`knm.numbers` — PENDING while DIDWW's emergency team reviews it, then PROVISIONED or ERROR
with DIDWW's reasons, by `knm.numbers.settle` and the background settler —, a changed
address sent as the replacement address of knm's service, 403 (no emergency plan) with
nothing stored, a failure half-way undone, a lost answer found again by knm's reference,
removal and release deleting knm's service first, secrets kept out, and Monster UI's save on
a DIDWW number through the HTTP API — on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

import feature_flows
import httpx
import pytest
from api_support import Api, assert_ok
from conftest import CHILD

from knm import carriers, config, errors, numbers
from knm.carriers.didww import (
    address_document,
    caller_parts,
    error_details,
    identity_document,
    number_type_of,
    rejection,
    to_verification,
    verification_document,
)
from knm.carriers.features import Address
from knm.numbers import features, settler
from knm.simulators.didww import DidwwSimulator
from knm.simulators.server import BackgroundServer

NUMBER = "+14155550140"
TOLLFREE = "+18005550140"
LONDON = "+442075550140"
GEARY = {"street_address": "140 Geary St", "extended_address": "Suite 5",
         "locality": "San Francisco", "region": "CA", "postal_code": "94108",
         "caller_name": "ACME Corp", "notification_contact_emails": ["noc@example.com"]}
MARKET = {"street_address": "1 Market St", "extended_address": "",
          "locality": "San Francisco", "region": "CA", "postal_code": "94105"}
VERIFICATIONS = "/v3/emergency_verifications"
VERIFY = f"POST {VERIFICATIONS}"


def didww(**settings: Any) -> AbstractContextManager[DidwwSimulator]:
    """DIDWW's simulator on loopback, knm's `knm_didww` wired to it by config (API version
    2026-04-16 unless `settings` say otherwise); the carrier instance is closed after, so the
    key it learnt leaves the secret registry."""
    return feature_flows.simulated("knm_didww", DidwwSimulator, **settings)


def held(sim: DidwwSimulator, number: str = NUMBER, account: str = CHILD) -> None:
    """`number` a live DID of the DIDWW account and in service in knm."""
    sim.hold(number)
    feature_flows.in_service("knm_didww", number, account)


def service_of(sim: DidwwSimulator, number: str = NUMBER) -> dict[str, Any] | None:
    """The active emergency calling service DIDWW holds for the number (None: none)."""
    with sim.lock:
        service = sim.services.get(sim.owned[number].get("ecs_id") or "")
        return service if service and service["status"] == "active" else None


def street_of(sim: DidwwSimulator, service: dict[str, Any] | None) -> str | None:
    return sim.addresses[service["address_id"]]["address"] if service else None


def decide(sim: DidwwSimulator, vid: str, verdict: str, **body: Any) -> None:
    """DIDWW's emergency team deciding, through the simulator's control route."""
    host = str(config.get("number_manager.didww", "base_url")).removesuffix("/v3")
    answer = httpx.post(f"{host}/_sim/emergency_verifications/{vid}/{verdict}", json=body)
    assert answer.status_code == 200, answer.text


# -- pure: documents and answers ---------------------------------------------------------------


def test_documents_and_answers() -> None:
    address = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                      caller_name="ACME Corp")
    assert identity_document(address, NUMBER, "c-us", "any", "ref")["data"] == {
        "type": "identities", "attributes": {
            "phone_number": "14155550140", "external_reference_id": "ref",
            "description": "knm +14155550140", "identity_type": "business",
            "company_name": "ACME Corp"},
        "relationships": {"country": {"data": {"type": "countries", "id": "c-us"}}}}
    personal = identity_document(address, NUMBER, "c-us", "personal", "ref")["data"]
    assert (personal["attributes"]["first_name"], personal["attributes"]["last_name"]) == (
        "ACME", "Corp")
    assert caller_parts("Front Desk Team") == ("Front Desk", "Team")
    assert caller_parts("ACME") == ("ACME", "ACME")
    assert address_document(address, NUMBER, "c-us", "i-1", "ref")["data"]["attributes"] == {
        "address": "140 Geary St, Suite 5", "city_name": "San Francisco",
        "postal_code": "94108", "description": "knm +14155550140",
        "external_reference_id": "ref"}
    new = verification_document("a-1", "ref", did_id="d-1")["data"]["relationships"]
    assert new == {"address": {"data": {"type": "addresses", "id": "a-1"}},
                   "dids": {"data": [{"type": "dids", "id": "d-1"}]}}
    replace = verification_document("a-2", "ref", did_id="d-1", service_id="s-1")
    assert "dids" not in replace["data"]["relationships"]
    assert replace["data"]["relationships"]["emergency_calling_service"]["data"]["id"] == "s-1"
    # DIDWW's 422: every reason kept, once
    body = (b'{"errors": [{"title": "Identity birth_date is required", "detail": "Identity '
            b'birth_date is required", "code": "100"}, {"title": "Address in Belgium required"'
            b'}, {"detail": "Address in Belgium required"}]}')
    assert error_details(body) == "Identity birth_date is required; Address in Belgium required"
    assert error_details(b"<html>") is None
    group = {"attributes": {"number_type": "local"},
             "relationships": {"did_group_type": {"data": {"type": "did_group_types",
                                                           "id": "t-1"}}}}
    assert number_type_of(group, True) == "local" and number_type_of(group, False) == "t-1"
    rejected = to_verification({"id": "v", "attributes": {
        "status": "rejected", "reject_reasons": ["address_not_verified"],
        "reject_comment": "No such street."}})
    assert rejection(rejected) == ("DIDWW rejected the emergency registration "
                                   "(address_not_verified: No such street.)")
    for bad in ({"attributes": {"status": "pending"}}, {"id": "v", "attributes": {
            "status": "maybe"}}):
        with pytest.raises(ValueError):
            to_verification(bad)


# -- the wire ------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["2026-04-16", "2026-11-19"])
def test_validation_on_the_wire(kazoo_accounts: dict[str, str], version: str) -> None:
    """The requirement for the DID's country and number type (`did_group_type.id` in
    2026-04-16, `number_type` in 2026-11-19, which refuses the former), an identity and an
    address made for the check, `POST /emergency_requirement_validations` (201 valid, 422
    invalid with DIDWW's reason), and the two deleted after: a check leaves nothing."""
    with didww(api_version=version) as sim:
        held(sim)
        pn = numbers.get(NUMBER)
        address = Address("140 Geary St", "San Francisco", "CA", "94108", "Suite 5",
                          caller_name="ACME Corp")
        check = carriers.feature("knm_didww", "validate_address", pn, address)
        assert check.verdict == "valid" and check.address == address  # DIDWW normalises none
        [asked] = sim.received("GET", "/v3/emergency_requirements")
        wanted = "filter[number_type]" if version == "2026-11-19" else \
            "filter[did_group_type.id]"
        assert wanted in asked.params and "filter[country.id]" in asked.params
        [validation] = sim.received("POST", "/v3/emergency_requirement_validations")
        assert validation.headers["content-type"] == "application/vnd.api+json"
        rels = validation.json()["data"]["relationships"]
        assert set(rels) == {"emergency_requirement", "address", "identity"}
        [identity] = sim.received("POST", "/v3/identities")
        assert identity.json()["data"]["attributes"]["company_name"] == "ACME Corp"
        [made] = sim.received("POST", "/v3/addresses")
        assert made.json()["data"]["attributes"]["address"] == "140 Geary St, Suite 5"
        assert sim.identities == {} and sim.addresses == {}  # deleted after the check
        rejected = carriers.feature("knm_didww", "validate_address", pn,
                                    Address("140 Geary St", "San Francisco", "CA", "00000"))
        assert rejected.verdict == "invalid" and "geocoded" in (rejected.message or "")
        # DIDWW suggests nothing: never a correction
        odd = carriers.feature("knm_didww", "validate_address", pn,
                               Address("140 Geary St CORRECTME", "San Francisco", "CA",
                                       "94108"))
        assert odd.verdict == "valid" and odd.suggestions == []
        assert sim.identities == {} and sim.addresses == {}
        assert len(sim.received("GET", "/v3/emergency_requirements")) == 1  # cached


def test_an_identity_didww_requires_more_of_is_invalid_with_its_reason(
        kazoo_accounts: dict[str, str]) -> None:
    """London numbers need a personal identity with a birth date, which knm cannot give:
    DIDWW's reason is the answer, nothing is left at DIDWW or stored."""
    with didww() as sim:
        held(sim, LONDON)
        before = numbers.get(LONDON)
        london = {"street_address": "10 Downing St", "locality": "London", "region": "LN",
                  "postal_code": "SW1A 2AA", "country": "GB", "caller_name": "Front Desk"}
        with pytest.raises(errors.AddressInvalid) as invalid:
            numbers.update(LONDON, merge_fields={"e911": london})
        said = invalid.value.to_json()["address"]["invalid"]
        assert said["message"] == "Identity birth_date is required"
        assert said["provider"] == "knm_didww"
        [identity] = sim.received("POST", "/v3/identities")
        assert identity.json()["data"]["attributes"]["last_name"] == "Desk"
        assert numbers.get(LONDON).version == before.version
        assert sim.identities == {} and sim.addresses == {} and sim.verifications == {}


def test_a_number_without_didwws_emergency_feature_is_not_implemented(
        kazoo_accounts: dict[str, str]) -> None:
    with didww() as sim:
        held(sim, TOLLFREE)
        with pytest.raises(errors.NotImplementedByCarrier) as refused:
            numbers.update(TOLLFREE, merge_fields={"e911": GEARY})
        assert refused.value.code == 501 and "emergency feature" in refused.value.message
        assert sim.identities == {} and not sim.received("POST", "/v3/identities")


# -- end to end through knm.numbers ------------------------------------------------------------


def test_a_registration_awaits_review_then_is_approved(kazoo_accounts: dict[str, str]) -> None:
    """PENDING while DIDWW's emergency team reviews it (never shown as registered), then the
    background settler's round finds it approved: PROVISIONED, the service's id kept."""
    with didww() as sim:
        held(sim)
        assert "e911" in features.available(numbers.get(NUMBER))
        sim.set(feature_result="never")
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        e911 = pn.doc["e911"]
        assert e911["status"] == "PENDING" and "e911" not in pn.features
        assert e911["notification_contact_emails"] == ["noc@example.com"]
        vid = pn.carrier_data["didww_e911_verification_id"]
        [sent] = sim.received("POST", VERIFICATIONS)
        data = sent.json()["data"]
        assert data["attributes"] == {"external_reference_id":
                                      pn.carrier_data["didww_e911_reference"]}
        assert data["relationships"]["dids"]["data"] == [
            {"type": "dids", "id": sim.owned[NUMBER]["id"]}]
        assert data["relationships"]["address"]["data"]["id"] == \
            pn.carrier_data["didww_e911_address_id"]
        [waiting] = numbers.pending_features()
        assert (waiting["operation"], waiting["carrier"], waiting["order_id"]) == (
            "e911", "knm_didww", vid)
        assert settler.settle_round()["settled"] == 0  # still under review
        assert numbers.get(NUMBER).doc["e911"]["status"] == "PENDING"

        decide(sim, vid, "approve")
        assert settler.settle_round()["settled"] == 1
        done = numbers.get(NUMBER)
        assert done.doc["e911"]["status"] == "PROVISIONED"
        assert done.features["e911"]["street_address"] == "140 Geary St"
        assert done.carrier_data["e911_provider"] == "knm_didww"
        service = service_of(sim)
        assert service is not None and done.carrier_data["didww_ecs_id"] == service["id"]
        assert street_of(sim, service) == "140 Geary St, Suite 5"
        assert numbers.pending_features() == []

        # an approval whose service DIDWW still activates stays PENDING until it is active
        gone = numbers.update(NUMBER, merge_fields={"e911": None})
        assert "e911" not in gone.doc
        sim.approved_service_status = "in_process"
        again = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        decide(sim, again.carrier_data["didww_e911_verification_id"], "approve")
        assert numbers.settle([NUMBER]).failed[NUMBER].error == "feature_pending"
        waiting = numbers.get(NUMBER)
        assert waiting.doc["e911"]["status"] == "PENDING" and "e911" not in waiting.features
        with sim.lock:
            sim.services[sim.owned[NUMBER]["ecs_id"]]["status"] = "active"
        assert numbers.settle([NUMBER]).ok
        done = numbers.get(NUMBER)
        assert done.doc["e911"]["status"] == "PROVISIONED"
        assert done.carrier_data["didww_ecs_id"] == sim.owned[NUMBER]["ecs_id"]

        feature_flows.same_address_sends_nothing(sim, NUMBER, done.doc["e911"], done.version)


def test_a_new_address_replaces_the_services_and_the_old_records_go(
        kazoo_accounts: dict[str, str]) -> None:
    """A registered number's new address is the replacement address of knm's service
    (`emergency_calling_service`, no `dids`); approved, knm's previous identity and address
    are deleted — approved at once here (the simulator's default review)."""
    with didww() as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert first.doc["e911"]["status"] == "PROVISIONED"  # reviewed at once
        old_address = first.carrier_data["didww_e911_address_id"]
        service = first.carrier_data["didww_ecs_id"]
        moved = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert moved.doc["e911"]["status"] == "PROVISIONED"
        assert moved.doc["e911"]["street_address"] == "1 Market St"
        rels = sim.received("POST", VERIFICATIONS)[-1].json()["data"]["relationships"]
        assert "dids" not in rels
        assert rels["emergency_calling_service"]["data"]["id"] == service
        assert moved.carrier_data["didww_ecs_id"] == service
        assert street_of(sim, service_of(sim)) == "1 Market St"
        assert list(sim.addresses) == [moved.carrier_data["didww_e911_address_id"]]
        assert old_address not in sim.addresses and len(sim.identities) == 1


def test_a_rejected_registration_settles_to_error_with_didwws_reason(
        kazoo_accounts: dict[str, str]) -> None:
    """Rejected by DIDWW's team: ERROR with its reasons and comment, the address is not the
    number's, the records made for it deleted; a rejected replacement keeps the number's
    registered address at DIDWW and in knm."""
    with didww() as sim:
        held(sim)
        sim.set(feature_result="never")
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        vid = pn.carrier_data["didww_e911_verification_id"]
        decide(sim, vid, "reject", reasons=["address_not_verified"],
               comment="Suite 5 does not exist at 140 Geary St.")
        assert numbers.settle([NUMBER]).ok
        failed = numbers.get(NUMBER)
        assert failed.doc["e911"]["status"] == "ERROR"
        assert "address_not_verified" in failed.doc["e911"]["message"]
        assert "Suite 5 does not exist" in failed.doc["e911"]["message"]
        assert "e911" not in failed.features and service_of(sim) is None
        assert sim.addresses == {} and sim.identities == {}
        assert not failed.carrier_data.get("didww_e911_address_id")

        # a verification DIDWW no longer holds is an error too, its records deleted
        again = numbers.update(NUMBER, merge_fields={"e911": {**GEARY, "status": None,
                                                               "message": None}})
        with sim.lock:
            sim.verifications.pop(again.carrier_data["didww_e911_verification_id"])
        assert numbers.settle([NUMBER]).ok
        lost = numbers.get(NUMBER)
        assert lost.doc["e911"]["status"] == "ERROR" and "holds no" in lost.doc["e911"]["message"]
        assert sim.addresses == {} and sim.identities == {}

        sim.set(feature_result="complete")
        registered = numbers.update(NUMBER, merge_fields={"e911": {**MARKET, "status": None,
                                                                    "message": None}})
        assert registered.doc["e911"]["status"] == "PROVISIONED"
        sim.set(feature_result="failed")  # DIDWW's team rejects the next one
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert "DIDWW rejected" in str(refused.value.to_json())
        kept = numbers.get(NUMBER)
        assert kept.version == registered.version and kept.doc == registered.doc
        assert street_of(sim, service_of(sim)) == "1 Market St"
        assert list(sim.addresses) == [registered.carrier_data["didww_e911_address_id"]]


def test_no_emergency_plan_is_a_clear_error_with_nothing_stored(
        kazoo_accounts: dict[str, str]) -> None:
    with didww() as sim:
        held(sim)
        before = numbers.get(NUMBER)
        host = str(config.get("number_manager.didww", "base_url")).removesuffix("/v3")
        assert httpx.post(f"{host}/_sim/emergency_plan", json={"assigned": False}).json() == {
            "assigned": False}
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert (refused.value.code, refused.value.error) == (402, "service_restriction")
        assert refused.value.status == 403 and not refused.value.unsettled
        assert "emergency calling plan" in refused.value.message
        assert "not assigned" in str(refused.value.to_json())  # DIDWW's words kept
        after = numbers.get(NUMBER)
        assert after.version == before.version and "e911" not in after.doc
        assert numbers.pending_features() == []
        assert sim.identities == {} and sim.addresses == {}  # the two made are deleted


@pytest.mark.parametrize("failure", [
    {"fail_with": {"status": 422, "message": "dids - DID is assigned to another emergency "
                                             "calling service"}},
    {"fail_with": {"status": 500, "message": "Internal error"}},
])
def test_a_failed_verification_is_undone(kazoo_accounts: dict[str, str],
                                         failure: dict[str, Any]) -> None:
    """The identity and address are made, then DIDWW refuses the verification (422) or
    answers a 500 (knm looks for its reference at once: not there): the two are deleted,
    the failure answered, the number kept as it was."""
    with didww() as sim:
        held(sim)
        before = numbers.get(NUMBER)
        sim.set(**failure, match=VERIFY, times=1)
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert refused.value.carrier == "knm_didww" and refused.value.operation == "e911"
        assert numbers.get(NUMBER).version == before.version
        assert sim.identities == {} and sim.addresses == {} and sim.verifications == {}
        assert len(sim.received("DELETE", "/v3/addresses/")) == 2  # the check's, then these
        assert numbers.pending_features() == []


def test_a_verification_whose_answer_is_lost(kazoo_accounts: dict[str, str]) -> None:
    """DIDWW made the verification but its answer was lost (a proxy's HTML 500): knm finds
    it by its reference at once. When that lookup fails too, the registration is PENDING and
    settling finds it by the reference."""
    with didww() as sim:
        held(sim)
        sim.set(ambiguous="html_500", match=VERIFY, times=1, feature_result="never")
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PENDING"
        [made] = list(sim.verifications)
        assert pn.carrier_data["didww_e911_verification_id"] == made
        decide(sim, made, "approve")
        assert numbers.settle([NUMBER]).ok
        assert numbers.get(NUMBER).doc["e911"]["status"] == "PROVISIONED"

        sim.set(ambiguous="html_500", match="/v3/emergency_verifications", times=2)
        moved = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        assert moved.doc["e911"]["status"] == "PENDING"
        assert not moved.carrier_data.get("didww_e911_verification_id")
        assert moved.features["e911"]["street_address"] == "140 Geary St"  # confirmed one
        second = [v for v in sim.verifications if v != made]
        assert len(second) == 1
        decide(sim, second[0], "approve")
        assert numbers.settle([NUMBER]).ok
        done = numbers.get(NUMBER)
        assert done.doc["e911"]["status"] == "PROVISIONED"
        assert done.carrier_data["didww_e911_verification_id"] == second[0]
        assert street_of(sim, service_of(sim)) == "1 Market St"


def test_an_unreadable_verification_answer_is_looked_up(kazoo_accounts: dict[str, str]
                                                       ) -> None:
    """A verification answer cut in half (DIDWW made it) is found by knm's reference; a
    200 with a truncated body for a request DIDWW never did finds nothing: the records are
    deleted and the failure answered, nothing stored."""
    with didww() as sim:
        held(sim)
        before = numbers.get(NUMBER)
        sim.set(malformed=True, match=VERIFY, times=1)
        with pytest.raises(errors.MalformedResponse) as refused:
            numbers.update(NUMBER, merge_fields={"e911": GEARY})
        assert not refused.value.unsettled
        assert numbers.get(NUMBER).version == before.version
        assert sim.verifications == {} and sim.addresses == {} and sim.identities == {}

        sim.set(ambiguous="truncated", match=VERIFY, times=1, feature_result="never")
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        [made] = list(sim.verifications)
        assert pn.doc["e911"]["status"] == "PENDING"
        assert pn.carrier_data["didww_e911_verification_id"] == made


def test_removal_and_release_delete_knms_service_first(kazoo_accounts: dict[str, str]) -> None:
    with didww() as sim:
        held(sim)
        pn = numbers.update(NUMBER, merge_fields={"e911": GEARY})
        service = pn.carrier_data["didww_ecs_id"]
        gone = numbers.update(NUMBER, merge_fields={"e911": None})
        assert "e911" not in gone.doc and "e911" not in gone.features
        assert not any(k.startswith("didww_e") for k in gone.carrier_data)
        assert "e911_provider" not in gone.carrier_data
        assert sim.services[service]["status"] == "canceled" and service_of(sim) is None
        assert sim.received("DELETE", f"/v3/emergency_calling_services/{service}")
        assert sim.addresses == {} and sim.identities == {}

        again = numbers.update(NUMBER, merge_fields={"e911": MARKET})
        second = again.carrier_data["didww_ecs_id"]
        did_id = sim.owned[NUMBER]["id"]
        numbers.release(NUMBER)
        paths = [f"{r.method} {r.path}" for r in sim.requests]
        cancel = paths.index(f"DELETE /v3/emergency_calling_services/{second}")
        assert cancel < paths.index(f"PATCH /v3/dids/{did_id}")  # the service went first
        assert did_id in sim.terminated
        assert sim.services[second]["status"] == "canceled"


def test_secrets_stay_out_of_errors_logs_and_records(kazoo_accounts: dict[str, str],
                                                     caplog: pytest.LogCaptureFixture) -> None:
    with didww() as sim, caplog.at_level(logging.DEBUG):
        key = sim.credentials["api_key"]
        held(sim)
        feature_flows.secrets_stay_out(
            sim, caplog, NUMBER, [key], refusal={"status": 422, "message": f"bad key {key}"},
            match=VERIFY, change={"e911": GEARY}, words="bad key")


# -- over HTTP: Monster UI's save on a DIDWW number ----------------------------------------------


servers = feature_flows.servers
api = feature_flows.api


def test_monster_saves_an_e911_address_on_a_didww_number(api: Api) -> None:
    with didww() as sim:
        held(sim)
        feature_flows.monster_reads(api, NUMBER, "e911", "knm_didww")
        form = feature_flows.monster_form(GEARY)
        feature_flows.monster_address_refused(api, NUMBER, "knm_didww", form)
        assert sim.verifications == {} and sim.addresses == {}

        sim.set(feature_result="never")
        saved = assert_ok(feature_flows.monster_save(api, NUMBER, {"e911": form}))
        assert saved["e911"]["status"] == "PENDING"
        assert "e911" not in saved.get("features", [])
        [vid] = list(sim.verifications)
        decide(sim, vid, "approve")
        assert settler.settle_round()["settled"] == 1
        shown = assert_ok(api.call("GET", api.numbers_path("child", NUMBER), "child"))
        assert shown["e911"]["status"] == "PROVISIONED" and "e911" in shown["features"]
        assert sim.identities[next(iter(sim.identities))]["company_name"] == "child"

        feature_flows.monster_address_removed(api, NUMBER)
        assert service_of(sim) is None


# -- the simulator's own rules -----------------------------------------------------------------


def test_the_simulator_keeps_didwws_rules() -> None:
    """What knm relies on DIDWW refusing: an address a pending verification or a live
    service uses is not deleted (409), nor an identity with addresses; a verification takes
    `dids` or `emergency_calling_service`, not both; a DID of a service takes no second one;
    2026-11-19 refuses the `did_group_type.id` filter."""
    sim = DidwwSimulator(trunk_id="t1")
    headers = {"Api-Key": sim.credentials["api_key"], "Content-Type": "application/vnd.api+json"}
    with BackgroundServer(sim.app) as server, httpx.Client(base_url=server.url + "/v3",
                                                           headers=headers) as http:
        did = sim.hold(NUMBER)["id"]
        us = http.get("/countries", params={"filter[iso]": "US"}).json()["data"][0]["id"]
        identity = http.post("/identities", json={"data": {"type": "identities", "attributes": {
            "identity_type": "business", "company_name": "ACME"}, "relationships": {
            "country": {"data": {"type": "countries", "id": us}}}}}).json()["data"]["id"]
        address = http.post("/addresses", json={"data": {"type": "addresses", "attributes": {
            "address": "1 Main St", "city_name": "Seattle", "postal_code": "98101"},
            "relationships": {"country": {"data": {"type": "countries", "id": us}},
                              "identity": {"data": {"type": "identities", "id": identity}}}}}
        ).json()["data"]["id"]
        sim.set(feature_result="never")
        both = verification_document(address, "r", did_id=did, service_id="s")
        both["data"]["relationships"]["dids"] = {"data": [{"type": "dids", "id": did}]}
        assert http.post("/emergency_verifications", json=both).status_code == 422
        made = http.post("/emergency_verifications",
                         json=verification_document(address, "r", did_id=did))
        assert made.status_code == 201 and made.json()["data"]["attributes"]["status"] == \
            "pending"
        assert http.delete(f"/addresses/{address}").status_code == 409
        assert http.delete(f"/identities/{identity}").status_code == 409
        sim.decide_verification(made.json()["data"]["id"], True)
        again = http.post("/emergency_verifications",
                          json=verification_document(address, "r2", did_id=did))
        assert again.status_code == 422 and "another" in again.text
        token = http.post(server.url + "/token").json()["access_token"]
        bearer = {"Authorization": f"Bearer {token}", "X-DIDWW-API-Version": "2026-11-19"}
        assert http.get("/emergency_requirements", params={"filter[did_group_type.id]": "x"},
                        headers={**bearer, "Api-Key": ""}).status_code == 400
