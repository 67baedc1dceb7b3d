"""`knm_other`: a generic "phonebook" number inventory spoken to as JSON over HTTP (Kazoo
§3.5, §4.8; kazoo-http-carriers §10).

Routes under `phonebook_url` (`<C>` = `default_country`):
`GET /numbers/<C>/search?prefix&limit&offset`, `GET /blocks/<C>/search?prefix&size&offset&limit`,
`POST /numbers/<C>/status`, `PUT /numbers/<C>/order`. No auth in Kazoo's protocol; a phonebook
behind a gateway may want a key (`api_key`, sent as a Bearer token). Unlike Kazoo, the prefix
is URL-encoded (Kazoo sent `+1415` raw, which servers read as a space), and a failing
phonebook is reported as a carrier fault instead of "nothing available".

Built on `HttpCarrier`, so it has what every HTTP carrier has: one total deadline per
request, the status table, retries of searches, scrubbing, the provisioning gate. Without a
`phonebook_url` it offers nothing (Kazoo's rule) and refuses to buy, naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import OrderStatus, settling
from knm.carriers.payloads import error_text
from knm.phone import normalize, to_npan
from knm.record import PhoneNumber

NAME = "knm_other"
#: the phonebook's words for a number it cannot sell
FAULT_WORDS = ((("not in stock", "not available", "unavailable"), errors.NumberUnavailable),)


# -- pure response parsing ---------------------------------------------------------------------


def succeeded(body: Any) -> bool:
    """Kazoo's phonebook envelope: `{"status": "success", "data": …}`."""
    return isinstance(body, dict) and body.get("status") == "success"


def to_results(body: Any) -> list[SearchResult]:
    """Numbers of a number search (`data` maps each number to its carrier data)."""
    if not succeeded(body):
        return []
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValueError("search `data` is not an object")
    return [SearchResult(normalize(did), NAME, "discovery",
                         dict(extra) if isinstance(extra, dict) else {"value": extra},
                         locality=_locality(extra))
            for did, extra in data.items()]


def to_blocks(body: Any) -> list[SearchResult]:
    """Both ends of every block of a block search, each carrying the block."""
    if not succeeded(body):
        return []
    out: list[SearchResult] = []
    for block in body.get("data") or []:
        if not isinstance(block, dict):
            raise ValueError("a block is not an object")
        first, last = block.get("start_number"), block.get("end_number")
        if not first or not last:
            raise ValueError("a block lacks its start or end")
        span = (normalize(first), normalize(last))
        for number in span:
            out.append(SearchResult(number, NAME, "discovery", dict(block), block=span))
    return out


def to_statuses(body: Any) -> dict[str, str]:
    """A status answer as `{E.164: status}`; `ValueError` when the phonebook refused."""
    if not succeeded(body):
        raise ValueError("status check refused")
    out: dict[str, str] = {}
    for entry in body.get("data") or []:
        if isinstance(entry, dict) and entry.get("number") and entry.get("status"):
            out[normalize(str(entry["number"]))] = str(entry["status"])
    return out


def order_entry(body: Any, number: str) -> tuple[dict[str, Any] | None, str | None]:
    """What an order answer says of `number`: its entry when it succeeded, else the
    phonebook's reason (`lookup_resp_error…`, Kazoo's word)."""
    entry = body.get("data", {}).get(number) if isinstance(body, dict) and isinstance(
        body.get("data"), dict) else None
    if isinstance(entry, dict) and entry.get("status") == "success":
        return entry, None
    said = entry.get("message") if isinstance(entry, dict) else None
    return None, "lookup_resp_error" + (f": {said}" if said else "")


def _locality(extra: Any) -> dict[str, Any] | None:
    if isinstance(extra, dict) and isinstance(extra.get("locality"), dict):
        return dict(extra["locality"])
    return None


# -- the carrier ---------------------------------------------------------------------------------


class Other(HttpCarrier):
    name = NAME
    local = False
    billable = True
    maximal_prefix_length = 10
    requires_base_url = False
    fault_words = FAULT_WORDS
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("base_url", str, aliases=("phonebook_url",),
                description="the phonebook service; none: nothing is offered"),
        Setting("default_country", str, default="US", description="country in every path"),
        Setting("endpoints", list, default=[], description="gateways sent with orders"),
        Setting("api_key", str, secret=True,
                description="optional key for a phonebook behind a gateway (Bearer)"),
    )
    capabilities = frozenset({"search", "blocks", "buy", "check", "settle"})

    def info(self) -> dict[str, Any]:
        """Kazoo's answer for this module: the prefix limit only."""
        return {"maximal_prefix_length": self.maximal_prefix_length}

    def request_headers(self) -> dict[str, str]:
        key = self.config.get("api_key")
        return {"Authorization": f"Bearer {key}"} if key else {}

    def extract_error_message(self, response: httpx.Response) -> str | None:
        """Kazoo reported the status with the phonebook's words: keep both."""
        said = error_text(response.content, charset=response.charset_encoding)
        return f"HTTP {response.status_code}" + (f": {said}" if said else "")

    @property
    def base_url(self) -> str | None:
        url = self.config.get("base_url")
        return str(url).rstrip("/") if url else None

    @property
    def country(self) -> str:
        return str(self.config.get("default_country") or "US").upper()

    def _require_url(self) -> None:
        if not self.base_url:
            raise errors.CarrierMisconfigured(self.name, "phonebook_url")

    # -- search ----------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        if not self.base_url:
            return []  # Kazoo: no phonebook, nothing available
        if options.blocks is not None:
            limit = options.blocks
            body = self.call("GET", f"/blocks/{self.country}/search", deadline=options.deadline,
                             params={"prefix": prefix, "size": quantity,
                                     "offset": options.offset or 0,
                                     "limit": str(limit).lower() if isinstance(limit, bool)
                                     else str(limit)})
            return self.parsed(to_blocks, body)
        body = self.call("GET", f"/numbers/{self.country}/search", deadline=options.deadline,
                         params={"prefix": prefix, "limit": quantity,
                                 "offset": options.offset or 0})
        return self.parsed(to_results, body)

    # -- check and settle ------------------------------------------------------------------

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        self._require_url()
        body = self.call("POST", f"/numbers/{self.country}/status", idempotent=True,
                         json={"data": [to_npan(normalize(n)) for n in numbers]})
        return self.parsed(to_statuses, body)

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """The phonebook's status of the number: `in_service` means it was sold to us.
        Releases are bookkeeping only here (the protocol has no release)."""
        if settling(number) == "disconnect":
            return OrderStatus("complete", "released", message="the phonebook has no release")
        status = self.check_numbers([number.number]).get(number.number)
        if status == "in_service":
            return OrderStatus("complete", status)
        return OrderStatus("failed", status or "unknown",
                           message=f"the phonebook says {status or 'nothing'}")

    # -- buy / release ---------------------------------------------------------------------

    def acquire_number(self, number: PhoneNumber) -> PhoneNumber:
        self._require_url()
        return super().acquire_number(number)

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        endpoints = self.config.get("endpoints") or []
        body = self.call("PUT", f"/numbers/{self.country}/order", number=num,
                         json={"data": {"numbers": [num], "gateways": list(endpoints)}})
        entry, refused = order_entry(body, num)
        if entry is None:
            raise self.refusal(refused, number=num)
        if isinstance(entry.get("opaque"), Mapping):
            self.learn(number, dict(entry["opaque"]))
        if entry.get("locality"):
            number.set_feature("locality", entry["locality"])
        return number

    def disconnect_number(self, number: PhoneNumber) -> PhoneNumber:
        return number  # Kazoo's phonebook protocol has no release
