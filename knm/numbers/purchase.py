"""Buying and releasing at a carrier so that nothing is ever lost or bought twice (SPEC §5.1).

Every purchase or release at a foreign carrier goes through one protocol:

1. **Claim.** One conditional write marks the row (`rev = claim:<token>`, a new number is
   inserted in state `discovery`), records what is under way (`pending_operation`), and
   stores — *before* the carrier is called — the `order_reference` sent to the carrier and
   `order_status: "unknown"` (`disconnect_status` for a release), with the buyer's account.
   A lease row in `knm_claims` says who holds the claim; the holder renews it while the call
   runs (`LeaseKeeper`). A second buyer finds the claim and gets `409` before any carrier is
   asked, so the carrier is asked once.
2. **Three outcomes.** The carrier said yes → *done*: the record moves on. It said no before
   doing anything (`error.unsettled` false) → *refused*: the claim is undone. Anything else —
   a timeout, a reset, a 5xx, a truncated answer, an order still pending, the process dying —
   → *unsettled*: the record stays (never deleted, never ordered again blindly) with its
   reference, for settling.
3. **Settling** asks the carrier (`Carrier.settle`) what happened, by order id, by reference
   or by whether its account owns the number, and finishes the operation either way. A claim
   whose lease ran out belongs to a process that died: it is settled like any unsettled
   record, never simply taken over.

Lease times are taken from the database's clock, so two hosts whose clocks disagree still
agree on whether a lease is alive.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, and_, delete, extract, func, literal, select, update

from knm import carriers, config, errors, store
from knm.carriers.orders import COMPLETE, FAILED, OrderStatus
from knm.numbers import repository
from knm.record import PhoneNumber, now_gregorian
from knm.store.schema import claims
from knm.store.schema import numbers as numbers_t

log = logging.getLogger("knm.numbers.purchase")

ACQUIRE, DISCONNECT = "acquire", "disconnect"
#: carrier-data keys the protocol keeps for itself (the rest is the carrier's)
REFERENCE, ORDER_ID, ORDER_STATUS = "order_reference", "order_id", "order_status"
DISCONNECT_ORDER_ID, DISCONNECT_STATUS = "disconnect_order_id", "disconnect_status"
ORDER_ACCOUNT, ORDER_TARGET = "order_account", "order_target"
UNKNOWN, PENDING = "unknown", "pending"
_BOOKKEEPING = (ORDER_STATUS, ORDER_ACCOUNT, ORDER_TARGET, DISCONNECT_STATUS)


def new_reference() -> str:
    """A reference every carrier accepts (≤ 40 characters: letters, digits, dashes)."""
    return f"knm-{uuid.uuid4().hex}"


# -- leases ------------------------------------------------------------------------------------


def lease_s() -> float:
    """How long a claim lives without renewal (`claim_lease_s`, default 30 s)."""
    return config.system_number("claim_lease_s", minimum=0.5)


def db_now(conn: Connection) -> Any:
    """Now, in seconds since the epoch, by the database's clock (PostgreSQL) — or this host's
    for SQLite, whose file only processes of one host share."""
    if conn.dialect.name == "postgresql":
        return extract("epoch", func.clock_timestamp())
    return literal(time.time())


class LeaseKeeper:
    """Renews the leases of the claims this process holds, every third of the lease, on one
    daemon thread (started with the first claim). A process that dies stops renewing: its
    leases run out and its claims are settled by whoever comes next."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}
        self._thread: threading.Thread | None = None
        self._wake = threading.Event()
        self._pid = 0
        self._holder = ""

    @property
    def holder(self) -> str:
        """This process's name in `knm_claims` (new after a fork)."""
        if self._pid != os.getpid():
            self._pid = os.getpid()
            self._holder = f"{socket.gethostname()}:{self._pid}:{uuid.uuid4().hex[:8]}"
            self._thread = None
        return self._holder

    def hold(self, number: str) -> None:
        with self._lock:
            self._held[number] = self._held.get(number, 0) + 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="knm-leases",
                                                daemon=True)
                self._thread.start()
        self._wake.set()  # the renewal period follows the lease in force now

    def drop(self, number: str) -> None:
        with self._lock:
            left = self._held.get(number, 0) - 1
            if left > 0:
                self._held[number] = left
            else:
                self._held.pop(number, None)

    def held(self) -> list[str]:
        with self._lock:
            return list(self._held)

    def renew(self) -> None:
        numbers = self.held()
        if not numbers:
            return
        with store.write() as conn:
            conn.execute(update(claims)
                         .where(and_(claims.c.holder == self.holder,
                                     claims.c.number.in_(numbers)))
                         .values(lease_until=db_now(conn) + lease_s()))

    def _run(self) -> None:
        period = 10.0  # a third of the default lease, until the setting can be read
        while True:
            try:  # reading the setting reads the database, which may be away for a while:
                period = lease_s() / 3  # the keeper must outlive that, or leases lapse
            except Exception:  # noqa: BLE001 - the last period serves until it can be read
                log.warning("could not read claim_lease_s; renewing every %.1f s", period,
                            exc_info=True)
            self._wake.wait(period)
            self._wake.clear()
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a missed renewal is retried; the lease has slack
                log.warning("could not renew claim leases", exc_info=True)


leases = LeaseKeeper()


# -- claims ------------------------------------------------------------------------------------

FREE, BUSY, ORPHANED = "free", "busy", "orphaned"


def claim_state(pn: PhoneNumber) -> str:
    """`free` (no claim), `busy` (a live holder is at the carrier now) or `orphaned` (its
    holder is gone: the lease ran out, or the claim predates leases)."""
    if not repository.is_claimed(pn):
        return FREE
    with store.read() as conn:
        alive = conn.execute(select(claims.c.number).where(and_(
            claims.c.number == pn.number, claims.c.lease_until > db_now(conn)))).first()
    return BUSY if alive else ORPHANED


def _take(pn: PhoneNumber, operation: str, conn: Connection) -> None:
    """Claim `pn` in `conn`'s transaction: insert it (new) or update it (version-checked)."""
    token = f"{repository.CLAIM_PREFIX}{uuid.uuid4().hex}"
    if pn.version == 0:
        pn.rev = token
        failed = repository.insert_many([pn], conn)
        if failed:
            raise failed[pn.number]
    else:
        try:
            repository.update_one(pn, conn, rev=token)
        except errors.Conflict:
            raise errors.NumberBusy(pn.number) from None
    now = db_now(conn)
    conn.execute(delete(claims).where(claims.c.number == pn.number))
    conn.execute(claims.insert().values(number=pn.number, holder=leases.holder,
                                        operation=operation, lease_until=now + lease_s(),
                                        started=now))


def claim(pn: PhoneNumber, operation: str) -> None:
    """Claim the number for `operation`, storing the record as it is now (its reference and
    buyer included). Raises `NumberExists` / `NumberBusy` when someone else got there."""
    if repository.is_claimed(pn):  # live or orphaned: never taken over, only settled
        raise errors.NumberBusy(pn.number)
    with store.write() as conn:
        _take(pn, operation, conn)
    leases.hold(pn.number)


def _finish(pn: PhoneNumber | None, number: str, version: int, *, delete_row: bool = False
            ) -> None:
    """End a claim: write `pn` over the claimed row (version-checked), or delete the row, and
    drop the lease — in one transaction."""
    try:
        with store.write() as conn:
            if delete_row:
                conn.execute(delete(numbers_t).where(and_(numbers_t.c.number == number,
                                                          numbers_t.c.version == version)))
            elif pn is not None:
                pn.version = version
                repository.update_one(pn, conn)
            conn.execute(delete(claims).where(claims.c.number == number))
    finally:
        leases.drop(number)


def _bookkeeping_removed(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in _BOOKKEEPING}


def _learnt(result: PhoneNumber | None, pn: PhoneNumber) -> dict[str, Any]:
    """Carrier data after the call: what the carrier returned on the record, new values
    winning over what the record held."""
    data = dict(pn.carrier_data or {})
    if result is not None and result is not pn:
        data.update(result.carrier_data or {})
    return {k: v for k, v in data.items() if v is not None}


def _unsettled_status(exc: errors.KnmError, id_key: str, *records: PhoneNumber
                      ) -> dict[str, Any]:
    """What an unsettled call leaves in carrier data: `pending` when the carrier gave an order
    id (it has the order and is working on it), else `unknown`."""
    learnt: dict[str, Any] = {}
    pending = getattr(exc, "pending", None)
    for source in (pending, *records):
        if isinstance(source, PhoneNumber):
            value = (source.carrier_data or {}).get(id_key)
            if value:
                learnt[id_key] = value
                break
    learnt["status"] = PENDING if id_key in learnt else UNKNOWN
    return learnt


def _as_knm_error(exc: BaseException, pn: PhoneNumber) -> errors.KnmError:
    if isinstance(exc, errors.KnmError):
        return exc
    return errors.CarrierFault(pn.module_name or "unknown", type(exc).__name__,
                               number=pn.number, unsettled=True)


# -- buying ------------------------------------------------------------------------------------


def buy(pn: PhoneNumber, before: PhoneNumber) -> PhoneNumber:
    """Buy `pn` (the record as the buyer wants it: state, owner, public fields) whose stored
    or discovered form is `before`. Raises the carrier's error; an unsettled outcome keeps the
    record for settling and says so (`error.kept_unsettled`)."""
    reference = new_reference()
    claim_row = before.copy()
    claim_row.doc = dict(pn.doc)
    if before.version == 0:  # a number found by a search: the row names its buyer
        claim_row.assigned_to = pn.assigned_to
    claim_row.carrier_data = {**(before.carrier_data or {}), REFERENCE: reference,
                              ORDER_STATUS: UNKNOWN, ORDER_ACCOUNT: pn.assigned_to,
                              ORDER_TARGET: pn.state}
    claim_row.pending_operation = ACQUIRE
    claim_row.modified = now_gregorian()
    claim(claim_row, ACQUIRE)  # 409 here means another buyer got there first
    version = claim_row.version
    pn.version, pn.rev = version, claim_row.rev
    pn.carrier_data = dict(claim_row.carrier_data)
    try:
        bought = carriers.acquire(pn)
    except BaseException as raised:
        exc = _as_knm_error(raised, pn)
        if not exc.unsettled:
            restore = None if before.version == 0 else before.copy()
            _finish(restore, pn.number, version, delete_row=restore is None)
        else:
            _keep_unsettled(claim_row, exc, version, ORDER_ID, ORDER_STATUS, pn)
        if exc is raised:
            raise
        raise exc from raised
    final = pn if bought is None else bought
    final.carrier_data = _bookkeeping_removed(_learnt(bought, pn))
    final.pending_operation = None
    final.is_dirty = True
    _finish(final, final.number, version)
    return final


def _keep_unsettled(row: PhoneNumber, exc: errors.KnmError, version: int, id_key: str,
                    status_key: str, called: PhoneNumber) -> None:
    """Store `row` (the claimed record) as unsettled after `exc`, with the order id the
    carrier gave, if any, on `called` (the record the carrier was handed) or the error."""
    learnt = _unsettled_status(exc, id_key, called, row)
    data = dict(row.carrier_data)
    data[status_key] = learnt.pop("status")
    data.update(learnt)
    row.carrier_data = data
    row.modified = now_gregorian()
    try:
        _finish(row, row.number, version)
    except errors.KnmError:
        log.exception("could not record the unsettled %s of %s", row.pending_operation,
                      row.number)
        raise
    exc.kept_unsettled = True
    log.warning("%s of %s at %s is unsettled (%s); kept for settling", row.pending_operation,
                row.number, row.module_name, exc.error)


# -- releasing ---------------------------------------------------------------------------------


def disconnect(pn: PhoneNumber, before: PhoneNumber) -> PhoneNumber:
    """Release `pn` at its foreign carrier under a claim. Done: the number leaves knm (the
    returned record is `deleted`). Refused: nothing changes. Unsettled: the number stays as
    it was, marked for settling."""
    # claim → call → finish or keep unsettled, as in `acquire` (the duplicate finder pairs
    # them). Kept as two: what a refusal restores, which keys name the order and what
    # success leaves differ at every step, and this is the protocol a reader audits line by
    # line against SPEC §5.1.
    reference = new_reference()
    claim_row = before.copy()
    claim_row.carrier_data = {**(before.carrier_data or {}), REFERENCE: reference,
                              DISCONNECT_STATUS: UNKNOWN}
    claim_row.pending_operation = DISCONNECT
    claim(claim_row, DISCONNECT)
    version = claim_row.version
    pn.version, pn.rev = version, claim_row.rev
    pn.carrier_data = dict(claim_row.carrier_data)
    try:
        released = carriers.disconnect(pn)
    except BaseException as raised:
        exc = _as_knm_error(raised, pn)
        if not exc.unsettled:
            _finish(before.copy(), pn.number, version)
        else:
            _keep_unsettled(claim_row, exc, version, DISCONNECT_ORDER_ID, DISCONNECT_STATUS,
                            pn)
        if exc is raised:
            raise
        raise exc from raised
    _finish(None, pn.number, version, delete_row=True)
    gone = released if released is not None else pn
    gone.carrier_data = _bookkeeping_removed(_learnt(released, pn))
    gone.pending_operation = None
    gone.set_state("deleted")
    return gone


# -- settling ----------------------------------------------------------------------------------


@dataclass
class Settled:
    """What settling one number did: `outcome` is `done` (the operation happened and is now
    recorded), `undone` (it did not happen; the claim was undone), `pending` (the carrier is
    still working on it) or `unknown` (the carrier could not be asked, or cannot tell);
    `record` is the number afterwards (None when it is no longer held)."""

    number: str
    operation: str | None
    outcome: str
    record: PhoneNumber | None
    error: errors.KnmError | None = None


def unsettled_numbers() -> list[str]:
    """The numbers of `unsettled_rows()`, without loading their records: what settling
    everything starts from (it loads the records once, as it claims them)."""
    with store.read() as conn:
        return list(conn.execute(select(numbers_t.c.number).where(
            numbers_t.c.pending_operation.isnot(None)).order_by(numbers_t.c.number)).scalars())


def unsettled_rows(account_ids: Iterable[str] | None = None) -> list[PhoneNumber]:
    """Every number with a purchase or release under way or unsettled (claims of live
    holders included), by number."""
    with store.read() as conn:
        rows = conn.execute(select(numbers_t).where(numbers_t.c.pending_operation.isnot(None))
                            .order_by(numbers_t.c.number)).all()
    found = [repository.from_row(r) for r in rows]
    if account_ids is None:
        return found
    wanted = set(account_ids)
    return [pn for pn in found if (pn.carrier_data or {}).get(ORDER_ACCOUNT) in wanted
            or pn.assigned_to in wanted]


def _claim_for_settling(pn: PhoneNumber) -> tuple[PhoneNumber, int, str]:
    """Claim an unsettled (or orphaned) record to settle it: the settler's own claim, so two
    settlers never finish one operation twice. Raises `NumberBusy` while a live holder works
    on it."""
    if claim_state(pn) == BUSY:
        raise errors.NumberBusy(pn.number)
    operation = pn.pending_operation or ACQUIRE  # a claim left by knm before leases: a purchase
    claim_row = pn.copy()
    claim_row.pending_operation = operation
    with store.write() as conn:
        _take(claim_row, operation, conn)
    leases.hold(pn.number)
    return claim_row, claim_row.version, operation


def settle_with(pn: PhoneNumber, status: OrderStatus) -> Settled:
    """Finish `pn`'s operation as the carrier told knm unasked (a webhook)."""
    claim_row, version, operation = _claim_for_settling(pn)
    return apply(claim_row, version, status, operation)


def unsettled_counts() -> dict[str, int]:
    """How many numbers have a purchase (`acquire`) or release (`disconnect`) under way or
    unsettled — one indexed query, for monitoring."""
    with store.read() as conn:
        rows = conn.execute(select(numbers_t.c.pending_operation, func.count())
                            .where(numbers_t.c.pending_operation.isnot(None))
                            .group_by(numbers_t.c.pending_operation)).all()
    counts = {ACQUIRE: 0, DISCONNECT: 0}
    counts.update({str(operation): int(count) for operation, count in rows})
    return counts


def settle_one(pn: PhoneNumber) -> Settled:
    """Settle one stored record (see the module doc). Never orders or releases anything."""
    if pn.pending_operation is None and not repository.is_claimed(pn):
        return Settled(pn.number, None, "done", pn)
    claim_row, version, operation = _claim_for_settling(pn)
    try:
        status = carriers.settle(claim_row)
    except errors.KnmError as exc:
        _finish(_released_claim(pn), pn.number, version)
        log.info("settling %s at %s: %s", pn.number, pn.module_name, exc.error)
        return Settled(pn.number, operation, "unknown", repository.fetch(pn.number), exc)
    except Exception as exc:  # noqa: BLE001 - a broken carrier must not keep the claim
        _finish(_released_claim(pn), pn.number, version)
        fault = errors.CarrierFault(pn.module_name or "unknown", type(exc).__name__,
                                    number=pn.number, unsettled=True)
        return Settled(pn.number, operation, "unknown", repository.fetch(pn.number), fault)
    return apply(claim_row, version, status, operation)


def _released_claim(pn: PhoneNumber) -> PhoneNumber:
    """The record as it was before a settler claimed it (same data, no claim marker)."""
    out = pn.copy()
    if repository.is_claimed(out):
        out.rev = None
    return out


def _decide(row: PhoneNumber, status: OrderStatus, operation: str) -> Settled:
    """What `status` makes of `row`'s operation: the record to write, or None to delete it
    (`Settled.record`), and the outcome. Writes nothing."""
    data = {**(row.carrier_data or {}), **(status.data or {})}
    if status.order_id:
        data[DISCONNECT_ORDER_ID if operation == DISCONNECT else ORDER_ID] = status.order_id
    data = {k: v for k, v in data.items() if v is not None}
    if status.state == COMPLETE and operation == ACQUIRE:
        done = row.copy()
        owner = data.get(ORDER_ACCOUNT) or row.assigned_to
        if owner and owner != done.assigned_to:
            done.set_assigned_to(owner)
        done.state = data.get(ORDER_TARGET) or "in_service"
        done.carrier_data = _bookkeeping_removed(data)
        done.pending_operation = None
        done.modified = now_gregorian()
        return Settled(row.number, operation, "done", done)
    if status.state == COMPLETE:  # released at the carrier: knm no longer holds it
        return Settled(row.number, operation, "done", None)
    if status.state == FAILED and operation == ACQUIRE and row.state == "discovery":
        return Settled(row.number, operation, "undone", None)
    if status.state == FAILED:
        undone = row.copy()
        undone.carrier_data = _bookkeeping_removed(data)
        undone.pending_operation = None
        return Settled(row.number, operation, "undone", undone)
    left = row.copy()
    left.carrier_data = {**data, (ORDER_STATUS if operation == ACQUIRE
                                  else DISCONNECT_STATUS): PENDING}
    return Settled(row.number, operation, "pending", left)


def apply(row: PhoneNumber, version: int, status: OrderStatus, operation: str) -> Settled:
    """Finish (or undo, or leave) `row`'s operation as `status` says; `row` is claimed by
    this process at `version`."""
    settled = _decide(row, status, operation)
    _finish(settled.record, row.number, version, delete_row=settled.record is None)
    return settled


def settle_many(pns: list[PhoneNumber], concurrency: int
                ) -> dict[str, Settled | errors.KnmError]:
    """Settle many stored records at once: one transaction claims them all, the carriers are
    asked `concurrency` at a time, one transaction records every outcome. A record a live
    holder is working on fails `NumberBusy`; one whose carrier could not tell stays as it
    was (`unknown`, with the carrier's error)."""
    out: dict[str, Settled | errors.KnmError] = {}
    todo = [pn for pn in pns if pn.pending_operation is not None or repository.is_claimed(pn)]
    for pn in pns:
        if pn not in todo:
            out[pn.number] = Settled(pn.number, None, "done", pn)
    live = _live_claims([pn.number for pn in todo if repository.is_claimed(pn)])
    rows: dict[str, tuple[PhoneNumber, PhoneNumber, str]] = {}
    for pn in todo:
        if pn.number in live:
            out[pn.number] = errors.NumberBusy(pn.number)
            continue
        operation = pn.pending_operation or ACQUIRE
        row = pn.copy()
        row.pending_operation = operation
        rows[pn.number] = (pn, row, operation)
    claimed = _claim_all(rows, out)
    answers = _ask_all(claimed, concurrency)
    writes: list[PhoneNumber] = []
    deletes: list[tuple[str, int]] = []
    outcomes: dict[str, Settled] = {}
    for (pn, row, version, operation), answer in zip(claimed, answers, strict=True):
        if isinstance(answer, OrderStatus):
            settled = _decide(row, answer, operation)
        else:
            log.info("settling %s at %s: %s", pn.number, pn.module_name, answer.error)
            settled = Settled(pn.number, operation, "unknown", _released_claim(pn), answer)
        outcomes[pn.number] = settled
        if settled.record is None:
            deletes.append((pn.number, version))
        else:
            settled.record.version = version
            writes.append(settled.record)
    try:
        with store.write() as conn:
            lost = repository.update_many(writes, conn)
            repository.delete_many(deletes, conn)
            conn.execute(delete(claims).where(claims.c.number.in_(list(outcomes))))
    finally:
        for number in outcomes:
            leases.drop(number)
    for number, settled in outcomes.items():
        out[number] = errors.Conflict(number) if number in lost else settled
    return out


def _claim_all(rows: dict[str, tuple[PhoneNumber, PhoneNumber, str]],
               out: dict[str, Settled | errors.KnmError]
               ) -> list[tuple[PhoneNumber, PhoneNumber, int, str]]:
    """Claim every row for settling in one transaction (one statement for the rows, one for
    the leases); a row changed meanwhile fails `NumberBusy`."""
    if not rows:
        return []
    tokens = {number: f"{repository.CLAIM_PREFIX}{uuid.uuid4().hex}" for number in rows}
    with store.write() as conn:
        lost = repository.claim_many([row for _, row, _ in rows.values()], tokens, conn)
        mine = [number for number in rows if number not in lost]
        now = db_now(conn)
        conn.execute(delete(claims).where(claims.c.number.in_(mine)))
        if mine:
            conn.execute(claims.insert().values(holder=leases.holder, lease_until=now +
                                                lease_s(), started=now), [
                {"number": number, "operation": rows[number][2]} for number in mine])
    claimed = []
    for number, (pn, row, operation) in rows.items():
        if number in lost:
            out[number] = errors.NumberBusy(number)
            continue
        leases.hold(number)
        claimed.append((pn, row, row.version, operation))
    return claimed


def _live_claims(numbers: list[str]) -> set[str]:
    if not numbers:
        return set()
    with store.read() as conn:
        return set(conn.execute(select(claims.c.number).where(and_(
            claims.c.number.in_(numbers), claims.c.lease_until > db_now(conn)))).scalars())


#: settling fewer numbers of one carrier than this asks for each on its own (a listing of
#: the account's holdings would not save a request)
LISTING_MIN = 5


def listing_budget(count: int) -> int:
    """Pages of a holdings listing worth reading to settle `count` numbers of one carrier:
    one per ten numbers, so an account holding far more than it settles costs at most a
    tenth more requests than asking for each, and one holding a few thousand costs a page
    or two instead of `count` lookups."""
    return count // 10 + 1


def _ask_all(claimed: list[tuple[PhoneNumber, PhoneNumber, int, str]], concurrency: int
             ) -> list[OrderStatus | errors.KnmError]:
    """Every claimed record's carrier asked what happened: each carrier at most `concurrency`
    requests at a time (its rate limits are its own), all carriers side by side — so a
    thousand records spread over a dozen carriers take as long as the busiest carrier's
    share, not the sum of all of them. A carrier with many records is first asked for a
    listing of its holdings (`carriers.held_listing`): the numbers found there are settled
    from it, the others one by one."""

    def ask(item: tuple[PhoneNumber, PhoneNumber, int, str], listed: Any
            ) -> OrderStatus | errors.KnmError:
        pn, row = item[0], item[1]
        try:
            return carriers.settle(row, listed=listed)
        except errors.KnmError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - a broken carrier must not keep the claim
            return errors.CarrierFault(pn.module_name or "unknown", type(exc).__name__,
                                       number=pn.number, unsettled=True)

    answers: list[OrderStatus | errors.KnmError | None] = [None] * len(claimed)
    by_carrier: dict[str, list[int]] = {}
    for index, item in enumerate(claimed):
        by_carrier.setdefault(item[0].module_name or "", []).append(index)

    def drain(todo: list[int], lock: threading.Lock, listed: Any) -> None:
        while True:
            with lock:
                if not todo:
                    return
                index = todo.pop()
            answers[index] = ask(claimed[index], listed)

    def one_carrier(name: str, todo: list[int]) -> None:
        listed: Any = {}
        if len(todo) >= LISTING_MIN:
            listed = carriers.held_listing(name, [claimed[i][1].number for i in todo],
                                           listing_budget(len(todo)))
        lock = threading.Lock()
        if concurrency <= 1 or len(todo) <= 1:
            drain(todo, lock, listed)
            return
        workers = [threading.Thread(target=drain, args=(todo, lock, listed), daemon=True,
                                    name="knm-settle")
                   for _ in range(min(concurrency, len(todo)))]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    if len(by_carrier) == 1:
        [(name, todo)] = by_carrier.items()
        one_carrier(name, todo)
    else:
        carriers_asked = [threading.Thread(target=one_carrier, args=item, daemon=True,
                                           name="knm-settle-carrier")
                          for item in by_carrier.items()]
        for thread in carriers_asked:
            thread.start()
        for thread in carriers_asked:
            thread.join()
    return [a if a is not None else errors.CarrierFault("unknown", "not asked",
                                                         unsettled=True)
            for a in answers]
