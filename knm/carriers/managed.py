"""`knm_managed`: a private pool of numbers per account, filled by an operator with
`knm numbers generate` (`knm.numbers.stock`; Kazoo §4.3). Search results are `discovery` numbers;
buying marks the pool entry taken, releasing puts it back."""

from __future__ import annotations

from knm.carriers.pool import PoolCarrier


class Managed(PoolCarrier):
    name = "knm_managed"
    local = True
    billable = True
    result_state = "discovery"
    released_state = "available"
