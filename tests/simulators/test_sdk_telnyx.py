"""The official `telnyx` SDK (PyPI), unchanged, against the Telnyx simulator.

The SDK is pointed at the simulator with its documented `base_url` argument (also read from
`TELNYX_BASE_URL`); `max_retries=0` so a refusal is seen once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

telnyx = pytest.importorskip("telnyx")

from knm.simulators.server import BackgroundServer  # noqa: E402
from knm.simulators.telnyx import TelnyxSimulator  # noqa: E402


@pytest.fixture
def sim() -> Iterator[tuple[TelnyxSimulator, str]]:
    simulator = TelnyxSimulator()
    with BackgroundServer(simulator.app) as server:
        yield simulator, server.url


def client(sim: TelnyxSimulator, url: str, key: str | None = None) -> telnyx.Telnyx:
    return telnyx.Telnyx(api_key=key or sim.credentials["api_key"], base_url=url,
                         max_retries=0)


def test_search_order_list_delete(sim: tuple[TelnyxSimulator, str]) -> None:
    simulator, url = sim
    simulator.set(order_complete_ms=100)
    api = client(simulator, url)

    found = api.available_phone_numbers.list(filter={
        "country_code": "US", "national_destination_code": "415", "limit": 3}).data
    assert len(found) == 3 and all(n.phone_number.startswith("+1415") for n in found)
    number = found[0].phone_number

    order = api.number_orders.create(phone_numbers=[{"phone_number": number}],
                                     connection_id="1494404757140276705",
                                     customer_reference="knm-ref-1").data
    assert order.status == "pending" and order.phone_numbers[0].phone_number == number
    pending = list(api.phone_numbers.list(filter={"phone_number": number[1:]}))
    assert [p.status for p in pending] == ["purchase-pending"]

    deadline = time.monotonic() + 5
    while api.number_orders.retrieve(order.id).data.status == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert api.number_orders.retrieve(order.id).data.status == "success"
    by_reference = list(api.number_orders.list(filter={"customer_reference": "knm-ref-1"}))
    assert [o.id for o in by_reference] == [order.id]
    assert list(api.number_orders.list(filter={"customer_reference": "other"})) == []

    owned = list(api.phone_numbers.list(filter={"phone_number": number[1:]}))
    assert [(p.phone_number, p.status, p.connection_id) for p in owned] == [
        (number, "active", "1494404757140276705")]
    assert [p.id for p in api.phone_numbers.list()] == [owned[0].id]

    # already owned → Telnyx's refusal, as the SDK's own error class
    with pytest.raises(telnyx.UnprocessableEntityError) as info:
        api.number_orders.create(phone_numbers=[{"phone_number": number}])
    assert info.value.body["errors"][0]["code"] == "85001"

    deleted = api.phone_numbers.delete(owned[0].id).data
    assert deleted.status == "deleted"
    assert list(api.phone_numbers.list(filter={"phone_number": number[1:]})) == []
    with pytest.raises(telnyx.NotFoundError) as missing:
        api.phone_numbers.delete(owned[0].id)
    assert missing.value.body["errors"][0]["code"] == "10005"


def test_international_search(sim: tuple[TelnyxSimulator, str]) -> None:
    simulator, url = sim
    found = client(simulator, url).available_phone_numbers.list(filter={
        "country_code": "GB", "phone_number": {"starts_with": "20"}, "limit": 2}).data
    assert len(found) == 2 and all(n.phone_number.startswith("+4420") for n in found)


def test_wrong_key_raises_the_sdk_authentication_error(
        sim: tuple[TelnyxSimulator, str]) -> None:
    simulator, url = sim
    with pytest.raises(telnyx.AuthenticationError) as info:
        client(simulator, url, key="KEYwrong").available_phone_numbers.list(
            filter={"country_code": "US"})
    assert info.value.status_code == 401
    assert info.value.body["errors"][0]["code"] == "10009"


def test_validation_error_codes(sim: tuple[TelnyxSimulator, str]) -> None:
    simulator, url = sim
    api = client(simulator, url)
    with pytest.raises(telnyx.BadRequestError) as info:
        api.available_phone_numbers.list(filter={"limit": 2})
    error = info.value.body["errors"][0]
    assert (error["code"], error["title"]) == ("10015", "Bad Request")
    assert error["source"]["pointer"] == "/filter/country_code"
    simulator.set(fail_with={"status": 403, "message": "not for this key"})
    with pytest.raises(telnyx.PermissionDeniedError) as denied:
        api.number_orders.list()
    assert denied.value.body["errors"][0]["code"] == "10010"
