"""What the CLI tests share: running `knm` in-process with click's CliRunner on a real
database (SQLite and PostgreSQL through `db`) or as the installed script, the accounts and the
inventory file most tests start from, and carriers defined at run time.

Every command is run with `--json` and its single JSON document parsed; every refusal is
checked for a non-zero exit and Kazoo's error JSON (slug and cause) on stderr. Test modules
load the fixtures with `pytest_plugins = ["cli_support"]`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import CHILD, MASTER

from knm.carriers import registry
from knm.carriers.base import Carrier, SearchResult
from knm.cli import cli

KNM = Path(sys.executable).with_name("knm")


def knm(db: str, *args: str, as_json: bool = True) -> Result:
    extra = ["--json"] if as_json else []
    return CliRunner().invoke(cli, [*args, *extra, "--db", db])


def human(db: str, *args: str, columns: int = 80) -> Result:
    """A run as a person sees it (no `--json`), on a terminal `columns` wide."""
    return CliRunner().invoke(cli, [*args, "--db", db], env={"COLUMNS": str(columns)})


def ok(db: str, *args: str) -> Any:
    result = knm(db, *args)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def refused(db: str, *args: str, slug: str = "invalid", cause: str | None = None
            ) -> dict[str, Any]:
    """Run a command that must fail: non-zero exit, nothing on stdout, error JSON on stderr."""
    result = knm(db, *args)
    assert result.exit_code != 0, result.stdout
    assert result.stdout == ""
    err = json.loads(result.stderr)
    assert err["error"] == slug, err
    if cause is not None:
        assert err.get("cause") == cause, err
    assert "Traceback" not in result.stderr
    return err


@pytest.fixture
def master(db: str) -> str:
    ok(db, "accounts", "create", "master", "--id", MASTER, "--admin", "--reseller",
       "--allow-additions")
    ok(db, "accounts", "create", "child", "--id", CHILD, "--parent", MASTER)
    return MASTER


@pytest.fixture
def inventory_csv(tmp_path: Path) -> Path:
    path = tmp_path / "numbers.csv"
    rows = ["number,note"] + [f"+1415886790{i},stock" for i in range(10)] + ["+12125550100,x"]
    path.write_text("\n".join(rows) + "\n")
    return path


class _Good(Carrier):
    name = "knm_cli_test_good"
    local = True

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        return [SearchResult(f"{prefix}55501{i:02d}", self.name) for i in range(3)]

    def acquire_number(self, number):  # type: ignore[no-untyped-def]
        return number

    def disconnect_number(self, number):  # type: ignore[no-untyped-def]
        return number


class _Broken(_Good):
    name = "knm_cli_test_broken"

    def find_numbers(self, prefix, quantity, options):  # type: ignore[no-untyped-def]
        raise RuntimeError("carrier exploded")


@pytest.fixture
def fake_carriers() -> Any:
    registry.register(_Good)
    registry.register(_Broken)
    yield
    registry.unregister(_Good.name)
    registry.unregister(_Broken.name)


def _script(*args: str, env_db: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KNM_DATABASE_URL": env_db, "KNM_NO_PROGRESS": "1", **env_extra}
    return subprocess.run([str(KNM), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(proc: subprocess.Popen[str], port: int) -> int | None:
    import time

    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
        except httpx.TransportError:
            time.sleep(0.1)
    return None


def serve_log(url: str, folder: Path) -> str:
    """What `knm serve --db URL` logs from start until it answers `/healthz` (then stopped)."""
    port = _free_port()
    log = folder / "serve.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([str(KNM), "serve", "--port", str(port), "--db", url],
                                stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                env={**os.environ, "KNM_CACHE_URL": ""})
        try:
            assert _wait_healthy(proc, port) == 200
        finally:
            proc.terminate()
            proc.wait(timeout=15)
    return log.read_text()
