"""Carriers selling from a private pool per account (`knm_pool_numbers`): `knm_managed` and
`knm_inum`.

Kazoo kept these in their own databases (`numbers/managed`, `numbers/inum`). A search looks
in the account's pool, then in its reseller's; buying marks the pool entry taken, releasing
puts it back. Filling a pool (generate, import) is an operator's action, in
`knm.numbers.stock`.
"""

from __future__ import annotations

from sqlalchemy import and_, bindparam, insert, select, update

from knm import errors, store
from knm.carriers.base import SearchOptions, SearchResult
from knm.carriers.orders import OrderStatus, settling
from knm.carriers.store_backed import (
    StoreBackedCarrier,
    page_params,
    plus_prefix,
    prefix_range_query,
)
from knm.record import PhoneNumber
from knm.store.schema import pool_numbers as pool_t
from knm.values import now_gregorian

_QUERY = prefix_range_query(pool_t, [pool_t.c.number],
                            pool_t.c.carrier == bindparam("carrier"),
                            pool_t.c.account_id == bindparam("account_id"),
                            pool_t.c.state == "available")


class PoolCarrier(StoreBackedCarrier):
    """A pool's search is two queries (the reseller's pool is asked only when the account's
    has nothing), so it is `find_numbers`, not a `store_query`."""

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
        found = self._query(account_id, prefix, quantity, options.offset)
        reseller = options.reseller_id
        if not found and reseller and reseller != account_id:
            found = self._query(reseller, prefix, quantity, 0)
        return [SearchResult(n, self.name, self.result_state, {}) for n in found]

    def _query(self, account_id: str, prefix: str, quantity: int, offset: int | None
               ) -> list[str]:
        rows = store.fetch_rows(_QUERY, {"carrier": self.name, "account_id": account_id,
                                         **page_params(prefix, quantity, offset)})
        return [number for (number,) in rows]

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
