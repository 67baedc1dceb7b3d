"""`knm demo` as a newcomer runs it: start, follow the printed steps, Ctrl-C."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from knm.simulators.server import free_port


def _knm() -> list[str]:
    exe = Path(sys.executable).with_name("knm")
    return [str(exe)] if exe.exists() else [shutil.which("knm") or "knm"]


def _read_until(proc: subprocess.Popen[str], marker: str, timeout: float = 60) -> str:
    seen = []
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                break
            continue
        seen.append(line)
        if marker in line:
            # the curl line follows the heading
            seen.append(proc.stdout.readline())
            return "".join(seen)
    raise AssertionError(f"demo never printed {marker!r}; it printed:\n{''.join(seen)}")


def test_demo_searches_buys_and_releases_then_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "XDG_DATA_HOME": str(tmp_path)}
    env.pop("KNM_DATABASE_URL", None)
    proc = subprocess.Popen([*_knm(), "demo", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    try:
        text = _read_until(proc, "3. Release it")
        api = f"http://127.0.0.1:{port}/v2"
        assert api in text
        key = re.search(r"API key\s+(\w+)", text).group(1)
        # printed first: the console, and the key to paste into it
        console = re.search(r"console: (\S+)\s+\(log in with API key (\w+)\)", text)
        assert console and console.groups() == (f"http://127.0.0.1:{port}/console", key)
        assert console.start() < text.index("knm demo is running")
        account = re.search(r"account\s+(\w{32})", text).group(1)
        number = re.search(r"2\. Buy (\+\d+)", text).group(1)
        for name in ("knm_bandwidth2", "knm_telnyx", "knm_vitelity", "knm_other"):
            assert name in text

        with httpx.Client(base_url=api, timeout=30) as client:
            auth = client.put("/api_auth", json={"data": {"api_key": key}})
            assert auth.status_code in (200, 201), auth.text
            headers = {"X-Auth-Token": auth.json()["auth_token"]}
            page = client.get(f"http://127.0.0.1:{port}/console")
            assert page.status_code == 200 and "knm console" in page.text

            found = client.get(f"/accounts/{account}/phone_numbers",
                               params={"prefix": "415", "quantity": 5}, headers=headers)
            assert found.status_code == 200, found.text
            numbers = [row["number"] for row in found.json()["data"]]
            assert len(numbers) == 5 and all(n.startswith("+1415") for n in numbers)

            encoded = number.replace("+", "%2B")
            bought = client.put(f"/accounts/{account}/phone_numbers/{encoded}/activate",
                                json={"data": {}}, headers=headers)
            assert bought.status_code in (200, 201), bought.text
            assert bought.json()["data"]["_read_only"]["state"] == "in_service"

            released = client.delete(f"/accounts/{account}/phone_numbers/{encoded}",
                                     headers=headers)
            assert released.status_code == 200, released.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            rest, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, rest
    assert "knm demo stopped." in rest
