"""`knm.config`: the layers (node, account, system, built-in), masking, and what another
process writes."""

from __future__ import annotations

import pytest

from knm import accounts, config
from knm.clock import ManualClock


def test_config_layers_node_default_builtin(db: str) -> None:
    assert config.get("number_manager", "maximum_search_quantity") == 500
    config.set("number_manager", "maximum_search_quantity", 50)
    assert config.get("number_manager", "maximum_search_quantity") == 50
    config.set("number_manager", "maximum_search_quantity", 7, node="node-a")
    assert config.get("number_manager", "maximum_search_quantity", node="node-a") == 7
    assert config.get("number_manager", "maximum_search_quantity", node="node-b") == 50
    config.set("number_manager", "maximum_search_quantity", None)
    assert config.get("number_manager", "maximum_search_quantity", node="node-b") == 500


def test_account_config_overrides_system(db: str) -> None:
    account = accounts.create("acme")
    config.set("number_manager", "carrier_modules", ["knm_local", "knm_telnyx"],
               account_id=account.id)
    assert config.get("number_manager", "carrier_modules") == ["knm_local"]
    assert config.get("number_manager", "carrier_modules", account_id=account.id) == [
        "knm_local", "knm_telnyx"]
    assert config.get_own("number_manager", "carrier_modules", account_id="x" * 32) is None


def test_secrets_are_masked() -> None:
    shown = config.mask({"api_key": "k-123", "login": "me", "password": "p",
                         "nested": {"client_secret": "s"}, "empty_token": ""})
    assert shown == {"api_key": "***", "login": "me", "password": "***",
                     "nested": {"client_secret": "***"}, "empty_token": ""}


def test_config_written_by_another_process_is_seen_within_the_ttl(
        db: str, monkeypatch: pytest.MonkeyPatch, clock: ManualClock) -> None:
    from knm import store
    from knm.store.schema import config_entries

    monkeypatch.setenv("KNM_CONFIG_TTL_MS", "200")
    assert config.get("number_manager", "should_age") is False  # snapshot taken
    with store.write() as conn:  # what another process's `knm config set` does
        conn.execute(config_entries.insert().values(
            scope="system", category="number_manager", section="default",
            key="should_age", value=True))
    clock.advance(0.3)
    assert config.get("number_manager", "should_age") is True


def test_config_values_handed_out_are_copies(db: str) -> None:
    config.set("number_manager", "carrier_modules", ["knm_local"])
    config.get("number_manager", "carrier_modules").append("knm_evil")
    assert config.get("number_manager", "carrier_modules") == ["knm_local"]
