"""`knm_mdn`: mobile numbers (Kazoo §4.4). Never searchable; buying and releasing are
bookkeeping only. The state rules for mobile numbers live in the operations layer."""

from __future__ import annotations

from knm.carriers.base import SearchOptions, SearchResult
from knm.carriers.pools import BookkeepingCarrier


class Mdn(BookkeepingCarrier):
    name = "knm_mdn"
    answers_from_store = True
    discovers = False
    local = False
    billable = False
    maximal_prefix_length = 0
    capabilities = frozenset({"acquire", "disconnect"})

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        return []
