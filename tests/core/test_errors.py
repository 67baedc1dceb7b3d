"""`knm.errors`: Kazoo's error JSON shapes, and carrier faults that keep the carrier's words."""

from __future__ import annotations

from knm import errors


def test_kazoo_error_json_shapes() -> None:
    assert errors.NotFound("+15559871234").to_json() == {
        "code": 404, "error": "not_found", "cause": "+15559871234",
        "message": "number +15559871234 not found"}
    assert errors.Forbidden().to_json() == {
        "code": 403, "error": "forbidden",
        "message": "requestor is unauthorized to perform operation"}
    assert errors.AssignFailure().to_json() == {
        "code": 400, "error": "assign_failure", "cause": "field_undefined",
        "message": "invalid account to assign to"}
    assert errors.InvalidStateTransition("available", "available").to_json()["cause"] == \
        "from available to available"
    assert errors.InvalidStateTransition(None, "reserved").cause == "from (nothing) to reserved"
    assert errors.NumberExists("+15551233322").code == 409


def test_carrier_fault_carries_what_the_carrier_said() -> None:
    err = errors.CarrierFault("knm_telnyx", "number already ordered", number="+14155550100")
    assert err.to_json() == {
        "code": 500, "error": "unspecified_fault", "message": "fault by carrier",
        "cause": "+14155550100", "carrier": "knm_telnyx",
        "carrier_message": "number already ordered"}
    assert isinstance(err, errors.KnmError)
    assert errors.CarrierTimeout("knm_x").to_json()["code"] == 504
    assert errors.CarrierUnavailable("knm_x").to_json()["error"] == "carrier_unavailable"
    assert errors.RateLimited("knm_x", retry_after=3).to_json()["retry_after"] == 3
