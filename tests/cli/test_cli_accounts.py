"""`knm accounts create|list|api-key`."""

from __future__ import annotations

from cli_support import human, ok, refused
from conftest import MASTER

from knm import accounts

pytest_plugins = ["cli_support"]


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


def test_accounts_list_shows_ids_whole_at_80_columns(db: str) -> None:
    parent = ok(db, "accounts", "create", "Acme Corporation International Holdings",
                "--reseller")["id"]
    child = ok(db, "accounts", "create", "a-subsidiary-with-a-long-name", "--parent",
               parent)["id"]
    listed = human(db, "accounts", "list", columns=80)
    assert listed.exit_code == 0, listed.stderr
    assert parent in listed.stdout and child in listed.stdout
    # the child's row holds both ids, each whole, on one line
    assert any(child in line and parent in line for line in listed.stdout.splitlines())


def test_accounts_create_quiet_prints_only_the_id(db: str) -> None:
    result = human(db, "accounts", "create", "Acme", "--quiet")
    assert result.exit_code == 0, result.stderr
    account_id = result.stdout.strip()
    assert [a["id"] for a in ok(db, "accounts", "list")] == [account_id]
