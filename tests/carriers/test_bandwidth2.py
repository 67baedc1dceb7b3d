"""knm_bandwidth2 on the wire: knm's default (the Universal Platform, v2, with OAuth2 client
credentials), the legacy v1 wire and API-user Basic auth that Kazoo's module spoke (still
accepted, warned about: Bandwidth retires Basic auth on 2026-12-02), and Kazoo's bandwidth2
cases (kazoo-http-carriers.md §14.1)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from conftest import FIXTURES, interrupt

from knm import config, errors
from knm.carriers.bandwidth2 import Bandwidth2
from knm.carriers.base import SearchOptions
from knm.carriers.http import parse_xml_text
from knm.record import PhoneNumber
from knm.simulators import registry
from knm.simulators.server import free_port

ACCOUNT = "9900001"
API_USER, API_PASSWORD = "knm", "bw-password"  # the simulator's API user
CLIENT_ID, CLIENT_SECRET = "knm-client", "bw-client-secret"
BASIC = "Basic " + base64.b64encode(f"{API_USER}:{API_PASSWORD}".encode()).decode()


@pytest.fixture
def live() -> Iterator[registry.Live]:
    """The registry's Bandwidth carrier: knm's defaults (v2 under /api/v2, OAuth2)."""
    with registry.running("bandwidth2") as live:
        yield live


@pytest.fixture
def kazoo(live: registry.Live) -> Iterator[Bandwidth2]:
    """A carrier with Kazoo's bandwidth2 settings (system_config.number_manager.bandwidth2):
    an API user, no `api_version`, no OAuth2 — so the legacy v1 wire, at the root paths the
    simulator serves v1 on."""
    carrier = live.make_carrier(base_url=live.url, token_url=None, client_id=None,
                                client_secret=None, api_username=API_USER,
                                api_password=API_PASSWORD)
    assert isinstance(carrier, Bandwidth2)
    yield carrier
    carrier.close()


def _order_number(body: bytes) -> str | None:
    return parse_xml_text(body).findtext(
        "ExistingTelephoneNumberOrderType/TelephoneNumberList/TelephoneNumber")


# -- knm's default: v2 and OAuth2 ----------------------------------------------------------------


def test_the_default_is_the_universal_platform_with_oauth2() -> None:
    carrier = Bandwidth2({"account_id": ACCOUNT, "client_id": CLIENT_ID,
                          "client_secret": CLIENT_SECRET})
    assert carrier.config["api_version"] == "v2"
    assert carrier.config["base_url"] == "https://api.bandwidth.com/api/v2"
    assert Bandwidth2.config_warnings({"account_id": ACCOUNT, "client_id": CLIENT_ID,
                                       "client_secret": CLIENT_SECRET}) == []
    carrier.close()


def test_default_config_sends_e164_with_a_bearer_token(live: registry.Live) -> None:
    found = live.carrier.find_numbers("+1973", 3, SearchOptions())
    assert found and all(r.number.startswith("+1973") for r in found)
    search = live.sim.received("GET", "availableNumbers")[-1]
    assert search.path == f"/api/v2/accounts/{ACCOUNT}/availableNumbers"
    assert search.params["areaCode"] == "973" and search.params["countryCodeA3"] == "USA,CAN"
    token = live.sim.received("POST", "/oauth2/token")[-1]
    assert token.path == "/api/v1/oauth2/token"  # the same token URL for v1 and v2
    assert search.headers["authorization"].startswith("Bearer ")

    number = found[-1].number
    bought = live.carrier.acquire_number(PhoneNumber.new(number))
    order = live.sim.received("POST", "/orders")[-1]
    assert order.path == f"/api/v2/accounts/{ACCOUNT}/orders"
    assert _order_number(order.body) == number  # E.164, "+1…", as the CLI sends it
    assert live.carrier.check_numbers([number]) == {number: "Inservice"}
    assert live.sim.received("GET", "/tns/")[-1].path == f"/api/v2/tns/{number}"
    live.carrier.disconnect_number(bought)
    gone = parse_xml_text(live.sim.received("POST", "/disconnects")[-1].body)
    assert gone.findtext("DisconnectTelephoneNumberOrderType/TelephoneNumberList/"
                         "TelephoneNumber") == number


def test_one_token_is_fetched_and_reused_by_every_request_and_thread(
        live: registry.Live) -> None:
    carrier = live.make_carrier()  # no token yet
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: carrier.find_numbers("+1973", 2, SearchOptions()),
                                range(16)))
    assert all(answers)
    number = answers[0][-1].number
    carrier.disconnect_number(carrier.acquire_number(PhoneNumber.new(number)))
    minted = live.sim.received("POST", "/oauth2/token")
    assert len(minted) == 1, "one token for the instance, minted once"
    assert minted[0].text == "grant_type=client_credentials"
    assert minted[0].headers["authorization"] == "Basic " + base64.b64encode(
        f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    bearer = minted and live.sim.received("GET")[-1].headers["authorization"]
    token = bearer.removeprefix("Bearer ")
    assert token in live.sim.tokens
    assert {r.headers["authorization"] for r in live.sim.received()
            if "oauth2" not in r.path} == {bearer}
    # the token is a secret like the credential it came from
    assert token not in str(carrier.info()) and carrier.scrub(f"x {token} y") == "x *** y"
    carrier.close()


def test_a_token_near_its_end_is_renewed_before_a_request_leaves(live: registry.Live) -> None:
    live.sim.token_ttl_s = 2  # renewed half-way through so short a life (60 s before, else)
    carrier = live.make_carrier()
    carrier.find_numbers("+1973", 1, SearchOptions())
    carrier.find_numbers("+1973", 1, SearchOptions())
    assert len(live.sim.received("POST", "/oauth2/token")) == 1
    time.sleep(1.2)
    carrier.find_numbers("+1973", 1, SearchOptions())
    assert len(live.sim.received("POST", "/oauth2/token")) == 2
    assert not [r for r in live.sim.received("GET") if r.path.endswith("availableNumbers")
                and r.headers["authorization"].removeprefix("Bearer ") not in live.sim.tokens]
    carrier.close()


def test_a_revoked_token_is_replaced_and_the_request_sent_once_more(live: registry.Live
                                                                    ) -> None:
    live.carrier.find_numbers("+1973", 1, SearchOptions())
    live.sim.revoke_tokens()
    number = live.carrier.find_numbers("+1973", 2, SearchOptions())[-1].number
    live.carrier.acquire_number(PhoneNumber.new(number))
    assert len(live.sim.received("POST", "/oauth2/token")) == 2
    assert len(live.sim.received("POST", "/orders")) == 1  # the purchase itself: once


def test_wrong_client_credentials_are_a_clear_credentials_error_without_secrets(
        live: registry.Live) -> None:
    bad = live.make_carrier(client_secret="not-the-secret-0123")
    with pytest.raises(errors.CarrierCredentials) as info:
        bad.acquire_number(PhoneNumber.new("+19735550100"))
    error = info.value
    assert error.error == "carrier_credentials" and error.code == 502
    assert "token request" in error.message and "client_id/client_secret" in error.message
    assert error.unsettled is False, "nothing was ordered: the order was never sent"
    assert "invalid_client" in (error.carrier_message or "")
    text = f"{error} {error.to_json()} {error.__cause__}"
    assert "not-the-secret-0123" not in text
    assert base64.b64encode(b"knm-client:not-the-secret-0123").decode() not in text
    assert not live.sim.received("POST", "/orders")
    bad.close()


def test_a_failing_token_endpoint_is_unavailable_and_settled(live: registry.Live) -> None:
    carrier = live.make_carrier()
    live.sim.set(fail_with={"status": 503, "message": "identity service down"},
                 match="/oauth2/token")
    with pytest.raises(errors.CarrierUnavailable) as info:
        carrier.acquire_number(PhoneNumber.new("+19735550100"))
    assert info.value.unsettled is False and "token request" in info.value.message
    assert CLIENT_SECRET not in str(info.value.to_json())
    assert not live.sim.received("POST", "/orders")
    live.sim.script("POST", "/api/v1/oauth2/token", '{"token_type": "Bearer"}',
                    content_type="application/json")
    live.sim.reset_switches()
    with pytest.raises(errors.MalformedResponse) as info:
        carrier.find_numbers("+1973", 1, SearchOptions())
    assert "access_token" in (info.value.carrier_message or "") and not info.value.unsettled
    carrier.close()


def test_failure_switches_aimed_at_the_next_post_reach_the_order_not_the_token(
        live: registry.Live) -> None:
    """A fresh client fetches its token first: a failure meant for "the next POST" still
    meets the order (the simulator spares its token endpoint unless `match` names it)."""
    number = live.carrier.find_numbers("+1973", 2, SearchOptions())[-1].number
    fresh = live.make_carrier()
    live.sim.requests.clear()
    live.sim.set(empty_502=True, match="POST", times=1)
    with pytest.raises(errors.CarrierUnavailable) as info:
        fresh.acquire_number(PhoneNumber.new(number))
    assert info.value.unsettled is True
    assert [r.path for r in live.sim.received("POST")] == [
        "/api/v1/oauth2/token", f"/api/v2/accounts/{ACCOUNT}/orders"]
    fresh.close()


def test_either_auth_pair_is_required_and_oauth2_is_what_is_asked_for() -> None:
    with pytest.raises(errors.CarrierMisconfigured) as info:
        Bandwidth2({"account_id": "1", "site_id": "2"})
    assert info.value.cause == "client_id"
    with pytest.raises(errors.CarrierMisconfigured) as info:
        Bandwidth2({"account_id": "1", "site_id": "2", "client_id": "c"})
    assert info.value.cause == "client_secret"
    with pytest.raises(errors.CarrierMisconfigured) as info:
        Bandwidth2({"account_id": "1", "site_id": "2", "api_username": "u"})
    assert info.value.cause == "api_password"
    with pytest.raises(errors.CarrierMisconfigured) as info:
        Bandwidth2({"account_id": "1", "client_id": "c", "client_secret": "s",
                    "api_version": "v3"})
    assert info.value.cause == "api_version"


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


# -- the legacy v1 wire and Basic auth (Kazoo's settings) ----------------------------------------


def test_kazoo_settings_keep_the_v1_wire_and_are_warned(kazoo: Bandwidth2) -> None:
    assert kazoo.config["api_version"] == "v1"
    kazoo_doc = {"account_id": ACCOUNT, "api_username": API_USER,
                 "api_password": API_PASSWORD, "site_id": "1337", "sip_peer": "13337",
                 "order_name_prefix": "Kazoo", "debug": False}
    basic, version = Bandwidth2.config_warnings(kazoo_doc)
    assert "2026-12-02" in basic and "client_id" in basic and "client_secret" in basic
    assert "api_version" in version and "v1" in version
    assert API_PASSWORD not in basic + version
    # an explicit version is a choice: only the Basic auth is left to warn about
    assert len(Bandwidth2.config_warnings({**kazoo_doc, "api_version": "v1"})) == 1
    assert Bandwidth2({**kazoo_doc, "api_version": "v2"}).config["api_version"] == "v2"


def test_kazoo_npa_search(live: registry.Live, kazoo: Bandwidth2) -> None:
    found = kazoo.find_numbers("+1973", 500, SearchOptions())
    assert [r.number for r in found][:2] == ["+19733705112", "+19733705183"]
    assert all(r.state == "discovery" for r in found)
    sent = live.sim.received("GET", "availableNumbers")[-1]
    assert sent.path == f"/accounts/{ACCOUNT}/availableNumbers"
    assert sent.params["areaCode"] == "973" and sent.params["quantity"] == "500"
    assert "countryCodeA3" not in sent.params
    assert sent.headers["authorization"] == BASIC
    assert not live.sim.received("POST", "/oauth2/token")


def test_kazoo_fixture_replayed_verbatim(live: registry.Live, kazoo: Bandwidth2) -> None:
    live.sim.script("GET", f"/accounts/{ACCOUNT}/availableNumbers",
                    (FIXTURES / "bandwidth2_find_by_npa_no_detail.xml").read_text())
    found = kazoo.find_numbers("+1973", 2, SearchOptions())
    assert [r.number for r in found] == ["+19733705112", "+19733705183"]


def test_kazoo_tollfree_search(live: registry.Live, kazoo: Bandwidth2) -> None:
    expected = sorted("+1" + el.text for el in parse_xml_text(
        (FIXTURES / "bandwidth2_find_tollfree.xml").read_bytes()).iter("TelephoneNumber"))
    found = kazoo.find_numbers("+1855", 15, SearchOptions())
    assert sorted(r.number for r in found) == expected
    # Kazoo's quirk (55*) is fixed: the pattern keeps the NPA
    assert live.sim.received("GET")[-1].params["tollFreeWildCardPattern"] == "855"


def test_kazoo_acquire_with_fixture_payloads(live: registry.Live, kazoo: Bandwidth2) -> None:
    live.sim.script("POST", f"/accounts/{ACCOUNT}/orders",
                    (FIXTURES / "bandwidth2_buy_a_number.xml").read_text(), status=201)
    live.sim.script("GET", f"/accounts/{ACCOUNT}/orders/dc0008ec-07fc-41bf-a3bd-6c6ebf913f1c",
                    (FIXTURES / "bandwidth2_check_order.xml").read_text())
    pn = PhoneNumber.new("+19734096113")
    assert pn.is_dirty
    out = kazoo.acquire_number(pn)
    assert out.number == "+19734096113"
    # Bandwidth's order id is stored (Kazoo stored the echoed CustomerOrderId instead)
    assert out.carrier_data["order_id"] == "dc0008ec-07fc-41bf-a3bd-6c6ebf913f1c"
    assert out.carrier_data["number"] == "+19734096113"
    assert out.carrier_data["order_status"] == "complete"


def test_v1_order_disconnect_and_tns_send_ten_digits(live: registry.Live,
                                                     kazoo: Bandwidth2) -> None:
    pn = kazoo.acquire_number(PhoneNumber.new("+14155550142"))
    post = live.sim.received("POST", "/orders")[-1]
    assert post.path == f"/accounts/{ACCOUNT}/orders"
    assert post.headers["content-type"] == "application/xml"
    assert post.headers["authorization"] == BASIC
    order = parse_xml_text(post.body)
    assert order.tag == "Order"
    assert order.findtext("SiteId") == "1337" and order.findtext("PeerId") == "13337"
    assert _order_number(post.body) == "4155550142"
    reference = order.findtext("CustomerOrderId")
    assert reference and len(reference) <= 40
    assert live.sim.received("GET", "/orders/"), "the order was polled"
    assert kazoo.check_numbers(["+14155550142"]) == {"+14155550142": "Inservice"}
    assert live.sim.received("GET", "/tns/")[-1].path == "/tns/4155550142"
    kazoo.disconnect_number(pn)
    doc = parse_xml_text(live.sim.received("POST", "/disconnects")[-1].body)
    assert doc.tag == "DisconnectTelephoneNumberOrder"
    assert doc.findtext("DisconnectTelephoneNumberOrderType/TelephoneNumberList/"
                        "TelephoneNumber") == "4155550142"
    assert pn.carrier_data["disconnect_status"] == "complete"
    with pytest.raises(errors.CarrierFault):  # not ours any more
        kazoo.disconnect_number(pn)


def test_v1_with_oauth2_at_api_v1(live: registry.Live) -> None:
    """A legacy US/CA account that moved to OAuth2: `api_version` v1 said explicitly."""
    carrier = live.make_carrier(api_version="v1", base_url=live.url + "/api/v1")
    found = carrier.find_numbers("+1973", 2, SearchOptions())
    assert found
    sent = live.sim.received("GET", "availableNumbers")[-1]
    assert sent.path == f"/api/v1/accounts/{ACCOUNT}/availableNumbers"
    assert sent.headers["authorization"].startswith("Bearer ")
    carrier.acquire_number(PhoneNumber.new(found[-1].number))
    assert _order_number(live.sim.received("POST", "/orders")[-1].body) == \
        found[-1].number[2:]
    assert Bandwidth2.config_warnings(carrier.config) == []
    carrier.close()


def test_a_wrong_api_user_is_carrier_credentials(live: registry.Live,
                                                 kazoo: Bandwidth2) -> None:
    bad = live.make_carrier(base_url=live.url, token_url=None, client_id=None,
                            client_secret=None, api_username=API_USER,
                            api_password="wrong-password-1")
    with pytest.raises(errors.CarrierCredentials) as info:
        bad.find_numbers("+1973", 2, SearchOptions())
    assert "wrong-password-1" not in str(info.value.to_json())
    bad.close()


# -- the warning at `knm serve` start-up ---------------------------------------------------------


def test_serve_logs_the_basic_auth_warning_once_at_start_up(db: str, tmp_path: Path) -> None:
    for key, value in {"account_id": ACCOUNT, "api_username": "kazoo-user",
                       "api_password": "pw-never-logged-42", "site_id": "1337"}.items():
        config.set("number_manager.bandwidth2", key, value)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "KNM_DATABASE_URL"}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path / "metrics")
    (tmp_path / "metrics").mkdir()
    log = tmp_path / "stderr.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from knm.api import serve; "
             "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], 2)", str(port), db],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, "knm serve exited early"
                assert time.monotonic() < deadline, "knm serve did not start"
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1
                                 ).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
        finally:
            interrupt(proc)
    text = log.read_text()
    assert "pw-never-logged-42" not in text
    lines = [json.loads(li) for li in text.splitlines() if li.startswith("{")]
    warned = [li for li in lines if li["level"] == "warning"
              and "knm_bandwidth2" in li["message"] and "2026-12-02" in li["message"]]
    assert len(warned) == 1, "once for the server, not once per worker"
    assert "client_id" in warned[0]["message"] and "client_secret" in warned[0]["message"]
