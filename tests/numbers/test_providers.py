"""Number features at the carriers that offer them (SPEC §13, `knm.numbers.providers`): Kazoo's
own E911 and CNAM test cases, the three address outcomes at each carrier over real HTTP to its
simulator, asynchronous provisioning settled to PROVISIONED and to ERROR (by polling, by the
background settler and by Bandwidth's webhook), the availability rules, the local features,
and "nothing is ever stored as if provisioned when it was not" — on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from conftest import CHILD, FIXTURES, MASTER, RESELLER
from fastapi import FastAPI, Request

from knm import config, errors, numbers
from knm.carriers.base import short_name
from knm.numbers import features, providers, settler
from knm.simulators import registry
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer

GEARY = {"street_address": "140 Geary St", "extended_address": "Suite 5",
         "locality": "San Francisco", "region": "CA", "postal_code": "94108",
         "notification_contact_emails": ["noc@example.com"]}
MARINA = {"street_address": "301 Marina Blvd.", "locality": "San Francisco", "region": "CA",
          "postal_code": "94123"}
#: carriers with E911 and CNAM, and a number of theirs to provision
CARRIERS = {"knm_telnyx": "+14155550101", "knm_bandwidth2": "+19735550102",
            "knm_vitelity": "+14155550103", "knm_twilio": "+14155550104"}
TWILIO_NUMBERS = "/2010-04-01/Accounts/AC" + "5" * 32 + "/IncomingPhoneNumbers/PN"
#: each carrier's request that registers an emergency address
REGISTERS = {"knm_telnyx": ("POST", "enable_emergency"), "knm_bandwidth2": ("POST", "/e911s"),
             "knm_vitelity": ("POST", "/api.php"), "knm_twilio": ("POST", TWILIO_NUMBERS)}


@contextmanager
def carrier(name: str, **settings: Any) -> Iterator[Simulator]:
    """`name`'s simulator on loopback, knm's carrier wired to it (fast polling)."""
    spec = registry.get(name)
    sim = spec.make_simulator(**({"kazoo_fixtures": FIXTURES} if name == "knm_telnyx" else {}))
    with BackgroundServer(sim.app) as server:
        wired = {**registry.wire(name, server.url, sim), **spec.fast_orders,
                 "feature_wait_s": 1, **settings}
        for key, value in wired.items():
            config.set(f"number_manager.{short_name(name)}", key, value)
        yield sim


def held(sim: Simulator, number: str, account: str = CHILD) -> None:
    """`number` in service at the carrier (its simulator's books) and in knm, for `account`."""
    with sim.lock:
        if sim.name == "knm_vitelity":
            sim.owned[number] = {"number": number, "routesip": "1.2.3.4"}
        elif sim.name == "knm_twilio":
            sim.owned[number] = sim._new_row(number)  # type: ignore[attr-defined]
        else:
            sim.orders["seeded"] = {"id": "seeded", "numbers": [number], "created": 0.0,
                                    "state": "complete", "failed_numbers": []}
            sim.owned[number] = {"id": str(abs(hash(number)))[:12], "order_id": "seeded",
                                 "number": number}
    if numbers.get([number]).failed:
        assert numbers.create(number, assign_to=account, module_name=sim.name,
                              state="in_service")


def registrations(sim: Simulator, name: str) -> list[Any]:
    method, path = REGISTERS[name]
    found = sim.received(method, path)
    if name == "knm_vitelity":
        found = [r for r in found if r.params.get("cmd") == "e911send"]
    if name == "knm_twilio":
        found = [r for r in found if "EmergencyAddressSid=AD" in r.text]
    return found


def registered(sim: Simulator, number: str) -> dict[str, Any] | None:
    """What the carrier holds as the number's emergency address (None: nothing)."""
    if sim.name == "knm_telnyx":
        row = sim.owned[number].get("emergency") or {}
        if not row.get("emergency_enabled"):
            return None
        return sim.addresses[row["emergency_address_id"]]  # type: ignore[attr-defined]
    if sim.name == "knm_twilio":
        sid = sim.owned[number].get("emergency_address_sid")
        return sim.addresses[sid] if sid else None  # type: ignore[attr-defined]
    return sim.e911.get(number)  # type: ignore[attr-defined]


# -- Kazoo's test cases (knm_telnyx_tests.erl, reference/kazoo-http-carriers.md §14.3) ---------


def test_kazoo_e911_create_then_a_resave_that_changes_nothing(kazoo_numbers: list[str]) -> None:
    """`e911()`: creating +14352154006 (Telnyx, available in the reseller's account) with an
    address registers it; `pvt_features.e911` is the address and the carrier's address id is
    Kazoo's fixture's; saving the same document again calls no carrier and writes nothing."""
    with carrier("knm_telnyx") as sim:
        held(sim, "+14352154006", RESELLER)
        made = numbers.create(["+14352154006"], auth_by=MASTER, assign_to=RESELLER,
                              public_fields={"e911": MARINA})
        assert made.ok, made.failed
        pn = made.succeeded[0]
        assert pn.state == "in_service" and pn.version > 1
        e911 = pn.features["e911"]
        assert (e911["street_address"], e911["locality"], e911["postal_code"]) == (
            "301 MARINA BLVD.", "SAN FRANCISCO", "94123")
        assert e911["status"] == "PROVISIONED" and pn.doc["e911"] == e911
        assert pn.carrier_data["e911_address_id"] == "421564943280637078"  # the fixture's
        assert pn.carrier_data["e911_provider"] == "knm_telnyx"
        # the address Telnyx validated (upper-cased, as Kazoo's `cleanse` sent line_1) is the
        # one created, in the account's name
        created = [r for r in sim.received("POST", "/addresses") if r.path == "/addresses"]
        assert [r.json()["street_address"] for r in created] == ["301 MARINA BLVD."]
        assert created[0].json()["business_name"] == "reseller"

        asked = len(sim.requests)
        again = numbers.update(["+14352154006"], public_fields={"e911": MARINA})
        assert again.ok and again.succeeded[0].version == pn.version  # not written
        assert len(sim.requests) == asked  # no carrier call
        stored = numbers.get("+14352154006")
        assert stored.features["e911"] == e911
        assert stored.carrier_data["e911_address_id"] == "421564943280637078"


def test_kazoo_cnam_activate_resave_deactivate(kazoo_accounts: dict[str, str]) -> None:
    """`cnam()`: inbound and outbound on; the same document again changes nothing; inbound
    off with no display name leaves no caller-name feature and no `cnam` object."""
    number = CARRIERS["knm_telnyx"]
    with carrier("knm_telnyx") as sim:
        held(sim, number)
        wanted = {"cnam": {"inbound_lookup": True, "display_name": "my CNAM"}}
        pn = numbers.update(number, public_fields=wanted)
        assert pn.features["inbound_cnam"] == {"inbound_lookup": True}
        assert pn.features["outbound_cnam"] == {"display_name": "my CNAM"}
        assert pn.doc["cnam"] == {"inbound_lookup": True, "display_name": "my CNAM",
                                  "status": "PROVISIONED"}
        row = sim.owned[number]
        assert row["cnam_listing"] == {"cnam_listing_enabled": True,
                                       "cnam_listing_details": "my CNAM"}
        assert row["caller_id_name_enabled"] is True

        patches = len(sim.received("PATCH"))
        again = numbers.update(number, public_fields=wanted)
        assert again.version == pn.version and len(sim.received("PATCH")) == patches

        off = numbers.update(number, public_fields={"cnam": {"inbound_lookup": False}})
        assert off.features_list() == [] and "cnam" not in off.doc
        assert row["caller_id_name_enabled"] is False
        assert row["cnam_listing"]["cnam_listing_enabled"] is False


# -- the three outcomes of an address, at each carrier ----------------------------------------


@pytest.mark.parametrize("name", sorted(CARRIERS))
def test_an_address_rejected_corrected_or_valid(kazoo_accounts: dict[str, str],
                                                name: str) -> None:
    number = CARRIERS[name]
    with carrier(name) as sim:
        held(sim, number)
        before = numbers.get(number)

        rejected = {**GEARY, "postal_code": "00000"}
        with pytest.raises(errors.AddressInvalid) as invalid:
            numbers.update(number, merge_fields={"e911": rejected})
        data = invalid.value.to_json()["address"]["invalid"]
        assert data["cause"] == rejected and data["provider"] == name and data["message"]
        assert invalid.value.code == 400 and invalid.value.error == "invalid data"

        corrected = {**GEARY, "street_address": "140 Geary St CORRECTME"}
        with pytest.raises(errors.MultipleChoice) as choice:
            numbers.update(number, merge_fields={"e911": corrected})
        offered = choice.value.to_json()["multiple_choice"]["e911"]
        assert offered["cause"] == corrected
        assert offered["message"] == "more than one address found"
        [suggestion] = offered["details"]
        assert suggestion["street_address"] == "140 GEARY ST"
        assert suggestion["notification_contact_emails"] == ["noc@example.com"]
        # neither was stored, nor registered at the carrier
        assert numbers.get(number).version == before.version
        assert registrations(sim, name) == [] and registered(sim, number) is None

        # the suggestion, sent back as Monster UI sends the chosen one, is valid
        pn = numbers.update(number, merge_fields={"e911": suggestion})
        e911 = pn.doc["e911"]
        assert e911["status"] == "PROVISIONED" and pn.features["e911"] == e911
        assert (e911["street_address"], e911["extended_address"], e911["locality"]) == (
            "140 GEARY ST", "SUITE 5", "SAN FRANCISCO")
        assert e911["notification_contact_emails"] == ["noc@example.com"]
        assert registered(sim, number) is not None and len(registrations(sim, name)) == 1
        assert "e911" in pn.features_list()

        gone = numbers.update(number, merge_fields={"e911": None})
        assert "e911" not in gone.doc and "e911" not in gone.features
        assert "e911_provider" not in gone.carrier_data
        assert registered(sim, number) is None


@pytest.mark.parametrize("name", ["knm_bandwidth2", "knm_telnyx", "knm_vitelity"])
def test_caller_name_at_each_carrier(kazoo_accounts: dict[str, str], name: str) -> None:
    number = CARRIERS[name]
    with carrier(name) as sim:
        held(sim, number)
        pn = numbers.update(number, merge_fields={"cnam": {"display_name": "ACME",
                                                           "inbound_lookup": True}})
        assert pn.doc["cnam"]["status"] == "PROVISIONED"
        assert pn.features_list() == ["inbound_cnam", "outbound_cnam"]
        if name == "knm_bandwidth2":
            assert sim.lidb[number] == {"name": "ACME", "visibility": "PUBLIC"}
            assert sim.calling_name[number] == "on"
        elif name == "knm_vitelity":
            assert sim.lidb[number] == "ACME" and sim.cnam_lookup[number] is True
        off = numbers.update(number, merge_fields={"cnam": None})
        assert off.features_list() == [] and "cnam" not in off.doc
        if name == "knm_bandwidth2":
            assert sim.lidb[number]["visibility"] == "PRIVATE"
            assert sim.calling_name[number] == "off"


# -- asynchronous provisioning settles like orders -----------------------------------------------


@pytest.mark.parametrize("name", ["knm_telnyx", "knm_bandwidth2"])
def test_pending_provisioning_settles_to_provisioned_then_error(
        kazoo_accounts: dict[str, str], name: str) -> None:
    number = CARRIERS[name]
    with carrier(name, feature_wait_s=0.05) as sim:
        held(sim, number)
        sim.set(feature_complete_ms=400)
        pn = numbers.update(number, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PENDING"
        assert "e911" not in pn.features  # never as if provisioned
        [waiting] = numbers.pending_features(account_id=RESELLER)
        assert (waiting["number"], waiting["operation"], waiting["carrier"]) == (
            number, "e911", name)
        # a change while the carrier works on the first: settled first, refused while pending
        with pytest.raises(errors.FeaturePending):
            numbers.update(number, merge_fields={"e911": {**GEARY, "extended_address": ""}})
        assert numbers.settle([number]).failed[number].error == "feature_pending"
        time.sleep(0.5)
        settled = numbers.settle()
        assert settled.ok, settled.failed
        first = numbers.get(number)
        assert first.doc["e911"]["status"] == "PROVISIONED"
        assert first.features["e911"] == first.doc["e911"]
        assert numbers.pending_features() == []

        # the carrier accepts a new address, then fails it: the previous one stays the
        # number's confirmed address, the failure is shown on the public one
        sim.set(feature_result="failed")
        moved = numbers.update(number, merge_fields={"e911": {**GEARY, "street_address":
                                                             "1 Market St"}})
        assert moved.doc["e911"]["status"] == "PENDING"
        time.sleep(0.5)
        assert settler.settle_round()["settled"] == 1  # the background settler's round
        failed = numbers.get(number)
        assert failed.doc["e911"]["status"] == "ERROR" and failed.doc["e911"]["message"]
        assert failed.doc["e911"]["street_address"] == "1 MARKET ST"
        assert failed.features["e911"] == first.features["e911"]  # kept: 140 GEARY ST
        assert numbers.pending_features() == []


#: the request whose answer is lost: the one that registers the address
LOST = {"knm_telnyx": "enable_emergency",
        "knm_bandwidth2": "POST /api/v2/accounts/9900001/e911s",
        "knm_vitelity": "POST /api.php", "knm_twilio": "POST " + TWILIO_NUMBERS}


@pytest.mark.parametrize("name", sorted(CARRIERS))
def test_a_registration_whose_answer_is_lost_is_pending_then_settled(
        kazoo_accounts: dict[str, str], name: str) -> None:
    """The carrier registered the address, then its answer was lost (a proxy's HTML 500):
    knm cannot know, so the address is PENDING — never lost, never shown as registered — and
    settling reads what the carrier holds (Telnyx: the number's emergency settings; Bandwidth:
    its order found by knm's CustomerOrderId; Vitelity: `e911getinfo`)."""
    number = CARRIERS[name]
    with carrier(name) as sim:
        held(sim, number)
        sim.set(ambiguous="html_500", match=LOST[name], times=1)
        pn = numbers.update(number, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PENDING" and "e911" not in pn.features
        assert registered(sim, number) is not None  # the carrier did it
        settled = numbers.settle([number])
        assert settled.ok, settled.failed
        done = numbers.get(number)
        assert done.doc["e911"]["status"] == "PROVISIONED" and "e911" in done.features
        assert numbers.pending_features() == []


def test_twilio_registers_asynchronously_and_changes_an_address_in_two_steps(
        kazoo_accounts: dict[str, str]) -> None:
    """Twilio's `emergency_address_status`: `pending-registration` settles to `registered`;
    a new address while one is registered is refused (Twilio nulls it first); after the
    removal, a registration Twilio fails ends ERROR; an outbound caller name is the number's
    assignment to the approved Trust Hub CNAM product of that name (tests/carriers/
    test_twilio_cnam.py), the inbound lookup `VoiceCallerIdLookup`."""
    number = CARRIERS["knm_twilio"]
    with carrier("knm_twilio", feature_wait_s=0.05) as sim:
        held(sim, number)
        sim.set(feature_complete_ms=300)
        assert numbers.update(number, merge_fields={"e911": GEARY}).doc["e911"][
            "status"] == "PENDING"
        assert sim.owned[number]["emergency_address_status"] == "pending-registration"
        time.sleep(0.4)
        assert numbers.settle([number]).ok
        assert numbers.get(number).doc["e911"]["status"] == "PROVISIONED"
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(number, merge_fields={"e911": {**GEARY, "street_address":
                                                         "1 Market St"}})
        assert "two steps" in (refused.value.carrier_message or "")
        assert registered(sim, number)["street"] == "140 GEARY ST"
        numbers.update(number, merge_fields={"e911": None})
        assert registered(sim, number) is None
        sim.set(feature_result="failed")
        numbers.update(number, merge_fields={"e911": GEARY})
        time.sleep(0.4)
        assert numbers.settle([number]).ok
        failed = numbers.get(number)
        assert failed.doc["e911"]["status"] == "ERROR" and "e911" not in failed.features
        assert failed.doc["e911"]["carrier_status"] == "registration-failure"

        with pytest.raises(errors.Invalid) as unvetted:
            numbers.update(number, merge_fields={"cnam": {"display_name": "NOBODY"}})
        assert unvetted.value.code == 400 and "Trust Hub" in unvetted.value.message
        pn = numbers.update(number, merge_fields={"cnam": {"display_name": "ACME",
                                                           "inbound_lookup": True}})
        assert pn.features["outbound_cnam"] == {"display_name": "ACME"}
        assert pn.features["inbound_cnam"] == {"inbound_lookup": True}
        assert sim.owned[number]["voice_caller_id_lookup"] is True
        assert sim.cnam_of(number) == ["ACME"]  # type: ignore[attr-defined]


def test_a_bandwidth_notification_settles_at_once(kazoo_accounts: dict[str, str]) -> None:
    """Bandwidth's `e911s` notification finishes the pending registration with no carrier
    read; a forged one (wrong Basic credentials) is refused and changes nothing."""
    got: list[tuple[dict[str, str], bytes]] = []
    receiver = FastAPI()

    @receiver.post("/hooks")
    async def hooks(request: Request) -> dict[str, bool]:
        got.append((dict(request.headers), await request.body()))
        return {"ok": True}

    number = CARRIERS["knm_bandwidth2"]
    with BackgroundServer(receiver) as hook_server, \
            carrier("knm_bandwidth2", feature_wait_s=0.01) as sim:
        held(sim, number)
        sim.set(feature_complete_ms=300, webhook_url=hook_server.url + "/hooks")
        pn = numbers.update(number, merge_fields={"e911": GEARY})
        assert pn.doc["e911"]["status"] == "PENDING"
        deadline = time.monotonic() + 5
        while not got and time.monotonic() < deadline:
            time.sleep(0.02)
        headers, body = got[0]
        assert b"<OrderType>e911s</OrderType>" in body
        with pytest.raises(errors.Unauthenticated):
            numbers.apply_webhook("bandwidth2", {**headers, "authorization": "Basic eDp5"},
                                  body)
        assert numbers.get(number).doc["e911"]["status"] == "PENDING"
        reads = len(sim.received("GET", "/e911s/"))
        settled = numbers.apply_webhook("bandwidth2", headers, body)
        assert [(s.number, s.outcome) for s in settled] == [(number, "done")]
        assert len(sim.received("GET", "/e911s/")) == reads  # no carrier lookup
        done = numbers.get(number)
        assert done.doc["e911"]["status"] == "PROVISIONED" and "e911" in done.features


# -- never half-commit ------------------------------------------------------------------------


def test_a_refused_registration_keeps_the_previous_address(
        kazoo_accounts: dict[str, str]) -> None:
    number = CARRIERS["knm_telnyx"]
    with carrier("knm_telnyx") as sim:
        held(sim, number)
        first = numbers.update(number, merge_fields={"e911": GEARY, "tag": "a"})
        kept_id = first.carrier_data["e911_address_id"]
        sim.set(fail_with={"status": 422, "message": "Emergency services are not available "
                           "for this number."}, match="enable_emergency")
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(number, merge_fields={"e911": {**GEARY, "street_address":
                                                         "1 Market St"}, "tag": "b"})
        assert refused.value.carrier == "knm_telnyx" and refused.value.operation == "e911"
        assert "not available" in (refused.value.carrier_message or "")
        after = numbers.get(number)
        assert after.version == first.version and after.doc == first.doc  # tag too
        assert after.carrier_data["e911_address_id"] == kept_id
        # the address created for the refused registration was deleted again
        assert list(sim.addresses) == [kept_id]  # type: ignore[attr-defined]
        assert registered(sim, number)["street_address"] == "140 GEARY ST"


def test_what_the_carrier_did_is_kept_when_a_later_step_is_refused(
        kazoo_accounts: dict[str, str]) -> None:
    """E911 first, then the caller name: the carrier refuses the listing — the registered
    address is recorded all the same, the caller name is left as it was, the refusal is
    answered."""
    number = CARRIERS["knm_telnyx"]
    with carrier("knm_telnyx") as sim:
        held(sim, number)
        sim.set(fail_with={"status": 422, "message": "CNAM listings are not available"},
                match="PATCH")
        with pytest.raises(errors.CarrierFault):
            numbers.update(number, merge_fields={"e911": GEARY,
                                                 "cnam": {"display_name": "ACME"}})
        after = numbers.get(number)
        assert after.doc["e911"]["status"] == "PROVISIONED" and "e911" in after.features
        assert "cnam" not in after.doc and "outbound_cnam" not in after.features


def test_a_concurrent_writer_does_not_make_knm_forget_a_registration(
        kazoo_accounts: dict[str, str]) -> None:
    """Another save lands while the carrier registers the address: what the carrier did is
    written on that save's version, and the slower save is told the rest of it was not."""
    number = CARRIERS["knm_telnyx"]
    with carrier("knm_telnyx") as sim:
        held(sim, number)
        sim.set(latency_ms=400, match="enable_emergency")
        outcome: dict[str, Any] = {}

        def register() -> None:
            try:
                numbers.update(number, merge_fields={"e911": GEARY, "tag": "mine"})
            except errors.KnmError as exc:
                outcome["error"] = exc

        slow = threading.Thread(target=register)
        slow.start()
        time.sleep(0.2)
        numbers.update(number, merge_fields={"tag": "theirs"})
        slow.join(10)
        assert isinstance(outcome.get("error"), errors.Conflict)
        after = numbers.get(number)
        assert after.doc["tag"] == "theirs"  # the other writer's save stands
        assert after.doc["e911"]["status"] == "PROVISIONED" and "e911" in after.features
        assert after.carrier_data["e911_provider"] == "knm_telnyx"


def test_a_carrier_failure_stores_nothing(kazoo_accounts: dict[str, str]) -> None:
    number = CARRIERS["knm_bandwidth2"]
    with carrier("knm_bandwidth2") as sim:
        held(sim, number)
        before = numbers.get(number)
        for switch in ({"fail_with": {"status": 500}, "match": "geocodeRequest"},
                       {"fail_with": {"status": 400, "message": "5070: invalid TN"},
                        "match": "/e911s"}):
            sim.reset_switches()
            sim.set(**switch)
            with pytest.raises(errors.CarrierFault):
                numbers.update(number, merge_fields={"e911": GEARY})
            assert numbers.get(number).version == before.version
        # an empty 502 to the order: knm cannot tell whether Bandwidth took it — PENDING,
        # and settling finds no order with knm's reference: the change failed
        sim.reset_switches()
        sim.set(empty_502=True, match="POST /api/v2/accounts/9900001/e911s", times=1)
        assert numbers.update(number, merge_fields={"e911": GEARY}).doc["e911"][
            "status"] == "PENDING"
        assert numbers.settle([number]).ok
        after = numbers.get(number)
        assert after.doc["e911"]["status"] == "ERROR" and "e911" not in after.features
        assert "no E911 order" in after.doc["e911"]["message"]
        assert sim.e911 == {}  # type: ignore[attr-defined]


# -- availability: refused before any carrier call --------------------------------------------


def test_features_not_available_are_forbidden_before_any_carrier_call(
        kazoo_numbers: list[str]) -> None:
    with carrier("knm_telnyx") as sim:
        held(sim, CARRIERS["knm_telnyx"])
        local = "+15551233322"  # knm_local, in service in the reseller's account
        unassigned = "+19162154006"  # knm_telnyx, available, nobody's
        for number in (local, unassigned):
            for field in ({"e911": GEARY}, {"cnam": {"display_name": "ACME"}}):
                with pytest.raises(errors.Forbidden) as refused:
                    numbers.update(number, merge_fields=field)
                assert refused.value.to_json()["error"] == "forbidden"
        # the reseller denies e911: its accounts' numbers may not have one
        config.set("number_manager", "features", {"deny": ["e911"]}, account_id=RESELLER)
        with pytest.raises(errors.Forbidden):
            numbers.update(CARRIERS["knm_telnyx"], merge_fields={"e911": GEARY})
        # failover only on trunkstore numbers (Kazoo's rule)
        with pytest.raises(errors.Forbidden):
            numbers.update(local, merge_fields={"failover": {"e164": "+14155550000"}})
        assert sim.received("POST", "/addresses") == [] and sim.received("PATCH") == []
        assert sim.received("POST", "/addresses/actions/validate") == []
        assert numbers.get(local).doc.get("e911") is None


def test_an_e911_write_on_a_number_whose_carrier_cannot_provision_one_stores_nothing(
        kazoo_accounts: dict[str, str]) -> None:
    """SPEC §13's last word, for a number that exists and one being created: VoIP
    Innovations offers no E911 (its class declares none), so the address is refused and
    nothing is stored — no `e911` answered 200 as if someone would find the caller."""
    number = "+14355550199"
    assert numbers.create(number, assign_to=CHILD, module_name="knm_voip_innovations",
                          state="in_service")
    before = numbers.get(number)
    assert "e911" not in features.available(before, is_admin=False)
    with pytest.raises(errors.Forbidden):
        numbers.update(number, merge_fields={"e911": GEARY})
    after = numbers.get(number)
    assert after.version == before.version and "e911" not in after.doc
    created = numbers.create(["+14355550198"], assign_to=CHILD,
                             module_name="knm_voip_innovations", state="in_service",
                             public_fields={"e911": GEARY})
    assert isinstance(created.failed["+14355550198"], errors.Forbidden)
    assert numbers.get(["+14355550198"]).failed  # not created
    assert providers.pending() == []


def test_a_number_that_is_not_held_in_service_takes_no_address(
        kazoo_accounts: dict[str, str]) -> None:
    with carrier("knm_telnyx") as sim:
        held(sim, CARRIERS["knm_telnyx"])
        # a purchase or reservation carries public fields, but not a new address
        with pytest.raises(errors.Invalid) as refused:
            numbers.reserve(CARRIERS["knm_telnyx"], assign_to=CHILD,
                            public_fields={"e911": GEARY})
        assert refused.value.cause == "e911"
        # a malformed address is refused naming the field, before any carrier call
        with pytest.raises(errors.Invalid) as bad:
            numbers.update(CARRIERS["knm_telnyx"], merge_fields={"e911": {
                **GEARY, "region": "California"}})
        assert bad.value.cause == "e911.region"
        with pytest.raises(errors.Invalid) as long_name:
            numbers.update(CARRIERS["knm_telnyx"], merge_fields={"cnam": {
                "display_name": "A name much too long"}})
        assert long_name.value.cause == "cnam.display_name"
        assert sim.received("POST", "/addresses") == []


# -- Kazoo's local features --------------------------------------------------------------------


def test_local_features_are_copied_with_no_carrier_call(kazoo_numbers: list[str]) -> None:
    number = "+15551233322"  # knm_local, in service
    pn = numbers.update(number, merge_fields={
        "prepend": {"enabled": True, "name": "Citizen", "number": "75657869"},
        "force_outbound": "true"})
    assert pn.features["prepend"] == {"enabled": True, "name": "Citizen",
                                      "number": "75657869"}
    assert pn.features["force_outbound"] is True
    assert pn.features_list() == ["force_outbound", "local", "prepend"]
    pn = numbers.update(number, merge_fields={"prepend": {"enabled": False}})
    assert "prepend" not in pn.features
    numbers.assign_to_app(number, "trunkstore")
    pn = numbers.update(number, merge_fields={"failover": {"sip": "sip:backup@example.com"}})
    assert pn.features["failover"] == {"sip": "sip:backup@example.com"}


def test_provisioning_disabled_refuses_or_sandboxes(kazoo_accounts: dict[str, str]) -> None:
    """SPEC §12's switches apply to features: disabled refuses (`provisioning_disabled`,
    nothing stored); disabled and sandboxed answers as done without asking the carrier, and
    says so (`carrier_status: sandbox`) — Kazoo's `sandbox_provisioning` for E911."""
    number = CARRIERS["knm_vitelity"]
    with carrier("knm_vitelity", enable_provisioning=False) as sim:
        held(sim, number)
        before = numbers.get(number)
        with pytest.raises(errors.ProvisioningDisabled):
            numbers.update(number, merge_fields={"e911": GEARY})
        assert numbers.get(number).version == before.version
        config.set("number_manager.vitelity", "sandbox_provisioning", True)
        pn = numbers.update(number, merge_fields={"e911": GEARY})
        assert (pn.doc["e911"]["status"], pn.doc["e911"]["carrier_status"]) == (
            "PROVISIONED", "sandbox")
        assert sim.requests == [] and sim.e911 == {}  # type: ignore[attr-defined]
