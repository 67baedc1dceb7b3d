"""`knm.carriers.health`: ready, missing settings (all named at once), misconfigured,
unreachable — from the settings alone, without calling the carrier."""

from __future__ import annotations

from knm import config
from knm.carriers import health


def test_health_names_every_missing_setting(db: str) -> None:
    telnyx = health.check("knm_telnyx")
    assert (telnyx.state, telnyx.missing) == ("missing_settings", ("api_key",))
    assert telnyx.describe() == "missing settings: api_key"
    config.set("number_manager.simwood", "auth_username", "me")
    simwood = health.check("simwood")
    assert simwood.missing == ("auth_password", "simwood_account_id")


def test_health_ready_misconfigured_unreachable(db: str) -> None:
    assert health.check("knm_local").state == "ready"
    config.set("number_manager.telnyx", "api_key", "KEY")
    assert health.check("knm_telnyx").to_json() == {"state": "ready"}
    config.set("number_manager.telnyx", "timeout_ms", "soon")
    wrong = health.check("knm_telnyx")
    assert wrong.state == "misconfigured" and "timeout_ms" in (wrong.problem or "")
    assert health.check("knm_voxbone").state == "unreachable"
