"""`knm demo` as a newcomer runs it: start, follow the printed steps, Ctrl-C."""

from __future__ import annotations

import json
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


def _document(proc: subprocess.Popen[str], timeout: float = 60) -> dict:
    """The one JSON document `knm demo --json` prints once it listens."""
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        lines.append(line)
        if line.rstrip() == "}":
            return json.loads("".join(lines))
    raise AssertionError(f"demo printed no document: {''.join(lines)!r}")


def test_demo_and_the_cli_are_one_system(tmp_path: Path) -> None:
    """A number the demo's API found is bought with the printed `KNM_DATABASE_URL=… knm`
    line (and the other way round); Ctrl-C removes the demo's temporary folder."""
    port = free_port()
    env = {**os.environ, "TMPDIR": str(tmp_path), "KNM_NO_PROGRESS": "1"}
    env.pop("KNM_DATABASE_URL", None)
    env.pop("KNM_CACHE_URL", None)
    proc = subprocess.Popen([*_knm(), "demo", "--port", str(port), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        doc = _document(proc)
        account, api = doc["account_id"], doc["api"]
        assert doc["cli"].startswith("KNM_DATABASE_URL=") and " search 415 " in doc["cli"]
        assert doc["switches"]["fail"].startswith("curl -s -X POST http://127.0.0.1:")
        assert "/_sim/" in doc["switches"]["fail"]
        folder = Path(doc["database"].removeprefix("sqlite:///")).parent
        assert folder.parent == tmp_path and folder.name.startswith("knm-demo-")
        cli_env = doc["cli"].split(" ", 1)[0]  # KNM_DATABASE_URL=…, as printed

        def cli(*args: str) -> dict:
            done = subprocess.run(["bash", "-c", " ".join([cli_env, *_knm(), *args, "--json"])],
                                  capture_output=True, text=True, env=env, timeout=60)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        with httpx.Client(base_url=api, timeout=30) as client:
            token = client.put("/api_auth", json={"data": {"api_key": doc["api_key"]}}
                               ).json()["auth_token"]
            headers = {"X-Auth-Token": token}
            found = client.get(f"/accounts/{account}/phone_numbers", headers=headers,
                               params={"prefix": "415", "quantity": 10}).json()["data"]
            number = next(r["number"] for r in found if r["state"] == "discovery")
            bought = cli("buy", number, "--account", account)  # found by the API
            assert bought["pvt_state"] == "in_service" and bought["pvt_assigned_to"] == account

            by_cli = cli("search", "415", "--account", account, "--quantity", "10")
            other = next(r["number"] for r in by_cli["numbers"]
                         if r["state"] == "discovery" and r["number"] != number)
            activated = client.put(f"/accounts/{account}/phone_numbers/"
                                   f"{other.replace('+', '%2B')}/activate",
                                   json={"data": {}}, headers=headers)  # found by the CLI
            assert activated.status_code == 201, activated.text
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "knm demo stopped." in err  # with --json, stdout held only the document
    assert not folder.exists()


def test_demo_refuses_a_database_that_is_not_empty(tmp_path: Path) -> None:
    used = tmp_path / "used.sqlite"
    env = {**os.environ, "KNM_DATABASE_URL": f"sqlite:///{used}"}
    subprocess.run([*_knm(), "accounts", "create", "mine"], check=True, env=env,
                   capture_output=True, timeout=60)
    done = subprocess.run([*_knm(), "demo", "--port", str(free_port()), "--db", str(used),
                           "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    err = json.loads(done.stderr)
    assert err["error"] == "invalid" and err["cause"] == "db" and "not empty" in err["message"]


def test_the_banner_says_how_to_use_the_cli_and_the_switches() -> None:
    from knm.demo import DemoSystem, instructions

    demo = DemoSystem(db_url="sqlite:////tmp/knm-demo-x/knm.sqlite",
                      api_url="http://127.0.0.1:8000/v2", account_id="a" * 32, api_key="k",
                      simulators={"knm_telnyx": "http://127.0.0.1:4001",
                                  "knm_other": "http://127.0.0.1:4002"},
                      sample_number="+14155550100")
    text = instructions(demo)
    assert (f"KNM_DATABASE_URL=sqlite:////tmp/knm-demo-x/knm.sqlite {_knm_word()} buy "
            f"+14155550100 --account {'a' * 32}") in text
    assert "curl -s -X POST http://127.0.0.1:4001/_sim/switches -d " in text
    assert "http://127.0.0.1:4001/_sim/reset" in text


def _knm_word() -> str:
    from knm import runtime

    return runtime.knm_command()
