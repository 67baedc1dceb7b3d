"""Secrets never reach a carrier error, whatever form the carrier echoes them in, and the
process's registry of live secrets (what the log filter masks) stays bounded: an instance the
carrier registry replaces is forgotten once it is collected."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from xml.sax.saxutils import escape

import pytest
from conftest import collect_garbage

from knm import carriers, config, errors, secrets
from knm.carriers.base import SearchOptions
from knm.simulators import registry

CLIENT_ID, CLIENT_SECRET = "knm-client", "bw-client-secret"


@pytest.fixture
def bandwidth() -> Iterator[registry.Live]:
    with registry.running("bandwidth2", api_username=None, api_password=None,
                          client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as live:
        yield live


def test_oauth_client_credentials_and_bearer_tokens_are_scrubbed(
        bandwidth: registry.Live) -> None:
    carrier, sim = bandwidth.carrier, bandwidth.sim
    carrier.find_numbers("+1973", 2, SearchOptions())  # a token is fetched and sent
    token = next(iter(sim.tokens))
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    sim.set(fail_with={"status": 400, "message": f"token {token} client {basic} refused"})
    with pytest.raises(errors.CarrierFault) as info:
        carrier.find_numbers("+1973", 2, SearchOptions())
    said = info.value.carrier_message or ""
    assert "refused" in said and token not in said and basic not in said
    assert token not in str(info.value.to_json())


def test_a_refused_token_request_does_not_echo_the_client_secret(
        bandwidth: registry.Live) -> None:
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    bandwidth.sim.set(fail_with={"status": 400, "message": f"bad client Basic {basic} / "
                                                         f"{basic} / {CLIENT_SECRET}"},
                      match="/oauth2/token")
    with pytest.raises(errors.CarrierFault) as info:
        bandwidth.carrier.find_numbers("+1973", 2, SearchOptions())
    said = info.value.carrier_message or ""
    assert "bad client" in said
    assert basic not in said and CLIENT_SECRET not in said


def test_an_xml_escaped_password_echoed_in_a_broken_page_is_scrubbed() -> None:
    secret = "vi-s3cret<&>'\""
    with registry.running("voip_innovations") as live:
        carrier = live.make_carrier(password=secret)
        # the service echoes the request's `<tns:secret>` in a page that is not XML, so the
        # password reaches the message in its escaped form
        live.sim.set(fail_with={"status": 500, "content_type": "text/html",
                                "body": f"<html>echo <tns:secret>{escape(secret)}</tns:secret>"})
        with pytest.raises(errors.CarrierUnavailable) as info:
            carrier.find_numbers("+1435", 1, SearchOptions())
    said = info.value.carrier_message or ""
    assert "echo" in said
    assert escape(secret) not in said and "s3cret" not in said


def test_replaced_carrier_instances_leave_the_secret_registry(db: str) -> None:
    config.set("number_manager.telnyx", "api_key", "KEY-old-0123456789")
    old = carriers.get_carrier("knm_telnyx")
    assert old is not None
    owners = len(secrets.registry)
    assert secrets.registry.scrubber()("KEY-old-0123456789") == secrets.MASK
    config.set("number_manager.telnyx", "api_key", "KEY-new-0123456789")
    new = carriers.get_carrier("knm_telnyx")
    assert new is not old
    del old
    collect_garbage()
    scrub = secrets.registry.scrubber()
    assert scrub("KEY-old-0123456789") == "KEY-old-0123456789", "the old key is forgotten"
    assert scrub("KEY-new-0123456789") == secrets.MASK
    assert len(secrets.registry) <= owners, "replacing an instance never grows the registry"
    carriers.registry.clear_instances()  # closing forgets too
    assert secrets.registry.scrubber()("KEY-new-0123456789") == "KEY-new-0123456789"
