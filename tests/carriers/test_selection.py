"""`knm.carriers.selection`: the carrier names people type, checked once for CLI and API."""

from __future__ import annotations

import pytest

from knm import errors
from knm.carriers import selection


def test_carrier_names_short_or_full() -> None:
    assert selection.carrier_name("telnyx") == "knm_telnyx"
    assert selection.carrier_name(" knm_telnyx ") == "knm_telnyx"
    with pytest.raises(errors.Invalid) as refused:
        selection.carrier_name("telnix")
    assert refused.value.cause == "carrier" and "knm_telnyx" in refused.value.message


def test_settings_that_name_carriers_are_checked_and_stored_in_full() -> None:
    check = selection.check_setting
    assert check("number_manager", "carrier_modules", ["local", "knm_telnyx"]) == [
        "knm_local", "knm_telnyx"]
    assert check("number_manager", "carrier_modules", "local") == ["knm_local"]
    assert check("number_manager", "carrier_modules", None) is None  # removes the key
    assert check("number_manager", "port_in_module_name", "inventory") == "knm_inventory"
    assert check("number_manager", "maximum_search_quantity", 50) == 50
    assert check("number_manager.telnyx", "carrier_modules", ["x"]) == ["x"]  # not ours
    for bad in (["knm_local", "knm_telnix", "knm_gone"], [], [""], 5):
        with pytest.raises(errors.Invalid) as refused:
            check("number_manager", "carrier_modules", bad)
        assert refused.value.cause == "carrier_modules"
    with pytest.raises(errors.Invalid) as refused:
        check("number_manager", "carrier_modules", ["knm_telnix", "knm_gone"])
    assert "knm_telnix" in refused.value.message and "knm_gone" in refused.value.message
