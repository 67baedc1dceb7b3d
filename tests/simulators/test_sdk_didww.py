"""The official `didww` SDK (PyPI), unchanged, against the DIDWW simulator.

The SDK is pointed at the simulator with its documented `base_url` argument.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

didww = pytest.importorskip("didww")

from didww.client import DidwwClient  # noqa: E402
from didww.exceptions import DidwwApiError  # noqa: E402
from didww.query_params import QueryParams  # noqa: E402
from didww.resources.configuration.sip import SipConfiguration  # noqa: E402
from didww.resources.did import Did  # noqa: E402
from didww.resources.order import Order  # noqa: E402
from didww.resources.order_item.available_did_order_item import (  # noqa: E402
    AvailableDidOrderItem,
)
from didww.resources.order_item.did_order_item import DidOrderItem  # noqa: E402
from didww.resources.voice_in_trunk import VoiceInTrunk  # noqa: E402

from knm.simulators.didww import DidwwSimulator  # noqa: E402
from knm.simulators.server import BackgroundServer  # noqa: E402


@pytest.fixture
def sim() -> Iterator[tuple[DidwwSimulator, str]]:
    simulator = DidwwSimulator()
    with BackgroundServer(simulator.app) as server:
        yield simulator, server.url + "/v3"


def client(url: str, key: str = "didww-simulated-api-key") -> DidwwClient:
    return DidwwClient(api_key=key, base_url=url)


def wait_completed(api: DidwwClient, order_id: str) -> Order:
    deadline = time.monotonic() + 5
    while True:
        order = api.orders().find(order_id).data
        if not order.is_pending or time.monotonic() > deadline:
            return order
        time.sleep(0.02)


def test_search_buy_route_list_release(sim: tuple[DidwwSimulator, str]) -> None:
    simulator, url = sim
    simulator.set(order_complete_ms=100)
    api = client(url)

    # search: the NANPA prefix, its DID groups with their SKUs, then a specific number
    prefix = api.nanpa_prefixes().list(QueryParams().filter("npanxx", "415" + (
        api.nanpa_prefixes().list(QueryParams().filter("npa", "415")).data[0].nxx))).data[0]
    groups = api.did_groups().list(QueryParams().filter("nanpa_prefix.id", prefix.id)
                                   .include("stock_keeping_units")).data
    assert [g.area_name for g in groups] == ["San Francisco"]
    skus = groups[0].stock_keeping_units
    assert [s.channels_included_count for s in skus] == [0, 2]
    found = api.available_dids().list(
        QueryParams().filter("did_group.id", groups[0].id)
        .include("did_group.stock_keeping_units").page(size=3))
    assert len(found.data) == 3 and found.meta["total_records"] > 3
    pick = found.data[0]
    assert pick.number.startswith("1415") and len(pick.number) == 11
    assert pick.did_group.area_name == "San Francisco"
    assert pick.did_group.stock_keeping_units[0].monthly_price

    # buy one chosen number and one random number of a group, with a reference
    order = Order()
    order.items = [AvailableDidOrderItem(attributes={"sku_id": skus[0].id,
                                                     "available_did_id": pick.id}),
                   DidOrderItem(attributes={"sku_id": skus[1].id, "qty": 1})]
    order.external_reference_id = "knm-ref-1"
    order.callback_url = "https://example.invalid/didww"
    created = api.orders().create(order).data
    assert created.is_pending and created.external_reference_id == "knm-ref-1"
    assert api.dids().list(QueryParams().filter("order.id", created.id)).data == []
    assert wait_completed(api, created.id).is_completed
    listed = api.orders().list(QueryParams().filter("external_reference_id", "knm-ref-1")).data
    assert [o.id for o in listed] == [created.id]

    dids = api.dids().list(QueryParams().filter("order.id", created.id)).data
    assert len(dids) == 2 and pick.number in [d.number for d in dids]

    # route it to a SIP trunk
    trunk = VoiceInTrunk()
    trunk.name = "knm"
    sip = SipConfiguration()
    sip.host = "sip.example.com"
    sip.port = 5060
    trunk.configuration = sip
    trunk_id = api.voice_in_trunks().create(trunk).data.id
    did = next(d for d in dids if d.number == pick.number)
    did.voice_in_trunk = VoiceInTrunk.build(trunk_id)
    api.dids().update(did)
    routed = api.dids().find(did.id, QueryParams().include("voice_in_trunk")).data
    assert routed.voice_in_trunk.id == trunk_id
    assert routed.voice_in_trunk.configuration.host == "sip.example.com"
    assert simulator.owned["+" + pick.number]["voice_in_trunk"] == trunk_id
    by_number = api.dids().list(QueryParams().filter("number", pick.number)).data
    assert [d.id for d in by_number] == [did.id]

    # the bought number is no longer for sale
    again = api.available_dids().list(QueryParams().filter("did_group.id", groups[0].id)
                                      .page(size=1000)).data
    assert pick.number not in [a.number for a in again]
    retry = Order()
    retry.items = [AvailableDidOrderItem(attributes={"available_did_id": pick.id})]
    with pytest.raises(DidwwApiError) as info:
        api.orders().create(retry)
    assert info.value.status_code == 422
    assert info.value.errors[0]["source"]["pointer"].endswith("/available_did_id")

    # release: terminate it
    gone = Did.build(did.id, terminated=True)
    assert api.dids().update(gone).data.terminated is True
    assert "+" + pick.number not in simulator.owned
    terminated = api.dids().list(QueryParams().filter("terminated", "true")).data
    assert [d.number for d in terminated] == [pick.number]


def test_wrong_api_key_raises_the_sdk_error(sim: tuple[DidwwSimulator, str]) -> None:
    _, url = sim
    with pytest.raises(DidwwApiError) as info:
        client(url, key="wrong-key").did_groups().list()
    assert info.value.status_code == 401
    assert info.value.errors[0]["status"] == "401"


def test_unknown_filter_is_the_spec_error(sim: tuple[DidwwSimulator, str]) -> None:
    _, url = sim
    with pytest.raises(DidwwApiError) as info:
        client(url).did_groups().list(QueryParams().filter("bogus", "1"))
    assert info.value.status_code == 400
    assert info.value.errors[0]["code"] == "102"
    assert str(info.value) == "bogus is not allowed."


def test_international_groups(sim: tuple[DidwwSimulator, str]) -> None:
    _, url = sim
    api = client(url)
    gb = next(c for c in api.countries().list().data if c.iso == "GB")
    groups = api.did_groups().list(QueryParams().filter("country.id", gb.id)).data
    assert sorted(g.prefix for g in groups) == ["161", "20"]
    london = next(g for g in groups if g.prefix == "20")
    numbers = api.available_dids().list(QueryParams().filter("did_group.id", london.id)).data
    assert numbers and all(n.number.startswith("4420") and len(n.number) == 12
                           for n in numbers)


def test_emergency_registration_through_the_sdk(sim: tuple[DidwwSimulator, str]) -> None:
    """The SDK's emergency scenario: a DID with the emergency feature, its requirement (by
    country and DID group type), an identity and an address, the requirement validation,
    the verification (pending, then approved by DIDWW's team), the service it made, and
    the service deleted."""
    from didww.resources.address import Address
    from didww.resources.country import Country
    from didww.resources.emergency_requirement import EmergencyRequirement
    from didww.resources.emergency_requirement_validation import (
        EmergencyRequirementValidation,
    )
    from didww.resources.emergency_verification import EmergencyVerification
    from didww.resources.identity import Identity

    simulator, url = sim
    simulator.set(feature_result="never")
    row = simulator.hold("+14155550140")
    api = client(url)
    did = api.dids().list(QueryParams().filter("number", "14155550140")
                          .include("did_group.did_group_type")).data[0]
    assert "emergency" in did.did_group.features and did.emergency_enabled is False
    country = api.countries().list(QueryParams().filter("iso", "US")).data[0]
    requirement = api.emergency_requirements().list(
        QueryParams().filter("country.id", country.id)
        .filter("did_group_type.id", did.did_group.did_group_type.id)).data[0]
    assert requirement.identity_type == "any"

    identity = Identity()
    identity.identity_type = "business"
    identity.company_name = "ACME Corp"
    identity.country = Country.build(country.id)
    identity = api.identities().create(identity).data
    address = Address()
    address.address = "140 Geary St"
    address.city_name = "San Francisco"
    address.postal_code = "94108"
    address.country = Country.build(country.id)
    address.identity = Identity.build(identity.id)
    address = api.addresses().create(address).data
    assert address.city_name == "San Francisco"

    validation = EmergencyRequirementValidation()
    validation.emergency_requirement = EmergencyRequirement.build(requirement.id)
    validation.address = Address.build(address.id)
    validation.identity = Identity.build(identity.id)
    api.emergency_requirement_validations().create(validation)  # 201: valid

    verification = EmergencyVerification()
    verification.external_reference_id = "knm-sdk-1"
    verification.address = Address.build(address.id)
    verification.dids = [Did.build(did.id)]
    created = api.emergency_verifications().create(verification).data
    assert created.is_pending and created.external_reference_id == "knm-sdk-1"
    assert simulator.decide_verification(created.id, True)
    found = api.emergency_verifications().find(
        created.id, QueryParams().include("emergency_calling_service")).data
    assert found.is_approved
    service = api.emergency_calling_services().find(found.emergency_calling_service.id).data
    assert service.is_active and row["ecs_id"] == service.id
    api.emergency_calling_services().delete(service.id)
    assert simulator.services[service.id]["status"] == "canceled"

    # a rejected address: the SDK's error carries DIDWW's reason
    bad = Address()
    bad.address = "1 Nowhere"
    bad.city_name = "San Francisco"
    bad.postal_code = "00000"
    bad.country = Country.build(country.id)
    bad.identity = Identity.build(identity.id)
    bad = api.addresses().create(bad).data
    check = EmergencyRequirementValidation()
    check.emergency_requirement = EmergencyRequirement.build(requirement.id)
    check.address = Address.build(bad.id)
    check.identity = Identity.build(identity.id)
    with pytest.raises(DidwwApiError) as refused:
        api.emergency_requirement_validations().create(check)
    assert "could not be validated" in str(refused.value)
