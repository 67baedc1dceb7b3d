"""`knm buy`, `release`, `check` and `knm numbers get|list|import|import-kazoo|generate`, in
one process and across `knm` runs."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from cli_support import KNM, _Good, _script, human, knm, ok, refused
from conftest import CHILD, FIXTURES, MASTER

from knm import accounts
from knm.carriers import registry

pytest_plugins = ["cli_support"]


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
                                                  fake_carriers: None) -> None:
    """search → buy: the carrier and its data come from the search cache."""
    found = ok(db, "search", "+1415", "--account", CHILD, "--carrier", "cli_test_good")
    assert {"number": "+14155550101", "state": "discovery"} in found["numbers"]
    bought = ok(db, "buy", "+14155550101", "--account", CHILD)
    assert bought["pvt_module_name"] == "knm_cli_test_good"
    assert bought["pvt_state"] == "in_service" and bought["pvt_assigned_to"] == CHILD
    assert [d["_id"] for d in ok(db, "numbers", "list", "--account", CHILD)] == ["+14155550101"]


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


def test_dry_run_says_nothing_was_bought(db: str, master: str, fake_carriers: None) -> None:
    ok(db, "search", "+1415", "--account", CHILD, "--carrier", "cli_test_good")
    dry = ok(db, "buy", "+14155550101", "--account", CHILD, "--dry-run")
    assert dry["dry_run"] is True and dry["_id"] == "+14155550101"
    shown = human(db, "buy", "+14155550101", "--account", CHILD, "--dry-run")
    assert shown.exit_code == 0 and "DRY RUN: nothing was bought" in shown.stdout
    several = human(db, "buy", "+14155550101", "+14155550102", "--account", CHILD, "--dry-run")
    assert "DRY RUN: nothing was bought or saved: 2 could be bought" in several.stdout
    refused(db, "numbers", "get", "+14155550101", slug="not_found")  # nothing was saved
    assert ok(db, "buy", "+14155550101", "--account", CHILD)["pvt_state"] == "in_service"


def test_buying_a_number_no_search_found_says_what_to_do(db: str, master: str) -> None:
    err = refused(db, "buy", "+14155559999", "--account", CHILD, slug="not_found")
    assert err["code"] == 404 and "search for it first" in err["message"]
