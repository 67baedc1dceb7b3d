"""What the store-backed carriers share: prefix-bounded indexed queries and the private pools
of `knm_managed` / `knm_inum`.

Kazoo's CouchDB views are replaced by range scans on `(state, module_name, number)` and
`(carrier, account_id, state, number)`; a prefix `+1415` becomes `number >= '+1415' AND
number < '+1416'`, which both databases answer from the index (Kazoo's local view was not
prefix-bounded; here every local search is).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import and_, bindparam, insert, select, update

from knm import errors, store
from knm.carriers.base import Carrier, SearchOptions, SearchResult, StoreQuery
from knm.carriers.orders import OrderStatus, settling
from knm.phone import normalize
from knm.record import PhoneNumber
from knm.store.schema import numbers as numbers_t
from knm.store.schema import pool_numbers as pool_t
from knm.values import is_account_id, now_gregorian

log = logging.getLogger("knm.carriers")


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """`+1415` → (`+1415`, `+1416`): every string starting with the prefix sorts between."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def plus_prefix(prefix: str) -> str:
    return prefix if prefix.startswith("+") else "+" + prefix


# a compiled-once query: SQLAlchemy caches its SQL, so a search costs one round trip. Only
# the number is read: state and carrier are fixed by the filter, and a number already in the
# store needs no carrier data to be bought, so the scan never leaves the
# (state, module_name, number) index and no JSON is decoded per row
_STORE_QUERY = (
    select(numbers_t.c.number)
    .where(and_(numbers_t.c.state == bindparam("state"),
                numbers_t.c.module_name == bindparam("module"),
                numbers_t.c.number >= bindparam("low"),
                numbers_t.c.number < bindparam("high")))
    .order_by(numbers_t.c.number)
    .limit(bindparam("limit"))
    .offset(bindparam("skip"))
)


class BookkeepingCarrier(Carrier):
    """A carrier whose buying and releasing touch nothing outside knm's own records
    (`knm_local`, `knm_inventory`, `knm_mdn`, the reserved carriers): both are no-ops, so
    neither can end unsettled — settling answers `complete` at once."""

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        return number

    def settle(self, number: PhoneNumber) -> OrderStatus:
        return OrderStatus("complete", "bookkeeping", message="nothing to ask: no carrier call")


class StoreQuerySearch(Carrier):
    """Base of carriers whose search is one query of knm's database (`store_query`): a
    search batches that query with the other carriers'; alone, it is run here."""

    answers_from_store = True

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        query = self.store_query(prefix, quantity, options)
        if query is None:
            return []
        return query.to_results(store.fetch_rows(query.statement, query.params))


class LocalStoreCarrier(BookkeepingCarrier, StoreQuerySearch):
    """A carrier whose numbers are rows of `knm_numbers` in state `available` under its name
    (`knm_local`, `knm_inventory`). Buying and releasing need no network call."""

    billable = False
    discovers = False
    lookup_cnam = True
    maximal_prefix_length = 10
    capabilities = frozenset({"search", "acquire", "disconnect"})

    def store_query(self, prefix: str, quantity: int, options: SearchOptions
                    ) -> StoreQuery | None:
        # Kazoo: no account, no local numbers (a public search never lists them)
        if not options.account_id or not prefix.startswith("+") or quantity < 1:
            return None
        low, high = prefix_bounds(prefix)
        name = self.name

        def to_results(rows: list[tuple[Any, ...]]) -> list[SearchResult]:
            return [SearchResult(number, name, "available") for (number,) in rows]

        return StoreQuery(_STORE_QUERY, {
            "state": "available", "module": name, "low": low, "high": high,
            "limit": int(quantity), "skip": max(int(options.offset or 0), 0),
        }, to_results)


class PoolCarrier(Carrier):
    """A carrier selling from a private pool per account (`knm_pool_numbers`).

    Kazoo kept these in their own databases (`numbers/managed`, `numbers/inum`). A search
    looks in the account's pool, then in its reseller's.
    """

    answers_from_store = True

    maximal_prefix_length = 15
    #: state search results are offered in
    result_state = "discovery"
    #: state a disconnected number goes back to
    released_state = "available"
    capabilities = frozenset({"search", "acquire", "disconnect", "generate", "import"})

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        prefix = plus_prefix(prefix)
        account_id = options.account_id
        if not account_id or quantity < 1:
            return []
        offset = max(int(options.offset or 0), 0)
        found = self._query(account_id, prefix, quantity, offset)
        reseller = options.reseller_id
        if not found and reseller and reseller != account_id:
            found = self._query(reseller, prefix, quantity, 0)
        return [SearchResult(n, self.name, self.result_state, {}) for n in found]

    def _query(self, account_id: str, prefix: str, quantity: int, offset: int) -> list[str]:
        low, high = prefix_bounds(prefix)
        query = (select(pool_t.c.number)
                 .where(and_(pool_t.c.carrier == self.name, pool_t.c.account_id == account_id,
                             pool_t.c.state == "available", pool_t.c.number >= low,
                             pool_t.c.number < high))
                 .order_by(pool_t.c.number).limit(quantity).offset(offset))
        with store.read() as conn:
            return list(conn.execute(query).scalars())

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        """Mark the pool entry as taken (created when the pool never held it)."""
        self._upsert(number.number, state=number.state or "in_service",
                     assigned_to=number.assigned_to)
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        self._upsert(number.number, state=self.released_state, assigned_to=None)
        return number

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """The pool row says what happened: taken (not `available`) after a purchase,
        back in `released_state` after a release. Only read."""
        where = and_(pool_t.c.carrier == self.name, pool_t.c.number == number.number)
        with store.read() as conn:
            state = conn.execute(select(pool_t.c.state).where(where)).scalar()
        if settling(number) == "disconnect":
            done = state in (None, self.released_state)
        else:
            done = state is not None and state != "available"
        return OrderStatus("complete" if done else "failed", str(state or "absent"))

    def _upsert(self, num: str, *, state: str, assigned_to: str | None) -> None:
        stamp = now_gregorian()
        where = and_(pool_t.c.carrier == self.name, pool_t.c.number == num)
        try:
            with store.write() as conn:
                changed = conn.execute(update(pool_t).where(where).values(
                    state=state, assigned_to=assigned_to, modified=stamp)).rowcount
                if not changed:
                    conn.execute(insert(pool_t).values(
                        carrier=self.name, number=num, account_id=assigned_to or "",
                        state=state, assigned_to=assigned_to, created=stamp, modified=stamp))
        except errors.KnmError:
            raise
        except Exception as exc:
            raise errors.DatabaseError(cause=num) from exc

    # -- filling the pool ------------------------------------------------------------------

    def generate_numbers(self, account_id: str, start: int | str, quantity: int | str) -> int:
        """Put `quantity` consecutive numbers from `start` (`+<start+i>`) in the account's
        pool; numbers already there are left alone. Returns how many were added."""
        if not is_account_id(account_id):
            raise errors.Invalid("account_id", f"{account_id!r} is not an account id")
        first = self._start(start)
        count = _as_int("quantity", quantity)
        if count < 0:
            raise errors.Invalid("quantity", "quantity must be at least 0")
        added = 0
        chunk = 5000
        for base in range(0, count, chunk):
            numbers = [f"+{first + i}" for i in range(base, min(base + chunk, count))]
            added += self._insert_new(account_id, numbers)
        return added

    def _start(self, start: int | str) -> int:
        """The first number as an integer, read like any number a user types: `4155550100`
        is `+14155550100`. (Kazoo only prefixed `+`, so a US start number became a Swiss
        one — `+4155550100` — which nobody means.)"""
        if isinstance(start, bool) or not isinstance(start, int | str):
            raise errors.Invalid("start", "start must be a phone number")
        normalized = normalize(str(start).strip())
        if not (normalized.startswith("+") and normalized[1:].isdigit()):
            raise errors.Invalid("start", f"start {start!r} is not a phone number")
        return int(normalized[1:])

    def import_numbers(self, account_id: str, numbers: Iterable[str]) -> dict[str, Any]:
        """Kazoo's result shape: `{"success": {num: {}}, "errors": {num: {"reason",
        "message"}}}`, each key present only when it has entries."""
        if not is_account_id(account_id):
            raise errors.Invalid("account_id", f"{account_id!r} is not an account id")
        success: dict[str, Any] = {}
        failed: dict[str, Any] = {}
        wanted: list[str] = []
        for raw in numbers:
            num = normalize(str(raw))
            if not num.startswith("+") or not num[1:].isdigit():
                failed[str(raw)] = {"reason": "invalid",
                                    "message": "error adding number to DB"}
            else:
                wanted.append(num)
        wanted = list(dict.fromkeys(wanted))
        existing = self._existing(wanted)
        for num in wanted:
            if num in existing:
                failed[num] = {"reason": "conflict", "message": "error adding number to DB"}
        fresh = [n for n in wanted if n not in existing]
        if fresh:
            self._insert_new(account_id, fresh)
            success.update({n: {} for n in fresh})
        out: dict[str, Any] = {}
        if success:
            out["success"] = success
        if failed:
            out["errors"] = failed
        return out

    def _existing(self, numbers: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(numbers), 500):
            part = numbers[i:i + 500]
            with store.read() as conn:
                found.update(conn.execute(select(pool_t.c.number).where(and_(
                    pool_t.c.carrier == self.name, pool_t.c.number.in_(part)))).scalars())
        return found

    def _insert_new(self, account_id: str, numbers: list[str]) -> int:
        if not numbers:
            return 0
        stamp = now_gregorian()
        fresh = [n for n in numbers if n not in self._existing(numbers)]
        if not fresh:
            return 0
        rows = [{"carrier": self.name, "number": n, "account_id": account_id,
                 "state": "available", "assigned_to": None, "created": stamp,
                 "modified": stamp} for n in fresh]
        with store.write() as conn:
            conn.execute(insert(pool_t), rows)
        return len(rows)


def _as_int(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise errors.Invalid(name, f"{name} must be an integer")
    try:
        return int(str(value).strip().lstrip("+")) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise errors.Invalid(name, f"{name} must be an integer") from None


def pool_entry(carrier: str, number: str) -> dict[str, Any] | None:
    """One pool row as a dict (for tests and `knm numbers get`)."""
    with store.read() as conn:
        row = conn.execute(select(pool_t).where(and_(
            pool_t.c.carrier == carrier, pool_t.c.number == number))).first()
    return dict(row._mapping) if row else None
