"""`knm simulate CARRIER`: one simulator in a process of its own, and knm pointed at it by the
lines it prints — so the carrier can die while knm buys through it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import KNM, ok, refused

pytest_plugins = ["cli_support"]


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(KNM), "simulate", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _document(proc: subprocess.Popen[str], timeout: float = 30) -> dict[str, Any]:
    """The one JSON document `--json` prints once the simulator listens."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if line.rstrip() == "}":
            return dict(json.loads("".join(lines)))
    raise AssertionError(f"no document; printed {''.join(lines)!r}")


@pytest.fixture
def telnyx() -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    proc = _start("telnyx", "--json")
    try:
        yield proc, _document(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def _run(line: str, url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KNM_DATABASE_URL": url, "KNM_NO_PROGRESS": "1"}
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, env=env,
                          timeout=60)


def test_buy_through_a_simulator_in_its_own_process_then_kill_it(
        telnyx: tuple[subprocess.Popen[str], dict[str, Any]], tmp_path: Path) -> None:
    proc, printed = telnyx
    assert printed["carrier"] == "knm_telnyx" and printed["url"].startswith("http://127.0.0.1:")
    url = f"sqlite:///{tmp_path / 'knm.sqlite'}"
    for line in printed["commands"]:  # exactly as printed, in a shell
        assert " config set number_manager.telnyx " in line
        done = _run(line, url)
        assert done.returncode == 0, (line, done.stderr)
    account = _run(f"{KNM} accounts create Acme --reseller --quiet", url).stdout.strip()
    found = ok(url, "search", "415", "--carrier", "telnyx", "--account", account,
               "--quantity", "3")
    first, second = [row["number"] for row in found["numbers"][:2]]
    bought = ok(url, "buy", first, "--account", account)
    assert bought["pvt_state"] == "in_service" and bought["pvt_module_name"] == "knm_telnyx"

    proc.send_signal(signal.SIGKILL)  # the carrier is gone, mid-session
    proc.wait(timeout=10)
    err = refused(url, "buy", second, "--account", account, slug="carrier_unavailable")
    assert err["carrier"] == "knm_telnyx" and "Connection refused" in err["carrier_message"]
    # a refused connection never reached the carrier: refused (SPEC §5.1), nothing kept
    assert err.get("unsettled") is None and ok(url, "orders") == []
    assert ok(url, "numbers", "get", first)["pvt_state"] == "in_service"


def test_simulate_prints_what_to_paste_and_stops_on_ctrl_c() -> None:
    proc = _start("bandwidth2")
    try:
        assert proc.stdout is not None
        banner = [proc.stdout.readline()]
        while "/_sim/switches" not in banner[-1] and banner[-1]:  # the last line printed
            banner.append(proc.stdout.readline())
        assert "knm_bandwidth2 simulator listening on http://127.0.0.1:" in banner[0]
        assert "config set number_manager.bandwidth2 base_url http://127.0.0.1:" in banner[3]
        assert "curl -s -X POST http://127.0.0.1:" in banner[-1]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0 and "knm_bandwidth2 simulator stopped." in out


def test_simulate_refuses_a_carrier_without_a_simulator(db: str) -> None:
    err = refused(db, "simulate", "local", cause="carrier")
    assert "knm_telnyx" in err["message"]  # the simulators there are
    refused(db, "simulate", "nonesuch", cause="carrier")
