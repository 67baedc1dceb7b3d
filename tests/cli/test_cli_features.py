"""`knm numbers e911` and `knm numbers cnam` (SPEC §13) against the Telnyx simulator: an
address registered, rejected or corrected (the suggestion said), removed; a caller name
listed; a registration Telnyx is still working on listed by `knm orders` and settled by
`knm orders settle`."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest
from cli_support import human, knm, ok, refused
from conftest import CHILD

from knm import config, numbers
from knm.simulators import registry
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer

pytest_plugins = ["cli_support"]

NUMBER = "+14155550142"
ADDRESS = ["--street", "140 Geary St", "--suite", "Suite 5", "--city", "San Francisco",
           "--state", "CA", "--postal-code", "94108"]


@pytest.fixture
def telnyx(db: str, master: str) -> Iterator[Simulator]:
    """A number of CHILD's in service at Telnyx (its simulator), knm wired to it."""
    spec = registry.get("knm_telnyx")
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        for key, value in {**registry.wire("knm_telnyx", server.url, sim), **spec.fast_orders,
                           "feature_wait_s": 0.05}.items():
            config.set("number_manager.telnyx", key, value)
        sim.owned[NUMBER] = {"id": "7001", "order_id": "none", "number": NUMBER}
        assert numbers.create(NUMBER, assign_to=CHILD, module_name="knm_telnyx",
                              state="in_service")
        yield sim


def test_e911_set_refused_corrected_and_removed(db: str, telnyx: Simulator) -> None:
    doc = ok(db, "numbers", "e911", NUMBER, *ADDRESS)
    e911 = doc["e911"]
    assert (e911["street_address"], e911["extended_address"], e911["status"]) == (
        "140 GEARY ST", "SUITE 5", "PROVISIONED")
    assert doc["pvt_features"]["e911"] == e911
    assert telnyx.owned[NUMBER]["emergency"]["emergency_status"] == "active"

    err = refused(db, "numbers", "e911", NUMBER, *ADDRESS[:-1], "00000", slug="invalid data")
    assert err["address"]["invalid"]["cause"]["postal_code"] == "00000"
    err = refused(db, "numbers", "e911", NUMBER, "--street", "1 Main St CORRECTME",
                  *ADDRESS[2:], slug="multiple_choice")
    assert err["multiple_choice"]["e911"]["details"][0]["street_address"] == "1 MAIN ST"
    shown = human(db, "numbers", "e911", NUMBER, "--street", "1 Main St CORRECTME",
                  *ADDRESS[2:], columns=200)
    assert shown.exit_code == 1 and "the carrier suggests: 1 MAIN ST, SUITE 5" in shown.stderr
    # neither changed the registered address
    assert ok(db, "numbers", "get", NUMBER)["e911"] == e911

    gone = ok(db, "numbers", "e911", NUMBER, "--remove")
    assert "e911" not in gone and "e911" not in gone.get("pvt_features", {})
    assert telnyx.owned[NUMBER]["emergency"]["emergency_enabled"] is False
    result = knm(db, "numbers", "e911", NUMBER, "--remove", "--city", "X")
    assert result.exit_code == 2 and json.loads(result.stderr)["cause"] == "arguments"
    refused(db, "numbers", "e911", NUMBER, "--street", "140 Geary St", cause="e911.locality")


def test_cnam_listed_and_inbound_lookup(db: str, telnyx: Simulator) -> None:
    doc = ok(db, "numbers", "cnam", NUMBER, "ACME INC", "--inbound")
    assert doc["cnam"] == {"display_name": "ACME INC", "inbound_lookup": True,
                           "status": "PROVISIONED"}
    assert set(doc["pvt_features"]) == {"inbound_cnam", "outbound_cnam"}
    assert telnyx.owned[NUMBER]["cnam_listing"]["cnam_listing_details"] == "ACME INC"
    doc = ok(db, "numbers", "cnam", NUMBER, "--remove")
    assert doc["cnam"] == {"inbound_lookup": True, "status": "PROVISIONED"}
    assert set(doc["pvt_features"]) == {"inbound_cnam"}
    refused(db, "numbers", "cnam", NUMBER, "A NAME FAR TOO LONG", cause="cnam.display_name")


def test_a_pending_registration_is_an_order_to_settle(db: str, telnyx: Simulator) -> None:
    telnyx.set(feature_complete_ms=300)
    assert ok(db, "numbers", "e911", NUMBER, *ADDRESS)["e911"]["status"] == "PENDING"
    [row] = ok(db, "orders")
    assert (row["number"], row["carrier"], row["operation"], row["status"]) == (
        NUMBER, "knm_telnyx", "e911", "pending")
    time.sleep(0.4)
    settled = ok(db, "orders", "settle")
    assert settled["outcomes"] == {NUMBER: "provisioned"}
    assert settled["success"][NUMBER]["e911"]["status"] == "PROVISIONED"
    assert ok(db, "orders") == []
