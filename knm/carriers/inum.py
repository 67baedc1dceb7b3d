"""`knm_inum`: iNum numbers (`+883 510 …`) from a private pool per account (Kazoo §4.7).
Search results are already `available`; a released number goes back as `released`."""

from __future__ import annotations

from knm.carriers.pool import PoolCarrier


class Inum(PoolCarrier):
    name = "knm_inum"
    local = True
    billable = False
    result_state = "available"
    released_state = "released"


