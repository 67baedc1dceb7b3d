"""`knm config get|set`: JSON values, layers, masked secrets, carrier names checked."""

from __future__ import annotations

import pytest
from cli_support import knm, ok, refused
from conftest import CHILD

from knm import config
from knm.cli import parse_value

pytest_plugins = ["cli_support"]


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


def test_carrier_modules_with_an_unknown_name_is_refused(db: str) -> None:
    ok(db, "config", "set", "number_manager", "carrier_modules", '["knm_local"]')
    err = refused(db, "config", "set", "number_manager", "carrier_modules",
                  '["knm_local", "knm_telnix"]', cause="carrier_modules")
    assert "knm_telnix" in err["message"] and "knm_telnyx" in err["message"]  # the known ones
    err = refused(db, "config", "set", "number_manager", "carrier_modules",
                  '["local", "voxbone"]', cause="carrier_modules")
    assert "knm_voxbone is one of Kazoo's carriers that knm does not have" in err["message"]
    refused(db, "config", "set", "number_manager", "carrier_modules", "[]",
            cause="carrier_modules")
    refused(db, "config", "set", "number_manager", "available_module_name", "knm_nope",
            cause="available_module_name")
    assert config.get("number_manager", "carrier_modules") == ["knm_local"]  # unchanged
    assert config.get("number_manager", "available_module_name") == "knm_local"


def test_carrier_names_are_taken_short_or_full_and_stored_full(db: str) -> None:
    out = ok(db, "config", "set", "number_manager", "carrier_modules",
             '["local", "knm_managed", "telnyx"]')
    assert out["value"] == ["knm_local", "knm_managed", "knm_telnyx"]
    assert config.get("number_manager", "carrier_modules") == out["value"]
    ok(db, "config", "set", "number_manager", "available_module_name", "inventory")
    assert config.get("number_manager", "available_module_name") == "knm_inventory"
    # a carrier's own category by its full name is the category its settings are read from
    out = ok(db, "config", "set", "number_manager.knm_vitelity", "login", "operator")
    assert out["category"] == "number_manager.vitelity"
    assert config.get("number_manager.vitelity", "login") == "operator"
    assert ok(db, "config", "get", "number_manager.knm_vitelity", "login")["value"] == \
        "operator"


def test_rotate_key_seals_the_stored_secrets_with_keys_from_the_environment(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from knm import sealing
    from knm.cli.commands.config import OLD_KEY_ENV

    monkeypatch.delenv(sealing.ENV, raising=False)
    monkeypatch.delenv(OLD_KEY_ENV, raising=False)
    ok(db, "config", "set", "number_manager.telnyx", "api_key", "KEY-plain")
    refused(db, "config", "rotate-key", cause=sealing.ENV)  # no key: nothing to seal with
    monkeypatch.setenv(sealing.ENV, "first key")
    assert ok(db, "config", "rotate-key") == {"rewritten": 1, "sealed": 1, "plaintext": 0}
    monkeypatch.setenv(OLD_KEY_ENV, "first key")
    monkeypatch.setenv(sealing.ENV, "second key")
    assert ok(db, "config", "rotate-key")["sealed"] == 1
    monkeypatch.delenv(OLD_KEY_ENV)
    config.invalidate()
    assert config.carrier_config("knm_telnyx")["api_key"] == "KEY-plain"
    assert ok(db, "config", "rotate-key", "--to-plaintext")["plaintext"] == 1
