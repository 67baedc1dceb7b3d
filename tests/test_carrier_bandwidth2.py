"""knm_bandwidth2 on the wire, and Kazoo's bandwidth2 cases (kazoo-http-carriers.md §14.1)."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
from conftest import FIXTURES

from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.http import parse_xml_text
from knm.record import PhoneNumber
from knm.simulators import registry

ACCOUNT = "9900001"


@pytest.fixture
def live() -> Iterator[registry.Live]:
    with registry.running("bandwidth2") as live:
        yield live


def test_kazoo_npa_search(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+1973", 500, SearchOptions())
    assert [r.number for r in found][:2] == ["+19733705112", "+19733705183"]
    assert all(r.state == "discovery" for r in found)
    sent = live.sim.received("GET", "availableNumbers")[-1]
    assert sent.path == f"/accounts/{ACCOUNT}/availableNumbers"
    assert sent.params["areaCode"] == "973" and sent.params["quantity"] == "500"
    assert sent.headers["authorization"] == "Basic " + base64.b64encode(
        b"knm:bw-password").decode()


def test_kazoo_fixture_replayed_verbatim(live: registry.Live) -> None:
    live.sim.script("GET", f"/accounts/{ACCOUNT}/availableNumbers",
                    (FIXTURES / "bandwidth2_find_by_npa_no_detail.xml").read_text())
    found = live.carrier.find_numbers("+1973", 2, SearchOptions())
    assert [r.number for r in found] == ["+19733705112", "+19733705183"]


def test_kazoo_tollfree_search(live: registry.Live) -> None:
    expected = sorted("+1" + el.text for el in parse_xml_text(
        (FIXTURES / "bandwidth2_find_tollfree.xml").read_bytes()).iter("TelephoneNumber"))
    found = live.carrier.find_numbers("+1855", 15, SearchOptions())
    assert sorted(r.number for r in found) == expected
    # Kazoo's quirk (55*) is fixed: the pattern keeps the NPA
    assert live.sim.received("GET")[-1].params["tollFreeWildCardPattern"] == "855"


def test_kazoo_acquire_with_fixture_payloads(live: registry.Live) -> None:
    live.sim.script("POST", f"/accounts/{ACCOUNT}/orders",
                    (FIXTURES / "bandwidth2_buy_a_number.xml").read_text(), status=201)
    live.sim.script("GET", f"/accounts/{ACCOUNT}/orders/dc0008ec-07fc-41bf-a3bd-6c6ebf913f1c",
                    (FIXTURES / "bandwidth2_check_order.xml").read_text())
    pn = PhoneNumber.new("+19734096113")
    assert pn.is_dirty
    out = live.carrier.acquire_number(pn)
    assert out.number == "+19734096113"
    # Bandwidth's order id is stored (Kazoo stored the echoed CustomerOrderId instead)
    assert out.carrier_data["order_id"] == "dc0008ec-07fc-41bf-a3bd-6c6ebf913f1c"
    assert out.carrier_data["number"] == "+19734096113"
    assert out.carrier_data["order_status"] == "complete"


def test_order_body_on_the_wire(live: registry.Live) -> None:
    live.carrier.acquire_number(PhoneNumber.new("+14155550142"))
    post = live.sim.received("POST", "/orders")[-1]
    assert post.headers["content-type"] == "application/xml"
    order = parse_xml_text(post.body)
    assert order.tag == "Order"
    assert order.findtext("SiteId") == "1337" and order.findtext("PeerId") == "13337"
    assert order.findtext(
        "ExistingTelephoneNumberOrderType/TelephoneNumberList/TelephoneNumber") == "4155550142"
    reference = order.findtext("CustomerOrderId")
    assert reference and len(reference) <= 40
    assert live.sim.received("GET", "/orders/"), "the order was polled"


def test_disconnect_is_a_disconnect_order(live: registry.Live) -> None:
    pn = live.carrier.acquire_number(PhoneNumber.new("+14155550143"))
    live.carrier.disconnect_number(pn)
    post = live.sim.received("POST", "/disconnects")[-1]
    doc = parse_xml_text(post.body)
    assert doc.tag == "DisconnectTelephoneNumberOrder"
    assert doc.findtext("DisconnectTelephoneNumberOrderType/TelephoneNumberList/"
                        "TelephoneNumber") == "4155550143"
    assert pn.carrier_data["disconnect_status"] == "complete"
    with pytest.raises(errors.CarrierFault):  # not ours any more
        live.carrier.disconnect_number(pn)


def test_oauth2_client_credentials(live: registry.Live) -> None:
    carrier = live.make_carrier(api_username=None, api_password=None,
                                client_id="knm-client", client_secret="bw-client-secret")
    carrier.find_numbers("+1973", 2, SearchOptions())
    carrier.find_numbers("+1855", 2, SearchOptions())
    tokens = live.sim.received("POST", "/oauth2/token")
    assert len(tokens) == 1, "the token is cached"
    assert tokens[0].text == "grant_type=client_credentials"
    token = next(iter(live.sim.tokens))
    assert live.sim.received("GET")[-1].headers["authorization"] == f"Bearer {token}"
    assert token not in str(carrier.info())
    bad = live.make_carrier(api_username=None, api_password=None,
                            client_id="knm-client", client_secret="nope")
    with pytest.raises(errors.CarrierCredentials):
        bad.find_numbers("+1973", 2, SearchOptions())


def test_either_auth_pair_is_required() -> None:
    from knm.carriers.bandwidth2 import Bandwidth2

    with pytest.raises(errors.CarrierMisconfigured) as info:
        Bandwidth2({"account_id": "1", "site_id": "2", "api_username": "u"})
    assert info.value.cause == "api_password"
    with pytest.raises(errors.CarrierMisconfigured) as info:
        Bandwidth2({"account_id": "1", "site_id": "2", "client_id": "c"})
    assert info.value.cause == "client_secret"


def test_search_error_body(live: registry.Live) -> None:
    with pytest.raises(errors.CarrierFault) as info:
        live.carrier.get(f"/accounts/{ACCOUNT}/availableNumbers", params={"quantity": 1})
    assert "4010" in info.value.carrier_message


def test_site_id_is_needed_to_order_not_to_search(live: registry.Live) -> None:
    """Searching needs only the account and credentials; ordering names the site."""
    carrier = live.make_carrier(site_id=None)
    assert carrier.find_numbers("+1973", 2, SearchOptions())
    before = len(live.sim.received("POST", "orders"))
    with pytest.raises(errors.CarrierMisconfigured) as refused:
        carrier.acquire_number(PhoneNumber.new("+19734096113"))
    assert refused.value.cause == "site_id" and not refused.value.unsettled
    assert len(live.sim.received("POST", "orders")) == before  # nothing was sent
