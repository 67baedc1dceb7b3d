"""knm_twilio's outbound caller names through Trust Hub CNAM products (SPEC §13, issue 13)
against its simulator, over real HTTP: the wire (products listed by the CNAM policy, their
`cnam_information` EndUser read, the number assigned with `ChannelEndpointAssignments`),
end to end through `knm.numbers` — a name no approved product carries refused with nothing
stored, a product still in vetting or rejected refused, a toll-free or non-US number refused
before any call, a change of name assigning the new product before the old assignment is
deleted (a refusal keeps the previous name), an assignment whose answer was lost settled by
reading the product's assignments (taken, or not), removal, a release removing knm's
assignment first, the `cnam_products` override, secrets kept out of errors and logs, and
Monster UI's caller-ID save through the HTTP API — on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Any

import feature_flows
import httpx
import pytest
from api_support import Api, assert_error, assert_ok
from conftest import CHILD

from knm import config, errors, numbers
from knm.carriers.twilio import (
    CNAM_POLICY_SID,
    assignment_sid,
    cnam_name_fault,
    display_name_of,
    trusthub_page,
)
from knm.numbers import settler
from knm.simulators.twilio import TwilioSimulator

NUMBER = "+14155550150"
OTHER = "+14155550151"
ASSIGN = "POST /v1/TrustProducts/"
PRODUCTS = "/v1/TrustProducts"


def twilio(**settings: Any) -> AbstractContextManager[TwilioSimulator]:
    """Twilio's simulator (Trust Hub included) on loopback, `knm_twilio` wired to it; the
    carrier instances are dropped afterwards (their cached product names and the secrets
    they learnt with them)."""
    return feature_flows.simulated("knm_twilio", TwilioSimulator, **settings)


def held(sim: TwilioSimulator, number: str = NUMBER, account: str = CHILD) -> None:
    """`number` on the Twilio account (the simulator's books) and in service in knm."""
    with sim.lock:
        sim.owned[number] = sim._new_row(number)
    feature_flows.in_service("knm_twilio", number, account)


def product(sim: TwilioSimulator, name: str) -> str:
    """The `BU…` sid of the seeded product carrying `name`."""
    return next(bu for bu in sim.trust_products if sim._product_name(bu) == name)


def trust_hub_calls(sim: TwilioSimulator, method: str | None = None) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.received(method, "/v1/")]


# -- pure ----------------------------------------------------------------------------------------


def test_twilios_rules_and_answers_read() -> None:
    assert cnam_name_fault("ACME, INC.") is None and cnam_name_fault("A") is None
    assert "15" in (cnam_name_fault("A" * 16) or "")
    for bad in ("1ACME", " ACME", "ACME & SONS", "ACMÉ"):
        assert "letter" in (cnam_name_fault(bad) or ""), bad
    page = {"results": [{"sid": "BU1"}, "junk"], "meta": {"key": "results",
                                                          "next_page_url": None}}
    assert trusthub_page(page) == ([{"sid": "BU1"}], None)
    with pytest.raises(ValueError):
        trusthub_page({"meta": {"key": "results"}})
    user = {"type": "cnam_information", "attributes": {"cnam_display_name": " ACME "}}
    assert display_name_of(user) == "ACME"
    assert display_name_of({**user, "attributes": '{"cnam_display_name": "ACME"}'}) == "ACME"
    assert display_name_of({**user, "type": "authorized_representative_1"}) is None
    assert display_name_of({"type": "cnam_information", "attributes": "not json"}) is None
    assert assignment_sid({"sid": "RA1", "channel_endpoint_sid": "PN1"}, "PN1") == "RA1"
    for wrong in ({"sid": "BU1"}, {"sid": "RA1", "channel_endpoint_sid": "PN2"}, []):
        with pytest.raises(ValueError):
            assignment_sid(wrong, "PN1")


# -- the wire ------------------------------------------------------------------------------------


def test_a_name_is_the_numbers_assignment_to_its_approved_product(
        kazoo_accounts: dict[str, str]) -> None:
    """`ACME` on a number: the CNAM products listed by Twilio's CNAM policy, the approved
    ones' names read through their `cnam_information` EndUser, the number (its `PN…` sid)
    assigned to ACME's product, with the account's Basic credentials; PROVISIONED. A second
    number of the same name reads no name again (cached), and the name is matched whatever
    its case and spacing."""
    with twilio() as sim:
        held(sim)
        acme = product(sim, "ACME")
        pn = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        assert pn.doc["cnam"] == {"display_name": "ACME", "status": "PROVISIONED"}
        assert pn.features["outbound_cnam"] == {"display_name": "ACME"}
        assert pn.carrier_data["cnam_provider"] == "knm_twilio"
        assert pn.carrier_data["twilio_cnam_product"] == acme
        assert pn.carrier_data["twilio_cnam_assignment"].startswith("RA")
        assert sim.cnam_of(NUMBER) == ["ACME"]

        [listed] = [r for r in sim.received("GET", PRODUCTS) if r.path == PRODUCTS]
        assert listed.params["PolicySid"] == CNAM_POLICY_SID
        reads = sim.received("GET", "/EntityAssignments")
        assert reads and all(r.params["ObjectType"] == "cnam_information" for r in reads)
        assert sim.received("GET", "/v1/EndUsers/IT")
        [assign] = sim.received("POST", "/ChannelEndpointAssignments")
        assert assign.path == f"{PRODUCTS}/{acme}/ChannelEndpointAssignments"
        assert assign.params == {} and dict(httpx.QueryParams(assign.text)) == {
            "ChannelEndpointType": "phone-number",
            "ChannelEndpointSid": sim.owned[NUMBER]["sid"]}
        assert assign.headers["authorization"] == "Basic " + feature_flows.basic_pair(
            sim.credentials["account_sid"], sim.credentials["auth_token"])

        held(sim, OTHER)
        users_read = len(sim.received("GET", "/v1/EndUsers/"))
        other = numbers.update(OTHER, merge_fields={"cnam": {"display_name": "acme "}})
        assert other.doc["cnam"]["status"] == "PROVISIONED" and sim.cnam_of(OTHER) == ["ACME"]
        assert len(sim.received("GET", "/v1/EndUsers/")) == users_read


def test_a_name_no_approved_product_carries_is_refused_and_nothing_is_stored(
        kazoo_accounts: dict[str, str]) -> None:
    """No product of that name: `400`, saying to create and vet one in Trust Hub; one still
    in vetting or rejected: `400` naming its status. Nothing is assigned, the record is not
    written. A name Twilio would refuse, a toll-free or a Canadian number: refused before
    any Trust Hub call."""
    with twilio() as sim:
        held(sim)
        before = numbers.get(NUMBER)
        for name, words in (("NOBODY", "no CNAM Trust Product of this account carries it"),
                            ("ACME EAST", "pending-review"),
                            ("ACME SOUTH", "twilio-rejected")):
            with pytest.raises(errors.Invalid) as refused:
                numbers.update(NUMBER, merge_fields={"cnam": {"display_name": name}})
            assert refused.value.code == 400 and refused.value.cause == "cnam.display_name"
            assert words in refused.value.message, refused.value.message
            assert "Trust Hub" in refused.value.message and "vetted" in refused.value.message
        assert sim.received("POST", "/ChannelEndpointAssignments") == []
        after = numbers.get(NUMBER)
        assert after.version == before.version and "cnam" not in after.doc
        assert "outbound_cnam" not in after.features

        asked = len(trust_hub_calls(sim))
        with pytest.raises(errors.Invalid) as malformed:
            numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "1-800-ACME"}})
        assert "letter" in malformed.value.message
        for number, words in (("+18885550150", "toll-free"), ("+14165550150", "US numbers")):
            held(sim, number)
            with pytest.raises(errors.NotImplementedByCarrier) as elsewhere:
                numbers.update(number, merge_fields={"cnam": {"display_name": "ACME"}})
            assert elsewhere.value.code == 501 and words in elsewhere.value.message
            assert "cnam" not in numbers.get(number).doc
        assert len(trust_hub_calls(sim)) == asked


def test_a_new_name_is_assigned_before_the_old_one_is_removed(
        kazoo_accounts: dict[str, str]) -> None:
    """ACME → ACME WEST: the number is assigned to WEST's product first, then knm's ACME
    assignment is deleted. Twilio refusing the new assignment keeps ACME (at Twilio and in
    the record); Twilio failing the old one's deletion leaves the new name PROVISIONED and
    the old assignment remembered, deleted at the next change."""
    with twilio() as sim:
        held(sim)
        first = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        old = first.carrier_data["twilio_cnam_assignment"]
        sim.requests.clear()
        moved = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME WEST"}})
        assert moved.doc["cnam"]["status"] == "PROVISIONED"
        assert moved.features["outbound_cnam"] == {"display_name": "ACME WEST"}
        assert sim.cnam_of(NUMBER) == ["ACME WEST"]
        writes = [c for c in trust_hub_calls(sim) if not c.startswith("GET")]
        assert writes == [
            f"POST {PRODUCTS}/{product(sim, 'ACME WEST')}/ChannelEndpointAssignments",
            f"DELETE {PRODUCTS}/{product(sim, 'ACME')}/ChannelEndpointAssignments/{old}"]

        sim.set(fail_with={"status": 400, "message": "Channel endpoint is not eligible",
                           "code": 20001}, match=ASSIGN)
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        assert "not eligible" in (refused.value.carrier_message or "")
        sim.reset_switches()
        kept = numbers.get(NUMBER)
        assert kept.version == moved.version and kept.doc["cnam"] == moved.doc["cnam"]
        assert kept.features["outbound_cnam"] == {"display_name": "ACME WEST"}
        assert sim.cnam_of(NUMBER) == ["ACME WEST"]

        sim.set(fail_with={"status": 500, "message": "try later"},
                match="DELETE /v1/TrustProducts/")
        back = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        sim.reset_switches()
        assert back.doc["cnam"]["status"] == "PROVISIONED"
        assert sorted(sim.cnam_of(NUMBER)) == ["ACME", "ACME WEST"]  # the old one lingers
        [left] = back.carrier_data["twilio_cnam_stale"]
        assert left.startswith(product(sim, "ACME WEST") + "/RA")
        again = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME WEST"}})
        assert sim.cnam_of(NUMBER) == ["ACME WEST"]
        assert "twilio_cnam_stale" not in again.carrier_data


def test_an_assignment_whose_answer_is_lost_is_settled_by_the_products_assignments(
        kazoo_accounts: dict[str, str]) -> None:
    """The assignment was sent and its answer lost (a proxy's HTML 500): PENDING, the old
    name still confirmed. Settling finds the number among the product's assignments:
    PROVISIONED, and the old assignment deleted then. A lost request Twilio never did
    settles to ERROR with the previous name kept — at Twilio and in the record."""
    with twilio() as sim:
        held(sim)
        numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        sim.set(ambiguous="html_500", match=ASSIGN, times=1)
        pn = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME WEST"}})
        assert pn.doc["cnam"] == {"display_name": "ACME WEST", "status": "PENDING"}
        assert pn.features["outbound_cnam"] == {"display_name": "ACME"}
        assert sorted(sim.cnam_of(NUMBER)) == ["ACME", "ACME WEST"]  # Twilio did it
        [waiting] = numbers.pending_features()
        assert (waiting["operation"], waiting["carrier"]) == ("cnam", "knm_twilio")
        settled = numbers.settle([NUMBER])
        assert settled.ok, settled.failed
        done = numbers.get(NUMBER)
        assert done.doc["cnam"]["status"] == "PROVISIONED"
        assert done.features["outbound_cnam"] == {"display_name": "ACME WEST"}
        assert sim.cnam_of(NUMBER) == ["ACME WEST"] and numbers.pending_features() == []

        # never reached Twilio (a 503 before it): the background settler's round says ERROR
        sim.set(fail_with={"status": 503, "message": "upstream"}, match=ASSIGN, times=1)
        lost = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        assert lost.doc["cnam"]["status"] == "PENDING"
        assert settler.settle_round()["settled"] == 1
        failed = numbers.get(NUMBER)
        assert failed.doc["cnam"]["status"] == "ERROR"
        assert "previous caller name is kept" in failed.doc["cnam"]["message"]
        assert failed.features["outbound_cnam"] == {"display_name": "ACME WEST"}
        assert failed.carrier_data["twilio_cnam_product"] == product(sim, "ACME WEST")
        assert sim.cnam_of(NUMBER) == ["ACME WEST"]


def test_removal_and_release_remove_knms_assignment(kazoo_accounts: dict[str, str]) -> None:
    """Removing the name deletes knm's assignment; a release (the number kept at Twilio,
    Kazoo's way) deletes it before the number is released — and a deletion Twilio refuses
    stops that release, the number kept as it was."""
    config.set("number_manager", "disconnect_on_release", False)
    with twilio() as sim:
        held(sim)
        numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME"}})
        off = numbers.update(NUMBER, merge_fields={"cnam": None})
        assert "cnam" not in off.doc and "outbound_cnam" not in off.features
        assert sim.cnam_of(NUMBER) == [] and "twilio_cnam_product" not in off.carrier_data

        numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME",
                                                      "inbound_lookup": True}})
        sim.set(fail_with={"status": 400, "message": "assignment locked"},
                match="DELETE /v1/TrustProducts/")
        with pytest.raises(errors.CarrierFault) as refused:
            numbers.release(NUMBER)
        assert "its cnam could not be removed at knm_twilio" in refused.value.message
        sim.reset_switches()
        kept = numbers.get(NUMBER)
        assert kept.state == "in_service" and kept.features["outbound_cnam"] == {
            "display_name": "ACME"}
        assert sim.cnam_of(NUMBER) == ["ACME"]

        assert numbers.release(NUMBER).state == "available"
        assert sim.cnam_of(NUMBER) == [] and NUMBER in sim.owned  # kept at Twilio
        assert sim.owned[NUMBER]["voice_caller_id_lookup"] is False
        gone = numbers.get(NUMBER)
        assert "cnam" not in gone.doc and "cnam_provider" not in gone.carrier_data


def test_the_cnam_products_setting_names_the_product(kazoo_accounts: dict[str, str]) -> None:
    """`cnam_products` maps a name to its product outright: no product names are read. A
    mapped product still in vetting, or one that does not exist, is refused saying so."""
    with twilio() as sim:
        west, east = product(sim, "ACME WEST"), product(sim, "ACME EAST")
        config.set("number_manager.twilio", "cnam_products",
                   {"Acme Corp": west, "Acme Soon": east, "Acme Gone": "BU" + "0" * 32})
        held(sim)
        pn = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "ACME CORP"}})
        assert pn.doc["cnam"]["status"] == "PROVISIONED"
        assert pn.carrier_data["twilio_cnam_product"] == west
        assert sim.received("GET", "/EntityAssignments") == []
        for name, words in (("Acme Soon", "pending-review"), ("Acme Gone", "cnam_products")):
            with pytest.raises(errors.Invalid) as refused:
                numbers.update(NUMBER, merge_fields={"cnam": {"display_name": name}})
            assert words in refused.value.message


def test_products_are_read_across_pages(kazoo_accounts: dict[str, str]) -> None:
    """Twilio pages its lists: a product on the second page (beyond 100) is found by
    following `meta.next_page_url`."""
    with twilio() as sim:
        for i in range(120):
            sim.add_cnam_product(f"FILLER {i}", "pending-review")
        sim.add_cnam_product("LATE CO")
        held(sim)
        pn = numbers.update(NUMBER, merge_fields={"cnam": {"display_name": "LATE CO"}})
        assert pn.doc["cnam"]["status"] == "PROVISIONED" and sim.cnam_of(NUMBER) == ["LATE CO"]
        pages = sim.received("GET", PRODUCTS)
        assert [r.params.get("Page") for r in pages if r.path == PRODUCTS] == [None, "1"]


def test_secrets_stay_out_of_errors_and_logs(kazoo_accounts: dict[str, str],
                                             caplog: pytest.LogCaptureFixture) -> None:
    with twilio() as sim, caplog.at_level(logging.DEBUG):
        token = sim.credentials["auth_token"]
        basic = feature_flows.basic_pair(sim.credentials["account_sid"], token)
        held(sim)
        # the record looked at after is a PENDING one: its answer lost
        feature_flows.secrets_stay_out(
            sim, caplog, NUMBER, [token, basic],
            refusal={"status": 400, "message": f"bad token {token} {basic}"}, match=ASSIGN,
            change={"cnam": {"display_name": "ACME"}}, words="bad token",
            before_then=lambda: sim.set(ambiguous="html_500", match=ASSIGN, times=1))


# -- over HTTP: Monster UI's caller-ID save on a Twilio number ---------------------------------


servers = feature_flows.servers
api = feature_flows.api


def _monster_save(api: Api, number: str, cnam: dict[str, Any]) -> httpx.Response:
    """`callerIdUpdateNumber`: the number as read, the new `cnam` set, saved as Monster
    does."""
    return feature_flows.monster_save(api, number, {"cnam": cnam})


def test_monster_saves_a_caller_name_on_a_twilio_number(api: Api) -> None:
    with twilio() as sim:
        held(sim)
        available = feature_flows.monster_reads(api, NUMBER, "cnam", "knm_twilio")
        assert {"outbound_cnam", "inbound_cnam"} <= available

        refused = _monster_save(api, NUMBER, {"display_name": "NOBODY"})
        data = assert_error(refused, 400, "invalid")
        assert data["cause"] == "cnam.display_name" and data["carrier"] == "knm_twilio"
        assert "Trust Hub" in data["message"] and "vetted" in data["message"]
        assert "cnam" not in assert_ok(api.call("GET", api.numbers_path("child", NUMBER),
                                                "child"))
        assert sim.received("POST", "/ChannelEndpointAssignments") == []

        saved = assert_ok(_monster_save(api, NUMBER, {"display_name": "ACME",
                                                      "inbound_lookup": True}))
        assert saved["cnam"] == {"display_name": "ACME", "inbound_lookup": True,
                                 "status": "PROVISIONED"}
        assert {"outbound_cnam", "inbound_cnam"} <= set(saved["features"])
        assert sim.cnam_of(NUMBER) == ["ACME"]
        assert sim.owned[NUMBER]["voice_caller_id_lookup"] is True
