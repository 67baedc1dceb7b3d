"""Kazoo's number-operation test cases (reference/kazoo-core.md §10.3–§10.7), on the fixture
accounts and number documents, on SQLite and PostgreSQL. Where knm deliberately differs from
Kazoo the test says so."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from conftest import CHILD, MASTER, RESELLER, UNRELATED

from knm import PhoneNumber, accounts, carriers, config, errors, numbers, store
from knm.carriers.base import Carrier, SearchOptions, SearchResult
from knm.numbers import repository
from knm.store.schema import port_requests

AVAILABLE = "+15551239876"
IN_SERVICE = "+15551233322"
MDN = "+15551233324"
BAD_CARRIER = "+15551233337"
WITH_HISTORY = "+15551255693"
RESERVED = "+14252151010"
CREATE = "+15559871234"
TELNYX = "+14352154006"
NON_LOCAL_AVAILABLE = "+19162154006"
NEW_PORT = "+19042471591"
NOT_NUM = "NOT a number"


def reset(*nums: str) -> None:
    """Put fixture numbers back as Kazoo's fixture has them (so one test can run many cases)."""
    from conftest import kazoo_number_docs

    from knm.store.schema import numbers as numbers_table

    with store.write() as conn:
        conn.execute(numbers_table.delete().where(numbers_table.c.number.in_(nums)))
    result = numbers.import_kazoo([d for d in kazoo_number_docs() if d["_id"] in nums])
    assert not result.failed and len(result.succeeded) == len(nums)


def slugs(failed: dict[str, errors.KnmError]) -> dict[str, str]:
    return {num: err.error for num, err in failed.items()}


class SpyTelnyx(Carrier):
    """Stands in for knm_telnyx: records every carrier call, so a test can assert none."""

    name = "knm_telnyx"
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return []

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        with self.lock:
            self.calls.append(("acquire", number.number))
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        with self.lock:
            self.calls.append(("disconnect", number.number))
        return number


@pytest.fixture
def spy_telnyx() -> Any:
    SpyTelnyx.calls = []
    carriers.register(SpyTelnyx)
    yield SpyTelnyx
    carriers.unregister("knm_telnyx")


# -- §10.3 knm_ops -----------------------------------------------------------------------------


def test_get_collapses_duplicates_and_reports_each_failure(kazoo_numbers: list[str]) -> None:
    result = numbers.get([AVAILABLE])
    assert result.failed == {}
    assert [pn.number for pn in result.succeeded] == [AVAILABLE]
    assert slugs(numbers.get([NOT_NUM]).failed) == {NOT_NUM: "not_reconcilable"}
    assert slugs(numbers.get([CREATE]).failed) == {CREATE: "not_found"}
    result = numbers.get([AVAILABLE, NOT_NUM, AVAILABLE, NOT_NUM, CREATE])
    assert [pn.number for pn in result.succeeded] == [AVAILABLE]
    assert slugs(result.failed) == {NOT_NUM: "not_reconcilable", CREATE: "not_found"}


def test_create_over_available_foreign_number_calls_no_carrier(
        kazoo_numbers: list[str], spy_telnyx: Any) -> None:
    result = numbers.create([TELNYX, NOT_NUM, CREATE], auth_by=MASTER, assign_to=RESELLER)
    assert slugs(result.failed) == {NOT_NUM: "not_reconcilable"}
    assert sorted(pn.number for pn in result.succeeded) == [TELNYX, CREATE]
    for pn in result.succeeded:
        assert pn.is_dirty and pn.assigned_to == RESELLER and pn.state == "in_service"
    assert spy_telnyx.calls == []
    stored = numbers.get([TELNYX, CREATE]).succeeded
    assert {pn.state for pn in stored} == {"in_service"}


def test_move_reports_bad_input_and_moves_the_rest(kazoo_numbers: list[str]) -> None:
    result = numbers.move([NOT_NUM, AVAILABLE], CHILD)
    assert slugs(result.failed) == {NOT_NUM: "not_reconcilable"}
    [pn] = result.succeeded
    assert pn.is_dirty and pn.assigned_to == CHILD and pn.state == "in_service"
    assert numbers.get(AVAILABLE).assigned_to == CHILD


def test_update_without_changes_writes_nothing(kazoo_numbers: list[str]) -> None:
    rev = numbers.get(AVAILABLE).rev
    result = numbers.update([NOT_NUM, AVAILABLE])
    [pn] = result.succeeded
    assert not pn.is_dirty and pn.ported_in is False
    assert numbers.get(AVAILABLE).rev == rev
    result = numbers.update([NOT_NUM, AVAILABLE], ported_in=True)
    assert slugs(result.failed) == {NOT_NUM: "not_reconcilable"}
    [pn] = result.succeeded
    assert pn.is_dirty and pn.ported_in is True
    assert numbers.get(AVAILABLE).ported_in is True


def test_delete_removes_the_number(kazoo_numbers: list[str]) -> None:
    result = numbers.delete([NOT_NUM, AVAILABLE])
    assert slugs(result.failed) == {NOT_NUM: "not_reconcilable"}
    [pn] = result.succeeded
    assert pn.state == "deleted" and pn.is_dirty
    with pytest.raises(errors.NotFound):
        numbers.get(AVAILABLE)


def test_reserve_pushes_history(kazoo_numbers: list[str]) -> None:
    result = numbers.reserve([NOT_NUM, AVAILABLE], assign_to=RESELLER, auth_by=MASTER)
    [pn] = result.succeeded
    assert (pn.state, pn.assigned_to, pn.reserve_history, pn.is_dirty) == \
        ("reserved", RESELLER, [RESELLER], True)

    result = numbers.reserve([NOT_NUM, IN_SERVICE], assign_to=None)
    assert result.succeeded == []
    assert result.failed[NOT_NUM].error == "not_reconcilable"
    assert result.failed[IN_SERVICE].to_json() == {
        "code": 400, "error": "assign_failure", "cause": "field_undefined",
        "message": "invalid account to assign to"}

    [pn] = numbers.reserve([NOT_NUM, IN_SERVICE], assign_to=RESELLER).succeeded
    assert (pn.state, pn.assigned_to, pn.reserve_history, pn.is_dirty) == \
        ("reserved", RESELLER, [RESELLER], True)
    [pn] = numbers.reserve([NOT_NUM, IN_SERVICE], assign_to=CHILD).succeeded
    assert (pn.state, pn.assigned_to, pn.reserve_history) == \
        ("reserved", CHILD, [CHILD, RESELLER])
    assert numbers.get(IN_SERVICE).reserve_history == [CHILD, RESELLER]


def test_reserve_a_reserved_number_to_its_owner_needs_no_change(
        kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.NoChangeRequired):
        numbers.reserve(RESERVED, assign_to=RESELLER)


def test_assign_to_app_sets_used_by(kazoo_numbers: list[str]) -> None:
    before = numbers.get(AVAILABLE)
    assert before.used_by != "my_app" and not before.is_dirty
    [pn] = numbers.assign_to_app([NOT_NUM, AVAILABLE], "my_app").succeeded
    assert pn.used_by == "my_app" and pn.is_dirty
    assert numbers.get(AVAILABLE).used_by == "my_app"


def test_release_variants(kazoo_numbers: list[str]) -> None:
    [pn] = numbers.release([NOT_NUM, WITH_HISTORY]).succeeded
    assert (pn.state, pn.assigned_to, pn.is_dirty) == ("reserved", MASTER, True)
    [pn] = numbers.release([NOT_NUM, MDN], mdn_run=True).succeeded
    assert (pn.state, pn.is_dirty) == ("deleted", True)
    # knm_pacwest is not installed: it cannot be disconnected there, so it is not released
    # (SPEC §5.1: a released number of a foreign carrier is never left for resale) ...
    result = numbers.release([NOT_NUM, BAD_CARRIER])
    assert result.failed[BAD_CARRIER].error == "carrier_unavailable"
    assert numbers.get(BAD_CARRIER).state == "in_service"
    # ... unless the operator keeps Kazoo's release, which never asks the carrier
    config.set("number_manager", "disconnect_on_release", False)
    [pn] = numbers.release([NOT_NUM, BAD_CARRIER]).succeeded
    assert (pn.state, pn.is_dirty) == ("available", True)
    assert numbers.get(BAD_CARRIER).state == "available"


# -- §10.4 knm_numbers -------------------------------------------------------------------------


def test_anyone_may_read_an_available_number(kazoo_numbers: list[str]) -> None:
    for auth_by in (RESELLER, MASTER, "0123456789abcdef0123456789abcdef"):
        pn = numbers.get(AVAILABLE, auth_by=auth_by)
        assert not pn.is_dirty and pn.module_name == "knm_local" and pn.state == "available"
    with pytest.raises(errors.Forbidden):
        numbers.get(IN_SERVICE, auth_by=CHILD)


def test_single_number_calls_raise(kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.NotReconcilable) as bad:
        numbers.get("1000")
    assert bad.value.cause == "1000"
    with pytest.raises(errors.NotFound) as missing:
        numbers.get("4156301234")
    assert missing.value.cause == "+14156301234"
    result = numbers.get(["1000", "4156301234"])
    assert slugs(result.failed) == {"1000": "not_reconcilable", "+14156301234": "not_found"}


def test_mdn_operations(kazoo_numbers: list[str]) -> None:
    [pn] = numbers.move([MDN], MASTER, mdn_run=True).succeeded
    assert pn.is_dirty and pn.state == "in_service"
    [pn] = numbers.release([MDN], mdn_run=True).succeeded
    assert pn.is_dirty and pn.state == "deleted"
    with pytest.raises(errors.KnmError):
        numbers.reserve(IN_SERVICE, assign_to=None)
    [pn] = numbers.create([CREATE], assign_to=MASTER, module_name="knm_mdn",
                          mdn_run=True).succeeded
    assert pn.is_dirty and pn.state == "in_service" and pn.features_list() == ["local"]


def test_reserving_an_mdn_number_is_refused(kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.AssignFailure):
        numbers.reserve(MDN, assign_to=None)
    with pytest.raises(errors.InvalidStateTransition) as exc:
        numbers.reserve(MDN, assign_to=CHILD, mdn_run=True)
    assert exc.value.cause == "from 'MDN' to reserved"


def test_mdn_run_guard_on_save(kazoo_numbers: list[str]) -> None:
    cases = [
        (MDN, True, MASTER, True), (IN_SERVICE, True, MASTER, False),
        (MDN, False, MASTER, False), (IN_SERVICE, False, MASTER, True),
        (MDN, True, "system", True), (IN_SERVICE, True, "system", True),
        (MDN, False, "system", True), (IN_SERVICE, False, "system", True),
    ]
    for number, mdn_run, auth_by, ok in cases:
        reset(number)
        result = numbers.update([number], public_fields={"*": 42}, mdn_run=mdn_run,
                                auth_by=auth_by)
        assert (not result.failed) is ok, (number, mdn_run, auth_by)
        assert (numbers.get(number).doc.get("*") == 42) is ok
        if not ok:
            assert result.failed[number].error == "forbidden"


def test_assign_in_service_number_to_app(kazoo_numbers: list[str]) -> None:
    [pn] = numbers.assign_to_app([IN_SERVICE], "my_app").succeeded
    assert pn.used_by == "my_app" and pn.is_dirty


def test_is_number_billable(kazoo_numbers: list[str]) -> None:
    pn = numbers.get("+15045551226")
    assert carriers.is_number_billable(pn) is False
    pn.set_module_name("knm_bandwidth2")
    assert carriers.is_number_billable(pn) is True
    pn.set_module_name("wnm_pacwest")
    assert pn.module_name == "knm_pacwest"
    assert carriers.is_number_billable(pn) is True


# -- §10.5 release -----------------------------------------------------------------------------


def test_release_rules(kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.NotFound) as missing:
        numbers.release(CREATE)
    assert missing.value.cause == CREATE

    [pn] = numbers.release([AVAILABLE]).succeeded
    assert (pn.state, pn.assigned_to, pn.is_dirty) == ("deleted", None, True)
    assert repository.fetch(AVAILABLE) is None  # local numbers are deleted for good

    result = numbers.release([TELNYX])
    assert result.failed[TELNYX].to_json() == {
        "code": 400, "error": "invalid_state_transition", "cause": "from available to available",
        "message": "invalid state transition"}

    assert numbers.release([BAD_CARRIER]).failed[BAD_CARRIER].error == "carrier_unavailable"
    config.set("number_manager", "disconnect_on_release", False)  # Kazoo's release
    [pn] = numbers.release([BAD_CARRIER]).succeeded
    assert (pn.state, pn.assigned_to, pn.reserve_history, pn.is_dirty) == \
        ("available", None, [], True)

    [pn] = numbers.release([MDN], mdn_run=True).succeeded
    assert (pn.state, pn.assigned_to, pn.reserve_history, pn.module_name, pn.is_dirty) == \
        ("deleted", None, [], "knm_mdn", True)


def test_release_in_service(kazoo_numbers: list[str]) -> None:
    cases = [
        (IN_SERVICE, "system", False), (IN_SERVICE, MASTER, False),
        (IN_SERVICE, RESELLER, False), (WITH_HISTORY, "system", False),
        (WITH_HISTORY, MASTER, False), (WITH_HISTORY, RESELLER, False),
        (MDN, "system", False), (MDN, MASTER, True), (MDN, RESELLER, True),
    ]
    for number, auth_by, mdn_run in cases:
        reset(number)
        before = numbers.get(number)
        assert (before.state, before.assigned_to, before.features_list()) == \
            ("in_service", RESELLER, ["local"])
        [pn] = numbers.release([number], auth_by=auth_by, mdn_run=mdn_run).succeeded
        assert pn.is_dirty and pn.features_list() == ["local"]
        if len(before.reserve_history) == 1:
            assert (pn.state, pn.assigned_to, pn.reserve_history) == ("deleted", None, [])
            assert repository.fetch(number) is None
        else:
            assert (pn.state, pn.assigned_to, pn.reserve_history) == \
                ("reserved", MASTER, [MASTER])
            assert numbers.get(number).assigned_to == MASTER


def test_release_by_an_unrelated_account_is_forbidden(kazoo_numbers: list[str]) -> None:
    result = numbers.release([IN_SERVICE], auth_by=CHILD)
    assert result.failed[IN_SERVICE].error == "forbidden"
    assert numbers.get(IN_SERVICE).state == "in_service"


def test_delete(kazoo_numbers: list[str]) -> None:
    cases = [
        (IN_SERVICE, "system", False), (IN_SERVICE, MASTER, False),
        (WITH_HISTORY, "system", False), (WITH_HISTORY, MASTER, False),
        (MDN, "system", False), (MDN, MASTER, True),
    ]
    for number, auth_by, mdn_run in cases:
        reset(number)
        [pn] = numbers.delete([number], auth_by=auth_by, mdn_run=mdn_run).succeeded
        assert pn.state == "deleted" and pn.features_list() == ["local"]
        assert repository.fetch(number) is None


def test_delete_needs_an_admin(kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.Forbidden):
        numbers.delete(IN_SERVICE, auth_by=RESELLER)
    assert numbers.get(IN_SERVICE).state == "in_service"


def test_release_disconnects_a_foreign_number_and_forgets_it(
        kazoo_numbers: list[str], spy_telnyx: Any) -> None:
    # SPEC §5.1 disconnect_on_release (default): released at the carrier, then not held
    numbers.move(NON_LOCAL_AVAILABLE, RESELLER)
    config.set("number_manager", "should_age", True)
    pn = numbers.release(NON_LOCAL_AVAILABLE)
    assert pn.state == "deleted" and spy_telnyx.calls == [("disconnect", NON_LOCAL_AVAILABLE)]
    assert repository.fetch(NON_LOCAL_AVAILABLE) is None


def test_release_ages_or_deletes_foreign_numbers_when_configured(
        kazoo_numbers: list[str], spy_telnyx: Any) -> None:
    # Kazoo's release (disconnect_on_release false): the carrier keeps the number for a pool
    config.set("number_manager", "disconnect_on_release", False)
    numbers.move(NON_LOCAL_AVAILABLE, RESELLER)
    config.set("number_manager", "should_age", True)
    pn = numbers.release(NON_LOCAL_AVAILABLE)
    assert pn.state == "aging" and spy_telnyx.calls == []
    assert numbers.get(NON_LOCAL_AVAILABLE).state == "aging"
    numbers.move(NON_LOCAL_AVAILABLE, RESELLER)
    config.set("number_manager", "should_permanently_delete", True)
    assert numbers.release(NON_LOCAL_AVAILABLE).state == "deleted"
    assert repository.fetch(NON_LOCAL_AVAILABLE) is None


# -- §10.6 create ------------------------------------------------------------------------------


def test_create_new_number(kazoo_numbers: list[str]) -> None:
    [pn] = numbers.create([CREATE], auth_by=MASTER, assign_to=RESELLER,
                          dry_run=False).succeeded
    assert pn.is_dirty and pn.assigned_to == RESELLER and pn.auth_by == MASTER
    assert pn.number_db == "numbers%2F%2B1555" and pn.state == "in_service"
    assert pn.reserve_history == [] and pn.module_name == "knm_local"
    assert isinstance(pn.to_public_json()["_read_only"]["created"], int)
    stored = numbers.get(CREATE)
    assert (stored.state, stored.assigned_to, stored.module_name) == \
        ("in_service", RESELLER, "knm_local")


def test_create_with_an_unknown_carrier(kazoo_numbers: list[str]) -> None:
    pn = numbers.create(CREATE, auth_by=MASTER, assign_to=RESELLER, module_name="blipblop")
    assert (pn.module_name, pn.features_list(), pn.state) == ("blipblop", [], "in_service")


def test_create_by_reseller_depends_on_allow_additions(kazoo_numbers: list[str]) -> None:
    pn = numbers.create(CREATE, auth_by=RESELLER, assign_to=RESELLER)
    assert (pn.state, pn.module_name) == ("in_service", "knm_local")
    accounts.update(RESELLER, allow_number_additions=False)
    with pytest.raises(errors.Forbidden) as exc:
        numbers.create("+15559871235", auth_by=RESELLER, assign_to=RESELLER)
    assert exc.value.message == "requestor is unauthorized to perform operation"


def test_create_available_never_assigns(kazoo_numbers: list[str]) -> None:
    pn = numbers.create(CREATE, auth_by=MASTER, assign_to=MASTER, state="available")
    assert (pn.state, pn.assigned_to, pn.auth_by, pn.reserve_history, pn.module_name) == \
        ("available", None, MASTER, [], "knm_local")
    # over an existing available number
    pn = numbers.create(AVAILABLE, auth_by=MASTER, assign_to=RESELLER)
    assert (pn.state, pn.assigned_to, pn.reserve_history, pn.module_name) == \
        ("in_service", RESELLER, [], "knm_local")


def test_port_in_by_a_reseller_without_additions(kazoo_numbers: list[str]) -> None:
    accounts.update(RESELLER, allow_number_additions=False)
    pn = numbers.create(CREATE, auth_by=RESELLER, assign_to=RESELLER, state="port_in",
                        module_name="knm_local")
    assert (pn.state, pn.assigned_to, pn.ported_in) == ("port_in", RESELLER, False)
    assert carriers.is_number_billable(pn) is False


def test_create_refusals_and_dry_run(kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.NumberExists) as exc:
        numbers.create(IN_SERVICE, assign_to=RESELLER)
    assert (exc.value.code, exc.value.error, exc.value.cause) == (409, "number_exists",
                                                                  IN_SERVICE)
    result = numbers.create([CREATE], auth_by=MASTER, assign_to=RESELLER, dry_run=True)
    assert result.dry_run and [pn.state for pn in result.succeeded] == ["in_service"]
    with pytest.raises(errors.NotFound):
        numbers.get(CREATE)
    with pytest.raises(errors.NotFound) as missing:
        numbers.move(CREATE, RESELLER, auth_by=MASTER, public_fields={"mobile": {"x": 1}})
    assert missing.value.cause == CREATE


def test_create_mdn_number_with_public_fields(kazoo_numbers: list[str]) -> None:
    mobile = {"provider": "tower-of-power", "device_id": "1"}
    pn = numbers.create(CREATE, auth_by=MASTER, assign_to=RESELLER, module_name="knm_mdn",
                        public_fields={"mobile": mobile}, mdn_run=True)
    assert (pn.state, pn.module_name, pn.assigned_to) == ("in_service", "knm_mdn", RESELLER)
    assert pn.to_public_json()["mobile"] == mobile
    assert numbers.get(CREATE).doc["mobile"] == mobile


def test_create_over_existing_number_by_state(kazoo_numbers: list[str]) -> None:
    from knm.store.schema import numbers as numbers_table

    for state in ("aging", "available", "port_in", "deleted", "discovery", "in_service",
                  "port_out", "released", "reserved"):
        with store.write() as conn:
            conn.execute(numbers_table.update().where(numbers_table.c.number == AVAILABLE)
                         .values(state=state))
        result = numbers.create([AVAILABLE], assign_to=RESELLER, dry_run=True)
        if state in ("aging", "available", "port_in"):
            assert result.failed == {}, state
        else:
            assert result.failed[AVAILABLE].to_json()["cause"] == AVAILABLE
            assert result.failed[AVAILABLE].code == 409


def test_who_may_create(kazoo_numbers: list[str]) -> None:
    with pytest.raises(errors.Forbidden):
        numbers.create(CREATE, assign_to=None, auth_by=None)
    accounts.update(RESELLER, allow_number_additions=False)
    with pytest.raises(errors.Forbidden):
        numbers.create(CREATE, assign_to=RESELLER, auth_by=RESELLER)
    accounts.update(RESELLER, allow_number_additions=True)
    pn = numbers.create(CREATE, assign_to=RESELLER, auth_by=RESELLER)
    assert (pn.state, pn.assigned_to, pn.auth_by) == ("in_service", RESELLER, RESELLER)
    assert numbers.allowed_creation_states(RESELLER) == ["in_service", "reserved"]
    assert numbers.allowed_creation_states(CHILD) == []
    assert len(numbers.allowed_creation_states(MASTER)) == 5
    with pytest.raises(errors.Forbidden) as exc:
        numbers.create(CREATE, assign_to=RESELLER, auth_by=RESELLER, state="available")
    assert exc.value.cause == "creating number in state 'available' is not allowed"


def test_numbers_in_a_port_request_cannot_be_created(kazoo_numbers: list[str]) -> None:
    with store.write() as conn:
        conn.execute(port_requests.insert().values(number=NEW_PORT, account_id=RESELLER,
                                                   state="submitted"))
    result = numbers.create([NEW_PORT, CREATE], assign_to=RESELLER)
    assert result.failed[NEW_PORT].to_json() == {
        "code": 400, "error": "number_is_porting", "cause": NEW_PORT,
        "message": f"number {NEW_PORT} is porting"}
    assert [pn.number for pn in result.succeeded] == [CREATE]
    # a port completing brings the number in: ported_in skips the check
    pn = numbers.create(NEW_PORT, assign_to=RESELLER, ported_in=True)
    assert (pn.state, pn.ported_in, pn.module_name) == ("in_service", True, "knm_local")


def test_create_rejects_unknown_states_and_accounts(kazoo_numbers: list[str]) -> None:
    # SPEC §3: bad input is a 400 invalid naming the field (Kazoo crashed or accepted it)
    with pytest.raises(errors.Invalid) as exc:
        numbers.create(CREATE, assign_to=RESELLER, state="bogus")
    assert exc.value.cause == "state"
    with pytest.raises(errors.Invalid) as exc:
        numbers.create(CREATE, assign_to="0123456789abcdef0123456789abcdef")
    assert exc.value.cause == "assign_to"


# -- §10.7 move --------------------------------------------------------------------------------


def test_move_available(kazoo_numbers: list[str]) -> None:
    [pn] = numbers.move([AVAILABLE], CHILD).succeeded
    assert pn.is_dirty and pn.assigned_to == CHILD


def test_move_reserved_number(kazoo_numbers: list[str]) -> None:
    accounts.create("unrelated", account_id=UNRELATED)
    result = numbers.move([RESERVED], UNRELATED, auth_by=UNRELATED)
    assert result.failed[RESERVED].error == "forbidden"
    # reserved to the reseller: its child may take it
    [pn] = numbers.move([RESERVED], CHILD, auth_by=CHILD).succeeded
    assert (pn.assigned_to, pn.state, pn.is_dirty) == (CHILD, "in_service", True)
    # with system authority it may go anywhere
    for target in (CHILD, UNRELATED):
        reset(RESERVED)
        pn = numbers.move(RESERVED, target)
        assert (pn.assigned_to, pn.state) == (target, "in_service")


def test_move_to_an_unknown_account_is_invalid(kazoo_numbers: list[str]) -> None:
    # SPEC §3 deviation: Kazoo moved numbers to any 32-character id; knm wants the account
    with pytest.raises(errors.Invalid) as exc:
        numbers.move(AVAILABLE, UNRELATED)
    assert exc.value.cause == "assign_to"
    assert numbers.get(AVAILABLE).state == "available"


def test_move_replaces_public_fields(kazoo_numbers: list[str]) -> None:
    before = numbers.get(AVAILABLE)
    assert before.doc.get("my_key") == "my string" and "a" not in before.doc
    [pn] = numbers.move([AVAILABLE], RESELLER,
                        public_fields={"a": "bla", "my_key": 42}).succeeded
    assert pn.doc["my_key"] == 42 and pn.doc["a"] == "bla"
    assert numbers.get(AVAILABLE).doc == {"a": "bla", "my_key": 42}


def test_anyone_may_buy_available_numbers(kazoo_numbers: list[str], spy_telnyx: Any) -> None:
    for auth_by in (CHILD, RESELLER, MASTER):
        for assign_to in (CHILD, RESELLER, MASTER):
            # dry runs, so every pair starts from the fixture's state
            [pn] = numbers.move([AVAILABLE], assign_to, auth_by=auth_by,
                                dry_run=True).succeeded
            assert (pn.is_dirty, pn.state, pn.assigned_to, pn.prev_assigned_to) == \
                (True, "in_service", assign_to, RESELLER)
            assert (pn.reserve_history, pn.module_name, pn.features_list()) == \
                ([], "knm_local", ["local"])
            [pn] = numbers.move([NON_LOCAL_AVAILABLE], assign_to, auth_by=auth_by,
                                dry_run=True).succeeded
            assert (pn.is_dirty, pn.state, pn.assigned_to, pn.prev_assigned_to) == \
                (True, "in_service", assign_to, RESELLER)
            assert (pn.module_name, pn.features_list()) == ("knm_telnyx", [])
    [pn] = numbers.move([NON_LOCAL_AVAILABLE], CHILD, auth_by=CHILD).succeeded
    assert numbers.get(NON_LOCAL_AVAILABLE).assigned_to == CHILD
    assert spy_telnyx.calls == []


def test_list_account(kazoo_numbers: list[str]) -> None:
    listed = [pn.number for pn in numbers.list_account(CHILD)]
    assert listed == ["+13977031887", "+19995552600"]
    numbers.move(AVAILABLE, CHILD)
    assert AVAILABLE in [pn.number for pn in numbers.list_account(CHILD)]
