"""`knm carriers`: flags, settings (secrets masked), state, Kazoo's names hidden."""

from __future__ import annotations

import json

from cli_support import human, knm, ok, refused
from conftest import CHILD

from knm import config

pytest_plugins = ["cli_support"]


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


def test_carriers_say_which_are_ready_and_name_missing_settings(db: str) -> None:
    by_name = {c["name"]: c for c in ok(db, "carriers")["carriers"]}
    assert by_name["knm_local"]["state"] == "ready"
    telnyx = by_name["knm_telnyx"]
    assert telnyx["state"] == "missing_settings" and telnyx["missing"] == ["api_key"]
    bandwidth = by_name["knm_bandwidth2"]
    # OAuth2 client credentials are what Bandwidth takes now: they are what is asked for
    assert bandwidth["missing"] == ["account_id", "client_id", "client_secret"]
    assert "warnings" not in bandwidth

    ok(db, "config", "set", "number_manager.telnyx", "api_key", "KEY-123")
    ok(db, "config", "set", "number_manager.vitelity", "timeout_ms", '"soon"')
    by_name = {c["name"]: c for c in ok(db, "carriers")["carriers"]}
    assert by_name["knm_telnyx"]["state"] == "ready" and "missing" not in by_name["knm_telnyx"]
    vitelity = by_name["knm_vitelity"]
    assert vitelity["state"] == "missing_settings" and vitelity["missing"] == ["login",
                                                                               "password"]
    assert "timeout_ms" in vitelity["problem"]  # and the mistyped one, in the same answer
    shown = human(db, "carriers", columns=80)
    assert "missing settings:" in shown.stdout and "client_secret" in shown.stdout


def test_bandwidth_basic_auth_alone_is_ready_but_warned_with_the_date(db: str) -> None:
    """A Kazoo-style Bandwidth config (API user, no api_version) still works — it is ready —
    and says what to change before Bandwidth retires Basic auth, naming settings only."""
    for key, value in {"account_id": "9900001", "api_username": "kazoo-api-user",
                       "api_password": "bw-pass-0123"}.items():
        ok(db, "config", "set", "number_manager.bandwidth2", key, value)
    bandwidth = {c["name"]: c for c in ok(db, "carriers")["carriers"]}["knm_bandwidth2"]
    assert bandwidth["state"] == "ready"
    basic, version = bandwidth["warnings"]
    assert "2026-12-02" in basic and "client_id" in basic and "client_secret" in basic
    assert "api_version" in version and "v1" in version
    shown = human(db, "carriers", columns=200).stdout
    assert "2026-12-02" in shown and "bw-pass-0123" not in shown
    assert "bw-pass-0123" not in json.dumps(bandwidth)
    # OAuth2 credentials and an explicit version: nothing left to warn about
    ok(db, "config", "set", "number_manager.bandwidth2", "client_id", "knm-client")
    ok(db, "config", "set", "number_manager.bandwidth2", "client_secret", "bw-client-secret")
    ok(db, "config", "set", "number_manager.bandwidth2", "api_version", "v1")
    bandwidth = {c["name"]: c for c in ok(db, "carriers")["carriers"]}["knm_bandwidth2"]
    assert bandwidth["state"] == "ready" and "warnings" not in bandwidth


def test_carriers_hide_kazoo_names_knm_never_had_unless_asked(db: str) -> None:
    names = [c["name"] for c in ok(db, "carriers")["carriers"]]
    assert "knm_telnyx" in names and "knm_voxbone" not in names
    every = {c["name"]: c for c in ok(db, "carriers", "--all")["carriers"]}
    assert every["knm_voxbone"]["state"] == "unreachable" and not every["knm_voxbone"]["reachable"]
    # a name stored before names were checked (or by a Kazoo import) is shown, unreachable
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_telnix"])
    by_name = {c["name"]: c for c in ok(db, "carriers")["carriers"]}
    assert by_name["knm_telnix"]["configured"] and by_name["knm_telnix"]["state"] == \
        "unreachable"
    assert not by_name["knm_telnix"]["in_use"]
    assert "--all lists them" in human(db, "carriers").stdout
