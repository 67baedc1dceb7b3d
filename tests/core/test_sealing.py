"""Carrier secrets encrypted at rest with `KNM_SECRET_KEY` (AES-GCM), and key rotation."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from knm import carriers, config, errors, store
from knm.simulators import registry
from knm.simulators.server import BackgroundServer
from knm.store.schema import config_entries

SECRET = "KEY0123-telnyx-live-secret"
CATEGORY = "number_manager.telnyx"


def _raw(key: str) -> object:
    with store.read() as conn:
        return conn.execute(select(config_entries.c.value)
                            .where(config_entries.c.key == key)).scalar_one()


def test_secrets_are_sealed_at_rest_and_read_back(db: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNM_SECRET_KEY", "correct horse battery staple")
    config.set(CATEGORY, "api_key", SECRET)
    config.set(CATEGORY, "connection_id", "1494404757140276705")
    assert SECRET not in json.dumps(_raw("api_key"))  # a copy of the database holds no secret
    assert _raw("connection_id") == "1494404757140276705"  # not a secret: stored as it is
    assert config.get(CATEGORY, "api_key") == SECRET
    assert config.secrets_at_rest() == {"sealed": 1, "plaintext": 0}


def test_a_carrier_works_on_sealed_credentials(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNM_SECRET_KEY", "correct horse battery staple")
    spec = registry.get("knm_telnyx")
    sim = spec.make_simulator()
    with BackgroundServer(sim.app) as server:
        for key, value in registry.wire("knm_telnyx", server.url, sim).items():
            config.set(CATEGORY, key, value)
        config.set("number_manager", "carrier_modules", ["knm_telnyx"])
        found = carriers.find("415", quantity=2)
    assert len(found) == 2
    assert sim.received("GET")[0].headers["authorization"] == \
        f"Bearer {sim.credentials['api_key']}"


def test_without_the_key_a_sealed_secret_names_itself(db: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNM_SECRET_KEY", "correct horse battery staple")
    config.set(CATEGORY, "api_key", SECRET)
    monkeypatch.delenv("KNM_SECRET_KEY")
    config.invalidate()
    with pytest.raises(errors.CarrierMisconfigured) as missing:
        config.carrier_config("knm_telnyx")
    assert missing.value.cause == "api_key" and "KNM_SECRET_KEY" in missing.value.message
    monkeypatch.setenv("KNM_SECRET_KEY", "a different key")
    config.invalidate()
    with pytest.raises(errors.CarrierMisconfigured) as wrong:
        config.carrier_config("knm_telnyx")
    assert "another key" in wrong.value.message
    assert SECRET not in wrong.value.message


def test_a_sealed_value_moved_to_another_setting_does_not_open(
        db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNM_SECRET_KEY", "correct horse battery staple")
    config.set(CATEGORY, "api_key", SECRET)
    config.set("number_manager.simwood", "auth_password", "simwood-pass")
    with store.write() as conn:  # an attacker with write access swaps the two ciphertexts
        conn.execute(config_entries.update().where(config_entries.c.key == "auth_password")
                     .values(value=_raw("api_key")))
    config.invalidate()
    with pytest.raises(errors.CarrierMisconfigured) as moved:
        config.carrier_config("knm_simwood")
    assert "another setting" in moved.value.message


def test_rotating_the_key_reseals_everything(db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    config.set(CATEGORY, "api_key", SECRET)  # stored before encryption was turned on
    assert _raw("api_key") == SECRET
    assert config.rotate_key("first key") == 1
    assert SECRET not in json.dumps(_raw("api_key"))
    with pytest.raises(errors.Invalid) as no_old:
        config.rotate_key("second key")  # KNM_SECRET_KEY unset: the old key must be given
    assert no_old.value.cause == "old_key"
    assert config.rotate_key("second key", old_key="first key") == 1
    monkeypatch.setenv("KNM_SECRET_KEY", "second key")
    config.invalidate()
    assert config.carrier_config("knm_telnyx")["api_key"] == SECRET
    with pytest.raises(errors.Invalid):
        config.rotate_key("third key", old_key="first key")  # the wrong old key: nothing moves
    assert config.get(CATEGORY, "api_key") == SECRET
    assert config.rotate_key(None) == 1  # back to plaintext
    assert _raw("api_key") == SECRET
