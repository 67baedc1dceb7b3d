"""`kill -9` of a save of a number's E911 address while its carrier registers it (issue 13,
its failure path): the saver is a real `knm numbers e911` process, the carrier a simulator in
a process of its own (`knm simulate`), the database SQLite or PostgreSQL. The carrier goes
on and registers the address nobody waits for any more; `knm orders` lists the save,
`knm orders settle` records the address the carrier holds, and a release removes it there.

Telnyx answers a registration asynchronously (the address is `provisioning` for a while), so
its settling goes through PENDING first; Twilio and Flowroute register at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import simulator_process

from knm import accounts, config

KNM = str(Path(sys.executable).with_name("knm"))
STREET, OTHER_STREET = "140 Geary St", "1 Market St"
ADDRESS = ["--city", "San Francisco", "--state", "CA", "--postal-code", "94108"]
#: the carrier's first call of a save (the address check): killed there, nothing registered
VALIDATION = {"telnyx": "/addresses/actions/validate", "twilio": "/Addresses.json",
              "flowroute": "/e911s/validate", "vonage": "POST /v1/addresses",
              "signalwire": "POST /api/relay/rest/addresses"}
#: the request that registers the address (Twilio's: `Carrier.registration`)
REGISTRATION = {"telnyx": "/actions/enable_emergency", "flowroute": "/relationships/e911s/",
                "vonage": "PATCH /v1/emergency/numbers/", "signalwire": "POST /api/relay/rest"
                "/phone_numbers/", "bandwidth2": "POST /api/v2/accounts/9900001/e911s"}


@dataclass
class Carrier:
    """A carrier simulator in its own process, and how to read what it holds."""

    name: str
    url: str
    settings: dict[str, Any]
    proc: subprocess.Popen[str]

    def switches(self, **values: Any) -> None:
        httpx.post(f"{self.url}/_sim/switches", json=values, timeout=5).raise_for_status()

    def calm(self) -> None:
        self.switches(ambiguous=None, hang=False, match=None, latency_ms=0,
                      feature_complete_ms=0)

    def requests(self, text: str) -> list[dict[str, Any]]:
        seen = httpx.get(f"{self.url}/_sim/requests", timeout=5).json()
        return [r for r in seen if text in f"{r['method']} {r['path']}"]

    @property
    def registration(self) -> str:
        """The simulator's `match` for the registration request alone."""
        if self.name == "twilio":
            return (f"POST /2010-04-01/Accounts/{self.settings['account_sid']}"
                    "/IncomingPhoneNumbers/PN")
        return REGISTRATION[self.name]

    def registrations(self, number: str) -> int:
        return len([r for r in self.requests(self.registration)
                    if (self.name != "twilio" or "EmergencyAddressSid=AD" in r["body"])
                    and (self.name != "signalwire" or r["path"].endswith("/e911_address"))])

    def held_street(self, number: str) -> str | None:
        """The street of the emergency address the carrier holds for `number` (None: none),
        read over the carrier's own API."""
        return {"telnyx": self._telnyx, "twilio": self._twilio, "flowroute": self._flowroute,
                "vonage": self._vonage, "signalwire": self._signalwire}[self.name](number)

    def _get(self, path: str, **params: Any) -> Any:
        base = str(self.settings["base_url"]).rstrip("/")
        if self.name == "telnyx":
            auth: Any = None
            headers = {"Authorization": f"Bearer {self.settings['api_key']}"}
        elif self.name == "twilio":
            auth, headers = (self.settings["account_sid"], self.settings["auth_token"]), {}
        elif self.name == "vonage":
            auth, headers = (self.settings["api_key"], self.settings["api_secret"]), {}
        elif self.name == "signalwire":
            auth, headers = (self.settings["project_id"], self.settings["api_token"]), {}
        else:
            auth, headers = (str(self.settings["access_key"]), self.settings["secret_key"]), {}
        got = httpx.get(base + path, params=params, headers=headers, auth=auth, timeout=5)
        got.raise_for_status()
        return got.json()

    def _telnyx(self, number: str) -> str | None:
        rows = self._get("/phone_numbers", **{"filter[phone_number]": number.lstrip("+")})
        row = next(r for r in rows["data"] if r["phone_number"] == number)
        emergency = self._get(f"/phone_numbers/{row['id']}/voice")["data"]["emergency"]
        if not emergency["emergency_enabled"] or not emergency["emergency_address_id"]:
            return None
        return self._get(f"/addresses/{emergency['emergency_address_id']}")["data"][
            "street_address"]

    def _twilio(self, number: str) -> str | None:
        account = f"/2010-04-01/Accounts/{self.settings['account_sid']}"
        rows = self._get(f"{account}/IncomingPhoneNumbers.json", PhoneNumber=number)
        sid = rows["incoming_phone_numbers"][0]["emergency_address_sid"]
        return self._get(f"{account}/Addresses/{sid}.json")["street"] if sid else None

    def _vonage(self, number: str) -> str | None:
        got = httpx.get(f"{self.settings['base_url']}/v1/emergency/numbers/"
                        f"{number.lstrip('+')}", timeout=5,
                        auth=(self.settings["api_key"], self.settings["api_secret"]))
        if got.status_code == 404 or not (got.json().get("address") or {}).get("id"):
            return None
        return self._get(f"/v1/addresses/{got.json()['address']['id']}")["address_line1"]

    def _signalwire(self, number: str) -> str | None:
        rows = self._get("/phone_numbers", filter_number=number.lstrip("+"))["data"]
        row = next(r for r in rows if r["number"] == number)
        if not row.get("e911_address_id"):
            return None
        found = self._get(f"/addresses/{row['e911_address_id']}")
        return f"{found['street_number']} {found['street_name']}"

    def _flowroute(self, number: str) -> str | None:
        resource = self._get(f"/numbers/{number.lstrip('+')}")["data"]
        related = (resource.get("relationships") or {}).get("e911_address") or {}
        found = related.get("data")
        if not found:
            return None
        attrs = self._get(f"/e911s/{found['id']}")["data"]["attributes"]
        return f"{attrs['street_number']} {attrs['street_name']}"


@pytest.fixture(params=["telnyx", "twilio", "flowroute", "vonage", "signalwire"])
def carrier(request: pytest.FixtureRequest) -> Iterator[Carrier]:
    with simulator_process(request.param) as (proc, document):
        yield Carrier(request.param, document["url"], document["settings"], proc)


@dataclass
class System:
    db: str
    account: str
    carrier: Carrier

    def knm(self, *args: str, check: bool = True) -> Any:
        done = subprocess.run([KNM, *args, "--db", self.db, "--json"], capture_output=True,
                              text=True, timeout=90, env=_env())
        if check:
            assert done.returncode == 0, done.stderr + done.stdout
        return json.loads(done.stdout) if done.stdout.strip() else None

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen([KNM, *args, "--db", self.db, "--json"], text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())

    def bought(self) -> str:
        found = self.knm("search", "415", "--account", self.account, "--quantity", "5")
        number = found["numbers"][0]["number"]
        assert self.knm("buy", number, "--account", self.account)["pvt_state"] == "in_service"
        return str(number)

    def save_e911(self, number: str, street: str) -> subprocess.Popen[str]:
        return self.start("numbers", "e911", number, "--street", street, *ADDRESS)

    def record(self, number: str) -> dict[str, Any]:
        return self.knm("numbers", "get", number)

    def orders(self) -> list[dict[str, Any]]:
        return self.knm("orders")


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KNM_DATABASE_URL",
                                                             "KNM_CACHE_URL")}
    env["KNM_NO_PROGRESS"] = "1"
    return env


@pytest.fixture
def system(db: str, carrier: Carrier) -> System:
    for key, value in carrier.settings.items():
        config.set(f"number_manager.{carrier.name}", key, value)
    config.set(f"number_manager.{carrier.name}", "order_poll_interval_ms", 100)
    config.set("number_manager", "carrier_modules", [f"knm_{carrier.name}"])
    config.set("number_manager", "claim_lease_s", 1)  # a dead saver's lease runs out soon
    # a release keeps the number at its carrier (Kazoo's way): what is left there is visible
    config.set("number_manager", "disconnect_on_release", False)
    account = accounts.create("Acme", is_reseller=True)
    return System(db, account.id, carrier)


def _wait_for(what: Callable[[], bool], timeout: float = 20.0) -> None:
    ends = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < ends, "timed out waiting"
        time.sleep(0.05)


def _kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _listed(system: System, number: str) -> dict[str, Any]:
    rows = [row for row in system.orders() if row["number"] == number]
    assert len(rows) == 1, rows
    return rows[0]


def _settle_until_done(system: System, number: str) -> dict[str, Any]:
    """`knm orders settle` until the carrier is done (Telnyx: PENDING first)."""
    ends = time.monotonic() + 20
    while True:
        done = system.knm("orders", "settle", check=False)
        if number in (done or {}).get("success", {}):
            return done["success"][number]
        assert time.monotonic() < ends, done
        time.sleep(0.5)


def test_killed_while_the_carrier_registers(system: System) -> None:
    sim = system.carrier
    number = system.bought()
    asynchronous = sim.name == "telnyx"
    sim.switches(ambiguous="timeout", match=sim.registration,
                 feature_complete_ms=8000 if asynchronous else 0)
    saver = system.save_e911(number, STREET)
    _wait_for(lambda: sim.registrations(number) == 1)  # the carrier has it, no answer yet
    _kill(saver)
    sim.switches(ambiguous=None, match=None)
    # knm's record does not know yet, but it has not forgotten: the save is listed
    assert not system.record(number).get("e911")
    row = _listed(system, number)
    assert (row["operation"], row["carrier"]) == ("e911", f"knm_{sim.name}")
    assert row["status"] in ("unknown", "in_progress")  # in progress until the lease ends
    time.sleep(1.5)
    assert _listed(system, number)["status"] == "unknown"
    if asynchronous:  # still provisioning at the carrier: settled to PENDING, kept listed
        early = system.knm("orders", "settle", check=False)
        assert number in early["error"], early
        assert system.record(number)["e911"]["status"] == "PENDING"
        assert _listed(system, number)["status"] == "pending"
    settled = _settle_until_done(system, number)
    assert settled["e911"]["status"] == "PROVISIONED", settled
    assert settled["e911"]["street_address"].upper() == STREET.upper()
    assert sim.held_street(number).upper() == STREET.upper()
    assert system.orders() == []
    # the carrier registered it once: settling asked, it never registered it again
    assert sim.registrations(number) == 1
    # a release removes it at the carrier: nothing is left there
    system.knm("release", number)
    assert sim.held_street(number) is None


def test_killed_before_the_carrier_was_asked_to_register(system: System) -> None:
    sim = system.carrier
    number = system.bought()
    system.knm("numbers", "e911", number, "--street", STREET, *ADDRESS)
    before = system.record(number)
    assert before["e911"]["status"] == "PROVISIONED"
    checks = len(sim.requests(VALIDATION[sim.name]))
    sim.switches(hang=True, match=VALIDATION[sim.name])
    saver = system.save_e911(number, OTHER_STREET)
    _wait_for(lambda: len(sim.requests(VALIDATION[sim.name])) > checks)  # its first call
    _kill(saver)
    sim.calm()
    assert _listed(system, number)["operation"] == "e911"
    time.sleep(1.5)
    done = system.knm("orders", "settle")
    assert done["outcomes"].get(number) == "provisioned", done  # the first address, kept
    assert system.orders() == []
    after = system.record(number)  # the carrier holds the first address: nothing changed
    assert after["e911"]["street_address"] == before["e911"]["street_address"]
    assert after["e911"]["status"] == "PROVISIONED"
    assert sim.held_street(number).upper() == STREET.upper()
    assert sim.registrations(number) == 1


@pytest.mark.parametrize("carrier", ["telnyx", "twilio"], indirect=True)
def test_a_release_settles_a_dead_save_first(system: System) -> None:
    """No `knm orders settle` in between: the release itself finds what the dead save
    registered and removes it at the carrier."""
    sim = system.carrier
    number = system.bought()
    sim.switches(ambiguous="timeout", match=sim.registration)
    saver = system.save_e911(number, STREET)
    _wait_for(lambda: sim.registrations(number) == 1)
    _kill(saver)
    sim.calm()
    _wait_for(lambda: sim.held_street(number) is not None)
    time.sleep(1.5)
    system.knm("release", number)
    assert sim.held_street(number) is None
    assert system.orders() == []


@pytest.mark.parametrize("carrier", ["telnyx"], indirect=True)  # the claim decides, not it
def test_a_live_save_is_never_settled_from_under_it(system: System) -> None:
    sim = system.carrier
    number = system.bought()
    # the check hangs until the saver gives up (`timeout_ms`, 10 s): alive all that while
    sim.switches(hang=True, match=VALIDATION[sim.name], times=1)
    saver = system.save_e911(number, STREET)
    _wait_for(lambda: bool(sim.requests(VALIDATION[sim.name])))
    time.sleep(1.5)  # longer than the lease: only a live holder's renewals keep it
    assert _listed(system, number)["status"] == "in_progress"
    busy = system.knm("orders", "settle", check=False)
    assert number in busy["error"], busy
    assert "another request" in json.dumps(busy["error"][number])
    assert _listed(system, number)["status"] == "in_progress"  # its intent is untouched
    saver.communicate(timeout=60)
    # the save finished itself (registered after a retried check, or refused): its record
    # and the carrier agree, and nothing is left listed
    assert system.orders() == []
    shown = system.record(number).get("e911")
    held = sim.held_street(number)
    if held is None:
        assert not shown, shown
    else:
        assert shown["status"] == "PROVISIONED" and held.upper() == STREET.upper()


@pytest.mark.parametrize("carrier", ["telnyx", "flowroute"], indirect=True)
def test_a_new_save_settles_a_dead_one_first(system: System) -> None:
    """No settling in between: the next save of the address finds the dead save's intent
    and records what the carrier holds first — even when the carrier then refuses the new
    address — and a save after that registers its own address."""
    sim = system.carrier
    number = system.bought()
    sim.switches(ambiguous="timeout", match=sim.registration)
    saver = system.save_e911(number, STREET)
    _wait_for(lambda: sim.registrations(number) == 1)
    _kill(saver)
    sim.calm()
    time.sleep(1.5)
    refused = system.knm("numbers", "e911", number, "--street", OTHER_STREET, "--city",
                         "San Francisco", "--state", "CA", "--postal-code", "00000",
                         check=False)
    assert refused is None or "error" in json.dumps(refused).lower()
    record = system.record(number)  # the dead save's address, recorded before the refusal
    assert record["e911"]["status"] == "PROVISIONED", record
    assert record["e911"]["street_address"].upper() == STREET.upper()
    assert system.orders() == []
    saved = system.knm("numbers", "e911", number, "--street", OTHER_STREET, *ADDRESS)
    assert saved["e911"]["status"] == "PROVISIONED"
    assert saved["e911"]["street_address"].upper() == OTHER_STREET.upper()
    assert sim.held_street(number).upper() == OTHER_STREET.upper()
    assert system.orders() == []
    system.knm("release", number)
    assert sim.held_street(number) is None


@pytest.mark.parametrize("carrier", ["telnyx"], indirect=True)
def test_killed_while_the_carrier_lists_a_caller_name(system: System) -> None:
    sim = system.carrier
    number = system.bought()
    sim.switches(ambiguous="timeout", match="PATCH /phone_numbers/")
    saver = system.start("numbers", "cnam", number, "ACME WIDGETS")
    _wait_for(lambda: bool(sim.requests("PATCH /phone_numbers/")))
    _kill(saver)
    sim.calm()
    assert _listed(system, number)["operation"] == "cnam"
    time.sleep(1.5)
    done = system.knm("orders", "settle")
    assert done["outcomes"][number] == "provisioned", done
    record = system.record(number)
    assert record["cnam"]["display_name"] == "ACME WIDGETS"
    assert record["cnam"]["status"] == "PROVISIONED"
    assert system.orders() == []


@pytest.mark.parametrize("carrier", ["bandwidth2"], indirect=True)
def test_a_carrier_that_cannot_tell_leaves_it_listed(system: System) -> None:
    """Bandwidth's E911 orders are found by ids the dead save never stored: the save stays
    listed and settling says why. A refused save of the address keeps it listed; one the
    carrier takes replaces it there, and a release removes that at the carrier."""
    sim = system.carrier
    number = system.bought()
    sim.switches(ambiguous="timeout", match=sim.registration)
    saver = system.save_e911(number, STREET)
    _wait_for(lambda: sim.registrations(number) == 1)
    _kill(saver)
    sim.calm()
    time.sleep(1.5)
    done = system.knm("orders", "settle", check=False)
    said = json.dumps(done["error"][number])
    assert "cannot say what such a save registered" in said, said
    assert _listed(system, number)["status"] == "unknown"
    refused = subprocess.run([KNM, "numbers", "e911", number, "--street", OTHER_STREET,
                              "--city", "San Francisco", "--state", "CA", "--postal-code",
                              "00000", "--db", system.db, "--json"], capture_output=True,
                             text=True, timeout=90, env=_env())
    assert refused.returncode != 0
    assert _listed(system, number)["status"] == "unknown"  # still: something may be there
    saved = system.knm("numbers", "e911", number, "--street", OTHER_STREET, *ADDRESS)
    assert saved["e911"]["status"] == "PROVISIONED"
    assert system.orders() == []
    assert sim.registrations(number) == 2
    system.knm("release", number)
    assert sim.registrations(number) == 3  # the removal order
    assert not system.record(number).get("e911")
