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


def test_emergency_address_and_caller_name(sim: tuple[TelnyxSimulator, str]) -> None:
    """The SDK's `addresses`, `addresses.actions.validate`,
    `phone_numbers.actions.enable_emergency`, `phone_numbers.voice` and
    `phone_numbers.jobs.update_emergency_settings_batch` read the simulator's answers."""
    simulator, url = sim
    api = client(simulator, url)
    number = api.available_phone_numbers.list(filter={
        "country_code": "US", "national_destination_code": "415", "limit": 1}).data[0]
    api.number_orders.create(phone_numbers=[{"phone_number": number.phone_number}])
    phone_id = list(api.phone_numbers.list(filter={
        "phone_number": number.phone_number[1:]}))[0].id

    street = {"country_code": "US", "postal_code": "94108", "locality": "San Francisco",
              "administrative_area": "CA"}
    valid = api.addresses.actions.validate(street_address="140 Geary St", **street).data
    assert valid.result == "valid" and valid.suggested.street_address == "140 GEARY ST"
    fixed = api.addresses.actions.validate(street_address="140 Geary CORRECTME St",
                                           **street).data
    assert fixed.result == "valid" and fixed.suggested.street_address == "140 GEARY ST"
    bad = api.addresses.actions.validate(street_address="140 Geary St",
                                         **{**street, "postal_code": "00000"}).data
    assert bad.result == "invalid" and bad.errors[0].source.pointer == "/postal_code"
    with pytest.raises(telnyx.UnprocessableEntityError):
        api.addresses.create(business_name="Acme", first_name="", last_name="",
                             street_address="1 Main St", locality="San Francisco",
                             country_code="US", postal_code="00000")

    address = api.addresses.create(business_name="Acme", first_name="", last_name="",
                                   street_address="140 Geary St", locality="San Francisco",
                                   administrative_area="CA", postal_code="94108",
                                   country_code="US").data
    simulator.set(feature_complete_ms=100)
    enabled = api.phone_numbers.actions.enable_emergency(
        phone_id, emergency_enabled=True, emergency_address_id=address.id).data
    assert enabled.emergency.emergency_status == "provisioning"
    time.sleep(0.15)
    voice = api.phone_numbers.voice.retrieve(phone_id).data
    assert voice.emergency.emergency_status == "active"
    assert voice.emergency.emergency_address_id == address.id
    with pytest.raises(telnyx.UnprocessableEntityError):  # in use: cannot be deleted
        api.addresses.delete(address.id)

    listed = api.phone_numbers.voice.update(phone_id, caller_id_name_enabled=True,
                                            cnam_listing={"cnam_listing_enabled": True,
                                                          "cnam_listing_details": "ACME"}).data
    assert listed.cnam_listing.cnam_listing_details == "ACME"
    assert api.phone_numbers.retrieve(phone_id).data.caller_id_name_enabled is True

    job = api.phone_numbers.jobs.update_emergency_settings_batch(
        emergency_enabled=False, phone_numbers=[number.phone_number]).data
    assert job.type == "update_emergency_settings"
    assert [o.phone_number for o in job.successful_operations] == [number.phone_number]
    assert api.phone_numbers.jobs.retrieve(job.id).data.status == "completed"
    assert api.phone_numbers.voice.retrieve(phone_id).data.emergency.emergency_enabled is False
    assert api.addresses.delete(address.id).data.id == address.id
