"""knm_bandwidth2's order path against the Bandwidth simulator (audit §2.1): the error codes,
order answers without `<OrderStatus>`, BACKORDERED, `/tns` checked against the account, the
Universal Platform (v2, knm's default, with OAuth2), and settling."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from knm import errors
from knm.carriers.base import SearchOptions, new_order_reference
from knm.carriers.payloads import parse_xml_text
from knm.record import PhoneNumber
from knm.simulators import registry

ACCOUNT = "9900001"
#: the registry's carrier speaks knm's default: v2 under /api/v2
ORDERS = f"/api/v2/accounts/{ACCOUNT}/orders"


@pytest.fixture(scope="module")
def module_live() -> Iterator[registry.Live]:
    with registry.running("bandwidth2") as live:
        yield live


@pytest.fixture
def live(module_live: registry.Live) -> Iterator[registry.Live]:
    module_live.sim.reset()
    module_live.sim.report_aging = False
    yield module_live
    module_live.sim.reset()


def _claimed(number: str) -> PhoneNumber:
    pn = PhoneNumber.new(number)
    pn.set_carrier_data({"order_reference": new_order_reference(), "order_status": "unknown"})
    return pn


def _error_list(code: str, text: str) -> str:
    return (f"<OrderResponse><ErrorList><Error><Code>{code}</Code><Description>{text}"
            "</Description></Error></ErrorList></OrderResponse>")


def test_5004_is_invalid_vendor_a_plain_fault_and_5018_unavailable(live: registry.Live
                                                                  ) -> None:
    live.sim.script("POST", ORDERS, _error_list("5004", "Invalid Vendor"), status=400, times=1)
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.acquire_number(_claimed("+14155550101"))
    assert type(info.value) is errors.CarrierFault and info.value.unsettled is False
    assert info.value.carrier_message == "5004: Invalid Vendor"
    live.sim.script("POST", ORDERS, _error_list("5018", "The entire quantity of telephone "
                                                        "numbers ordered is unavailable"),
                    status=400, times=1)
    with pytest.raises(errors.NumberUnavailable) as info:
        live.carrier.acquire_number(_claimed("+14155550102"))
    assert info.value.unsettled is False


def test_an_order_answer_with_an_id_and_no_status_is_pending_then_polled(
        live: registry.Live) -> None:
    live.sim.script("POST", ORDERS, "<OrderResponse><Order><id>ord-no-status</id></Order>"
                                    "</OrderResponse>", status=201, times=1)
    live.sim.script("GET", f"{ORDERS}/ord-no-status",
                    "<OrderResponse><Order><id>ord-no-status</id></Order>"
                    "<OrderStatus>COMPLETE</OrderStatus></OrderResponse>")
    pn = live.carrier.acquire_number(_claimed("+14155550103"))
    assert pn.carrier_data["order_id"] == "ord-no-status"
    assert pn.carrier_data["order_status"] == "complete"
    assert live.sim.received("GET", "/orders/ord-no-status"), "the pending order was polled"


def test_backordered_is_final_and_refused(live: registry.Live) -> None:
    number = live.carrier.find_numbers("+1415", 3, SearchOptions())[-1].number
    live.sim.set(order_result="backordered", order_complete_ms=50)
    carrier = live.make_carrier(order_poll_interval_ms=20, order_timeout_s=5)
    started = time.monotonic()
    with pytest.raises(errors.CarrierFault) as info:
        carrier.acquire_number(_claimed(number))
    assert not isinstance(info.value, errors.CarrierTimeout), "not polled until the timeout"
    assert time.monotonic() - started < 2
    assert info.value.unsettled is False and "5018" in (info.value.carrier_message or "")


def test_tns_counts_only_numbers_this_account_holds(live: registry.Live) -> None:
    mine = live.carrier.find_numbers("+1415", 3, SearchOptions())[-1].number
    live.carrier.acquire_number(_claimed(mine))
    theirs = "+14155550177"
    live.sim.foreign[theirs] = "1234567"
    assert live.carrier.check_numbers([mine, theirs]) == {mine: "Inservice"}
    live.sim.report_aging = True  # a released number reads `Aging`, still on the account
    live.carrier.disconnect_number(PhoneNumber.new(mine))
    assert live.carrier.check_numbers([mine]) == {}
    sent = live.sim.received("GET", "/tns/")[-1]
    assert sent.path == f"/api/v2/tns/{mine}"  # E.164 on v2 (10 digits on v1)


def test_a_pending_order_settles_as_pending_then_complete(live: registry.Live) -> None:
    number = live.carrier.find_numbers("+1415", 3, SearchOptions())[-1].number
    live.sim.set(order_result="never", ambiguous="empty_502", match="POST", times=1)
    pn = _claimed(number)
    with pytest.raises(errors.CarrierUnavailable) as info:
        live.carrier.acquire_number(pn)
    assert info.value.unsettled is True
    assert live.carrier.settle(pn).state == "pending"
    live.sim.set(order_result="complete")
    settled = live.carrier.settle(pn)
    assert settled.state == "complete" and settled.order_id in live.sim.orders
    listed = live.sim.received("GET", ORDERS)
    assert any(r.params.get("customerOrderId") == pn.carrier_data["order_reference"]
               for r in listed), "found by knm's reference"


# -- the Universal Platform ------------------------------------------------------------------


@pytest.fixture
def v2(live: registry.Live) -> Iterator[registry.Live]:
    """The registry's carrier: v2 and OAuth2 are knm's default."""
    assert live.carrier.config["api_version"] == "v2" and live.carrier.config["client_id"]
    yield live


def test_v2_speaks_e164_with_country_codes_and_an_api_v1_token_url(v2: registry.Live) -> None:
    found = v2.carrier.find_numbers("+1973", 2, SearchOptions())
    assert found and all(r.number.startswith("+1973") for r in found)
    search = v2.sim.received("GET", "/api/v2/accounts")[-1]
    assert search.params["countryCodeA3"] == "USA,CAN" and search.params["areaCode"] == "973"
    fresh = v2.make_carrier()  # (the module's carrier holds a token from an earlier test)
    fresh.find_numbers("+1973", 1, SearchOptions())
    assert v2.sim.received("POST", "/api/v1/oauth2/token"), "tokens come from /api/v1"
    fresh.close()
    v2.carrier.acquire_number(_claimed(found[-1].number))
    order = parse_xml_text(v2.sim.received("POST", "/api/v2/accounts")[-1].body)
    assert order.findtext("ExistingTelephoneNumberOrderType/TelephoneNumberList/"
                          "TelephoneNumber") == found[-1].number


def test_v2_international_search(v2: registry.Live) -> None:
    found = v2.carrier.find_numbers("+4420", 3, SearchOptions(country="GB"))
    assert found and all(r.number.startswith("+4420") for r in found)
    assert v2.sim.received("GET", "/api/v2/accounts")[-1].params["countryCodeA3"] == "GBR"


def test_v2_unavailable_number_fails_asynchronously_and_is_refused(v2: registry.Live) -> None:
    number = v2.carrier.find_numbers("+1973", 2, SearchOptions())[-1].number
    v2.sim.taken.add(number)
    pn = _claimed(number)
    with pytest.raises(errors.NumberUnavailable) as info:
        v2.carrier.acquire_number(pn)
    assert info.value.unsettled is False and "5005" in (info.value.carrier_message or "")
    assert v2.carrier.settle(pn).state == "failed"
