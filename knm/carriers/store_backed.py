"""Carriers whose numbers are rows of knm's own tables: what they share.

Kazoo's CouchDB views are replaced by range scans of an index: a prefix `+1415` becomes
`number >= '+1415' AND number < '+1416'`, which both databases answer from the index (Kazoo's
local view was not prefix-bounded; here every store-backed search is). One builder,
`prefix_range_query`, writes that query for every such carrier, so each search is one indexed
round trip that a search can batch with the other carriers' (`Carrier.store_query`).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlalchemy import Column, Select, Table, and_, bindparam, select

from knm import store
from knm.carriers.base import Carrier, SearchOptions, SearchResult, StoreQuery
from knm.carriers.orders import OrderStatus
from knm.record import PhoneNumber
from knm.store.schema import numbers as numbers_t


def prefix_bounds(prefix: str) -> tuple[str, str]:
    """`+1415` → (`+1415`, `+1416`): every string starting with the prefix sorts between."""
    return prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)


def plus_prefix(prefix: str) -> str:
    return prefix if prefix.startswith("+") else "+" + prefix


def prefix_range_query(table: Table, columns: Sequence[Column[Any]], *filters: Any) -> Select[Any]:
    """`columns` of the rows of `table` matching `filters` whose number lies in
    [`:low`, `:high`), by number, `:limit` rows from `:skip`.

    Built once per carrier class and kept: SQLAlchemy caches its SQL, and `store.fetch_rows`
    runs it straight on the driver's cursor, so a search costs one round trip. Read only the
    columns the results need: a scan that stays inside the index decodes no JSON per row.
    """
    number = table.c.number
    return (select(*columns)
            .where(and_(*filters, number >= bindparam("low"), number < bindparam("high")))
            .order_by(number)
            .limit(bindparam("limit"))
            .offset(bindparam("skip")))


def page_params(prefix: str, quantity: int, offset: int | None) -> dict[str, Any]:
    """The range and page parameters of a `prefix_range_query`."""
    low, high = prefix_bounds(prefix)
    return {"low": low, "high": high, "limit": int(quantity), "skip": max(int(offset or 0), 0)}


class StoreBackedCarrier(Carrier):
    """Base of carriers whose numbers are rows of knm's tables: a search needs no network, so
    it runs in the calling thread (`answers_from_store`). A subclass that describes its search
    as one query (`store_query`) gets `find_numbers` from it."""

    answers_from_store = True

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        query = self.store_query(prefix, quantity, options)
        if query is None:
            return []
        return query.to_results(store.fetch_rows(query.statement, query.params))


class BookkeepingCarrier(Carrier):
    """Mixin for carriers with no one to call: buying and releasing are bookkeeping that the
    operations layer does on the number's row, so both return the number as it is."""

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        return number

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Nothing to ask: with no carrier call, neither operation can end unsettled."""
        return OrderStatus("complete", "bookkeeping", message="nothing to ask: no carrier call")


def _available_results(carrier: str, rows: list[tuple[Any, ...]]) -> list[SearchResult]:
    return [SearchResult(number, carrier, "available") for (number,) in rows]


# only the number is read: state and carrier are fixed by the filter, and a number already in
# the store needs no carrier data to be bought, so the scan never leaves the
# (state, module_name, number) index
_AVAILABLE = prefix_range_query(numbers_t, [numbers_t.c.number],
                                numbers_t.c.state == "available",
                                numbers_t.c.module_name == bindparam("module"))


class AvailableRowsCarrier(StoreBackedCarrier, BookkeepingCarrier):
    """A carrier whose stock is the rows of `knm_numbers` in state `available` under its own
    name (`knm_local`, `knm_inventory`): a search lists them, buying one moves its row."""

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
        return StoreQuery(_AVAILABLE, {"module": self.name,
                                       **page_params(prefix, quantity, options.offset)},
                          partial(_available_results, self.name))
