"""The phone-number record (reference/kazoo-core.md §5, §10.4 used_by, §10.8 loading)."""

from __future__ import annotations

import json

import pytest
from conftest import FIXTURES, kazoo_number_docs

from knm import PhoneNumber, carriers, numbers
from knm.record import STATES

IN_SERVICE = "+15551233322"
MDN = "+15551233324"


def doc(number: str) -> dict:
    return json.loads((FIXTURES / "number_docs" / f"{number}.json").read_text())


@pytest.mark.parametrize(("given", "expected"), [
    ("wnm_pacwest", "knm_pacwest"), ("wnm_bandwidth", "knm_bandwidth2"),
    ("wnm_local", "knm_local"), ("knm_bandwidth", "knm_bandwidth2"),
])
def test_legacy_module_names_migrate_on_load(given: str, expected: str) -> None:
    pn = PhoneNumber.from_json({**doc(IN_SERVICE), "pvt_module_name": given})
    assert pn.module_name == expected and pn.is_dirty


def test_unknown_module_loads_as_is() -> None:
    pn = PhoneNumber.from_json(doc("+15551233337"))
    assert pn.module_name == "knm_pacwest" and not pn.is_dirty


def test_legacy_state_key_is_migrated() -> None:
    pn = PhoneNumber.from_json(doc("+12014370855"))
    assert pn.state == "in_service" and pn.is_dirty
    out = pn.to_json()
    assert out["pvt_state"] == "in_service" and "pvt_number_state" not in out


def test_local_number_without_features_gets_local_feature_quietly() -> None:
    raw = {k: v for k, v in doc(IN_SERVICE).items() if k != "pvt_features"}
    pn = PhoneNumber.from_json(raw)
    assert pn.features == {"local": {}} and not pn.is_dirty


def test_undefined_timestamps_load_dirty_with_integers() -> None:
    pn = PhoneNumber.from_json(doc("+15045551226"))
    assert pn.is_dirty
    out = pn.to_json()
    assert isinstance(out["pvt_created"], int) and isinstance(out["pvt_modified"], int)
    assert pn.features == {"local": {}}


def test_used_by_dirtying() -> None:
    pn = PhoneNumber.from_json(doc(IN_SERVICE))
    assert pn.used_by == "callflow" and not pn.is_dirty
    pn.set_used_by(None)
    assert pn.used_by is None and pn.is_dirty
    pn = PhoneNumber.from_json(doc(IN_SERVICE))
    pn.set_used_by("my_app")
    assert pn.is_dirty
    pn.is_dirty = False
    pn.set_used_by(None)
    assert pn.is_dirty
    mdn = PhoneNumber.from_json(doc(MDN))
    assert mdn.used_by is None
    mdn.set_used_by(None)
    assert not mdn.is_dirty
    mdn.set_used_by("my_app")
    assert mdn.is_dirty


def test_every_fixture_doc_round_trips_through_to_json() -> None:
    """to_json of a loaded doc loads back to the same record (§10.8 shape checks too)."""
    for raw in kazoo_number_docs():
        pn = PhoneNumber.from_json(raw)
        out = pn.to_json()
        again = PhoneNumber.from_json(out)
        assert again.to_json() == out, raw["_id"]
        assert not again.is_dirty, raw["_id"]
        assert out["_id"] == pn.number and out["pvt_db_name"]
        assert out["pvt_state"] in STATES and isinstance(out["pvt_ported_in"], bool)
        assert out["pvt_type"] == "number"
        assert isinstance(out["pvt_created"], int) and isinstance(out["pvt_modified"], int)
        assert "pvt_authorizing_account" not in out


def test_every_fixture_number_loads_clean_through_get(kazoo_numbers: list[str]) -> None:
    known = set(carriers.all_modules()) | {"knm_pacwest"}
    result = numbers.get(kazoo_numbers)
    assert not result.failed and len(result.succeeded) == len(kazoo_numbers)
    for pn in result.succeeded:
        out = pn.to_json()
        assert not pn.is_dirty, pn.number
        assert out["_id"] == pn.number and out["pvt_db_name"]
        assert out["pvt_state"] in STATES and isinstance(out["pvt_ported_in"], bool)
        assert out["pvt_module_name"] in known
        assert isinstance(out["pvt_created"], int) and isinstance(out["pvt_modified"], int)
        assert out["pvt_type"] == "number" and out["_rev"]
    by_number = {pn.number: pn for pn in result.succeeded}
    assert by_number["+14082141750"].module_name == "knm_bandwidth2"
    assert by_number["+12014370857"].module_name == "knm_pacwest"
    assert by_number["+15551255693"].to_json()["_rev"] == "3-7dd6a1523e81a4e3c2689140ed3a8e69"


def test_import_kazoo_reports_bad_and_duplicate_docs(kazoo_numbers: list[str]) -> None:
    result = numbers.import_kazoo([
        doc(IN_SERVICE),                                   # already imported
        {"_id": "+15559870000", "pvt_state": "available"},  # fine
        {"_id": "not a number at all"},
        {"pvt_state": "available"},                        # no _id
        "nonsense",
    ])
    assert [pn.number for pn in result.succeeded] == ["+15559870000"]
    assert result.failed[IN_SERVICE].error == "number_exists"
    assert {err.error for key, err in result.failed.items() if key != IN_SERVICE} == {"invalid"}
    assert len(result.failed) == 4
    assert numbers.get("+15559870000").module_name == "knm_local"
