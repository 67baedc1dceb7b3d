"""`knm_inventory`: numbers an operator owns in bulk and loads into knm (Kazoo §4.2) with
`knm numbers import` (`knm.numbers.stock.import_inventory`).

Searched like `knm_local` (with an account, prefix-bounded — Kazoo's view was not), but not
local: a released inventory number goes through the normal lifecycle rather than being
deleted.
"""

from __future__ import annotations

from knm.carriers.store_backed import AvailableRowsCarrier


class Inventory(AvailableRowsCarrier):
    name = "knm_inventory"
    local = False
    capabilities = frozenset({"search", "acquire", "disconnect", "import"})
