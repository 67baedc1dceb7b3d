"""The official `sinch` SDK (PyPI), unchanged, against the Sinch Numbers simulator.

The SDK is pointed at the simulator through its configuration's `numbers_origin` and
`auth_origin` (public attributes of `SinchClient.configuration`, defaulting to
`https://numbers.api.sinch.com` and `https://auth.sinch.com`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

sinch = pytest.importorskip("sinch")

from sinch import SinchClient  # noqa: E402
from sinch.domains.authentication.exceptions import AuthenticationException  # noqa: E402
from sinch.domains.numbers.api.v1.exceptions import NumberNotFoundException  # noqa: E402

from knm.simulators.server import BackgroundServer  # noqa: E402
from knm.simulators.sinch import SinchSimulator  # noqa: E402


@pytest.fixture
def sim() -> Iterator[tuple[SinchSimulator, str]]:
    simulator = SinchSimulator(voice_provisioning_ms=150)
    with BackgroundServer(simulator.app) as server:
        yield simulator, server.url


def client(sim: SinchSimulator, url: str, secret: str | None = None) -> SinchClient:
    c = sim.credentials
    api = SinchClient(project_id=c["project_id"], key_id=c["key_id"],
                      key_secret=secret or c["key_secret"])
    api.configuration.numbers_origin = url
    api.configuration.auth_origin = url
    return api


def test_search_rent_list_release(sim: tuple[SinchSimulator, str]) -> None:
    simulator, url = sim
    api = client(simulator, url)

    found = api.numbers.search_for_available_numbers(
        region_code="US", number_type="LOCAL", number_pattern="+1206",
        number_search_pattern="START", capabilities=["SMS", "VOICE"], page_size=5).content()
    assert len(found) == 5 and all(n.phone_number.startswith("+1206") for n in found)
    assert found[0].monthly_price.amount is not None
    number = found[0].phone_number

    rented = api.numbers.rent(
        phone_number=number, voice_configuration={"type": "EST", "trunk_id": "trunk-1"})
    assert rented.phone_number == number
    scheduled = rented.voice_configuration.scheduled_voice_provisioning
    assert scheduled.status == "WAITING" and scheduled.trunk_id == "trunk-1"
    assert not rented.voice_configuration.trunk_id

    # provisioning is applied after the simulator's delay
    deadline = time.monotonic() + 5
    while True:
        got = api.numbers.get(phone_number=number)
        if got.voice_configuration.scheduled_voice_provisioning is None:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert got.voice_configuration.type == "EST"
    assert got.voice_configuration.trunk_id == "trunk-1"

    listed = api.numbers.list(region_code="US", number_type="LOCAL").content()
    assert [n.phone_number for n in listed] == [number]

    # already rented → the SDK's not-found error, and no longer offered
    with pytest.raises(NumberNotFoundException):
        api.numbers.rent(phone_number=number)
    again = api.numbers.search_for_available_numbers(
        region_code="US", number_type="LOCAL", number_pattern="+1206",
        number_search_pattern="START", page_size=100).content()
    assert number not in [n.phone_number for n in again]

    released = api.numbers.release(phone_number=number)
    assert released.phone_number == number
    assert api.numbers.list(region_code="US", number_type="LOCAL").content() == []
    with pytest.raises(NumberNotFoundException):
        api.numbers.get(phone_number=number)


def test_international_and_patterns(sim: tuple[SinchSimulator, str]) -> None:
    simulator, url = sim
    api = client(simulator, url)
    london = api.numbers.search_for_available_numbers(
        region_code="GB", number_type="LOCAL", number_pattern="+4420",
        number_search_pattern="START").content()
    assert london and all(n.phone_number.startswith("+4420") for n in london)
    assert london[0].capability == ["VOICE"]
    # GB landlines carry no SMS: asking for it finds nothing
    assert api.numbers.search_for_available_numbers(
        region_code="GB", number_type="LOCAL", capabilities=["SMS"]).content() == []
    tail = london[0].phone_number[-3:]
    ends = api.numbers.search_for_available_numbers(
        region_code="GB", number_type="LOCAL", number_pattern=tail,
        number_search_pattern="END").content()
    assert london[0].phone_number in [n.phone_number for n in ends]
    rented = api.numbers.rent(phone_number=london[0].phone_number,
                                        voice_configuration={"type": "RTC", "app_id": "app"})
    assert rented.region_code == "GB"


def test_wrong_secret_raises_the_sdk_authentication_error(
        sim: tuple[SinchSimulator, str]) -> None:
    simulator, url = sim
    api = client(simulator, url, secret="wrong")
    with pytest.raises(AuthenticationException) as info:
        api.numbers.search_for_available_numbers(region_code="US",
                                                           number_type="LOCAL")
    assert info.value.response_status_code == 401


def test_expired_token_is_renewed_by_the_sdk(sim: tuple[SinchSimulator, str]) -> None:
    simulator, url = sim
    api = client(simulator, url)
    api.numbers.search_for_available_numbers(region_code="US", number_type="LOCAL")
    with simulator.lock:
        for token in simulator.tokens:
            simulator.tokens[token] = time.time() - 1
    found = api.numbers.search_for_available_numbers(region_code="US",
                                                               number_type="LOCAL")
    assert found.content()
    assert len(simulator.received("POST", "/oauth2/token")) == 2
