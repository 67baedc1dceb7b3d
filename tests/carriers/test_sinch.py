"""knm_sinch (Numbers API v1) against its simulator: what goes on the wire (both auth modes,
the availableNumbers search per kind, `:rent` with the voice configuration, `:release`), the
scheduled voice provisioning as check and settle report it, settling after every way an answer
can be lost, the failure bodies, and the Kazoo-style flow through the facade on both
databases."""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import Iterator

import pytest

from knm import accounts, cache, carriers, config, errors, numbers
from knm.carriers.base import SearchOptions
from knm.carriers.sinch import (
    Sinch,
    number_types,
    region_of,
    routing_of,
    search_params,
    token_url,
    voice_configuration,
)
from knm.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.server import BackgroundServer
from knm.simulators.sinch import SinchSimulator

PROJECT = "9b1a2f3e-0000-4c5d-8e7f-000000000001"
KEY_ID, SECRET = "sinch-key-id", "sinch-key-secret"
BASIC = "Basic " + base64.b64encode(f"{KEY_ID}:{SECRET}".encode()).decode()
BASE = f"/v1/projects/{PROJECT}"
AMBIGUOUS = ["timeout", "truncated", "empty_502", "html_500"]


@pytest.fixture(scope="module")
def live_module() -> Iterator[registry.Live]:
    with registry.running("sinch") as live:
        yield live


@pytest.fixture
def live(live_module: registry.Live) -> Iterator[registry.Live]:
    live_module.sim.reset()
    live_module.sim.voice_provisioning_ms = 200
    yield live_module
    live_module.sim.reset()


def offered(live: registry.Live, prefix: str = "+1206", **kw: object) -> str:
    found = live.carrier.find_numbers(prefix, 5, SearchOptions(**kw))
    assert found
    return found[-1].number


def kept(number: str, **data: object) -> PhoneNumber:
    """An unsettled record as settling gets it: its reference and status markers."""
    pn = PhoneNumber.new(number)
    pn.set_carrier_data({"order_reference": "knm-0123", **data})
    return pn


# -- pure ---------------------------------------------------------------------------------------


def test_request_building() -> None:
    assert region_of("+1206") == "US" and region_of("+1604") == "CA"
    assert region_of("+4420") == "GB" and region_of("+4670") == "SE"
    assert number_types("+1206", SearchOptions()) == ["LOCAL"]
    assert number_types("+1877", SearchOptions()) == ["TOLL_FREE"]
    assert number_types("+4420", SearchOptions()) == ["LOCAL", "MOBILE"]
    assert number_types("+447", SearchOptions(extra={"mobile": True})) == ["MOBILE"]
    assert number_types("+44", SearchOptions(extra={"number_type": "toll_free"})) == [
        "TOLL_FREE"]
    assert search_params("+1206", "US", "LOCAL", 5, SearchOptions()) == {
        "regionCode": "US", "type": "LOCAL", "numberPattern.pattern": "+1206",
        "numberPattern.searchPattern": "START", "capabilities": "VOICE", "size": 5}
    contains = search_params("+1206", "US", "LOCAL", 5, SearchOptions(extra={"contains": "77"}))
    assert (contains["numberPattern.pattern"], contains["numberPattern.searchPattern"]) == (
        "77", "CONTAIN")
    assert voice_configuration({"trunk_id": "t1"}) == {"type": "EST", "trunkId": "t1"}
    assert voice_configuration({"app_id": "a1"}) == {"type": "RTC", "appId": "a1"}
    assert token_url({"base_url": "https://numbers.api.sinch.com"}) == \
        "https://auth.sinch.com/oauth2/token"
    assert token_url({"base_url": "http://127.0.0.1:9"}) == "http://127.0.0.1:9/oauth2/token"


def test_routing_states() -> None:
    def active(voice: dict) -> dict:
        return {"phoneNumber": "+12065550100", "voiceConfiguration": voice}
    waiting = routing_of(active({"type": "RTC", "scheduledVoiceProvisioning": {
        "type": "EST", "trunkId": "t1", "status": "WAITING"}}))
    assert waiting["routing_status"] == "scheduled"
    assert waiting["scheduled_voice_provisioning"]["trunkId"] == "t1"
    applied = routing_of(active({"type": "EST", "trunkId": "t1",
                                 "scheduledVoiceProvisioning": None}))
    assert applied["routing_status"] == "applied"
    assert applied["voice_configuration"] == {"type": "EST", "trunkId": "t1"}
    assert routing_of(active({"scheduledVoiceProvisioning": {"status": "FAILED"}}))[
        "routing_status"] == "failed"
    assert routing_of(active({"type": "RTC"}))["routing_status"] == "unrouted"
    with pytest.raises(ValueError):
        routing_of({"error": "nope"})


# -- searching ----------------------------------------------------------------------------------


def test_local_search_on_the_wire(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+1206", 5, SearchOptions())
    assert len(found) == 5 and all(r.number.startswith("+1206") for r in found)
    sent = live.sim.received("GET", "/availableNumbers")[-1]
    assert sent.path == f"{BASE}/availableNumbers"
    assert sent.headers["authorization"] == BASIC
    assert sent.params == {"regionCode": "US", "type": "LOCAL",
                           "numberPattern.pattern": "+1206",
                           "numberPattern.searchPattern": "START", "capabilities": "VOICE",
                           "size": "5"}
    assert found[0].price == {"currency": "USD", "monthly": "1.00", "upfront": "0.00"}
    assert found[0].locality == {"country": "US"}
    assert found[0].carrier_data["type"] == "LOCAL"


@pytest.mark.parametrize("prefix,country,kinds", [
    ("+1206555", "US", ["LOCAL"]), ("+1800", "US", ["TOLL_FREE"]),
    ("+4420", "GB", ["LOCAL"]), ("+447700", "GB", ["LOCAL", "MOBILE"]),
    ("+4670", "SE", ["LOCAL", "MOBILE"])])
def test_each_search_kind(live: registry.Live, prefix: str, country: str,
                          kinds: list[str]) -> None:
    found = live.carrier.find_numbers(prefix, 3, SearchOptions(country=country))
    assert found and all(r.number.startswith(prefix) for r in found)
    asked = [r.params["type"] for r in live.sim.received("GET", "/availableNumbers")]
    assert asked == kinds
    assert all(r.params["regionCode"] == country
               for r in live.sim.received("GET", "/availableNumbers"))


def test_contains_filter(live: registry.Live) -> None:
    some = offered(live)
    found = live.carrier.find_numbers("+1206", 5, SearchOptions(extra={"contains": some[-4:]}))
    assert some in [r.number for r in found]
    assert live.sim.received("GET")[-1].params["numberPattern.searchPattern"] == "CONTAIN"


# -- buying, routing, releasing -----------------------------------------------------------------


def test_rent_with_the_est_trunk_then_routing_applies_later(live: registry.Live) -> None:
    number = offered(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    rent = live.sim.received("POST", ":rent")[-1]
    assert rent.path == f"{BASE}/availableNumbers/{number}:rent"
    assert rent.json() == {"voiceConfiguration": {"type": "EST", "trunkId": "knm-est-trunk"}}
    assert rent.headers["authorization"] == BASIC
    data = bought.carrier_data
    assert data["routing_status"] == "scheduled", "the purchase is done before routing is"
    assert data["scheduled_voice_provisioning"]["status"] == "WAITING"
    assert data["scheduled_voice_provisioning"]["trunkId"] == "knm-est-trunk"
    assert number in live.sim.owned
    assert live.carrier.check_numbers([number]) == {number: "voice_provisioning"}
    time.sleep(0.25)  # the simulator applies it after 200 ms
    assert live.carrier.check_numbers([number, "+12065550000"]) == {number: "in_service"}
    status = live.carrier.settle(kept(number, order_status="unknown"))
    assert status.state == "complete" and status.data["routing_status"] == "applied"
    assert status.data["voice_configuration"] == {"type": "EST", "trunkId": "knm-est-trunk"}

    live.carrier.disconnect_number(bought)
    release = live.sim.received("POST", ":release")[-1]
    assert release.path == f"{BASE}/activeNumbers/{number}:release"
    assert number not in live.sim.owned
    assert live.carrier.check_numbers([number]) == {}
    with pytest.raises(errors.CarrierNotFound):
        live.carrier.disconnect_number(PhoneNumber.new(number))


def test_rent_with_an_rtc_app(live: registry.Live) -> None:
    number = offered(live, "+4420", country="GB")
    live.make_carrier(trunk_id=None, app_id="app-42").acquire_number(PhoneNumber.new(number))
    assert live.sim.received("POST", ":rent")[-1].json() == {
        "voiceConfiguration": {"type": "RTC", "appId": "app-42"}}


def test_failed_voice_provisioning_is_reported(live: registry.Live) -> None:
    live.sim.voice_provisioning_result = "failed"
    live.sim.voice_provisioning_ms = 0
    number = offered(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    assert live.carrier.check_numbers([number]) == {number: "voice_provisioning_failed"}
    status = live.carrier.settle(kept(number, order_status="unknown"))
    assert status.state == "complete", "the number is rented whatever its routing"
    assert status.data["routing_status"] == "failed"


def test_renting_a_rented_number_is_number_unavailable(live: registry.Live) -> None:
    number = offered(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is False and info.value.status == 404
    assert info.value.carrier_message == "NOT_FOUND: AvailableNumber not found"


def test_missing_routing_setting_is_named_before_anything_is_rented(
        live: registry.Live) -> None:
    number = offered(live)
    before = len(live.sim.requests)
    with pytest.raises(errors.CarrierMisconfigured) as info:
        live.make_carrier(trunk_id=None).acquire_number(PhoneNumber.new(number))
    assert info.value.cause == "trunk_id" and info.value.error == "carrier_misconfigured"
    assert len(live.sim.requests) == before
    with pytest.raises(errors.CarrierMisconfigured) as both:
        live.make_carrier(app_id="app-1")
    assert both.value.cause == "app_id"
    with pytest.raises(errors.CarrierMisconfigured) as auth:
        live.make_carrier(auth="digest")
    assert auth.value.cause == "auth"


# -- settling lost answers ----------------------------------------------------------------------


def _spoilt(live: registry.Live, how: str, match: str) -> Sinch:
    live.sim.set(ambiguous=how, match=match, times=1, hang_s=5)
    return live.make_carrier(timeout_ms=600) if how == "timeout" else live.carrier


@pytest.mark.parametrize("how", AMBIGUOUS)
def test_a_rental_whose_answer_is_lost_settles_complete(live: registry.Live,
                                                        how: str) -> None:
    number = offered(live)
    with pytest.raises(errors.KnmError) as info:
        _spoilt(live, how, ":rent").acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    assert number in live.sim.owned and len(live.sim.received("POST", ":rent")) == 1
    status = live.carrier.settle(kept(number, order_status="unknown"))
    assert status.state == "complete"
    assert live.sim.received("GET")[-1].path == f"{BASE}/activeNumbers/{number}"
    assert status.data["routing_status"] in ("scheduled", "applied")
    assert len(live.sim.received("POST", ":rent")) == 1, "settling rented nothing"


def test_a_refused_rental_settles_failed(live: registry.Live) -> None:
    number = offered(live)
    live.sim.set(fail_with={"status": 400, "message": "Invalid argument"}, match=":rent")
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is False
    assert info.value.carrier_message == "INVALID_ARGUMENT: Invalid argument"
    assert live.carrier.settle(kept(number, order_status="unknown")).state == "failed"


@pytest.mark.parametrize("how", AMBIGUOUS)
def test_a_release_whose_answer_is_lost_settles_complete(live: registry.Live,
                                                         how: str) -> None:
    number = offered(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    with pytest.raises(errors.KnmError) as info:
        _spoilt(live, how, ":release").disconnect_number(bought)
    assert info.value.unsettled is True and number not in live.sim.owned
    status = live.carrier.settle(kept(number, disconnect_status="unknown"))
    assert status.state == "complete"


def test_a_refused_release_settles_failed(live: registry.Live) -> None:
    number = offered(live)
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    live.sim.set(fail_with={"status": 400, "message": "Number is locked"}, match=":release")
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.disconnect_number(bought)
    assert info.value.unsettled is False
    assert live.carrier.settle(kept(number, disconnect_status="unknown")).state == "failed"


def test_a_release_listed_with_an_expiry_is_released(live: registry.Live) -> None:
    number = offered(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    with live.sim.lock:
        live.sim.owned[number]["expire_at"] = "2027-01-31T00:00:00.000Z"
    assert live.carrier.check_numbers([number]) == {number: "releasing"}
    status = live.carrier.settle(kept(number, disconnect_status="unknown"))
    assert (status.state, status.data["expire_at"]) == ("complete",
                                                        "2027-01-31T00:00:00.000Z")


# -- failures -----------------------------------------------------------------------------------


def test_failure_bodies(live: registry.Live) -> None:
    live.sim.set(fail_with={"status": 400, "message": "regionCode is required"})
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.find_numbers("+1206", 2, SearchOptions())
    assert info.value.carrier_message == "INVALID_ARGUMENT: regionCode is required"
    live.sim.set(fail_with={"status": 500, "body": "<html>oops</html>",
                            "content_type": "text/html"})
    with pytest.raises(errors.CarrierUnavailable):
        live.carrier.find_numbers("+1206", 2, SearchOptions())
    live.sim.reset()
    number = offered(live)
    live.sim.set(empty_502=True, match=":rent")
    with pytest.raises(errors.CarrierUnavailable) as lost:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert lost.value.unsettled is True
    live.sim.reset()
    live.sim.set(malformed=True)
    with pytest.raises(errors.MalformedResponse):
        live.carrier.find_numbers("+1206", 2, SearchOptions())


def test_timeout_is_bounded(live: registry.Live) -> None:
    live.sim.set(hang=True, hang_s=5)
    started = time.monotonic()
    with pytest.raises(errors.CarrierTimeout):
        live.carrier.find_numbers("+1206", 2, SearchOptions(deadline=time.monotonic() + 0.3))
    assert time.monotonic() - started < 1.5


# -- OAuth2 -------------------------------------------------------------------------------------


@pytest.fixture
def oauth(live: registry.Live) -> Iterator[Sinch]:
    carrier = live.make_carrier(auth="oauth2")
    yield carrier
    carrier.close()


def test_oauth2_token_minted_once_and_sent_as_bearer(live: registry.Live,
                                                     oauth: Sinch) -> None:
    number = offered(live)
    before = len(live.sim.requests)
    oauth.find_numbers("+1206", 2, SearchOptions())
    oauth.acquire_number(PhoneNumber.new(number))
    minted = live.sim.received("POST", "/oauth2/token")
    assert len(minted) == 1
    assert minted[0].headers["authorization"] == BASIC
    assert minted[0].text == "grant_type=client_credentials"
    token = next(iter(live.sim.tokens))
    api = [r for r in live.sim.requests[before:] if r.path.startswith("/v1/")]
    assert len(api) == 2 and {r.headers["authorization"] for r in api} == {f"Bearer {token}"}
    live.sim.set(fail_with={"status": 400, "message": f"token {token} refused"})
    with pytest.raises(errors.CarrierFault) as info:
        oauth.find_numbers("+1206", 1, SearchOptions())
    assert token not in str(info.value.to_json()) and "refused" in info.value.carrier_message


def test_an_expired_token_is_renewed_once(live: registry.Live, oauth: Sinch) -> None:
    oauth.find_numbers("+1206", 1, SearchOptions())
    with live.sim.lock:
        for token in live.sim.tokens:
            live.sim.tokens[token] = time.time() - 1
    assert oauth.find_numbers("+1206", 1, SearchOptions())
    assert len(live.sim.received("POST", "/oauth2/token")) == 2


def test_a_wrong_secret_is_carrier_credentials_and_never_shown(
        live: registry.Live, caplog: pytest.LogCaptureFixture) -> None:
    for mode in ("oauth2", "basic"):
        bad = live.make_carrier(auth=mode, key_secret="wrong-secret-xyz")
        with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierCredentials) as info:
            bad.find_numbers("+1206", 1, SearchOptions())
        text = f"{info.value.to_json()} {info.value!r} {caplog.text} {bad.info()}"
        assert "wrong-secret-xyz" not in text
        assert base64.b64encode(b"sinch-key-id:wrong-secret-xyz").decode() not in text
        bad.close()


# -- the Kazoo-style flow: the facade and the operations, on both databases ---------------------


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, tuple[object, str]]]:
    """Sinch and Telnyx simulators, for a search across carriers."""
    sinch = SinchSimulator(voice_provisioning_ms=50)
    telnyx = registry.get("telnyx").make_simulator()
    with BackgroundServer(sinch.app) as s, BackgroundServer(telnyx.app) as t:
        yield {"knm_sinch": (sinch, s.url), "knm_telnyx": (telnyx, t.url)}


@pytest.fixture
def wired(db: str, sims: dict[str, tuple[object, str]]) -> Iterator[dict[str, object]]:
    for name, (sim, url) in sims.items():
        sim.reset()
        settings = {**registry.wire(name, url, sim), **registry.get(name).fast_orders}
        for key, value in settings.items():
            config.set(f"number_manager.{name.removeprefix('knm_')}", key, value)
    config.set("number_manager.sinch", "auth", "oauth2")  # the default, as deployed
    config.set("number_manager", "carrier_modules", list(sims))
    carriers.registry.clear_instances()
    yield {name: sim for name, (sim, _url) in sims.items()}
    carriers.registry.clear_instances()


def test_find_across_carriers_and_move_rents_from_sinch(wired: dict[str, object]) -> None:
    sinch = wired["knm_sinch"]
    account = accounts.create("Buyer", allow_number_additions=True)
    page = carriers.find("+1415", 50, query_id="q-sinch")
    by_carrier = {cache.get_cache().discovered(r["number"]).carrier for r in page}
    assert by_carrier == {"knm_sinch", "knm_telnyx"}
    mine = [r["number"] for r in page
            if cache.get_cache().discovered(r["number"]).carrier == "knm_sinch"]
    pn = numbers.move(mine[0], account.id)
    assert (pn.state, pn.module_name, pn.assigned_to) == ("in_service", "knm_sinch",
                                                          account.id)
    assert pn.carrier_data["routing_status"] == "scheduled"
    assert sinch.owned[mine[0]]["scheduled_voice"]["trunkId"] == "knm-est-trunk"
    assert not wired["knm_telnyx"].received("POST")
    numbers.release(mine[0])
    assert mine[0] not in sinch.owned


def test_an_unsettled_rental_is_settled_into_service(wired: dict[str, object]) -> None:
    sinch = wired["knm_sinch"]
    account = accounts.create("Buyer", allow_number_additions=True)
    number = carriers.find("+1212", 5, carriers=["knm_sinch"], query_id="q-lost")[0]["number"]
    sinch.set(ambiguous="html_500", match=":rent", times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        numbers.move(number, account.id)
    assert info.value.to_json()["unsettled"] is True
    assert [pn.number for pn in numbers.unsettled()] == [number]
    settled = numbers.settle(number)
    assert (settled.state, settled.assigned_to) == ("in_service", account.id)
    assert settled.carrier_data["routing_status"] in ("scheduled", "applied")
    assert len(sinch.received("POST", ":rent")) == 1
