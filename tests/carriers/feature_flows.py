"""What the number-feature tests of every carrier do alike (SPEC §13), so that each carrier's
test module (tests/carriers/test_flowroute_features.py, test_vonage_features.py,
test_signalwire_features.py, test_didww_features.py, test_twilio_cnam.py) says only what
is its own: one carrier's simulator on loopback with knm wired to it by config, a number in
service in knm, secrets kept out of errors, logs and records, a change whose answer is lost
found again or settled, a refused change undone, a release removing the feature first,
and Monster UI's save through the HTTP API. The carriers' modules call these with their
registry name and what differs (the way tests/carriers/order_flows.py serves the order
tests)."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
import pytest
from api_support import Api, Servers, assert_error, assert_ok, start_api
from conftest import CHILD

from knm import carriers, config, errors, numbers
from knm.carriers.base import short_name
from knm.numbers import providers
from knm.simulators import registry
from knm.simulators.base import Simulator
from knm.simulators.server import BackgroundServer

S = TypeVar("S", bound=Simulator)

#: what Monster UI's `ui_metadata` says on every save
MONSTER = {"version": "4.3-0", "ui": "monster-ui", "origin": "common"}


# -- one carrier's simulator, a number in service --------------------------------------------


@contextmanager
def simulated(name: str, kind: type[S], **settings: Any) -> Iterator[S]:
    """Carrier `name`'s simulator on loopback, knm's carrier wired to it by config
    (`number_manager.<short>`, then `settings` over it). The carrier instances knm made are
    closed afterwards, so the credentials they learnt leave the process-wide secret
    registry and the next test starts from none."""
    sim = registry.get(name).make_simulator()
    assert isinstance(sim, kind)
    section = f"number_manager.{short_name(name)}"
    try:
        with BackgroundServer(sim.app) as server:
            for key, value in {**registry.wire(name, server.url, sim), **settings}.items():
                config.set(section, key, value)
            yield sim
    finally:
        carriers.registry.clear_instances()


def in_service(name: str, number: str, account: str = CHILD) -> None:
    """`number` in service in knm on carrier `name` (made once; the carrier's own books are
    the caller's to fill)."""
    if numbers.get([number]).failed:
        assert numbers.create(number, assign_to=account, module_name=name,
                              state="in_service")


def basic_pair(user: str, secret: str) -> str:
    """The Basic credentials as they go on the wire (`Authorization: Basic …`): what must
    reach the carrier, and never an error, log or record."""
    return base64.b64encode(f"{user}:{secret}".encode()).decode()


# -- secrets -----------------------------------------------------------------------------------


def secrets_stay_out(sim: Simulator, caplog: pytest.LogCaptureFixture, number: str,
                     secrets: Collection[str], *, refusal: dict[str, Any], match: str,
                     change: dict[str, Any], words: str,
                     then: dict[str, Any] | None = None,
                     before_then: Callable[[], None] | None = None) -> None:
    """The carrier refuses `change` with its credentials in the refusal: the knm error (as
    JSON and as text), the logs (DEBUG; the caller holds `caplog` at that level) and the
    record of a later change (`then`, default `change` again, after `before_then`) carry
    none of `secrets`, while the carrier's own `words` reach the caller."""
    assert secrets and all(secrets)
    sim.set(fail_with=refusal, match=match)
    with pytest.raises(errors.CarrierFault) as refused:
        numbers.update(number, merge_fields=change)
    sim.reset_switches()
    if before_then:
        before_then()
    pn = numbers.update(number, merge_fields=then or change)
    said = str(refused.value.to_json()) + str(refused.value) + caplog.text + str(
        pn.doc) + str(pn.carrier_data)
    for secret in secrets:
        assert secret not in said
    assert words in str(refused.value.to_json())
    assert caplog.handler.level <= logging.DEBUG  # the logs looked at are the chatty ones


# -- E911: the carrier's books, as a test reads them --------------------------------------------


@dataclass(frozen=True)
class E911Books:
    """How one carrier's test reads E911 at the carrier: where knm keeps the id of its
    record (`id_key`) and of the one being replaced (`previous_key`), the ids the carrier
    holds (`records`), and the record the number points at (`assigned`, None: none)."""

    provider: str
    id_key: str
    previous_key: str
    records: Callable[[], list[str]]
    assigned: Callable[[], dict[str, Any] | None]

    def only(self, record_id: str) -> None:
        """The carrier holds `record_id` alone, and the number points at it."""
        assert self.records() == [record_id]
        shown = self.assigned()
        assert shown is not None and shown["id"] == record_id


def registered(number: str, books: E911Books, address: dict[str, Any],
               shown: tuple[str, str, str]) -> Any:
    """`address` registered at once: PROVISIONED, among the number's features, as the
    carrier registered it (`shown`: street, unit, city), the contacts kept, the carrier
    named the provider and its record the number's. Returns the record."""
    pn = numbers.update(number, merge_fields={"e911": address})
    e911 = pn.doc["e911"]
    assert e911["status"] == "PROVISIONED" and pn.features["e911"] == e911
    assert (e911["street_address"], e911["extended_address"], e911["locality"]) == shown
    assert e911["notification_contact_emails"] == address["notification_contact_emails"]
    assert pn.carrier_data["e911_provider"] == books.provider
    record = books.assigned()
    assert record is not None and record["id"] == pn.carrier_data[books.id_key]
    return pn


def moved_to(number: str, books: E911Books, address: dict[str, Any], street: str,
             first_id: str) -> Any:
    """A registered number's new address: a new record the number's, knm's previous one
    deleted at the carrier. Returns the record."""
    moved = numbers.update(number, merge_fields={"e911": address})
    assert moved.doc["e911"]["street_address"] == street
    second_id = moved.carrier_data[books.id_key]
    assert second_id != first_id
    books.only(second_id)
    return moved


def same_address_sends_nothing(sim: Simulator, number: str, e911: dict[str, Any],
                               version: Any) -> None:
    """The same address sent back (Monster sends the whole number): no carrier call, no new
    version of the record."""
    asked = len(sim.requests)
    assert numbers.update(number, merge_fields={"e911": e911}).version == version
    assert len(sim.requests) == asked


def lost_answer_checked_then_settled(sim: Simulator, number: str, books: E911Books, *,
                                     first: dict[str, Any], moved: dict[str, Any],
                                     assign: str, number_path: str,
                                     moved_street: Callable[[], str], wanted: str,
                                     registered: tuple[str, str]) -> None:
    """The carrier did the change, then its answer was lost (a proxy's HTML 500 on
    `assign`): knm reads the number at once and finds it done — PROVISIONED, no settling.
    When that read fails too (`number_path` spoilt twice), the address is PENDING (never
    shown as registered: the confirmed one stays), and settling finishes it, deleting
    knm's previous record. `registered`: the streets of `first` and `moved` as the carrier
    registered them; `moved_street()` the carrier's record for the number, `wanted` it."""
    sim.set(ambiguous="html_500", match=assign, times=1)
    pn = numbers.update(number, merge_fields={"e911": first})
    assert pn.doc["e911"]["status"] == "PROVISIONED" and "e911" in pn.features
    first_id = pn.carrier_data[books.id_key]

    sim.set(ambiguous="html_500", match=number_path, times=2)
    changed = numbers.update(number, merge_fields={"e911": moved})
    assert changed.doc["e911"]["status"] == "PENDING"
    assert changed.features["e911"]["street_address"] == registered[0]  # the confirmed one
    [waiting] = numbers.pending_features()
    assert (waiting["number"], waiting["operation"], waiting["carrier"]) == (
        number, "e911", books.provider)
    assert moved_street() == wanted and first_id in books.records()
    settled = numbers.settle([number])
    assert settled.ok, settled.failed
    done = numbers.get(number)
    assert done.doc["e911"]["status"] == "PROVISIONED"
    assert done.features["e911"]["street_address"] == registered[1]
    assert books.previous_key not in done.carrier_data
    assert books.records() == [done.carrier_data[books.id_key]]
    assert numbers.pending_features() == []


def lost_change_is_pending(sim: Simulator, number: str, books: E911Books, *,
                           first: dict[str, Any], moved: dict[str, Any],
                           number_path: str) -> Any:
    """A registered number's change answered a 500 (the carrier may have done it), and so
    is the check of the number that follows: PENDING. Returns the record before it."""
    registered = numbers.update(number, merge_fields={"e911": first})
    sim.set(fail_with={"status": 500}, match=number_path, times=2)
    assert numbers.update(number, merge_fields={"e911": moved}).doc["e911"][
        "status"] == "PENDING"
    return registered


def settles_to_error_keeping(number: str, books: E911Books, registered: Any,
                             words: str) -> None:
    """Settling a change that did not take: ERROR saying `words`, the registered address
    kept — in knm, and at the carrier as the number's only record."""
    kept = registered.carrier_data[books.id_key]
    assert numbers.settle([number]).ok
    failed = numbers.get(number)
    assert failed.doc["e911"]["status"] == "ERROR"
    assert words in failed.doc["e911"]["message"]
    assert failed.features["e911"] == registered.features["e911"]
    assert failed.carrier_data[books.id_key] == kept
    books.only(kept)


def refused_change_is_undone(sim: Simulator, number: str, books: E911Books, *,
                             first: dict[str, Any], moved: dict[str, Any],
                             failure: dict[str, Any], match: str) -> errors.CarrierFault:
    """The new address is made, then the carrier refuses to put it on the number (or fails
    so that knm's check finds it not done): the refusal is answered, the address just made
    deleted, and the number keeps its registered one — at the carrier and in knm. Returns
    the refusal for the carrier's own checks."""
    registered = numbers.update(number, merge_fields={"e911": first})
    kept = registered.carrier_data[books.id_key]
    sim.set(**failure, match=match)
    with pytest.raises(errors.CarrierFault) as refused:
        numbers.update(number, merge_fields={"e911": moved})
    assert refused.value.carrier == books.provider and refused.value.operation == "e911"
    after = numbers.get(number)
    assert after.version == registered.version and after.doc == registered.doc
    assert after.carrier_data[books.id_key] == kept
    books.only(kept)
    return refused.value


def removed(number: str, books: E911Books) -> Any:
    """The address removed through knm: gone from the record, its features and the carrier
    data that named knm's record and provider. Returns the record."""
    gone = numbers.update(number, merge_fields={"e911": None})
    assert "e911" not in gone.doc and "e911" not in gone.features
    assert not {books.id_key, "e911_provider"} & set(gone.carrier_data)
    return gone


def released_kept_at_carrier(sim: Simulator, number: str, e911: dict[str, Any]) -> None:
    """`knm release` with the number kept at the carrier (`disconnect_on_release` false,
    Kazoo's release) of a number whose `e911` is PROVISIONED: the number is available in
    knm and still on the carrier's books, its address gone from the record and nothing left
    to retry; the caller checks the carrier removed it."""
    config.set("number_manager", "disconnect_on_release", False)
    assert numbers.update(number, merge_fields={"e911": e911}).doc["e911"][
        "status"] == "PROVISIONED"
    released = numbers.release(number)
    assert released.state == "available" and number in sim.owned
    stored = numbers.get(number)
    assert "e911" not in stored.doc and "e911_provider" not in stored.carrier_data
    assert providers.pending() == []


# -- over HTTP: Monster UI's save --------------------------------------------------------------


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory,
            request: pytest.FixtureRequest) -> Iterator[Servers]:
    """The API's servers, once for the carrier's module (`servers = feature_flows.servers`
    in it), in a folder named after it."""
    folder = request.module.__name__.rpartition(".")[2].removeprefix("test_")
    yield from Servers.run(tmp_path_factory.mktemp(folder))


@pytest.fixture
def api(servers: Servers, kazoo_accounts: dict[str, str]) -> Iterator[Api]:
    """The API on those servers, with Kazoo's accounts (`api = feature_flows.api`)."""
    yield from start_api(servers, kazoo_accounts)


def monster_save(api: Api, number: str, change: dict[str, Any]) -> httpx.Response:
    """`e911UpdateNumber` / `callerIdUpdateNumber`: the number as read, `features` and
    `metadata` dropped, the change applied (None: the key dropped), POSTed back with
    Monster's `ui_metadata`."""
    path = api.numbers_path("child", number)
    data = assert_ok(api.call("GET", path, "child"))
    payload = {k: v for k, v in data.items() if k not in ("features", "metadata")}
    for key, value in change.items():
        if value is None:
            payload.pop(key, None)
        else:
            payload[key] = value
    payload["ui_metadata"] = MONSTER
    return api.call("POST", path, "child", data=payload)


def monster_reads(api: Api, number: str, feature: str, provider: str) -> set[str]:
    """The number as Monster reads it offers `feature`, set by `provider`; returns what it
    offers."""
    read = assert_ok(api.call("GET", api.numbers_path("child", number), "child"))
    available = set(read["_read_only"]["features"]["available"])
    assert feature in available
    assert read["_read_only"]["features"]["settings"][feature] == {"provider": provider}
    return available


def monster_form(address: dict[str, Any]) -> dict[str, Any]:
    """Monster's e911 form for `address`: the caller name is the account's, US."""
    return {**address, "caller_name": "child", "country": "US"}


def monster_address_refused(api: Api, number: str, provider: str,
                            form: dict[str, Any]) -> None:
    """A postal code the carrier refuses: Kazoo's 400 `invalid data` naming it and the
    provider, and nothing stored on the number."""
    refused = monster_save(api, number, {"e911": {**form, "postal_code": "00000"}})
    invalid = assert_error(refused, 400, "invalid data")["address"]["invalid"]
    assert invalid["cause"]["postal_code"] == "00000" and invalid["provider"] == provider
    assert "e911" not in assert_ok(api.call("GET", api.numbers_path("child", number),
                                            "child"))


def monster_address_saved(api: Api, number: str, form: dict[str, Any],
                          street: str) -> dict[str, Any]:
    """The form saved: PROVISIONED with the carrier's `street`, among the number's
    features. Returns the saved number."""
    saved = assert_ok(monster_save(api, number, {"e911": form}))
    assert saved["e911"]["status"] == "PROVISIONED"
    assert saved["e911"]["street_address"] == street
    assert "e911" in saved["features"]
    return saved


def monster_address_removed(api: Api, number: str) -> dict[str, Any]:
    """The address dropped from the form: gone from the number and its features."""
    removed_ = assert_ok(monster_save(api, number, {"e911": None}))
    assert "e911" not in removed_ and "e911" not in removed_.get("features", [])
    return removed_
