"""`knm_local`: numbers that live only in this system (Kazoo §4.1).

Searching needs an account (a public search never lists local numbers); buying and releasing
are bookkeeping only. Released local numbers are deleted for good by the operations layer.
"""

from __future__ import annotations

from knm.carriers.store_backed import AvailableRowsCarrier


class Local(AvailableRowsCarrier):
    name = "knm_local"
    local = True
