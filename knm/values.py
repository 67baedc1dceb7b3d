"""Plain values every layer passes around: what a search asks and finds, account ids, and time
as Kazoo counts it.

They live below everything else (they import nothing of knm but its errors) so that the store,
the cache, the carriers and the operations can all speak of a `SearchResult` or an account id
without importing one another.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: Kazoo's account ids: 32 characters (hex, or Kazoo-style `account0000…0001`)
ACCOUNT_ID = re.compile(r"^[a-z0-9_]{32}$")
#: seconds from year 0 to 1970: Kazoo stamps documents in Gregorian seconds
GREGORIAN_OFFSET = 62167219200


def is_account_id(value: Any) -> bool:
    return isinstance(value, str) and bool(ACCOUNT_ID.match(value))


def now_gregorian() -> int:
    """Now, in Kazoo's Gregorian seconds (`pvt_created`, `pvt_modified`)."""
    return int(time.time()) + GREGORIAN_OFFSET


@dataclass(frozen=True)
class SearchOptions:
    """What a search asked for. Carrier-specific filters travel in `extra`."""

    quantity: int = 1
    prefix: str = ""
    dialcode: str | None = None
    country: str = "US"
    offset: int = 0
    blocks: Any = None
    account_id: str | None = None
    reseller_id: str | None = None
    query_id: str | None = None
    deadline: float | None = None  # time.monotonic() by which the whole search must end
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    """One number a carrier offers. `carrier_data` is kept for the purchase, never shown."""

    number: str
    carrier: str
    state: str = "discovery"
    carrier_data: dict[str, Any] = field(default_factory=dict)
    block: tuple[str, str] | None = None
    locality: dict[str, Any] | None = None
    #: what the carrier charges, where it says: `{"currency", "monthly", "upfront"}` as
    #: decimal strings (a buyer compares offers before buying)
    price: dict[str, str] | None = None

    def to_public(self) -> dict[str, Any]:
        out: dict[str, Any] = {"number": self.number, "state": self.state}
        if self.locality:
            out["locality"] = self.locality
        if self.price:
            out["price"] = self.price
        return out

    def to_dict(self) -> dict[str, Any]:
        """The result as a JSON-ready dict, what `from_dict` reads. Not `dataclasses.asdict`:
        it deep-copies every nested dict, and a search cached in the database writes a few
        hundred results at a time (the copy was most of the demo's search time)."""
        return {"number": self.number, "carrier": self.carrier, "state": self.state,
                "carrier_data": self.carrier_data, "block": self.block,
                "locality": self.locality, "price": self.price}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> SearchResult:
        """A result as `to_dict` wrote it (JSON turned the block into a list)."""
        raw = dict(raw)
        if raw.get("block"):
            raw["block"] = tuple(raw["block"])
        return cls(**raw)


@dataclass(frozen=True)
class StoreQuery:
    """A store-backed carrier's search, described rather than run.

    `statement` is a read-only SQLAlchemy Core select whose parameters and columns are plain
    strings and integers (what `knm.store.fetch_rows` takes); `to_results` turns its rows into
    the carrier's results. A search runs the queries of all its store-backed carriers
    together: on PostgreSQL in one round trip instead of one each.
    """

    statement: Any
    params: dict[str, Any]
    to_results: Callable[[list[tuple[Any, ...]]], list[SearchResult]]
