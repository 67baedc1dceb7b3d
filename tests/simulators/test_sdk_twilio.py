"""The official `twilio` SDK, unchanged, against the Twilio simulator.

The SDK is pointed at the simulator the way Twilio documents for custom HTTP clients: a
`TwilioHttpClient` subclass passed as `Client(http_client=…)`, which sends the SDK's
`https://api.twilio.com/…` requests to the simulator's loopback URL instead.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import pytest
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from knm.simulators.server import BackgroundServer
from knm.simulators.twilio import TwilioSimulator

TRUNK = "TK" + "a" * 32


class SimulatorHttpClient(TwilioHttpClient):
    """Twilio's own HTTP client, sending to `base` what it would send to api.twilio.com or
    trusthub.twilio.com (the simulator serves Trust Hub's `/v1` paths too)."""

    def __init__(self, base: str) -> None:
        super().__init__()
        self.base = base

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        for host in ("https://api.twilio.com", "https://trusthub.twilio.com"):
            url = url.replace(host, self.base)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[TwilioSimulator, BackgroundServer]]:
    sim = TwilioSimulator()
    with BackgroundServer(sim.app) as server:
        yield sim, server


@pytest.fixture
def sim(served: tuple[TwilioSimulator, BackgroundServer]) -> Iterator[TwilioSimulator]:
    served[0].reset()
    yield served[0]


@pytest.fixture
def client(sim: TwilioSimulator, served: tuple[TwilioSimulator, BackgroundServer]) -> Client:
    return Client(sim.credentials["account_sid"], sim.credentials["auth_token"],
                  http_client=SimulatorHttpClient(served[1].url))


def test_search_local_by_area_code(client: Client, sim: TwilioSimulator) -> None:
    found = client.available_phone_numbers("US").local.list(area_code=415, limit=5)
    assert len(found) == 5
    assert all(n.phone_number.startswith("+1415") for n in found)
    assert found[0].locality == "San Francisco" and found[0].region == "CA"
    assert found[0].iso_country == "US" and found[0].capabilities["voice"] is True
    sent = sim.received("GET", "/AvailablePhoneNumbers/US/Local.json")[-1]
    assert sent.params["AreaCode"] == "415" and sent.params["PageSize"] == "5"
    again = client.available_phone_numbers("US").local.list(area_code=415, limit=5)
    assert [n.phone_number for n in again] == [n.phone_number for n in found]


def test_search_contains_tollfree_and_gb(client: Client) -> None:
    prefix = client.available_phone_numbers("US").local.list(contains="+1415555", limit=3)
    assert len(prefix) == 3 and all(n.phone_number.startswith("+1415555") for n in prefix)
    wild = client.available_phone_numbers("US").local.list(contains="415555****", limit=3)
    assert wild and all("415555" in n.phone_number for n in wild)
    tollfree = client.available_phone_numbers("US").toll_free.list(area_code=888, limit=3)
    assert len(tollfree) == 3 and all(n.phone_number.startswith("+1888") for n in tollfree)
    mobile = client.available_phone_numbers("GB").mobile.list(limit=2)
    assert len(mobile) == 2 and all(n.phone_number.startswith("+447") for n in mobile)
    london = client.available_phone_numbers("GB").local.list(contains="+4420", limit=2)
    assert all(n.phone_number.startswith("+4420") for n in london)
    assert london[0].address_requirements == "any"
    with pytest.raises(TwilioException, match="Unable to fetch page") as info:
        client.available_phone_numbers("US").mobile.list(limit=2)
    assert info.value.args[1].status_code == 404 and '"code":20404' in info.value.args[1].text


def test_search_by_region_and_locality(client: Client) -> None:
    found = client.available_phone_numbers("US").local.list(
        area_code=512, in_region="TX", in_locality="Austin", voice_enabled=True, limit=3)
    assert len(found) == 3 and {n.region for n in found} == {"TX"}
    none = client.available_phone_numbers("US").local.list(area_code=512, in_region="CA")
    assert none == []


def test_buy_route_list_release(client: Client, sim: TwilioSimulator) -> None:
    number = client.available_phone_numbers("US").local.list(area_code=212, limit=1)[0]
    bought = client.incoming_phone_numbers.create(phone_number=number.phone_number,
                                                  trunk_sid=TRUNK, friendly_name="cust-42")
    assert bought.sid.startswith("PN") and bought.phone_number == number.phone_number
    assert bought.trunk_sid == TRUNK and bought.friendly_name == "cust-42"
    assert sim.owned[number.phone_number]["trunk_sid"] == TRUNK
    sent = sim.received("POST", "/IncomingPhoneNumbers.json")[-1]
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert dict(parse_qsl(sent.text)) == {"PhoneNumber": number.phone_number,
                                          "TrunkSid": TRUNK, "FriendlyName": "cust-42"}

    # the number leaves the stock
    again = client.available_phone_numbers("US").local.list(area_code=212, limit=250)
    assert number.phone_number not in {n.phone_number for n in again}

    # settle: look the number up by PhoneNumber
    owned = client.incoming_phone_numbers.list(phone_number=number.phone_number)
    assert [n.sid for n in owned] == [bought.sid]
    assert client.incoming_phone_numbers(bought.sid).fetch().trunk_sid == TRUNK

    updated = client.incoming_phone_numbers(bought.sid).update(
        trunk_sid="", voice_url="https://pbx.example.com/voice")
    assert updated.trunk_sid is None and updated.voice_url == "https://pbx.example.com/voice"
    assert sim.owned[number.phone_number]["voice_url"] == "https://pbx.example.com/voice"

    assert client.incoming_phone_numbers(bought.sid).delete() is True
    assert number.phone_number not in sim.owned
    assert client.incoming_phone_numbers.list(phone_number=number.phone_number) == []
    with pytest.raises(TwilioRestException) as info:
        client.incoming_phone_numbers(bought.sid).delete()
    assert info.value.status == 404


def test_buy_by_area_code_and_paging(client: Client, sim: TwilioSimulator) -> None:
    sids = {client.incoming_phone_numbers.create(area_code="303").sid for _ in range(3)}
    assert len(sids) == 3 and all(n.startswith("+1303") for n in sim.owned)
    listed = client.incoming_phone_numbers.list(page_size=2)
    assert {n.sid for n in listed} == sids
    assert len(sim.received("GET", "/IncomingPhoneNumbers.json")) == 2  # followed the next page


def test_buying_an_owned_number_is_not_available(client: Client) -> None:
    number = client.available_phone_numbers("US").local.list(area_code=206, limit=1)[0]
    client.incoming_phone_numbers.create(phone_number=number.phone_number)
    with pytest.raises(TwilioRestException) as info:
        client.incoming_phone_numbers.create(phone_number=number.phone_number)
    assert info.value.status == 400 and info.value.code == 21422
    assert "not available" in info.value.msg


def test_wrong_credentials_raise_authenticate(
        sim: TwilioSimulator, served: tuple[TwilioSimulator, BackgroundServer]) -> None:
    wrong = Client(sim.credentials["account_sid"], "not-the-token",
                   http_client=SimulatorHttpClient(served[1].url))
    with pytest.raises(TwilioRestException) as info:
        wrong.incoming_phone_numbers.create(phone_number="+14155550100")
    assert info.value.status == 401 and info.value.code == 20003
    assert "Authenticate" in info.value.msg
    # a page read checks only for 200, so the SDK raises its bare exception there
    with pytest.raises(TwilioException, match="Unable to fetch page"):
        wrong.available_phone_numbers("US").local.list(area_code=415)
    assert sim.owned == {}


def test_emergency_address_and_caller_id_lookup(client: Client, sim: TwilioSimulator) -> None:
    """The SDK's `addresses` and the IncomingPhoneNumber's `emergency_address_sid`,
    `emergency_address_status` and `voice_caller_id_lookup` read the simulator's answers."""
    number = client.available_phone_numbers("US").local.list(area_code=415, limit=1)[0]
    bought = client.incoming_phone_numbers.create(phone_number=number.phone_number)
    where = {"customer_name": "Acme", "city": "San Francisco", "region": "CA",
             "postal_code": "94108", "iso_country": "US", "emergency_enabled": True}
    with pytest.raises(TwilioRestException) as invalid:
        client.addresses.create(street="140 Geary St", **{**where, "postal_code": "00000"})
    assert invalid.value.code == 21628
    fixed = client.addresses.create(street="140 Geary St CORRECTME", **where)
    assert fixed.street == "140 GEARY ST" and fixed.emergency_enabled is True
    with pytest.raises(TwilioRestException) as asked:
        client.addresses.create(street="140 Geary St CORRECTME", auto_correct_address=False,
                                **where)
    assert asked.value.code == 21629
    address = client.addresses.create(street="140 Geary St", street_secondary="Suite 5",
                                      **where)
    sim.set(feature_complete_ms=50)
    updated = client.incoming_phone_numbers(bought.sid).update(
        emergency_address_sid=address.sid, voice_caller_id_lookup=True)
    assert updated.emergency_address_status == "pending-registration"
    assert updated.voice_caller_id_lookup is True
    time.sleep(0.1)
    fetched = client.incoming_phone_numbers(bought.sid).fetch()
    assert (fetched.emergency_address_sid, fetched.emergency_address_status) == (
        address.sid, "registered")
    with pytest.raises(TwilioRestException) as in_use:
        client.addresses(address.sid).delete()
    assert in_use.value.code == 21625
    cleared = client.incoming_phone_numbers(bought.sid).update(emergency_address_sid="")
    assert cleared.emergency_address_status == "unregistered"
    assert client.addresses(address.sid).delete() is True


def test_trust_hub_cnam_products_and_channel_endpoint_assignments(
        client: Client, sim: TwilioSimulator) -> None:
    """The SDK's `trusthub.v1`: CNAM Trust Products listed by policy and status, fetched,
    their `cnam_information` EndUser read through the entity assignments, a number assigned
    (201 `RA…`), listed by `channel_endpoint_sid`, refused twice, and unassigned (204)."""
    hub = client.trusthub.v1
    cnam = hub.trust_products.list(policy_sid="RNf3db3cd1fe25fcfd3c3ded065c8fea53")
    assert {p.status for p in cnam} == {"twilio-approved", "pending-review", "twilio-rejected"}
    approved = hub.trust_products.list(policy_sid="RNf3db3cd1fe25fcfd3c3ded065c8fea53",
                                       status="twilio-approved")
    names = {}
    for product in approved:
        assert product.sid.startswith("BU") and product.policy_sid.startswith("RN")
        [entity] = hub.trust_products(product.sid).trust_products_entity_assignments.list(
            object_type="cnam_information")
        user = hub.end_users(entity.object_sid).fetch()
        assert user.type == "cnam_information"
        names[user.attributes["cnam_display_name"]] = product.sid
    assert set(names) == {"ACME", "ACME WEST"}
    assert hub.trust_products(names["ACME"]).fetch().status == "twilio-approved"
    paged = hub.trust_products.list(page_size=2)  # follows meta.next_page_url
    assert len(paged) == len(sim.trust_products) == 5

    number = client.available_phone_numbers("US").local.list(area_code=415, limit=1)[0]
    bought = client.incoming_phone_numbers.create(phone_number=number.phone_number)
    assignments = hub.trust_products(names["ACME"]).trust_products_channel_endpoint_assignment
    made = assignments.create(channel_endpoint_type="phone-number",
                              channel_endpoint_sid=bought.sid)
    assert made.sid.startswith("RA") and made.channel_endpoint_sid == bought.sid
    sent = sim.received("POST", "/ChannelEndpointAssignments")[-1]
    assert dict(parse_qsl(sent.text)) == {"ChannelEndpointType": "phone-number",
                                          "ChannelEndpointSid": bought.sid}
    assert sim.cnam_of(bought.phone_number) == ["ACME"]
    assert [a.sid for a in assignments.list(channel_endpoint_sid=bought.sid)] == [made.sid]
    with pytest.raises(TwilioRestException) as twice:
        assignments.create(channel_endpoint_type="phone-number",
                           channel_endpoint_sid=bought.sid)
    assert twice.value.status == 400
    assert assignments(made.sid).delete() is True
    assert assignments.list() == [] and sim.cnam_of(bought.phone_number) == []
    with pytest.raises(TwilioRestException) as gone:
        hub.trust_products("BU" + "0" * 32).fetch()
    assert gone.value.status == 404
