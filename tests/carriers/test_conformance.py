"""One suite, every HTTP carrier with a simulator (knm/simulators/registry.py).

A carrier joins by registering its simulator; nothing here names a carrier. Each case drives a
real carrier instance against its simulator over loopback and checks what a user would see:
numbers found, a purchase that sticks, and — on every failure a carrier can produce — a
`KnmError` of the right kind that carries the carrier's words and never a secret.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
from conftest import DEADLINE_SLACK_S

from knm import errors
from knm.carriers.base import Carrier, SearchOptions, new_order_reference
from knm.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.server import free_port

CARRIERS = registry.names()
XML_BOMB = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
            b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
            b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
            b"<SearchResult><ResultCount>&lol3;</ResultCount></SearchResult>")


@pytest.fixture(scope="module", params=CARRIERS)
def live_module(request: pytest.FixtureRequest) -> Iterator[registry.Live]:
    with registry.running(request.param) as live:
        yield live


@pytest.fixture
def live(live_module: registry.Live) -> Iterator[registry.Live]:
    live_module.sim.reset()
    yield live_module
    live_module.sim.reset()


def _secrets(live: registry.Live) -> list[str]:
    values = live.carrier.secrets()
    assert values, "a carrier with a simulator has at least one secret configured"
    return values


def _search_prefix(live: registry.Live) -> str:
    return live.spec.prefixes["local"]


def _buyable(live: registry.Live) -> str:
    found = live.carrier.find_numbers(_search_prefix(live), 5, SearchOptions())
    assert found
    return found[-1].number


def _sent(live: registry.Live, method: str) -> list:
    """The `method` requests the operations sent (a bearer token's request is none of them)."""
    token = live.spec.token_path
    return [r for r in live.sim.received(method) if not token or token not in r.path]


def _any_number(spec: registry.SimulatorSpec) -> str:
    """A whole number under the carrier's local search prefix (for calls that never arrive)."""
    prefix = spec.prefixes["local"]
    return prefix + "5550123456"[:(13 if prefix.startswith("+44") else 12) - len(prefix)]


def _assert_clean(live: registry.Live, error: errors.KnmError) -> None:
    text = f"{error} {error.to_json()} {error!r}"
    for secret in _secrets(live):
        assert secret not in text


# -- happy paths --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["local", "npanxx", "tollfree", "international"])
def test_search(live: registry.Live, kind: str) -> None:
    prefix = live.spec.prefixes.get(kind)
    if prefix is None:
        pytest.skip(f"{live.spec.carrier} does not search {kind}")
    country = live.spec.prefixes.get("country", "US") if kind == "international" else "US"
    found = live.carrier.find_numbers(prefix, 3, SearchOptions(country=country))
    assert 1 <= len(found) <= 3
    for result in found:
        assert result.number.startswith(prefix)
        assert result.carrier == live.spec.carrier
        assert result.state in ("discovery", "available")


def test_buy_check_release(live: registry.Live) -> None:
    number = _buyable(live)
    pn = PhoneNumber.new(number)
    bought = live.carrier.acquire_number(pn)
    assert bought.number == number
    assert bought.carrier_data, "a purchase leaves the carrier's reference on the record"
    assert live.sim.received(live.spec.purchase_method), "the purchase reached the wire"
    # bought numbers leave the stock
    again = live.carrier.find_numbers(_search_prefix(live), 50, SearchOptions())
    assert number not in [r.number for r in again]
    if "check" in live.carrier.capabilities:
        assert number in live.carrier.check_numbers([number])
    if "release" in live.carrier.capabilities:
        live.carrier.disconnect_number(bought)
        if "check" in live.carrier.capabilities:
            assert number not in live.carrier.check_numbers([number])


def test_buying_a_taken_number_is_number_unavailable(live: registry.Live) -> None:
    if "buy" not in live.carrier.capabilities:
        pytest.skip("no purchase")
    number = _buyable(live)
    live.carrier.acquire_number(PhoneNumber.new(number))
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert info.value.carrier == live.spec.carrier
    assert info.value.carrier_message
    assert info.value.unsettled is False, "the carrier refused: nothing was bought"


def test_provisioning_disabled(live: registry.Live) -> None:
    off = live.make_carrier(enable_provisioning=False)
    with pytest.raises(errors.ProvisioningDisabled):
        off.acquire_number(PhoneNumber.new("+14155550100"))
    sandbox = live.make_carrier(enable_provisioning=False, sandbox_provisioning=True)
    before = len(live.sim.requests)
    pn = sandbox.acquire_number(PhoneNumber.new("+14155550100"))
    assert pn.number == "+14155550100"
    assert len(live.sim.requests) == before, "a sandboxed purchase never reaches the carrier"


# -- configuration --------------------------------------------------------------------------------


def test_missing_required_setting_names_the_key(live: registry.Live) -> None:
    cls = live.spec.make_carrier_class()
    required = [s.name for s in cls.settings if s.required]
    if not required:
        pytest.skip(f"{live.spec.carrier} requires no setting")
    for key in required:
        config = {k: v for k, v in live.config.items() if k != key}
        with pytest.raises(errors.CarrierMisconfigured) as info:
            cls(config)
        assert info.value.cause == key
        assert key in info.value.message


def test_mistyped_setting_names_the_key_and_the_type(live: registry.Live) -> None:
    cls = live.spec.make_carrier_class()
    typed = [s for s in cls.settings if s.type in (int, float, bool)]
    assert typed, "every HTTP carrier has at least timeout_ms"
    for setting in typed:
        with pytest.raises(errors.CarrierMisconfigured) as info:
            cls({**live.config, setting.name: "not-a-value"})
        assert info.value.cause == setting.name
        assert f"must be of type {setting.type.__name__}" in info.value.message


def test_info_and_masked_config_hide_secrets(live: registry.Live) -> None:
    shown = f"{live.carrier.info()} {live.carrier.masked_config()}"
    for secret in _secrets(live):
        assert secret not in shown
    assert live.carrier.info()["maximal_prefix_length"] >= 1


# -- failures ---------------------------------------------------------------------------------


def test_carrier_error_body_reaches_the_user(live: registry.Live) -> None:
    live.sim.set(fail_with={"status": 400, "message": "simulated refusal 4242"})
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())
    assert info.value.carrier == live.spec.carrier
    assert "simulated refusal 4242" in (info.value.carrier_message or "")
    _assert_clean(live, info.value)


def test_carrier_error_echoing_a_secret_is_scrubbed(live: registry.Live, caplog) -> None:
    secret = _secrets(live)[0]
    live.sim.set(fail_with={"status": 400, "message": f"bad credential {secret} given"})
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierFault) as info:
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())
    assert "bad credential" in (info.value.carrier_message or "")
    _assert_clean(live, info.value)
    for s in _secrets(live):
        assert s not in caplog.text


@pytest.mark.parametrize("status,kind", [
    (401, errors.CarrierCredentials), (403, errors.CarrierCredentials),
    (404, errors.CarrierNotFound), (409, errors.NumberUnavailable),
    (429, errors.RateLimited), (500, errors.CarrierUnavailable),
])
def test_status_table(live: registry.Live, status: int, kind: type) -> None:
    live.sim.set(fail_with={"status": status, "message": f"status {status}",
                            "headers": {"Retry-After": "7"}})
    with pytest.raises(kind) as info:
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())
    assert info.value.carrier == live.spec.carrier
    if kind is errors.RateLimited:
        assert info.value.retry_after == 7


def test_wrong_credentials_are_carrier_credentials(live: registry.Live) -> None:
    secret_keys = [s.name for s in live.carrier.settings if s.secret and live.config.get(s.name)]
    bad = live.make_carrier(**{k: "wrong-value-xyz" for k in secret_keys})
    with pytest.raises(errors.CarrierCredentials) as info:
        bad.find_numbers(_search_prefix(live), 2, SearchOptions())
    assert "wrong-value-xyz" not in str(info.value.to_json())


def test_non_parseable_500(live: registry.Live) -> None:
    live.sim.set(fail_with={"status": 500, "body": "<html>Internal Server Error</html",
                            "content_type": "text/html"})
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())
    assert info.value.code == 502


def test_empty_502(live: registry.Live) -> None:
    live.sim.set(empty_502=True)
    with pytest.raises(errors.CarrierUnavailable):
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())


def test_malformed_200(live: registry.Live) -> None:
    live.sim.set(malformed=True)
    with pytest.raises(errors.MalformedResponse):
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())


def test_timeout_is_bounded_by_the_deadline(live: registry.Live) -> None:
    live.sim.set(hang=True, hang_s=5)
    started = time.monotonic()
    with pytest.raises(errors.CarrierTimeout) as info:
        live.carrier.find_numbers(_search_prefix(live), 2,
                                  SearchOptions(deadline=time.monotonic() + 0.3))
    assert time.monotonic() - started < 0.3 + DEADLINE_SLACK_S
    assert info.value.code == 504


@pytest.mark.parametrize("name", CARRIERS)
def test_connection_refused(name: str, caplog: pytest.LogCaptureFixture) -> None:
    spec = registry.get(name)
    sim = spec.make_simulator()
    config = spec.config(sim, f"http://127.0.0.1:{free_port()}")
    carrier = spec.make_carrier_class()(config)
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierUnavailable) as info:
        carrier.find_numbers(spec.prefixes["local"], 2, SearchOptions())
    assert info.value.carrier == name
    # the transport error is the cause, scrubbed; the raw one (URLs, headers) is not chained
    assert info.value.__cause__ is not None and info.value.__context__ is None
    text = f"{info.value.to_json()} {info.value.__cause__} {caplog.text}"
    for secret in carrier.secrets():
        assert secret not in text
    # nothing reached the carrier: a purchase refused this way is settled (not bought)
    with pytest.raises(errors.CarrierUnavailable) as bought:
        carrier.acquire_number(PhoneNumber.new(_any_number(spec)))
    assert bought.value.unsettled is False


def test_timeout_path_keeps_secrets_out_of_logs(live: registry.Live,
                                                caplog: pytest.LogCaptureFixture) -> None:
    live.sim.set(hang=True, hang_s=5)
    with caplog.at_level(logging.DEBUG), pytest.raises(errors.CarrierTimeout) as info:
        live.carrier.find_numbers(_search_prefix(live), 2,
                                  SearchOptions(deadline=time.monotonic() + 0.3))
    text = f"{info.value.to_json()} {info.value.__cause__} {caplog.text}"
    for secret in _secrets(live):
        assert secret not in text


def test_purchase_post_is_never_retried(live: registry.Live) -> None:
    number = _buyable(live)
    live.sim.reset()
    live.sim.set(empty_502=True, match=live.spec.purchase_method)
    with pytest.raises(errors.CarrierUnavailable):
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert len(_sent(live, live.spec.purchase_method)) == 1


def test_search_get_is_retried_after_a_transient_502(live: registry.Live) -> None:
    path = live.spec.search_path  # the request the numbers come from ("": every request)
    live.sim.set(empty_502=True, times=1, match=path or None)
    found = live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())
    assert found
    assert len(live.sim.received(live.spec.search_method, path)) == 2


def test_xml_bomb_is_rejected(live: registry.Live) -> None:
    if not live.spec.xml:
        pytest.skip("JSON carrier")
    live.sim.set(fail_with={"status": 200, "body": XML_BOMB.decode(),
                            "content_type": "application/xml"})
    with pytest.raises(errors.MalformedResponse):
        live.carrier.find_numbers(_search_prefix(live), 2, SearchOptions())


def test_pending_order_is_kept_and_times_out(live: registry.Live) -> None:
    if not getattr(live.carrier, "async_orders", False):
        pytest.skip("synchronous purchases")
    number = _buyable(live)
    live.sim.set(order_result="never")
    carrier = live.make_carrier(order_poll_interval_ms=20, order_timeout_s=0.3)
    pn = PhoneNumber.new(number)
    with pytest.raises(errors.CarrierTimeout) as info:
        carrier.acquire_number(pn)
    assert info.value.code == 504
    assert pn.carrier_data["order_status"] == "pending"
    assert pn.carrier_data["order_id"]


def test_failed_order_is_a_carrier_fault(live: registry.Live) -> None:
    if not getattr(live.carrier, "async_orders", False):
        pytest.skip("synchronous purchases")
    number = _buyable(live)
    live.sim.set(order_result="failed", order_complete_ms=50)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(PhoneNumber.new(number))
    assert not isinstance(info.value, errors.CarrierTimeout)
    assert info.value.carrier == live.spec.carrier


# -- orders that are never lost (SPEC §5.1) ---------------------------------------------------

AMBIGUOUS = ["timeout", "truncated", "empty_502", "html_500"]


def _spoilt(live: registry.Live, how: str, method: str) -> Carrier:
    """The carrier, with the simulator set to do the next `method` request and spoil its
    answer; a short timeout for the answer that never comes."""
    live.sim.set(ambiguous=how, match=method, times=1, hang_s=5)
    return live.make_carrier(timeout_ms=600) if how == "timeout" else live.carrier


def _orders_of(sim: object, number: str) -> list[dict]:
    return [o for o in getattr(sim, "orders", {}).values() if number in o.get("numbers", ())]


def _claimed(number: str, operation: str, data: dict | None = None) -> PhoneNumber:
    """The record as the operations layer hands it to the carrier: the reference it stored
    before the call, the status unknown until the carrier answers."""
    pn = PhoneNumber.new(number)
    status = "order_status" if operation == "acquire" else "disconnect_status"
    pn.set_carrier_data({**(data or {}), "order_reference": new_order_reference(),
                         status: "unknown"})
    pn.pending_operation = operation
    return pn


def _settles(live: registry.Live) -> bool:
    return "settle" in live.carrier.capabilities


@pytest.mark.parametrize("how", AMBIGUOUS)
def test_purchase_whose_answer_is_lost_is_unsettled_then_settled(live: registry.Live,
                                                                 how: str) -> None:
    if "buy" not in live.carrier.capabilities:
        pytest.skip("no purchase")
    number = _buyable(live)
    live.sim.reset()
    pn = _claimed(number, "acquire")
    carrier = _spoilt(live, how, live.spec.purchase_method)
    started = time.monotonic()
    with pytest.raises(errors.KnmError) as info:
        carrier.acquire_number(pn)
    assert info.value.unsettled is True, f"{type(info.value).__name__}: {info.value}"
    assert time.monotonic() - started < 5
    # the simulator did buy it, once: knm must not forget it nor order it again blindly
    assert number in live.sim.owned
    assert len(_sent(live, live.spec.purchase_method)) == 1
    assert len(_orders_of(live.sim, number)) <= 1
    _assert_clean(live, info.value)
    if not _settles(live):
        return
    books = (sorted(live.sim.owned), len(live.sim.orders))
    settled = live.carrier.settle(pn)
    assert settled.state == "complete", settled
    assert (sorted(live.sim.owned), len(live.sim.orders)) == books, "settling only reads"


def test_refused_purchase_is_settled_and_settles_as_failed(live: registry.Live) -> None:
    if "buy" not in live.carrier.capabilities:
        pytest.skip("no purchase")
    number = _buyable(live)
    live.sim.taken.add(number)  # another customer has it
    pn = _claimed(number, "acquire")
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is False
    assert number not in live.sim.owned
    if _settles(live):
        assert live.carrier.settle(pn).state == "failed"


@pytest.mark.parametrize("how", AMBIGUOUS)
def test_release_whose_answer_is_lost_is_unsettled_then_settled(live: registry.Live,
                                                                how: str) -> None:
    if "release" not in live.carrier.capabilities:
        pytest.skip("no release")
    number = _buyable(live)
    bought = live.carrier.acquire_number(_claimed(number, "acquire"))
    assert number in live.sim.owned
    pn = _claimed(number, "disconnect", bought.carrier_data)
    carrier = _spoilt(live, how, live.spec.release_method)
    with pytest.raises(errors.KnmError) as info:
        carrier.disconnect_number(pn)
    assert info.value.unsettled is True, f"{type(info.value).__name__}: {info.value}"
    assert number not in live.sim.owned, "the simulator released it"
    _assert_clean(live, info.value)
    if _settles(live):
        assert live.carrier.settle(pn).state == "complete"


def test_refused_release_is_settled_and_settles_as_failed(live: registry.Live) -> None:
    if "release" not in live.carrier.capabilities:
        pytest.skip("no release")
    number = _buyable(live)
    bought = live.carrier.acquire_number(_claimed(number, "acquire"))
    pn = _claimed(number, "disconnect", bought.carrier_data)
    live.sim.set(fail_with={"status": 400, "message": "this number cannot be released"},
                 match=live.spec.release_method)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.disconnect_number(pn)
    assert info.value.unsettled is False
    live.sim.reset_switches()
    assert number in live.sim.owned
    if _settles(live):
        assert live.carrier.settle(pn).state == "failed", "the carrier still holds it"
