"""SPEC §12's last sentence: every carrier request has ONE total deadline and a bounded
answer. Hostile servers on real loopback sockets (tests/carriers/hostile.py): a 200 MB body,
a gzip bomb, a body dripping a byte at a time, a 200 MB error page behind `knm serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from api_support import interrupt, wait_healthy
from hostile import HostileServer, big_body, drip, gzip_bomb

from knm import config, errors
from knm.carriers.base import SearchOptions
from knm.carriers.telnyx import Telnyx
from knm.record import PhoneNumber
from knm.simulators.server import free_port

BIG = 200 << 20
#: how much the searching process may grow reading a hostile answer (SPEC: bounded)
MAX_GROWTH_KB = 100 << 10
#: slack on a deadline: thread hand-off and a loaded CI machine
MARGIN_S = 0.5

RSS_PROBE = r"""
import json, resource, sys
from knm import errors
from knm.carriers.base import SearchOptions
from knm.carriers.telnyx import Telnyx

carrier = Telnyx({"api_key": "k-123456", "base_url": sys.argv[1]})
carrier.client  # pooled client built: what every search already has
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
try:
    carrier.find_numbers("+1415", 5, SearchOptions())
    outcome = {"kind": None}
except errors.KnmError as exc:
    outcome = {"kind": type(exc).__name__, "message": exc.carrier_message,
               "unsettled": exc.unsettled}
outcome["grown_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
print(json.dumps(outcome))
"""


def _search_in_a_subprocess(url: str) -> dict:
    run = subprocess.run([sys.executable, "-c", RSS_PROBE, url], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def _telnyx(url: str, **settings: object) -> Telnyx:
    return Telnyx({"api_key": "k-123456", "base_url": url, **settings})


# -- bounded answers --------------------------------------------------------------------------


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_a_200_mb_answer_is_malformed_and_costs_little_memory(announced: bool) -> None:
    with HostileServer(big_body(200, BIG, "application/json", announced=announced)) as server:
        outcome = _search_in_a_subprocess(server.url)
    assert outcome["kind"] == "MalformedResponse", outcome
    assert "max_response_bytes" in outcome["message"]
    assert outcome["grown_kb"] < MAX_GROWTH_KB, outcome


def test_a_gzip_bomb_is_malformed_and_costs_little_memory() -> None:
    with HostileServer(gzip_bomb(200, BIG)) as server:
        outcome = _search_in_a_subprocess(server.url)
    assert outcome["kind"] == "MalformedResponse", outcome
    assert outcome["grown_kb"] < MAX_GROWTH_KB, outcome


def test_a_200_mb_error_page_is_read_as_a_short_prefix() -> None:
    with HostileServer(big_body(500, BIG)) as server:
        started = time.monotonic()
        outcome = _search_in_a_subprocess(server.url)
        took = time.monotonic() - started
    assert outcome["kind"] == "CarrierUnavailable", outcome
    assert outcome["message"].startswith("xxx") and len(outcome["message"]) <= 501
    assert outcome["grown_kb"] < MAX_GROWTH_KB, outcome
    assert took < 10, "the rest of the page was never read"


def test_a_purchase_answer_over_the_limit_is_unsettled() -> None:
    with HostileServer(big_body(200, 3 << 20, "application/json")) as server:
        carrier = _telnyx(server.url, max_response_bytes=1 << 20)
        with pytest.raises(errors.MalformedResponse) as info:
            carrier.acquire_number(PhoneNumber.new("+14155550100"))
    assert info.value.unsettled is True  # the order may have been placed
    assert info.value.carrier == "knm_telnyx"


# -- one total deadline ------------------------------------------------------------------------


@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_server_cannot_hold_a_search_past_its_deadline(headers_too: bool) -> None:
    with HostileServer(drip(200, 0.2, headers_too=headers_too)) as server:
        carrier = _telnyx(server.url)
        started = time.monotonic()
        with pytest.raises(errors.CarrierTimeout):
            carrier.find_numbers("+1415", 5, SearchOptions(deadline=started + 1.0))
        assert time.monotonic() - started < 1.0 + MARGIN_S


def test_a_dripping_server_cannot_hold_a_purchase_past_timeout_ms() -> None:
    with HostileServer(drip(200, 0.2)) as server:
        carrier = _telnyx(server.url, timeout_ms=1500)
        started = time.monotonic()
        with pytest.raises(errors.CarrierTimeout) as info:
            carrier.acquire_number(PhoneNumber.new("+14155550100"))
        assert time.monotonic() - started < 1.5 + 1.0
    assert info.value.unsettled is True  # sent, then no whole answer: it may have acted


# -- an API worker stays responsive ------------------------------------------------------------


def test_healthz_answers_while_a_worker_reads_a_200_mb_error_page(db: str,
                                                                  tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with HostileServer(big_body(500, BIG, "application/xml")) as hostile:
        for key, value in {"base_url": hostile.url, "account_id": "1", "site_id": "2",
                           "api_username": "u", "api_password": "p-123456"}.items():
            config.set("number_manager.bandwidth2", key, value)
        config.set("number_manager", "carrier_modules", ["knm_bandwidth2"])
        # every search must reach the carrier: none answered from the last one's memory
        config.set("number_manager", "public_search_reuse_s", 0)
        env = dict(os.environ)
        env.pop("KNM_DATABASE_URL", None)
        stderr = (tmp_path / "stderr.log").open("w")
        proc = subprocess.Popen(
            [sys.executable, "-c", "import sys; from knm.api import serve; "
             "serve('127.0.0.1', int(sys.argv[1]), sys.argv[2], 1)", str(port), db],
            stdout=subprocess.DEVNULL, stderr=stderr, env=env)
        try:
            wait_healthy(url, proc)
            answers: list[int] = []

            def search() -> None:
                for _ in range(3):
                    answers.append(httpx.get(f"{url}/v2/phone_numbers",
                                             params={"prefix": "415"}, timeout=60).status_code)

            searching = threading.Thread(target=search)
            searching.start()
            slowest = 0.0
            with httpx.Client(base_url=url, timeout=5) as client:
                while searching.is_alive():
                    started = time.monotonic()
                    assert client.get("/healthz").status_code == 200
                    slowest = max(slowest, time.monotonic() - started)
                    time.sleep(0.02)
            searching.join()
        finally:
            interrupt(proc)
    assert len(hostile.requests) >= 3, "the searches reached the hostile carrier"
    assert len(answers) == 3, "every search was answered"
    assert slowest < 0.5, f"/healthz took {slowest:.3f}s"
