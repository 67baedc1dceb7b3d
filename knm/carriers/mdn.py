"""`knm_mdn`: mobile numbers (Kazoo §4.4), rows of `knm_numbers` under `knm_mdn`. Never
searchable (no `store_query`, so a search finds nothing); buying and releasing are
bookkeeping only. The state rules for mobile numbers live in the operations layer."""

from __future__ import annotations

from knm.carriers.store_backed import BookkeepingCarrier, StoreBackedCarrier


class Mdn(StoreBackedCarrier, BookkeepingCarrier):
    name = "knm_mdn"
    discovers = False
    local = False
    billable = False
    maximal_prefix_length = 0
    capabilities = frozenset({"acquire", "disconnect"})
