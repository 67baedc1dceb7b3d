"""`knm_inum`: iNum numbers (`+883 510 …`) from a private pool per account (Kazoo §4.7).
Search results are already `available`; a released number goes back as `released`."""

from __future__ import annotations

from knm.carriers.pools import PoolCarrier


class Inum(PoolCarrier):
    name = "knm_inum"
    local = True
    billable = False
    result_state = "available"
    released_state = "released"

    def _start(self, start: int | str) -> int:
        # Kazoo accepts the 15-digit iNum form as text (`883510000000091`)
        if isinstance(start, str):
            start = start.strip().lstrip("+")
        return super()._start(start)
