"""Where a carrier's order stands (SPEC §5.1): what polling, settling and webhooks report."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: an order's states, in knm's words
PENDING, COMPLETE, FAILED = "pending", "complete", "failed"


@dataclass
class OrderStatus:
    """Where an asynchronous order stands, in knm's words plus the carrier's.

    `state` is `pending`, `complete` or `failed`; `status` is the carrier's own word
    (`RECEIVED`, `COMPLETE`, …); `data` is whatever the carrier returned, for the caller.
    When settling (`Carrier.settle`), `complete` means the operation happened at the carrier
    (the number is ours / it was released), `failed` that it did not, and `extra` carries
    carrier data the record should keep (an order id found by reference, the number's id).
    """

    state: str
    status: str = ""
    data: Any = None
    message: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state != PENDING


@dataclass
class WebhookEvent:
    """One order notification a carrier pushed (SPEC §5.1 webhooks), as the carrier's
    `parse_webhook` read it: which number (or which order, by knm's reference or the carrier's
    id), whether a purchase (`acquire`) or a release (`disconnect`), and where it stands."""

    operation: str
    status: OrderStatus
    number: str | None = None
    order_reference: str | None = None
    order_id: str | None = None
