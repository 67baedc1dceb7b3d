"""knm_didww (API v3, JSON:API) against its simulator: what goes on the wire (auth in both API
versions, the DID-group and available-DID searches, the order with knm's reference, the trunk
assignment, the termination), each search kind, settling after every way an answer can be
lost, the failure bodies, and the Kazoo-style flow through the facade on both databases."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator

import pytest

from knm import accounts, cache, carriers, config, errors, numbers
from knm.carriers.base import SearchOptions
from knm.carriers.didww import (
    Didww,
    area_prefixes,
    country_of,
    order_document,
    pick_sku,
    routing_document,
    to_order_status,
    token_url,
)
from knm.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.didww import DidwwSimulator
from knm.simulators.server import BackgroundServer

KEY = "didww-simulated-api-key"
TRUNK = "7a1f0c2e-5b7d-4e11-9c3a-0d1f2e3a4b5c"
REFERENCE = "knm-0123456789abcdef0123456789abcdef"
AMBIGUOUS = ["timeout", "truncated", "empty_502", "html_500"]


@pytest.fixture(scope="module")
def live_module() -> Iterator[registry.Live]:
    with registry.running("didww") as live:
        yield live


@pytest.fixture
def live(live_module: registry.Live) -> Iterator[registry.Live]:
    live_module.sim.reset()
    yield live_module
    live_module.sim.reset()


def offer(live: registry.Live, prefix: str = "+1415", **extra: object) -> PhoneNumber:
    """A number found by a search, as the operations layer hands it to the carrier: the
    search's carrier data and the reference stored before the call."""
    found = live.carrier.find_numbers(prefix, 5, SearchOptions(extra=dict(extra)))
    assert found
    pn = PhoneNumber.new(found[-1].number)
    pn.set_carrier_data({**found[-1].carrier_data, "order_reference": REFERENCE,
                         "order_status": "unknown"})
    return pn


def kept(pn: PhoneNumber, **data: object) -> PhoneNumber:
    """What an unsettled record holds when it is settled: its data before the call."""
    out = PhoneNumber.new(pn.number)
    out.set_carrier_data({k: v for k, v in {**pn.carrier_data, **data}.items()
                          if v is not None})
    return out


# -- pure ---------------------------------------------------------------------------------------


def test_request_building() -> None:
    assert country_of("+14155") == ("US", "1")
    assert country_of("+1604") == ("CA", "1") and country_of("+1", "CA") == ("CA", "1")
    assert country_of("+44207") == ("GB", "44")
    assert area_prefixes("+1415886", "1") == ["415"]
    assert area_prefixes("+1", "1") == []
    assert area_prefixes("+44207", "44") == ["2", "20", "207"]
    doc = order_document("ad-1", "sku-1", REFERENCE)
    assert doc["data"]["attributes"]["external_reference_id"] == REFERENCE
    assert doc["data"]["attributes"]["items"] == [
        {"type": "did_order_items", "attributes": {"sku_id": "sku-1",
                                                   "available_did_id": "ad-1"}}]
    assert routing_document("did-1", "tr-1", None)["data"]["relationships"] == {
        "voice_in_trunk": {"data": {"type": "voice_in_trunks", "id": "tr-1"}}}
    assert routing_document("did-1", None, "tg-1")["data"]["relationships"] == {
        "voice_in_trunk_group": {"data": {"type": "voice_in_trunk_groups", "id": "tg-1"}}}
    assert token_url({"base_url": "https://api.didww.com/v3"}) == "https://auth.didww.com/token"
    assert token_url({"base_url": "https://sandbox-api.didww.com/v3"}) == \
        "https://auth-sandbox.didww.com/token"
    assert token_url({"base_url": "http://127.0.0.1:9/v3"}) == "http://127.0.0.1:9/token"


def test_order_statuses_and_sku_choice() -> None:
    def order(status: str) -> dict:
        return {"id": "o-1", "type": "orders", "attributes": {"status": status,
                                                              "reference": "YGA-1"}}
    assert [to_order_status(order(s)).state for s in ("pending", "completed", "canceled")] \
        == ["pending", "complete", "failed"]
    assert to_order_status(order("completed")).data["didww_order_reference"] == "YGA-1"
    with pytest.raises(ValueError):
        to_order_status(order("exploded"))
    skus = [{"id": "two", "attributes": {"channels_included_count": 2}},
            {"id": "none", "attributes": {"channels_included_count": 0}}]
    assert pick_sku(skus, None)["id"] == "none"
    assert pick_sku(skus, 2)["id"] == "two"
    assert pick_sku(skus, 9) is None


# -- searching ----------------------------------------------------------------------------------


def test_local_search_on_the_wire(live: registry.Live) -> None:
    carrier = live.make_carrier()  # a cold catalogue cache
    found = carrier.find_numbers("+1415", 5, SearchOptions())
    assert len(found) == 5 and all(r.number.startswith("+1415") for r in found)
    countries, groups, available = (live.sim.received("GET", p)[-1] for p in (
        "/v3/countries", "/v3/did_groups", "/v3/available_dids"))
    for sent in (countries, groups, available):
        assert sent.headers["api-key"] == KEY
        assert sent.headers["x-didww-api-version"] == "2026-04-16"
        assert sent.headers["accept"] == "application/vnd.api+json"
        assert "authorization" not in sent.headers
    assert countries.params == {"filter[iso]": "US"}
    assert groups.params["filter[prefix]"] == "415"
    assert groups.params["filter[country.id]"]
    assert available.params["filter[number_contains]"] == "1415"
    assert available.params["include"] == "did_group.stock_keeping_units"
    assert available.params["filter[did_group.id]"]
    first = found[0]
    assert first.locality == {"country": "US", "city": "San Francisco"}
    assert first.price == {"currency": "USD", "monthly": "0.09", "upfront": "0.0"}
    assert set(first.carrier_data) == {"available_did_id", "sku_id", "did_group_id"}
    # the catalogue (country, groups) is cached: the next search is one request
    before = len(live.sim.requests)
    carrier.find_numbers("+1415", 5, SearchOptions())
    assert [r.path for r in live.sim.requests[before:]] == ["/v3/available_dids"]
    carrier.close()


@pytest.mark.parametrize("prefix,country", [("+1415333", "US"), ("+1800", "US"),
                                            ("+4420", "GB"), ("+44161", "GB")])
def test_each_search_kind(live: registry.Live, prefix: str, country: str) -> None:
    found = live.carrier.find_numbers(prefix, 3, SearchOptions(country=country))
    assert found and all(r.number.startswith(prefix) for r in found)
    assert all(r.locality and r.locality["country"] == country for r in found)
    if prefix == "+1800":
        assert all("city" not in r.locality for r in found)
        assert found[0].price["monthly"] == "0.09"


def test_locality_and_contains_filters(live: registry.Live) -> None:
    assert live.carrier.find_numbers("+1", 3, SearchOptions(extra={"locality": "Chicago"}))
    assert live.sim.received("GET", "/v3/did_groups")[-1].params["filter[area_name]"] == \
        "Chicago"
    chicago = live.carrier.find_numbers("+1", 3, SearchOptions(extra={"locality": "Chicago"}))
    assert chicago and all(r.number.startswith("+1312") for r in chicago)
    some = live.carrier.find_numbers("+1415", 1, SearchOptions())[0].number
    tail = some[-4:]
    matched = live.carrier.find_numbers("+1415", 5, SearchOptions(extra={"contains": tail}))
    assert some in [r.number for r in matched]
    assert live.sim.received("GET", "/v3/available_dids")[-1].params[
        "filter[number_contains]"] == tail


def test_a_country_didww_does_not_stock_finds_nothing(live: registry.Live) -> None:
    assert live.carrier.find_numbers("+33", 3, SearchOptions(country="FR")) == []
    assert not live.sim.received("GET", "/v3/available_dids")


# -- buying, routing, releasing -----------------------------------------------------------------


def test_buy_routes_to_the_trunk_and_release_terminates(live: registry.Live) -> None:
    pn = offer(live)
    bought = live.carrier.acquire_number(pn)
    order = live.sim.received("POST", "/v3/orders")[-1]
    assert order.headers["content-type"] == "application/vnd.api+json"
    attrs = order.json()["data"]["attributes"]
    assert attrs["external_reference_id"] == REFERENCE
    assert attrs["items"][0]["attributes"] == {
        "sku_id": pn.carrier_data["sku_id"],
        "available_did_id": pn.carrier_data["available_did_id"]}
    owned = live.sim.owned[pn.number]
    assert owned["voice_in_trunk"] == TRUNK, "the DID is routed to the trunk"
    route = live.sim.received("PATCH", "/v3/dids/")[-1]
    assert route.path == f"/v3/dids/{owned['id']}"
    assert route.json()["data"]["relationships"] == {
        "voice_in_trunk": {"data": {"type": "voice_in_trunks", "id": TRUNK}}}
    data = bought.carrier_data
    assert (data["did_id"], data["routing_status"], data["order_status"]) == (
        owned["id"], "routed", "completed")
    assert data["order_id"] in live.sim.orders
    assert live.carrier.check_numbers([pn.number, "+14155550000"]) == {
        pn.number: "in_service"}

    released = live.carrier.disconnect_number(bought)
    patch = live.sim.received("PATCH", "/v3/dids/")[-1]
    assert patch.json() == {"data": {"type": "dids", "id": owned["id"],
                                     "attributes": {"terminated": True}}}
    assert released.carrier_data["terminated"] is True
    assert released.carrier_data["service_ends_at"]
    assert pn.number not in live.sim.owned
    # a terminated DID stays listed at DIDWW, but it is no number of the account
    assert live.carrier.check_numbers([pn.number]) == {}
    with pytest.raises(errors.CarrierNotFound):
        live.carrier.disconnect_number(PhoneNumber.new(pn.number))


def test_buy_without_search_data_looks_the_number_up(live: registry.Live) -> None:
    number = live.carrier.find_numbers("+4420", 1, SearchOptions(country="GB"))[0].number
    live.sim.reset()
    live.carrier.acquire_number(PhoneNumber.new(number))
    lookup = live.sim.received("GET", "/v3/available_dids")[0]
    assert lookup.params["filter[number_contains]"] == number[1:]
    assert number in live.sim.owned
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is False
    assert len(live.sim.received("POST", "/v3/orders")) == 1


def test_a_number_sold_since_the_search_is_number_unavailable(live: registry.Live) -> None:
    pn = offer(live)
    live.carrier.acquire_number(PhoneNumber.new(pn.number))  # someone else buys it first
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(pn)  # the search's available_did_id is gone
    assert info.value.status == 422 and info.value.unsettled is False
    assert "available_did_id" in (info.value.carrier_message or "")


def test_missing_routing_setting_is_named_before_anything_is_bought(
        live: registry.Live) -> None:
    pn = offer(live)
    before = len(live.sim.requests)
    with pytest.raises(errors.CarrierMisconfigured) as info:
        live.make_carrier(trunk_id=None).acquire_number(pn)
    assert info.value.cause == "trunk_id" and info.value.error == "carrier_misconfigured"
    assert len(live.sim.requests) == before, "nothing was sent"
    with pytest.raises(errors.CarrierMisconfigured) as both:
        live.make_carrier(trunk_group_id="tg-1")
    assert both.value.cause == "trunk_group_id"


def test_routing_to_a_trunk_group(live: registry.Live) -> None:
    pn = offer(live)
    bought = live.make_carrier(trunk_id=None, trunk_group_id="tg-7").acquire_number(pn)
    assert live.sim.owned[pn.number]["voice_in_trunk_group"] == "tg-7"
    assert bought.carrier_data["voice_in_trunk_group_id"] == "tg-7"


def test_a_routing_refusal_keeps_the_purchase(live: registry.Live,
                                              caplog: pytest.LogCaptureFixture) -> None:
    pn = offer(live)
    with caplog.at_level(logging.WARNING):
        bought = live.make_carrier(trunk_id="no-such-trunk").acquire_number(pn)
    assert pn.number in live.sim.owned, "the number is bought"
    assert bought.carrier_data["routing_status"] == "failed"
    assert "voice_in_trunk" in bought.carrier_data["routing_error"]
    assert "not routed" in caplog.text
    # settling (with the trunk fixed) routes it
    status = live.carrier.settle(kept(bought, order_status="unknown"))
    assert status.state == "complete" and status.data["routing_status"] == "routed"
    assert live.sim.owned[pn.number]["voice_in_trunk"] == TRUNK


def test_a_pending_order_is_polled_then_settled(live: registry.Live) -> None:
    live.sim.set(order_complete_ms=150)
    pn = offer(live)
    bought = live.carrier.acquire_number(pn)
    assert bought.carrier_data["order_status"] == "completed"
    assert len(live.sim.received("GET", "/v3/orders/")) >= 1
    live.sim.set(order_result="never")
    slow = live.make_carrier(order_timeout_s=0.2)
    later = offer(live)
    with pytest.raises(errors.CarrierTimeout) as info:
        slow.acquire_number(later)
    assert info.value.unsettled is True
    assert later.carrier_data["order_status"] == "pending"
    order_id = later.carrier_data["order_id"]
    assert live.carrier.settle(kept(later)).state == "pending"
    live.sim.set(order_result="complete")
    done = live.carrier.settle(kept(later))
    assert (done.state, done.order_id) == ("complete", order_id)
    assert live.sim.owned[later.number]["voice_in_trunk"] == TRUNK


def test_a_canceled_order_is_a_refusal_and_settles_failed(live: registry.Live) -> None:
    live.sim.set(order_result="failed", order_complete_ms=50)
    pn = offer(live)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is False and "canceled" in (info.value.carrier_message or "")
    assert live.carrier.settle(kept(pn)).state == "failed"


# -- settling lost answers ----------------------------------------------------------------------


def _spoilt(live: registry.Live, how: str, match: str) -> Didww:
    live.sim.set(ambiguous=how, match=match, times=1, hang_s=5)
    return live.make_carrier(timeout_ms=600) if how == "timeout" else live.carrier


@pytest.mark.parametrize("how", AMBIGUOUS)
def test_a_purchase_whose_answer_is_lost_settles_complete(live: registry.Live,
                                                          how: str) -> None:
    pn = offer(live)
    claimed = kept(pn)
    with pytest.raises(errors.KnmError) as info:
        _spoilt(live, how, "POST /v3/orders").acquire_number(pn)
    assert info.value.unsettled is True
    assert len(live.sim.orders) == 1 and pn.number in live.sim.owned
    status = live.carrier.settle(claimed)  # by external_reference_id: no order id known
    assert status.state == "complete"
    assert status.order_id == next(iter(live.sim.orders))
    assert live.sim.received("GET", "/v3/orders")[-1].params == {
        "filter[external_reference_id]": REFERENCE}
    assert status.data["routing_status"] == "routed"
    assert live.sim.owned[pn.number]["voice_in_trunk"] == TRUNK
    assert len(live.sim.orders) == 1, "settling ordered nothing"


def test_settling_without_a_trunk_configured_reports_the_did_unrouted(
        live: registry.Live) -> None:
    pn = offer(live)
    with pytest.raises(errors.CarrierUnavailable):
        _spoilt(live, "empty_502", "POST /v3/orders").acquire_number(pn)
    status = live.make_carrier(trunk_id=None).settle(kept(pn))
    assert status.state == "complete" and status.data["routing_status"] == "unrouted"
    assert live.sim.owned[pn.number]["voice_in_trunk"] is None
    assert not live.sim.received("PATCH")


def test_a_refused_purchase_settles_failed(live: registry.Live) -> None:
    pn = offer(live)
    live.sim.set(fail_with={"status": 422, "message": "items - is invalid"},
                 match="POST /v3/orders")
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is False
    status = live.carrier.settle(kept(pn))
    assert status.state == "failed" and not live.sim.orders


@pytest.mark.parametrize("how", AMBIGUOUS)
def test_a_release_whose_answer_is_lost_settles_complete(live: registry.Live,
                                                         how: str) -> None:
    bought = live.carrier.acquire_number(offer(live))
    with pytest.raises(errors.KnmError) as info:
        _spoilt(live, how, "PATCH /v3/dids").disconnect_number(bought)
    assert info.value.unsettled is True
    assert bought.number not in live.sim.owned
    status = live.carrier.settle(kept(bought, disconnect_status="unknown"))
    assert status.state == "complete"
    # without the DID id, by number: the terminated DID listed is not a live one
    status = live.carrier.settle(kept(bought, disconnect_status="unknown", did_id=None))
    assert status.state == "complete"


def test_a_release_answer_not_saying_terminated_is_unsettled(live: registry.Live) -> None:
    bought = live.carrier.acquire_number(offer(live))
    did = bought.carrier_data["did_id"]
    live.sim.script("PATCH", f"/v3/dids/{did}", json.dumps(
        {"data": {"id": did, "type": "dids", "attributes": {"terminated": False}}}), times=1)
    with pytest.raises(errors.MalformedResponse) as info:
        live.carrier.disconnect_number(bought)
    assert info.value.unsettled is True
    assert live.carrier.settle(kept(bought, disconnect_status="unknown")).state == "failed"


def test_a_refused_release_settles_failed(live: registry.Live) -> None:
    bought = live.carrier.acquire_number(offer(live))
    live.sim.set(fail_with={"status": 400, "message": "terminated is not allowed."},
                 match="PATCH /v3/dids")
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.disconnect_number(bought)
    assert info.value.unsettled is False
    status = live.carrier.settle(kept(bought, disconnect_status="unknown"))
    assert status.state == "failed" and bought.number in live.sim.owned


def test_a_lookup_failing_after_the_order_leaves_it_unsettled(live: registry.Live) -> None:
    pn = offer(live)
    live.sim.set(fail_with={"status": 404, "message": "gone"}, match="GET /v3/dids",
                 times=1)
    with pytest.raises(errors.CarrierNotFound) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is True, "the order exists: not a refusal"
    assert live.carrier.settle(kept(pn, order_id=pn.carrier_data["order_id"])).state == \
        "complete"


# -- failures -----------------------------------------------------------------------------------


def test_failure_bodies(live: registry.Live) -> None:
    live.sim.set(fail_with={"status": 400, "message": "bogus is not allowed."})
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.find_numbers("+1415", 2, SearchOptions())
    assert info.value.carrier_message == "400: bogus is not allowed."
    assert info.value.status == 400
    live.sim.set(fail_with={"status": 500, "body": "<html>oops</html>",
                            "content_type": "text/html"})
    with pytest.raises(errors.CarrierUnavailable):
        live.carrier.find_numbers("+1415", 2, SearchOptions())
    live.sim.reset()
    pn = offer(live)
    live.sim.set(empty_502=True, match="POST")
    with pytest.raises(errors.CarrierUnavailable) as lost:
        live.carrier.acquire_number(pn)
    assert lost.value.unsettled is True
    live.sim.reset()
    live.sim.set(malformed=True)
    with pytest.raises(errors.MalformedResponse):
        live.make_carrier().find_numbers("+1415", 2, SearchOptions())


def test_timeout_is_bounded(live: registry.Live) -> None:
    live.sim.set(hang=True, hang_s=5)
    started = time.monotonic()
    with pytest.raises(errors.CarrierTimeout):
        live.make_carrier().find_numbers("+1415", 2,
                                         SearchOptions(deadline=time.monotonic() + 0.3))
    assert time.monotonic() - started < 1.5


# -- API version 2026-11-19: bearer tokens ------------------------------------------------------


@pytest.fixture
def bearer(live: registry.Live) -> Iterator[Didww]:
    carrier = live.make_carrier(api_version="2026-11-19")
    yield carrier
    carrier.close()


def test_bearer_tokens_are_minted_with_the_key_and_sent_instead_of_it(
        live: registry.Live, bearer: Didww) -> None:
    pn = offer(live)
    bought = bearer.acquire_number(PhoneNumber.new(pn.number))
    minted = live.sim.received("POST", "/token")
    assert len(minted) == 1, "one token serves every request"
    assert minted[0].headers["api-key"] == KEY
    token = next(iter(live.sim.tokens))
    api = [r for r in live.sim.requests if r.path.startswith("/v3/")
           and r.headers.get("authorization", "").startswith("Bearer ")]
    assert api and all(r.headers["authorization"] == f"Bearer {token}" for r in api)
    assert all("api-key" not in r.headers for r in api)
    assert all(r.headers["x-didww-api-version"] == "2026-11-19" for r in api)
    assert bearer.check_numbers([pn.number]) == {pn.number: "in_service"}
    bearer.disconnect_number(bought)
    assert pn.number not in live.sim.owned
    # the token is a secret like the key
    live.sim.set(fail_with={"status": 400, "message": f"token {token} refused"})
    with pytest.raises(errors.CarrierFault) as info:
        bearer.find_numbers("+1415", 1, SearchOptions())
    assert token not in str(info.value.to_json()) and "refused" in info.value.carrier_message


def test_a_revoked_token_is_replaced_once(live: registry.Live, bearer: Didww) -> None:
    bearer.find_numbers("+1415", 1, SearchOptions())
    with live.sim.lock:
        live.sim.tokens.clear()  # revoked at DIDWW before it expired
    assert bearer.find_numbers("+1415", 1, SearchOptions())
    assert len(live.sim.received("POST", "/token")) == 2


def test_a_wrong_key_mints_no_token_and_an_unknown_version_is_refused(
        live: registry.Live) -> None:
    with pytest.raises(errors.CarrierCredentials) as info:
        live.make_carrier(api_version="2026-11-19", api_key="wrong-key").find_numbers(
            "+1415", 1, SearchOptions())
    assert "wrong-key" not in str(info.value.to_json())
    with pytest.raises(errors.CarrierMisconfigured) as bad:
        live.make_carrier(api_version="2025-01-01")
    assert bad.value.cause == "api_version"


def test_secrets_stay_out_of_errors_and_logs(live: registry.Live, bearer: Didww,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        bearer.find_numbers("+1415", 1, SearchOptions())
        token = next(iter(live.sim.tokens))
        live.sim.set(fail_with={"status": 401, "message": f"key {KEY} token {token}"})
        with pytest.raises(errors.CarrierCredentials) as info:
            bearer.find_numbers("+1415", 1, SearchOptions())
    text = f"{info.value.to_json()} {info.value!r} {caplog.text} {bearer.info()}"
    assert KEY not in text and token not in text


# -- the Kazoo-style flow: the facade and the operations, on both databases ---------------------


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, tuple[object, str]]]:
    """DIDWW and Telnyx simulators, for a search across carriers."""
    didww = DidwwSimulator(trunk_id=TRUNK)
    telnyx = registry.get("telnyx").make_simulator()
    with BackgroundServer(didww.app) as d, BackgroundServer(telnyx.app) as t:
        yield {"knm_didww": (didww, d.url), "knm_telnyx": (telnyx, t.url)}


@pytest.fixture
def wired(db: str, sims: dict[str, tuple[object, str]]) -> Iterator[dict[str, object]]:
    for name, (sim, url) in sims.items():
        sim.reset()
        settings = {**registry.wire(name, url, sim), **registry.get(name).fast_orders}
        for key, value in settings.items():
            config.set(f"number_manager.{name.removeprefix('knm_')}", key, value)
    config.set("number_manager", "carrier_modules", list(sims))
    carriers.registry.clear_instances()
    yield {name: sim for name, (sim, _url) in sims.items()}
    carriers.registry.clear_instances()


def test_find_across_carriers_and_move_buys_from_didww(wired: dict[str, object]) -> None:
    didww = wired["knm_didww"]
    account = accounts.create("Buyer", allow_number_additions=True)
    page = carriers.find("+1415", 50, query_id="q-didww")
    by_carrier = {cache.get_cache().discovered(r["number"]).carrier for r in page}
    assert by_carrier == {"knm_didww", "knm_telnyx"}
    mine = [r["number"] for r in page
            if cache.get_cache().discovered(r["number"]).carrier == "knm_didww"]
    pn = numbers.move(mine[0], account.id)
    assert (pn.state, pn.module_name, pn.assigned_to) == ("in_service", "knm_didww",
                                                          account.id)
    assert didww.owned[mine[0]]["voice_in_trunk"] == TRUNK
    order = didww.received("POST", "/v3/orders")[-1].json()["data"]["attributes"]
    assert order["external_reference_id"].startswith("knm-")
    assert not wired["knm_telnyx"].received("POST")
    numbers.release(mine[0])
    assert mine[0] not in didww.owned


def test_an_unsettled_purchase_is_settled_into_service(wired: dict[str, object]) -> None:
    didww = wired["knm_didww"]
    account = accounts.create("Buyer", allow_number_additions=True)
    number = carriers.find("+1312", 5, carriers=["knm_didww"], query_id="q-lost")[0]["number"]
    didww.set(ambiguous="empty_502", match="POST /v3/orders", times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        numbers.move(number, account.id)
    assert info.value.to_json()["unsettled"] is True
    assert [pn.number for pn in numbers.unsettled()] == [number]
    settled = numbers.settle(number)
    assert (settled.state, settled.assigned_to) == ("in_service", account.id)
    assert len(didww.orders) == 1 and didww.owned[number]["voice_in_trunk"] == TRUNK
    assert numbers.unsettled() == []
