"""Loading and saving number records: one row per number, atomic per number.

Every row carries a `version`. A save of a loaded record is `UPDATE … WHERE version = :seen`,
so a writer that lost a race gets a clear `409 conflict` instead of silently overwriting the
winner; a new record is an `INSERT` on the primary key, so two creators of one number cannot
both succeed. Bulk paths (imports, `create` of thousands of numbers) use chunked `IN` reads and
multi-row inserts so they cost a handful of round trips, not one per number.

A row whose `rev` starts with `claim:` is being changed at its carrier (buy, release); the
claim and its lease are the purchase protocol's (`knm.numbers.purchase`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import Connection, String, and_, any_, bindparam, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError

from knm import errors, store
from knm.record import PhoneNumber, now_gregorian
from knm.store import bulk
from knm.store.schema import numbers as t
from knm.store.schema import port_requests

CHUNK = 500  # numbers per IN (...) — well under SQLite's bound-parameter limit
PG_CHUNK = 5000  # numbers per = ANY(array) on PostgreSQL
CLAIM_PREFIX = "claim:"
#: port requests in these states no longer hold their numbers
FINISHED_PORT_STATES = ("completed", "canceled", "cancelled", "rejected")


# -- row <-> record ----------------------------------------------------------------------------


def to_row(pn: PhoneNumber) -> dict[str, Any]:
    """The columns of a record (the public fields go to `doc`)."""
    stamp = now_gregorian()
    return {
        "number": pn.number,
        "state": pn.state,
        "module_name": pn.module_name or "knm_local",
        "assigned_to": pn.assigned_to,
        "prev_assigned_to": pn.prev_assigned_to,
        "used_by": pn.used_by,
        "ported_in": bool(pn.ported_in),
        "carrier_data": pn.carrier_data or {},
        "features": pn.features or {},
        "features_allowed": list(pn.features_allowed or []),
        "features_denied": list(pn.features_denied or []),
        "reserve_history": list(pn.reserve_history or []),
        "region": pn.region,
        "auth_by": pn.auth_by,
        "doc": pn.doc or {},
        "created": pn.created or stamp,
        "modified": pn.modified or stamp,
        "version": pn.version,
        "rev": pn.rev,
        "pending_operation": pn.pending_operation,
    }


def from_row(row: Any) -> PhoneNumber:
    """A record as stored: nothing migrated, nothing dirty."""
    pn = PhoneNumber(row.number)
    pn.state = row.state
    pn.module_name = row.module_name
    pn.assigned_to = row.assigned_to
    pn.prev_assigned_to = row.prev_assigned_to
    pn.used_by = row.used_by
    pn.ported_in = bool(row.ported_in)
    pn.carrier_data = dict(row.carrier_data or {})
    pn.features = dict(row.features or {})
    pn.features_allowed = list(row.features_allowed or [])
    pn.features_denied = list(row.features_denied or [])
    pn.reserve_history = list(row.reserve_history or [])
    pn.region = row.region
    pn.auth_by = row.auth_by
    pn.doc = dict(row.doc or {})
    pn.created = row.created
    pn.modified = row.modified
    pn.version = row.version
    pn.rev = row.rev
    pn.pending_operation = row.pending_operation
    pn.is_dirty = False
    return pn


def next_rev(rev: str | None) -> str:
    """Kazoo-style `_rev`: `<generation>-<random>`, the generation one higher."""
    generation = 0
    if rev and not rev.startswith(CLAIM_PREFIX):
        head = rev.split("-", 1)[0]
        generation = int(head) if head.isdigit() else 0
    return f"{generation + 1}-{uuid.uuid4().hex}"


def is_claimed(pn: PhoneNumber) -> bool:
    """True while the row carries a claim: an operation is (or was, if its holder died)
    changing it at its carrier."""
    return (pn.rev or "").startswith(CLAIM_PREFIX)


def _chunks(items: list[str], size: int = CHUNK) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _member_of(column: Any, chunk: list[str], conn: Connection) -> Any:
    """`column IN chunk`; on PostgreSQL `= ANY(array)`, one parameter instead of hundreds."""
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam("wanted", chunk, type_=postgresql.ARRAY(String)))
    return column.in_(chunk)


def _chunk_size(conn: Connection) -> int:
    return PG_CHUNK if conn.dialect.name == "postgresql" else CHUNK


# -- reads -------------------------------------------------------------------------------------


def fetch(number: str) -> PhoneNumber | None:
    with store.read() as conn:
        row = conn.execute(select(t).where(t.c.number == number)).first()
    return from_row(row) if row else None


def fetch_many(numbers: Iterable[str], conn: Connection | None = None
               ) -> dict[str, PhoneNumber]:
    """The stored records among `numbers`, keyed by number (missing ones are absent)."""
    wanted = list(dict.fromkeys(numbers))
    out: dict[str, PhoneNumber] = {}
    if not wanted:
        return out
    if conn is None:
        with store.read() as own:
            return fetch_many(wanted, own)
    for chunk in _chunks(wanted, _chunk_size(conn)):
        for row in conn.execute(select(t).where(_member_of(t.c.number, chunk, conn))):
            out[row.number] = from_row(row)
    return out


def existing(numbers: Iterable[str], conn: Connection | None = None) -> set[str]:
    """Which of `numbers` have a row (one cheap query per chunk)."""
    wanted = list(dict.fromkeys(numbers))
    if not wanted:
        return set()
    if conn is None:
        with store.read() as own:
            return existing(wanted, own)
    found: set[str] = set()
    for chunk in _chunks(wanted, _chunk_size(conn)):
        found.update(conn.execute(select(t.c.number)
                                  .where(_member_of(t.c.number, chunk, conn))).scalars())
    return found


def porting(numbers: Iterable[str]) -> set[str]:
    """Numbers inside an open port request."""
    wanted = list(dict.fromkeys(numbers))
    found: set[str] = set()
    if not wanted:
        return found
    pr = port_requests
    with store.read() as conn:
        for chunk in _chunks(wanted, _chunk_size(conn)):
            found.update(conn.execute(
                select(pr.c.number).where(and_(_member_of(pr.c.number, chunk, conn),
                                               pr.c.state.not_in(FINISHED_PORT_STATES)))
            ).scalars())
    return found


def list_account(account_id: str) -> list[PhoneNumber]:
    """Every number assigned to the account, by number."""
    with store.read() as conn:
        rows = conn.execute(select(t).where(t.c.assigned_to == account_id)
                            .order_by(t.c.number)).all()
    return [from_row(r) for r in rows]


#: what a listing shows of a number (`list_page(..., full=False)`): its public fields and
#: carrier data are not read, so a page decodes a third of the JSON
LISTING_COLUMNS = ("number", "state", "module_name", "assigned_to", "used_by", "features",
                   "features_allowed", "features_denied", "created", "modified")


def _from_listing_row(row: Any) -> PhoneNumber:
    pn = PhoneNumber(row.number)
    for name in LISTING_COLUMNS[1:]:
        setattr(pn, name, getattr(row, name))
    pn.features = dict(pn.features or {})
    pn.features_allowed = list(pn.features_allowed or [])
    pn.features_denied = list(pn.features_denied or [])
    pn.is_dirty = False
    return pn


def list_page(account_id: str, *, limit: int | None, start_key: str | None = None,
              after_key: str | None = None, descending: bool = False,
              states: Iterable[str] | None = None, not_states: Iterable[str] | None = None,
              created: tuple[int | None, int | None] = (None, None),
              modified: tuple[int | None, int | None] = (None, None),
              full: bool = True) -> list[PhoneNumber]:
    """Up to `limit` of the account's numbers in number order (reversed when `descending`),
    from `start_key` (included) or after `after_key` (excluded): keyset paging on the
    `(assigned_to, number)` index, so a page costs the same at the end of a 100,000-number
    account as at its start. `states` / `not_states` and the inclusive `created` and
    `modified` bounds (Gregorian seconds) narrow the rows in the same query. `full=False`
    reads only `LISTING_COLUMNS` (records for showing, not for saving)."""
    columns = t.c if full else [t.c[name] for name in LISTING_COLUMNS]
    query = select(*columns).where(t.c.assigned_to == account_id)
    if descending:
        if start_key is not None:
            query = query.where(t.c.number <= start_key)
        if after_key is not None:
            query = query.where(t.c.number < after_key)
        query = query.order_by(t.c.number.desc())
    else:
        if start_key is not None:
            query = query.where(t.c.number >= start_key)
        if after_key is not None:
            query = query.where(t.c.number > after_key)
        query = query.order_by(t.c.number)
    if states is not None:
        query = query.where(t.c.state.in_(list(states)))
    if not_states:
        query = query.where(t.c.state.not_in(list(not_states)))
    for column, (low, high) in ((t.c.created, created), (t.c.modified, modified)):
        if low is not None:
            query = query.where(column >= low)
        if high is not None:
            query = query.where(column <= high)
    if limit is not None:
        query = query.limit(limit)
    with store.read() as conn:
        rows = conn.execute(query).all()
    return [from_row(r) if full else _from_listing_row(r) for r in rows]


# -- writes ------------------------------------------------------------------------------------


def _insert_ignoring_existing(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(t).on_conflict_do_nothing(index_elements=["number"])
    if conn.dialect.name == "sqlite":
        return sqlite.insert(t).on_conflict_do_nothing(index_elements=["number"])
    return None


def _insert_reporting(rows: list[dict[str, Any]], conn: Connection) -> set[str]:
    """Slow but exact: insert what is free, return the numbers that went in."""
    stmt = _insert_ignoring_existing(conn)
    inserted: set[str] = set()
    if stmt is not None:
        for i in range(0, len(rows), 1000):
            result = conn.execute(stmt.returning(t.c.number), rows[i:i + 1000])
            inserted.update(result.scalars())
        return inserted
    for row in rows:  # pragma: no cover - other databases: one row at a time
        try:
            with conn.begin_nested():
                conn.execute(t.insert().values(**row))
            inserted.add(row["number"])
        except IntegrityError:
            pass
    return inserted


def insert_many(pns: list[PhoneNumber], conn: Connection) -> dict[str, errors.KnmError]:
    """Insert new records; a number that already has a row fails with `409 number_exists`.

    The numbers already stored are found first, and the rest go in as one bulk insert (COPY on
    PostgreSQL). Only if a concurrent creator slipped in between (a unique violation) is the
    batch redone with `ON CONFLICT DO NOTHING RETURNING`, which says exactly which rows are ours.
    """
    failed: dict[str, errors.KnmError] = {}
    if not pns:
        return failed
    # SQLite: check first (the write lock makes the check exact). PostgreSQL: insert straight
    # away; a unique violation sends the batch down the exact, slower path below.
    present = existing([pn.number for pn in pns], conn) if conn.dialect.name != "postgresql" \
        else set()
    todo: list[PhoneNumber] = []
    seen: set[str] = set()
    for pn in pns:
        if pn.number in present or pn.number in seen:
            failed[pn.number] = errors.NumberExists(pn.number)
            continue
        seen.add(pn.number)
        todo.append(pn)
    if not todo:
        return failed
    rows = []
    batch_id = uuid.uuid4().hex[:24]  # one random part per batch: revs stay unique, cheaply
    for i, pn in enumerate(todo):
        pn.rev = pn.rev or f"1-{batch_id}{i:08x}"
        row = to_row(pn)
        row["version"] = 1
        rows.append(row)
    if conn.dialect.name == "sqlite":
        # BEGIN IMMEDIATE holds the write lock: nobody can have inserted since the check
        bulk.insert_rows(conn, t, rows)
        inserted = {row["number"] for row in rows}
    else:
        try:
            with conn.begin_nested():
                bulk.insert_rows(conn, t, rows)
            inserted = {row["number"] for row in rows}
        except IntegrityError:
            inserted = _insert_reporting(rows, conn)
    for pn in todo:
        if pn.number in inserted:
            pn.version = 1
        else:
            failed[pn.number] = errors.NumberExists(pn.number)
    return failed


def update_one(pn: PhoneNumber, conn: Connection, *, rev: str | None = None) -> None:
    """Write a loaded record back if nobody changed it since it was read (else `Conflict`)."""
    row = to_row(pn)
    seen = row.pop("version")
    row.pop("number")
    row["rev"] = rev or next_rev(pn.rev)
    row["version"] = seen + 1
    result = conn.execute(update(t).where(and_(t.c.number == pn.number, t.c.version == seen))
                          .values(**row))
    if result.rowcount != 1:
        raise errors.Conflict(pn.number)
    pn.version, pn.rev = seen + 1, row["rev"]


#: every column a save writes, bound by name for many rows at once (`v_` names: a bind may not
#: share a column's name in SET)
_WRITTEN = [c.name for c in t.columns if c.name != "number"]
_UPDATE_MANY = (update(t)
                .where(and_(t.c.number == bindparam("k_number"),
                            t.c.version == bindparam("k_seen")))
                .values({name: bindparam(f"v_{name}") for name in _WRITTEN}))
_DELETE_MANY = delete(t).where(and_(t.c.number == bindparam("k_number"),
                                    t.c.version == bindparam("k_seen")))


def update_many(pns: list[PhoneNumber], conn: Connection, *,
                revs: dict[str, str] | None = None) -> set[str]:
    """`update_one` for many records in one statement sent once (executemany): each row is
    written only if nobody changed it since it was read. Returns the numbers that were not
    (their records are left as they were); the written ones get their new version and rev."""
    if not pns:
        return set()
    params = []
    written: dict[str, tuple[int, str]] = {}
    for pn in pns:
        row = to_row(pn)
        seen = row.pop("version")
        number = row.pop("number")
        row["rev"] = (revs or {}).get(number) or next_rev(pn.rev)
        row["version"] = seen + 1
        written[number] = (seen + 1, row["rev"])
        params.append({"k_number": number, "k_seen": seen,
                       **{f"v_{name}": row[name] for name in _WRITTEN}})
    conn.execute(_UPDATE_MANY, params)
    landed = _with_rev(conn, {number: rev for number, (_, rev) in written.items()})
    for pn in pns:
        if pn.number in landed:
            pn.version, pn.rev = written[pn.number]
    return set(written) - landed


_CLAIM_MANY = (update(t)
               .where(and_(t.c.number == bindparam("k_number"),
                           t.c.version == bindparam("k_seen")))
               .values(rev=bindparam("v_rev"), version=bindparam("v_version"),
                       pending_operation=bindparam("v_operation")))


def claim_many(pns: list[PhoneNumber], revs: dict[str, str], conn: Connection) -> set[str]:
    """Mark each record claimed (its rev the claim token in `revs`, its `pending_operation`
    as the record says) if nobody changed it since it was read; the rest of the row is left
    as stored. Returns the numbers that were changed meanwhile (not claimed). Cheaper than
    `update_many` by the whole row: a claim rewrites no JSON column."""
    if not pns:
        return set()
    params = [{"k_number": pn.number, "k_seen": pn.version, "v_rev": revs[pn.number],
               "v_version": pn.version + 1, "v_operation": pn.pending_operation}
              for pn in pns]
    conn.execute(_CLAIM_MANY, params)
    landed = _with_rev(conn, {pn.number: revs[pn.number] for pn in pns})
    for pn in pns:
        if pn.number in landed:
            pn.version, pn.rev = pn.version + 1, revs[pn.number]
    return {pn.number for pn in pns} - landed


def delete_many(rows: list[tuple[str, int]], conn: Connection) -> None:
    """Delete each `(number, version)` row if it still has that version."""
    if rows:
        conn.execute(_DELETE_MANY, [{"k_number": n, "k_seen": v} for n, v in rows])


def _with_rev(conn: Connection, revs: dict[str, str]) -> set[str]:
    """Which of the numbers now carry the rev given for them."""
    found: set[str] = set()
    numbers = list(revs)
    for chunk in _chunks(numbers, _chunk_size(conn)):
        for number, rev in conn.execute(select(t.c.number, t.c.rev)
                                        .where(_member_of(t.c.number, chunk, conn))):
            if revs.get(number) == rev:
                found.add(number)
    return found


def delete_one(pn: PhoneNumber, conn: Connection) -> None:
    """Delete the row if nobody changed it since it was read (else `Conflict`)."""
    result = conn.execute(delete(t).where(and_(t.c.number == pn.number,
                                               t.c.version == pn.version)))
    if result.rowcount != 1:
        raise errors.Conflict(pn.number)


def save_many(pns: list[PhoneNumber]) -> dict[str, errors.KnmError]:
    """Persist records in one transaction: new ones inserted, loaded ones version-checked,
    `deleted` ones removed. Returns the numbers that failed (the rest are written)."""
    failed: dict[str, errors.KnmError] = {}
    if not pns:
        return failed
    new = [pn for pn in pns if pn.version == 0 and pn.state != "deleted"]
    old = [pn for pn in pns if pn.version > 0]
    with store.write() as conn:
        failed.update(insert_many(new, conn))
        for pn in old:
            try:
                if pn.state == "deleted":
                    delete_one(pn, conn)
                else:
                    update_one(pn, conn)
            except errors.KnmError as exc:
                failed[pn.number] = exc
    return failed


def save(pn: PhoneNumber) -> PhoneNumber:
    """Persist one record; raises `NumberExists` / `Conflict`. The one-record form of
    `save_many`, for scripts and tests: the operations save their batches with `save_many`."""
    failed = save_many([pn])
    if failed:
        raise failed[pn.number]
    return pn
