"""The `knm` command, run in-process with click's CliRunner on a real database (SQLite and
PostgreSQL through `db`), plus a couple of runs of the installed `knm` script.

Every command is run with `--json` and its single JSON document parsed; every refusal is
checked for a non-zero exit and Kazoo's error JSON (slug and cause) on stderr.
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
from conftest import CHILD, FIXTURES, MASTER

from knm import accounts, config
from knm.carriers import registry
from knm.carriers.base import Carrier, SearchResult
from knm.cli import cli, parse_value

KNM = Path(sys.executable).with_name("knm")


def knm(db: str, *args: str, as_json: bool = True) -> Result:
    extra = ["--json"] if as_json else []
    return CliRunner().invoke(cli, [*args, *extra, "--db", db])


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


# -- accounts ---------------------------------------------------------------------------------


def test_accounts_create_list_and_api_key(db: str) -> None:
    created = ok(db, "accounts", "create", "master", "--id", MASTER, "--admin", "--reseller")
    assert created["id"] == MASTER and created["superduper_admin"] and created["is_reseller"]
    child = ok(db, "accounts", "create", "child", "--parent", MASTER, "--allow-additions")
    assert child["parent_id"] == MASTER and child["tree"] == [MASTER]
    assert child["allow_number_additions"] and not child["is_reseller"]

    listed = ok(db, "accounts", "list")
    assert [a["id"] for a in listed] == [MASTER, child["id"]]

    key = ok(db, "accounts", "api-key", child["id"])
    assert key["account_id"] == child["id"]
    assert accounts.account_for_api_key(key["api_key"]) == child["id"]


def test_accounts_bad_input(db: str) -> None:
    refused(db, "accounts", "create", "x", "--id", "short", cause="account_id")
    refused(db, "accounts", "create", "x", "--parent", "f" * 32, cause="parent_id")
    refused(db, "accounts", "api-key", "f" * 32, cause="account_id")
    ok(db, "accounts", "create", "master", "--id", MASTER)
    refused(db, "accounts", "create", "again", "--id", MASTER, slug="account_exists")


# -- config -----------------------------------------------------------------------------------


def test_parse_value_json_or_bare_word() -> None:
    assert parse_value("42") == 42
    assert parse_value("true") is True
    assert parse_value('["knm_local", "knm_inventory"]') == ["knm_local", "knm_inventory"]
    assert parse_value("knm_local") == "knm_local"
    assert parse_value("+14158867900") == "+14158867900"
    assert parse_value("null") is None


def test_config_set_and_get(db: str, master: str) -> None:
    out = ok(db, "config", "set", "number_manager", "maximum_search_quantity", "50")
    assert out["value"] == 50
    assert config.system("maximum_search_quantity") == 50
    ok(db, "config", "set", "number_manager", "available_module_name", "knm_inventory")
    assert config.system("available_module_name") == "knm_inventory"
    ok(db, "config", "set", "number_manager", "carrier_modules", '["knm_local","knm_inventory"]')
    got = ok(db, "config", "get", "number_manager", "carrier_modules")
    assert got["value"] == ["knm_local", "knm_inventory"]

    # per node and per account
    ok(db, "config", "set", "number_manager", "number_search_timeout_ms", "900", "--node", "n1")
    assert ok(db, "config", "get", "number_manager", "number_search_timeout_ms", "--node",
              "n1")["value"] == 900
    assert ok(db, "config", "get", "number_manager", "number_search_timeout_ms", "--node",
              "n2")["value"] == 5000
    ok(db, "config", "set", "number_manager", "carrier_modules", '["knm_local"]', "--account",
       CHILD)
    assert ok(db, "config", "get", "number_manager", "carrier_modules", "--account",
              CHILD)["value"] == ["knm_local"]

    whole = ok(db, "config", "get", "number_manager")
    assert whole["maximum_search_quantity"] == 50 and whole["search_cache_ttl_s"] == 900


def test_config_secrets_are_masked(db: str) -> None:
    out = ok(db, "config", "set", "number_manager.vitelity", "password", "hunter2-secret")
    assert out["value"] == "***"
    assert config.get("number_manager.vitelity", "password") == "hunter2-secret"
    for args in (("config", "get", "number_manager.vitelity", "password"),
                 ("config", "get", "number_manager.vitelity")):
        result = knm(db, *args)
        assert result.exit_code == 0
        assert "hunter2" not in result.stdout and "***" in result.stdout
    human = knm(db, "config", "set", "number_manager.vitelity", "password", "hunter3",
                as_json=False)
    assert human.exit_code == 0 and "hunter3" not in human.stdout


def test_config_bad_input(db: str) -> None:
    refused(db, "config", "set", "number_manager", "carrier_modules", '["knm_local",',
            cause="value")
    refused(db, "config", "set", "number_manager", "x", '{"a": }', cause="value")
    refused(db, "config", "set", "number_manager", "x", "1", "--account", "f" * 32,
            cause="account_id")
    refused(db, "config", "get", "number_manager", "x", "--account", "nope",
            cause="account_id")
    refused(db, "config", "set", "number_manager", "only_key")  # VALUE missing: usage error


# -- search -----------------------------------------------------------------------------------


def test_search_bad_input(db: str, master: str) -> None:
    refused(db, "search", "4I5", cause="prefix")
    refused(db, "search", "+1+1415", cause="prefix")
    refused(db, "search", "415", "--quantity", "0", cause="quantity")
    err = refused(db, "search", "415", "--quantity", str(10**9), cause="quantity")
    assert "500" in err["message"]  # names maximum_search_quantity
    refused(db, "search", "415", "--quantity", "ten", cause="quantity")
    refused(db, "search", "415", "--offset", "-1", cause="offset")
    refused(db, "search", "415", "--country", "ZZ", cause="country")
    refused(db, "search", "415", "--account", "f" * 32, cause="account_id")
    err = refused(db, "search", "415", "--carrier", "no_such_carrier", cause="carrier")
    assert "no_such_carrier" in err["message"]


def test_search_quantity_cap_follows_config(db: str) -> None:
    ok(db, "config", "set", "number_manager", "maximum_search_quantity", "20")
    refused(db, "search", "415", "--quantity", "21", cause="quantity")
    assert ok(db, "search", "415", "--quantity", "20")["numbers"] == []


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
def test_carriers() -> Any:
    registry.register(_Good)
    registry.register(_Broken)
    yield
    registry.unregister(_Good.name)
    registry.unregister(_Broken.name)


def test_search_reports_each_carrier(db: str, test_carriers: None) -> None:
    out = ok(db, "search", "415", "--quantity", "2", "--carrier", "cli_test_good",
             "--carrier", "knm_cli_test_broken")
    assert out["numbers"] == [{"number": "+14155550100", "state": "discovery"},
                              {"number": "+14155550101", "state": "discovery"}]
    assert out["carriers"]["knm_cli_test_good"]["outcome"] == "answered"
    assert out["carriers"]["knm_cli_test_broken"]["outcome"] == "failed"
    assert out["from_cache"] is False

    page = ok(db, "search", "415", "--quantity", "2", "--offset", "2", "--query-id",
              out["query_id"])
    assert page["from_cache"] is True
    assert page["numbers"] == [{"number": "+14155550102", "state": "discovery"}]

    human = knm(db, "search", "+1415", "--carrier", "cli_test_good", "--carrier",
                "cli_test_broken", as_json=False)
    assert human.exit_code == 0
    assert "+14155550100" in human.stdout and "failed" in human.stdout


# -- errors that are not knm's ----------------------------------------------------------------


class _BadPlugin(_Good):
    """A third-party carrier with a bug in its settings declaration."""

    name = "knm_cli_test_badplugin"

    @classmethod
    def secret_keys(cls) -> set[str]:
        raise RuntimeError("plugin bug")


def test_unexpected_exception_is_internal_error_not_traceback(db: str) -> None:
    registry.register(_BadPlugin)
    try:
        err = refused(db, "carriers", slug="internal_error")
        assert err["code"] == 500 and "RuntimeError: plugin bug" in err["cause"]
        human = knm(db, "carriers", as_json=False)
        assert human.exit_code == 1
        assert "internal_error" in human.stderr and "Traceback" not in human.stderr
    finally:
        registry.unregister(_BadPlugin.name)


def test_usage_errors_are_invalid(db: str) -> None:
    err = refused(db, "search")  # PREFIX missing
    assert err["cause"] == "prefix"
    refused(db, "search", "415", "--no-such-option")
    refused(db, "no-such-command")
    result = knm(db, "buy", "+14158867900")  # --account is required
    assert result.exit_code == 2 and json.loads(result.stderr)["cause"] == "account_id"


# -- the installed script ---------------------------------------------------------------------


def _script(*args: str, env_db: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KNM_DATABASE_URL": env_db, "KNM_NO_PROGRESS": "1", **env_extra}
    return subprocess.run([str(KNM), *args], capture_output=True, text=True, env=env,
                          timeout=60)


def test_installed_script_json_and_human_errors(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'script.sqlite'}"
    bad = _script("search", "415", "--quantity", "0", "--json", env_db=url)
    assert bad.returncode == 1 and bad.stdout == ""
    assert json.loads(bad.stderr) == {"code": 400, "error": "invalid", "cause": "quantity",
                                      "message": "quantity must be at least 1"}

    human = _script("search", "415", "--account", "f" * 32, env_db=url)
    assert human.returncode == 1
    assert "invalid" in human.stderr and "account" in human.stderr
    assert "Traceback" not in human.stderr


def test_db_option_takes_a_plain_path(tmp_path: Path) -> None:
    other_db = tmp_path / "sub" / "other.sqlite"
    created = ok(str(other_db), "accounts", "create", "master", "--id", MASTER)
    assert created["id"] == MASTER and other_db.exists()
    assert [a["id"] for a in ok(f"sqlite:///{other_db}", "accounts", "list")] == [MASTER]


def test_installed_script_pages_from_redis_cache(tmp_path: Path, redis_url: str,
                                                 inventory_csv: Path) -> None:
    """Each `knm` run is a new process: paging reuses the first run's results via Redis."""
    from knm import store
    from knm.numbers.stock import import_inventory

    url = f"sqlite:///{tmp_path / 'paging.sqlite'}"
    store.use(url)
    accounts.create("m", account_id=MASTER)
    assert import_inventory([f"+1415886790{i}" for i in range(10)]) == 10
    env = {"KNM_CACHE_URL": redis_url}
    first = _script("search", "415886", "--quantity", "4", "--carrier", "inventory", "--account",
                    MASTER, "--json", env_db=url, **env)
    assert first.returncode == 0, first.stderr
    page1 = json.loads(first.stdout)
    assert [r["number"] for r in page1["numbers"]] == [f"+1415886790{i}" for i in range(4)]
    assert page1["carriers"]["knm_inventory"]["outcome"] == "answered"
    second = _script("search", "415886", "--quantity", "4", "--offset", "4", "--carrier",
                     "inventory", "--account", MASTER, "--query-id", page1["query_id"], "--json",
                     env_db=url, **env)
    page2 = json.loads(second.stdout)
    assert page2["from_cache"] is True and page2["carriers"] == {}
    assert [r["number"] for r in page2["numbers"]] == [f"+1415886790{i}" for i in range(4, 8)]


# -- numbers: import, search, buy, get, list, release -----------------------------------------


def test_import_search_buy_list_release(db: str, master: str, inventory_csv: Path) -> None:
    result = knm(db, "numbers", "import", str(inventory_csv))
    assert result.exit_code == 0 and result.stderr == ""  # not a terminal: no progress bar
    imported = json.loads(result.stdout)
    assert imported["imported"] == 11 and imported["failed"] == 0
    assert ok(db, "numbers", "import", str(inventory_csv))["imported"] == 0  # already there

    found = ok(db, "search", "415886", "--quantity", "3", "--account", CHILD, "--carrier",
               "inventory")
    assert found["numbers"] == [{"number": f"+1415886790{i}", "state": "available"}
                                for i in range(3)]

    dry = ok(db, "buy", "+14158867900", "--account", CHILD, "--dry-run")
    assert dry["_id"] == "+14158867900"
    assert ok(db, "numbers", "get", "+14158867900")["pvt_state"] == "available"

    bought = ok(db, "buy", "(415) 886-7900", "--account", CHILD)
    assert bought["_id"] == "+14158867900"
    assert bought["pvt_state"] == "in_service" and bought["pvt_assigned_to"] == CHILD
    got = ok(db, "numbers", "get", "+14158867900")
    assert got["pvt_state"] == "in_service" and got["pvt_module_name"] == "knm_inventory"
    assert [d["_id"] for d in ok(db, "numbers", "list", "--account", CHILD)] == ["+14158867900"]

    released = ok(db, "release", "+14158867900")
    assert released["pvt_state"] != "in_service"
    assert released.get("pvt_assigned_to") in (None, "")
    assert ok(db, "numbers", "list", "--account", CHILD) == []

    human = knm(db, "numbers", "get", "+14158867901", as_json=False)
    assert human.exit_code == 0 and "+14158867901" in human.stdout and "available" in human.stdout


def test_bulk_buy_reports_each_number(db: str, master: str, inventory_csv: Path) -> None:
    ok(db, "numbers", "import", str(inventory_csv))
    result = knm(db, "buy", "+14158867901", "+14158867902", "+19995550000", "--account", CHILD)
    assert result.exit_code == 1  # one number failed
    out = json.loads(result.stdout)
    assert sorted(out["success"]) == ["+14158867901", "+14158867902"]
    assert all(d["pvt_assigned_to"] == CHILD for d in out["success"].values())
    assert list(out["error"]) == ["+19995550000"]
    assert out["error"]["+19995550000"]["error"] == "not_found"

    got = ok(db, "numbers", "get", "+14158867901", "+14158867903")
    assert got["success"]["+14158867901"]["pvt_state"] == "in_service"
    assert got["success"]["+14158867903"]["pvt_state"] == "available"
    assert got["error"] == {}

    released = ok(db, "release", "+14158867901", "+14158867902")
    assert len(released["success"]) == 2 and released["error"] == {}


def test_number_commands_bad_input(db: str, master: str, inventory_csv: Path) -> None:
    ok(db, "numbers", "import", str(inventory_csv))
    for args in (("buy", "not-a-number", "--account", CHILD), ("buy", "+1415abc", "--account",
                 CHILD), ("release", "abc"), ("check", "+14158867900", "xyz"),
                 ("numbers", "get", "12ab")):
        refused(db, *args, cause="number")
    refused(db, "buy", "+14158867900", "--account", "f" * 32, cause="account_id")
    refused(db, "buy", "+14158867900", "--account", "nobody", cause="account_id")
    refused(db, "release", "+14155550199", slug="not_found")
    refused(db, "numbers", "get", "+14155550199", slug="not_found")
    refused(db, "numbers", "list", "--account", "f" * 32, cause="account_id")
    assert ok(db, "numbers", "get", "+14158867900")["pvt_state"] == "available"


def test_import_missing_or_bad_files(db: str, tmp_path: Path) -> None:
    refused(db, "numbers", "import", str(tmp_path / "missing.csv"), cause="csv")
    refused(db, "numbers", "import-kazoo", str(tmp_path / "missing.json"), cause="path")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    refused(db, "numbers", "import-kazoo", str(broken), cause="path")


def test_import_kazoo_documents(db: str, kazoo_accounts: dict[str, str]) -> None:
    folder = FIXTURES / "number_docs"
    docs = sorted(folder.glob("*.json"))
    out = ok(db, "numbers", "import-kazoo", str(folder))
    assert out["imported"] == len(docs) and out["failed"] == 0
    stated = [d for d in map(lambda p: json.loads(p.read_text()), docs) if "pvt_state" in d]
    got = ok(db, "numbers", "get", stated[0]["_id"])
    assert got["pvt_state"] == stated[0]["pvt_state"]

    # a second run changes nothing and is no failure (it was exit 1 with a 409 per number)
    again = knm(db, "numbers", "import-kazoo", str(folder))
    assert again.exit_code == 0, again.stderr
    report = json.loads(again.stdout)
    assert report["imported"] == 0 and report["failed"] == 0
    assert report["already_present"] == len(docs)
    assert sorted(report["present"]) == sorted(p.stem for p in docs)


def test_generate_pool_numbers(db: str, master: str) -> None:
    out = ok(db, "numbers", "generate", "managed", MASTER, "14158880000", "5")
    assert out["added"] == 5 and out["first"] == "+14158880000" and out["last"] == "+14158880004"
    found = ok(db, "search", "+1415888", "--quantity", "10", "--account", MASTER, "--carrier",
               "knm_managed")
    assert [r["number"] for r in found["numbers"]] == [f"+1415888000{i}" for i in range(5)]
    assert ok(db, "numbers", "generate", "knm_managed", MASTER, "14158880003", "4")["added"] == 2

    refused(db, "numbers", "generate", "telnyx", MASTER, "14158880000", "5", cause="carrier")
    refused(db, "numbers", "generate", "nonesuch", MASTER, "14158880000", "5", cause="carrier")
    refused(db, "numbers", "generate", "managed", "f" * 32, "14158880000", "5",
            cause="account_id")
    refused(db, "numbers", "generate", "inum", MASTER, "88x", "5", cause="start")
    refused(db, "numbers", "generate", "inum", MASTER, "883510000000001", "many", cause="count")


def test_import_reports_bad_lines_and_fails(db: str, master: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "mixed.csv"
    csv_file.write_text("number\n+14158867900\n+1999\n4158867901\nnot a number\n")
    result = knm(db, "numbers", "import", str(csv_file))
    assert result.exit_code == 1  # bad lines make the run fail; the good ones are stored
    report = json.loads(result.stdout)
    assert (report["imported"], report["failed"], report["read"]) == (2, 2, 4)
    assert {line: e["value"] for line, e in report["errors"].items()} == {
        "3": "+1999", "5": "not a number"}
    assert ok(db, "numbers", "get", "+14158867901")["pvt_module_name"] == "knm_inventory"
    refused(db, "numbers", "get", "+1999", slug="not_reconcilable")

    human = knm(db, "numbers", "import", str(csv_file), as_json=False)
    assert human.exit_code == 1
    assert "imported 0, already present 2, failed 2" in human.stdout
    assert "line 3: +1999 is not a valid number of country code +1" in human.stdout

    clean = tmp_path / "clean.csv"
    clean.write_text("+14158867902\n")
    assert ok(db, "numbers", "import", str(clean))["imported"] == 1


def test_import_kazoo_again_says_already_present(db: str, kazoo_accounts: dict[str, str]
                                                 ) -> None:
    folder = FIXTURES / "number_docs"
    number = sorted(folder.glob("*.json"))[0].stem
    ok(db, "numbers", "import-kazoo", str(folder))
    human = knm(db, "numbers", "import-kazoo", str(folder / f"{number}.json"), as_json=False)
    assert human.exit_code == 0, human.stderr
    assert "imported 0, already present 1, failed 0" in human.stdout
    assert f"{number}: already present" in human.stdout


def test_generate_refuses_numbers_that_are_not_real(db: str, master: str) -> None:
    for start in ("1999", "+1999", "2223334000", "1"):
        refused(db, "numbers", "generate", "managed", MASTER, start, "5", cause="start")
    err = refused(db, "numbers", "generate", "managed", MASTER, "14159999998", "5",
                  cause="count")
    assert "+14160000000" in err["message"]
    refused(db, "numbers", "generate", "inventory", MASTER, "14158880000", "5", cause="carrier")
    found = ok(db, "search", "+1", "--quantity", "10", "--account", MASTER, "--carrier",
               "knm_managed")
    assert found["numbers"] == []


# -- check and carriers -----------------------------------------------------------------------


class _Checker(_Good):
    name = "knm_cli_test_checker"

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        return {n: "active" for n in numbers if n.endswith("0")}


def test_check_asks_the_configured_carriers(db: str) -> None:
    assert ok(db, "check", "+14158867900") == {"+14158867900": "error"}
    registry.register(_Checker)
    try:
        ok(db, "config", "set", "number_manager", "carrier_modules",
           '["knm_local", "knm_cli_test_checker"]')
        assert ok(db, "check", "4158867900", "+14158867901") == {
            "+14158867900": "active", "+14158867901": "error"}
    finally:
        registry.unregister(_Checker.name)


def test_carriers_lists_flags_and_masks_secrets(db: str, master: str) -> None:
    ok(db, "config", "set", "number_manager.vitelity", "password", "hunter2-secret")
    ok(db, "config", "set", "number_manager.vitelity", "login", "operator")
    result = knm(db, "carriers")
    assert result.exit_code == 0 and "hunter2" not in result.stdout
    out = json.loads(result.stdout)
    by_name = {c["name"]: c for c in out["carriers"]}
    assert by_name["knm_local"]["in_use"] and by_name["knm_local"]["local"]
    assert not by_name["knm_inventory"]["in_use"] and not by_name["knm_inventory"]["local"]
    assert by_name["knm_vitelity"]["settings"]["password"] == "***"
    assert by_name["knm_vitelity"]["settings"]["login"] == "operator"
    assert "local" in out["info"]["usable_carriers"]

    as_child = ok(db, "carriers", "--account", CHILD)
    in_use = [c["name"] for c in as_child["carriers"] if c["in_use"]]
    assert {"knm_reserved", "knm_local"} <= set(in_use)
    refused(db, "carriers", "--account", "f" * 32, cause="account_id")

    human = knm(db, "carriers", as_json=False)
    assert human.exit_code == 0 and "hunter2" not in human.stdout
    assert "knm_vitelity" in human.stdout


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


def test_serve_answers_http(tmp_path: Path) -> None:
    """`knm serve` answers HTTP on the chosen port, with the database given by --db.

    (`knm demo` is the same three lines of wiring around `knm.demo.run`; its
    7-second start-up is exercised by the demo's own tests, not here.)"""
    port = _free_port()
    db_file = tmp_path / "served.sqlite"
    env = {**os.environ, "KNM_DATABASE_URL": f"sqlite:///{tmp_path / 'default.sqlite'}"}
    serve = subprocess.Popen([str(KNM), "serve", "--port", str(port), "--db", str(db_file)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                             env=env)
    try:
        assert _wait_healthy(serve, port) == 200
        assert db_file.exists()
    finally:
        serve.terminate()
        serve.wait(timeout=15)
    assert "Traceback" not in (serve.stderr.read() if serve.stderr else "")


def test_serve_bad_port_is_refused(db: str) -> None:
    refused(db, "serve", "--port", "0", cause="port")
    refused(db, "serve", "--port", "http", cause="port")
    refused(db, "demo", "--port", "-5", cause="port")


def test_import_shows_progress_only_on_a_terminal(tmp_path: Path, inventory_csv: Path) -> None:
    import pty

    url = f"sqlite:///{tmp_path / 'progress.sqlite'}"
    env = {**os.environ, "KNM_DATABASE_URL": url, "COLUMNS": "100"}
    env.pop("KNM_NO_PROGRESS", None)
    master_fd, slave_fd = pty.openpty()
    try:
        done = subprocess.run([str(KNM), "numbers", "import", str(inventory_csv), "--json"],
                              stdout=subprocess.PIPE, stderr=slave_fd, env=env, timeout=60)
        os.close(slave_fd)
        seen = b""
        while True:
            try:
                chunk = os.read(master_fd, 65536)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not chunk:
                break
            seen += chunk
    finally:
        os.close(master_fd)
    assert done.returncode == 0
    assert json.loads(done.stdout)["imported"] == 11  # stdout stays one JSON document
    assert b"importing" in seen  # the bar was drawn on the terminal


def test_buy_a_discovered_number_from_its_carrier(db: str, master: str,
                                                  test_carriers: None) -> None:
    """search → buy: the carrier and its data come from the search cache."""
    found = ok(db, "search", "+1415", "--account", CHILD, "--carrier", "cli_test_good")
    assert {"number": "+14155550101", "state": "discovery"} in found["numbers"]
    bought = ok(db, "buy", "+14155550101", "--account", CHILD)
    assert bought["pvt_module_name"] == "knm_cli_test_good"
    assert bought["pvt_state"] == "in_service" and bought["pvt_assigned_to"] == CHILD
    assert [d["_id"] for d in ok(db, "numbers", "list", "--account", CHILD)] == ["+14155550101"]


def test_root_options_apply_to_every_command(tmp_path: Path) -> None:
    path = tmp_path / "root.sqlite"
    result = CliRunner().invoke(cli, ["--json", "--db", str(path), "accounts", "create", "m",
                                      "--id", MASTER])
    assert result.exit_code == 0 and json.loads(result.stdout)["id"] == MASTER
    bare = CliRunner().invoke(cli, [])
    assert bare.exit_code == 0 and "Commands:" in bare.stdout


def test_search_then_buy_in_separate_runs_without_redis(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each `knm` run is its own process: the search results must outlive it."""
    monkeypatch.delenv("KNM_CACHE_URL", raising=False)
    db = {"env_db": f"sqlite:///{tmp_path / 'runs.sqlite'}"}
    created = _script("accounts", "create", "Acme", "--reseller", "--allow-additions", "--json",
                      **db)
    account = json.loads(created.stdout)["id"]
    _script("config", "set", "number_manager", "carrier_modules",
            '["knm_local", "knm_managed"]', **db)
    generated = _script("numbers", "generate", "managed", account, "4155550100", "10", "--json",
                        **db)
    assert json.loads(generated.stdout)["first"] == "+14155550100"
    found = _script("search", "415", "--account", account, "--quantity", "3", "--json", **db)
    numbers = [row["number"] for row in json.loads(found.stdout)["numbers"]]
    assert numbers == ["+14155550100", "+14155550101", "+14155550102"]
    bought = _script("buy", numbers[1], "--account", account, "--json", **db)
    assert bought.returncode == 0, bought.stderr
    assert json.loads(bought.stdout)["pvt_state"] == "in_service"
    page = _script("search", "415", "--account", account, "--quantity", "3", "--offset", "3",
                   "--query-id", json.loads(found.stdout)["query_id"], "--json", **db)
    assert json.loads(page.stdout)["from_cache"] is True
