"""knm_vitelity against its simulator: wire format, Kazoo's cases (kazoo-http-carriers.md
§14.4, served from Kazoo's fixture files), purchases, and every failure mapped to knm errors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import FIXTURES

from knm import carriers, config, errors
from knm.carriers.base import SearchOptions
from knm.carriers.vitelity import (
    Vitelity,
    VitelityReply,
    order_params,
    parse_search,
    search_params,
)
from knm.record import PhoneNumber
from knm.simulators.server import BackgroundServer, free_port
from knm.simulators.vitelity import VitelitySimulator

LOGIN, PASSWORD = "vit-login", "vit-Pa55word-x"


@pytest.fixture(scope="module")
def sim_server() -> Iterator[tuple[VitelitySimulator, str]]:
    sim = VitelitySimulator(LOGIN, PASSWORD)
    with BackgroundServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture(scope="module")
def kazoo_server() -> Iterator[tuple[VitelitySimulator, str]]:
    sim = VitelitySimulator(LOGIN, PASSWORD, kazoo_fixtures=FIXTURES)
    with BackgroundServer(sim.app) as server:
        yield sim, server.url


@pytest.fixture
def sim(sim_server: tuple[VitelitySimulator, str]) -> VitelitySimulator:
    sim_server[0].reset()
    return sim_server[0]


def carrier(url: str, **overrides: Any) -> Vitelity:
    settings = {"login": LOGIN, "password": PASSWORD, "routesip": "1.2.3.4",
                "api_uri": url + "/api.php", "timeout_ms": 2000, **overrides}
    return Vitelity(settings)


@pytest.fixture
def vitelity(sim: VitelitySimulator, sim_server: tuple[VitelitySimulator, str]
             ) -> Iterator[Vitelity]:
    c = carrier(sim_server[1])
    yield c
    c.close()


def pn(number: str) -> PhoneNumber:
    """A record bought from this carrier (no database needed)."""
    return PhoneNumber.from_json({"_id": number, "pvt_module_name": "knm_vitelity",
                                  "pvt_state": "discovery"})


def find(c: Vitelity, prefix: str, quantity: int, **extra: Any) -> list[str]:
    return [r.number for r in c.find_numbers(prefix, quantity, SearchOptions(extra=extra))]


# -- pure request building and parsing ------------------------------------------------------------


def test_search_parameters_follow_kazoos_order() -> None:
    cfg = {"login": "L", "password": "P", "withrates": True, "cnam": "yes"}
    assert search_params("987", 500, cfg) == [
        ("npa", "987"), ("cmd", "listnpa"), ("withrates", "true"), ("xml", "yes"),
        ("cnam", "yes"), ("login", "L"), ("pass", "P")]
    # NPA-NXX is searched by its 6 digits (Kazoo sent the whole prefix)
    assert search_params("9875559876", 1, cfg)[:2] == [("npanxx", "987555"),
                                                      ("cmd", "listnpanxx")]
    # any toll-free prefix is a toll-free search (Kazoo needed a full 10-digit number)
    assert search_params("800", 5, {"login": "L", "password": "P"}) == [
        ("cmd", "listtollfree"), ("limit", "500"), ("xml", "yes"), ("login", "L"), ("pass", "P")]
    assert search_params("41", 5, cfg) is None


def test_order_command_depends_on_the_number_kind() -> None:
    cfg = {"login": "L", "password": "P", "routesip": ["5.6.7.8", "9.9.9.9"]}
    assert order_params("+18005551212", cfg)[:2] == [("did", "8005551212"),
                                                     ("cmd", "gettollfree")]
    assert order_params("+14158867900", cfg) == [
        ("did", "4158867900"), ("cmd", "getlocaldid"), ("xml", "yes"), ("routesip", "5.6.7.8"),
        ("login", "L"), ("pass", "P")]
    # no routesip: none sent, Vitelity keeps the account's routing (audit V1); `type` is sent
    assert order_params("+14158867900", {"login": "L", "password": "P", "type": "unlimited"}
                        ) == [("did", "4158867900"), ("cmd", "getlocaldid"), ("xml", "yes"),
                              ("type", "unlimited"), ("login", "L"), ("pass", "P")]


def test_kazoo_fixture_replies_parse() -> None:
    npa = VitelityReply.parse((FIXTURES / "vitelity_listnpa.xml").read_bytes())
    results = parse_search(npa, "+1987", 500)
    assert [r.number for r in results] == ["+19875551234", "+19875559876"]
    assert results[0].carrier_data == {"number": "+19875551234", "ratecenter": "ANYCITY",
                                       "state": "ZZ"}
    assert results[0].locality == {"rate_center": "ANYCITY", "region": "ZZ", "country": "US"}
    tollfree = VitelityReply.parse((FIXTURES / "vitelity_listtollfree.xml").read_bytes())
    assert [r.number for r in parse_search(tollfree, "+1", 500)] == ["+18887771111",
                                                                      "+18005551212"]


def test_missing_credentials_name_the_key() -> None:
    with pytest.raises(errors.CarrierMisconfigured) as info:
        Vitelity({"login": "x"})
    assert info.value.cause == "password"


# -- Kazoo's acceptance cases (§14.4) over HTTP -------------------------------------------------


def test_kazoo_tollfree_full_number(kazoo_server: tuple[VitelitySimulator, str]) -> None:
    sim, url = kazoo_server
    sim.reset()
    c = carrier(url)
    assert find(c, "+18887771111", 500) == ["+18887771111"]
    assert find(c, "+18887771111", 500, tollfree=True) == ["+18887771111"]
    assert sim.requests[-1].params["cmd"] == "listtollfree"


def test_kazoo_local_number_and_prefix(kazoo_server: tuple[VitelitySimulator, str]) -> None:
    sim, url = kazoo_server
    sim.reset()
    c = carrier(url)
    assert find(c, "+19875559876", 500) == ["+19875559876"]
    assert sim.requests[-1].params["npanxx"] == "987555"
    assert sorted(find(c, "+1987", 500))[:2] == ["+19875551234", "+19875559876"]
    assert sim.requests[-1].params["npa"] == "987"


def test_kazoo_cases_through_the_facade(db: str, kazoo_server: tuple[VitelitySimulator, str]
                                        ) -> None:
    sim, url = kazoo_server
    sim.reset()
    for key, value in {"login": LOGIN, "password": PASSWORD, "routesip": "1.2.3.4",
                       "api_uri": url + "/api.php"}.items():
        config.set("number_manager.vitelity", key, value)
    found = carriers.find("8887771111", 1, carriers=["knm_vitelity"], query_id="QID-tf")
    assert [(r["number"], r["state"]) for r in found] == [("+18887771111", "discovery")]
    local = carriers.find("987", 2, carriers=["knm_vitelity"], query_id="QID-987")
    assert [r["number"] for r in local] == ["+19875551234", "+19875559876"]


# -- the wire --------------------------------------------------------------------------------------


def test_search_wire_is_a_get_with_everything_in_the_query(vitelity: Vitelity,
                                                          sim: VitelitySimulator) -> None:
    numbers = find(vitelity, "+1415", 5)
    assert len(numbers) == 5 and all(n.startswith("+1415") for n in numbers)
    request = sim.requests[-1]
    assert (request.method, request.path, request.body) == ("GET", "/api.php", b"")
    assert request.query.startswith("npa=415&cmd=listnpa&xml=yes&login=")
    assert request.params["login"] == LOGIN and request.params["pass"] == PASSWORD
    # the same numbers every time: a deterministic stock
    assert find(vitelity, "+1415", 5) == numbers


def test_other_countries_and_short_prefixes_ask_nothing(vitelity: Vitelity,
                                                        sim: VitelitySimulator) -> None:
    assert find(vitelity, "+44207", 5) == []
    assert find(vitelity, "+14", 5) == []
    assert sim.requests == []


def test_buy_and_release(vitelity: Vitelity, sim: VitelitySimulator) -> None:
    number = find(vitelity, "+1303", 1)[0]
    record = pn(number)
    assert vitelity.acquire_number(record) is record
    bought = sim.requests[-1].params
    assert bought["cmd"] == "getlocaldid" and bought["routesip"] == "1.2.3.4"
    assert bought["did"] == number[2:]
    assert number not in find(vitelity, "+1303", 500)  # sold
    with pytest.raises(errors.NumberUnavailable) as info:
        vitelity.acquire_number(pn(number))
    assert info.value.carrier_message == "DID not available"
    assert info.value.cause == number
    vitelity.disconnect_number(record)
    assert sim.requests[-1].params["cmd"] == "removedid"
    with pytest.raises(errors.CarrierFault) as info:
        vitelity.disconnect_number(record)
    assert info.value.carrier_message == "DID is not on your account"


def test_tollfree_purchase_uses_gettollfree(vitelity: Vitelity, sim: VitelitySimulator) -> None:
    number = find(vitelity, "+1888", 1)[0]
    vitelity.acquire_number(pn(number))
    assert sim.requests[-1].params["cmd"] == "gettollfree"


def test_buying_without_routesip_keeps_the_accounts_routing(
        sim: VitelitySimulator, sim_server: tuple[VitelitySimulator, str]) -> None:
    c = carrier(sim_server[1], routesip=None)
    old = pn("+14158867900")
    old.carrier_data["routesip"] = "9.9.9.9"  # a re-bought number's earlier route
    bought = c.acquire_number(old)
    assert "routesip" not in sim.requests[-1].params
    assert sim.owned["+14158867900"]["routesip"] is None
    assert "routesip" not in bought.carrier_data


def test_provisioning_disabled(sim: VitelitySimulator,
                               sim_server: tuple[VitelitySimulator, str]) -> None:
    c = carrier(sim_server[1], enable_provisioning=False)
    with pytest.raises(errors.ProvisioningDisabled):
        c.acquire_number(pn("+14158867900"))
    sandboxed = carrier(sim_server[1], enable_provisioning=False, sandbox_provisioning=True)
    assert sandboxed.acquire_number(pn("+14158867900")).number == "+14158867900"
    assert sim.requests == []


# -- failures ---------------------------------------------------------------------------


def _error(c: Vitelity, number: str = "+14158867900") -> errors.KnmError:
    with pytest.raises(errors.KnmError) as info:
        c.acquire_number(pn(number))
    assert PASSWORD not in str(info.value) and PASSWORD not in repr(info.value.to_json())
    return info.value


def test_bad_credentials(sim: VitelitySimulator, sim_server: tuple[VitelitySimulator, str]
                         ) -> None:
    c = carrier(sim_server[1], password="not-the-" + PASSWORD)
    with pytest.raises(errors.CarrierCredentials) as info:
        find(c, "+1415", 1)
    assert "auth failed" in (info.value.carrier_message or "")
    assert "not-the-" not in str(info.value)


def test_carrier_error_body(vitelity: Vitelity, sim: VitelitySimulator) -> None:
    sim.set(fail_with={"status": 500, "message": "database is down"})
    error = _error(vitelity)
    assert isinstance(error, errors.CarrierUnavailable)
    assert error.carrier_message == "database is down" and error.cause == "+14158867900"


def test_unparseable_500_empty_502_and_malformed(vitelity: Vitelity, sim: VitelitySimulator
                                                 ) -> None:
    sim.set(fail_with={"status": 500, "body": "<html>oops", "content_type": "text/html"})
    error = _error(vitelity)
    assert isinstance(error, errors.CarrierUnavailable) and "oops" in error.carrier_message
    sim.reset()
    sim.set(empty_502=True)
    assert isinstance(_error(vitelity), errors.CarrierUnavailable)
    sim.reset()
    sim.set(malformed=True)
    with pytest.raises(errors.MalformedResponse):
        find(vitelity, "+1415", 1)


def test_timeout_and_connection_refused(sim: VitelitySimulator,
                                        sim_server: tuple[VitelitySimulator, str]) -> None:
    sim.set(hang=True, hang_s=2)
    with pytest.raises(errors.CarrierTimeout):
        find(carrier(sim_server[1], timeout_ms=200), "+1415", 1)
    refused = carrier(f"http://127.0.0.1:{free_port()}")
    assert isinstance(_error(refused), errors.CarrierUnavailable)


def test_password_in_request_urls_never_reaches_the_logs(
        vitelity: Vitelity, caplog: pytest.LogCaptureFixture) -> None:
    """Vitelity puts the password in the query string, which httpx logs at INFO."""
    import logging

    with caplog.at_level(logging.DEBUG):
        vitelity.find_numbers("+1415", 5, SearchOptions())
    assert "api.php" in caplog.text  # the request was logged...
    assert PASSWORD not in caplog.text  # ...without the password
