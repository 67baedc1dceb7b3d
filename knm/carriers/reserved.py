"""`knm_reserved`: numbers reserved for the searching account (Kazoo §4.5).

A search as an account first offers what is already set aside for it. Results keep the
number's own carrier and state (`reserved`); buying and releasing are bookkeeping only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam

from knm.carriers.base import SearchOptions, SearchResult, StoreQuery
from knm.carriers.store_backed import (
    BookkeepingCarrier,
    StoreBackedCarrier,
    page_params,
    prefix_range_query,
)
from knm.store.schema import numbers as numbers_t

# a number in the store needs no carrier data to be bought: not read (no JSON decoding)
_QUERY = prefix_range_query(numbers_t, [numbers_t.c.number, numbers_t.c.module_name],
                            numbers_t.c.state == "reserved",
                            numbers_t.c.assigned_to == bindparam("owner"))


def _reserved_results(rows: list[tuple[Any, ...]]) -> list[SearchResult]:
    return [SearchResult(number, module, "reserved") for number, module in rows]


class Reserved(StoreBackedCarrier, BookkeepingCarrier):
    name = "knm_reserved"
    discovers = False
    local = True
    billable = False
    maximal_prefix_length = 10
    capabilities = frozenset({"search", "acquire", "disconnect"})

    def owner(self, options: SearchOptions) -> str | None:
        """Whose reserved numbers this carrier offers."""
        return options.account_id

    def store_query(self, prefix: str, quantity: int, options: SearchOptions
                    ) -> StoreQuery | None:
        owner = self.owner(options)
        if not options.account_id or not owner or not prefix.startswith("+") or quantity < 1:
            return None
        # one query with LIMIT/OFFSET pages correctly: Kazoo's top-up recursion (and its
        # swapped-argument bug in knm_reserved_reseller) is not needed
        return StoreQuery(_QUERY, {"owner": owner, **page_params(prefix, quantity, options.offset)},
                          _reserved_results)
