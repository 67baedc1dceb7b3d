"""Number operations (Kazoo's `knm_numbers` / `knm_ops`), SPEC §5.

The public functions live in `knm.numbers.operations`; this package re-exports them. Beside
it, by job: `batch` (one call's numbers and results), `policy` (who may do what), `states`
(Kazoo's state machine), `purchase` (claims, leases and the three outcomes of a carrier
order, SPEC §5.1) and `repository` (number rows).
"""

from __future__ import annotations

from knm.numbers.batch import BulkResult
from knm.numbers.operations import (
    apply_webhook,
    assign_to_app,
    create,
    delete,
    get,
    import_kazoo,
    list_account,
    move,
    order_summary,
    pending_features,
    release,
    reserve,
    settle,
    unsettled,
    update,
)
from knm.numbers.policy import allowed_creation_states
from knm.record import PhoneNumber

__all__ = [
    "BulkResult", "PhoneNumber", "allowed_creation_states", "apply_webhook", "assign_to_app",
    "create", "delete", "get", "import_kazoo", "list_account", "move", "order_summary",
    "pending_features", "release", "reserve", "settle", "unsettled", "update",
]
