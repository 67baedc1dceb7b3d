"""Orders that complete later: where an order stands, polling it, and the sequence every
carrier with asynchronous orders shares (SPEC §5.1, §12).

`OrderStatus` is the one answer to "where does this order stand?" — from a purchase, a poll,
a settlement (`Carrier.settle`) or a webhook (`WebhookEvent`). `AsyncOrderCarrier` is the
template for carriers whose purchase (and release) is an order, combined with the transport
template (`class Telnyx(AsyncOrderCarrier, HttpCarrier)`): the carrier writes
`place_order(number)` and `fetch_order(order_id, number)` (and for releases
`place_disconnect`/`fetch_disconnect`), each a request plus a pure mapping to `OrderStatus`;
the base places, polls (bounded by `order_timeout_s`), records what the carrier learnt with the
one merge rule, and never forgets an order still pending: its id and `order_status: "pending"`
stay on the record, which the operations layer keeps unsettled.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from knm import errors
from knm.carriers.base import Carrier
from knm.carriers.features import ERROR, PROVISIONED, FeatureStatus
from knm.record import PhoneNumber

__all__ = ["ORDER_STATES", "AsyncOrderCarrier", "OrderStatus", "WebhookEvent", "held_in_pages",
           "linked_pages", "next_page_query", "poll_feature", "poll_order",
           "settled_registration", "settling"]

log = logging.getLogger("knm.carriers.orders")

#: knm's words for where an order stands
ORDER_STATES = ("pending", "complete", "failed")
PENDING, COMPLETE, FAILED = ORDER_STATES
#: carrier-data keys of an unfinished purchase and release (SPEC §5.1)
PURCHASE_KEYS = ("order_id", "order_status")
DISCONNECT_KEYS = ("disconnect_order_id", "disconnect_status")
UNFINISHED = ("pending", "unknown")


@dataclass
class OrderStatus:
    """Where an order stands, in knm's words plus the carrier's.

    `state` is `pending`, `complete` or `failed` (for a settled release: `complete` = the
    carrier no longer holds the number, `failed` = it still does); `status` is the carrier's
    own word (`RECEIVED`, `success`, …); `data` is carrier data to merge into the number's
    record (new values win, `None` removes); `message` says why; `order_id` is the carrier's
    id of the order when known.
    """

    state: str
    status: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    message: str | None = None
    order_id: str | None = None

    def __post_init__(self) -> None:
        if self.state not in ORDER_STATES:
            raise ValueError(f"order state must be one of {ORDER_STATES}, not {self.state!r}")

    @property
    def done(self) -> bool:
        return self.state != "pending"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": self.state, "status": self.status, "data": self.data}
        if self.message is not None:
            out["message"] = self.message
        if self.order_id is not None:
            out["order_id"] = self.order_id
        return out


@dataclass(frozen=True)
class WebhookEvent:
    """One order event a carrier sent knm (`Carrier.parse_webhook`): which number or order it
    is about and where that order now stands."""

    number: str | None
    order_reference: str | None
    order_id: str | None
    operation: str  # "acquire" | "disconnect"
    status: OrderStatus


def settling(number: PhoneNumber) -> str:
    """Which operation of `number` is unsettled: the record's `pending_operation` when the
    operations layer set it, else `disconnect` when its release is pending or unknown (its
    `disconnect_status`), else `acquire`."""
    operation = getattr(number, "pending_operation", None)
    if operation in ("acquire", "disconnect"):
        return str(operation)
    if number.carrier_data.get("disconnect_status") in UNFINISHED:
        return "disconnect"
    return "acquire"


def settled_by_holding(number: PhoneNumber, row: Any, data: dict[str, Any], *, holder: str,
                       held_status: str, routed: Callable[[], bool | None],
                       route: Callable[[], dict[str, Any]]) -> OrderStatus:
    """How a carrier whose purchases and releases are synchronous settles: by whether its
    account holds the number (`row`, None when not). A release is done when the number is
    gone; a purchase when it is held — and since a purchase whose answer was lost may never
    have reached its routing step, a held number not routed as configured is routed now
    (`routed()` False → `route()`: an idempotent update, nothing bought or released;
    `routed()` None: no routing setting to check it by)."""
    if settling(number) == "disconnect":
        if row is None:
            return OrderStatus("complete", "released", message=f"not held by the {holder}")
        return OrderStatus("failed", held_status, data, f"still held by the {holder}")
    if row is None:
        return OrderStatus("failed", "not held", message=f"the {holder} does not hold it")
    is_routed = routed()
    if is_routed is None:
        data["routing_status"] = "unknown"
    elif is_routed:
        data["routing_status"] = "routed"
    else:
        data.update(route())
    return OrderStatus("complete", held_status, data)


def held_in_pages(pages: Iterator[Iterable[Any]], numbers: Iterable[str], budget: int,
                  number_of: Callable[[Mapping[str, Any]], Any]) -> dict[str, dict[str, Any]]:
    """The rows of `numbers` found in a holdings listing (`Carrier.held_listing`): pages
    read one at a time (`pages` makes one request per page it yields), at most `budget` of
    them, stopping as soon as every number is found. A page that fails ends the listing
    with what was found so far: the numbers not found are asked one by one, as before."""
    wanted = set(numbers)
    found: dict[str, dict[str, Any]] = {}
    for _ in range(max(0, budget)):
        try:
            page = next(pages, None)
        except errors.KnmError as exc:
            log.info("holdings listing stopped after %d numbers: %s", len(found), exc)
            break
        if page is None:
            break
        for row in page:
            if isinstance(row, Mapping):
                number = number_of(row)
                if number in wanted and number not in found:
                    found[number] = dict(row)
        if len(found) == len(wanted):
            break
    return found


def data_rows(doc: Any) -> Any:
    """The rows of a page that keeps them under `data` (JSON:API and its kin)."""
    return doc.get("data") if isinstance(doc, dict) else None


def links_next(doc: Any) -> Any:
    """The "next page" link of a page that keeps it under `links.next`."""
    links = doc.get("links") if isinstance(doc, dict) else None
    return links.get("next") if isinstance(links, dict) else None


def linked_pages(get: Callable[[dict[str, str]], Any], first: dict[str, str], *,
                 rows: Callable[[Any], Any] = data_rows,
                 next_link: Callable[[Any], Any] = links_next) -> Iterator[list[Any]]:
    """The pages of a listing whose every page links to the next: `get(params)` makes one
    request, from `first`, then with each next link's query (`next_page_query`), until a
    page has no next link or no list of rows."""
    params: dict[str, str] | None = first
    while params:
        doc = get(params)
        page = rows(doc)
        if not isinstance(page, list):
            return
        yield page
        params = next_page_query(next_link(doc))


def next_page_query(link: Any) -> dict[str, str] | None:
    """The query of a listing's "next page" link (absolute or a path): knm asks its own
    base URL with it, never a host a carrier's answer names."""
    if not isinstance(link, str) or not link:
        return None
    return dict(parse_qsl(urlsplit(link).query, keep_blank_values=True)) or None


def settled_registration(held: str | None, wanted: Any, previous: Any, *,
                         forget: Callable[[str], None], keys: tuple[str, str],
                         words: tuple[str, str, str, str]) -> FeatureStatus:
    """How a carrier whose emergency registration is "the number points at knm's record"
    settles one whose answer was lost: `held` is the record the number points at now,
    `wanted` the one knm registered, `previous` the one it replaced (ids). Held as wanted:
    `PROVISIONED`, and the previous record (knm's own, used by no number) is deleted
    (`forget`) — the one write settling does. Not held: `ERROR`; the record that lost is
    deleted and the previous one is the number's again. `keys` are the carrier-data keys of
    the record and the previous one; `words` the carrier's name, what it calls a record, its
    status words when associated and when not."""
    carrier, thing, done, undone = words
    record_key, previous_key = keys
    if wanted and held == str(wanted):
        if previous and str(previous) != held:
            forget(str(previous))
        return FeatureStatus(PROVISIONED, done, {previous_key: None})
    if wanted and previous and str(wanted) != str(previous):
        forget(str(wanted))
        data = {record_key: str(previous), previous_key: None}
    else:
        data = {previous_key: None}
    shown = f"{thing} {held}" if held else "no emergency address"
    return FeatureStatus(ERROR, undone, data,
                         message=f"{carrier} holds {shown} for the number, not knm's "
                                 f"{thing} {wanted}" if wanted else
                                 f"knm holds no {carrier} emergency {thing} for the number")


def poll_order(carrier: Carrier, number: PhoneNumber, order_id: str,
               fetch: Callable[[], OrderStatus], first: OrderStatus | None = None, *,
               pending_keys: tuple[str, str] = PURCHASE_KEYS,
               failure: Callable[[OrderStatus], type[errors.CarrierFault]] | None = None
               ) -> OrderStatus:
    """Poll an order until it completes, fails, or the carrier's `order_timeout_s` passes
    (every `order_poll_interval_ms`).

    Complete → returned. Failed → `failure(status)` (default `CarrierFault`) with the
    carrier's reason, not unsettled: the carrier said it did not do it. Still pending at the
    end (or polls keep failing) → the order id and `"pending"` are recorded on the number
    under `pending_keys` (a bought number is never forgotten; the caller keeps the record
    unsettled) and `CarrierTimeout` is raised, unsettled, with `error.pending = number`.
    """
    interval = max(0.0, float(carrier.config.get("order_poll_interval_ms", 2000)) / 1000.0)
    budget = float(carrier.config.get("order_timeout_s", 120))
    ends = time.monotonic() + budget
    status = first
    while status is None or not status.done:
        left = ends - time.monotonic()
        if status is not None:
            if left <= 0:
                break
            time.sleep(min(interval, left))
        try:
            status = fetch()
        except (errors.CarrierUnavailable, errors.CarrierTimeout,
                errors.MalformedResponse, errors.RateLimited) as exc:
            log.warning("%s: polling order %s failed: %s", carrier.name, order_id,
                        carrier.scrub(exc))
            status = status or OrderStatus("pending")
        if status.done or time.monotonic() >= ends:
            break
    if status is not None and status.state == "complete":
        return status
    if status is not None and status.state == "failed":
        raise _failed(carrier, status, number, failure, order_id)
    id_key, status_key = pending_keys
    # what the carrier said of the waiting order (a regulatory hold, say) is kept and told
    said = status.data if status is not None else {}
    carrier.learn(number, {**said, id_key: order_id, status_key: "pending"})
    why = f": {status.message}" if status is not None and status.message else ""
    error = errors.CarrierTimeout(
        carrier.name, f"order {order_id} still pending after {budget:g}s{why}",
        number=number.number, unsettled=True)
    error.pending = number
    raise error


def poll_feature(carrier: Carrier, fetch: Callable[[], FeatureStatus],
                 first: FeatureStatus) -> FeatureStatus:
    """Poll a number-feature change (an E911 registration, a caller-name order) every
    `order_poll_interval_ms` until the carrier finishes it or `feature_wait_s` passes. Still
    pending then — or the carrier cannot be read — it is answered `PENDING`, with what the
    first answer said (ids, the carrier's refs): settling finishes it (SPEC §13). A person
    waits on the answer, so the wait is short; nothing is lost by answering early."""
    interval = max(0.0, float(carrier.config.get("order_poll_interval_ms", 2000)) / 1000.0)
    ends = time.monotonic() + max(0.0, float(carrier.config.get("feature_wait_s", 5)))
    status = first
    while not status.done:
        left = ends - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(interval, left))
        try:
            found = fetch()
        except (errors.CarrierUnavailable, errors.CarrierTimeout,
                errors.MalformedResponse, errors.RateLimited) as exc:
            log.warning("%s: polling a feature change failed: %s", carrier.name,
                        carrier.scrub(exc))
            break
        status = FeatureStatus(found.state, found.carrier_status or status.carrier_status,
                               {**status.data, **found.data}, found.address or status.address,
                               found.message, {**status.extra, **found.extra},
                               found.refs if found.done else (found.refs or status.refs))
    return status


def _failed(carrier: Carrier, status: OrderStatus, number: PhoneNumber,
            failure: Callable[[OrderStatus], type[errors.CarrierFault]] | None,
            order_id: str | None) -> errors.CarrierFault:
    cls = failure(status) if failure is not None else errors.CarrierFault
    message = status.message or f"order {order_id or ''} {status.status or 'failed'}"
    return cls(carrier.name, carrier.scrub(" ".join(message.split())), number=number.number,
               unsettled=False)


class AsyncOrderCarrier(Carrier):
    """Template for carriers whose purchases (and releases) are orders completed later;
    put it before the transport template: `class Acme(AsyncOrderCarrier, HttpCarrier)`.

    Hooks (each: one request, then a pure mapping of the answer to `OrderStatus`)::

        def place_order(self, number) -> OrderStatus         # POST the order
        def fetch_order(self, order_id, number) -> OrderStatus
        def place_disconnect(self, number) -> OrderStatus    # optional: a release order
        def fetch_disconnect(self, order_id, number) -> OrderStatus
        def failure_class(self, status) -> type[CarrierFault]  # optional

    A failed order is a refusal (`CarrierFault`, not unsettled): the carrier said it did not
    do it. An answer without an order id is `MalformedResponse` (unsettled: an order may
    exist, which settling finds by the `order_reference` the carrier sent).
    """

    async_orders: ClassVar[bool] = True

    # -- hooks --------------------------------------------------------------------------------

    def place_order(self, number: PhoneNumber) -> OrderStatus:
        raise errors.NotImplementedByCarrier(self.name)

    def fetch_order(self, order_id: str, number: PhoneNumber) -> OrderStatus:
        raise errors.NotImplementedByCarrier(self.name)

    def place_disconnect(self, number: PhoneNumber) -> OrderStatus:
        raise errors.NotImplementedByCarrier(self.name)

    def fetch_disconnect(self, order_id: str, number: PhoneNumber) -> OrderStatus:
        raise errors.NotImplementedByCarrier(self.name)

    def failure_class(self, status: OrderStatus) -> type[errors.CarrierFault]:
        """The error a failed order is (e.g. `NumberUnavailable` for the carrier's code)."""
        return errors.CarrierFault

    # -- the sequence -------------------------------------------------------------------------

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        """Place the order, poll it until it is done, record what the carrier said."""
        first = self.place_order(number)
        order_id = self._order_id(first, number)
        self.learn(number, {**first.data, "order_id": order_id})
        done = self.poll_order(number, order_id, lambda: self.fetch_order(order_id, number),
                               first)
        self.learn(number, done.data)
        return number

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        """Place the release order, poll it until it is done, record it."""
        first = self.place_disconnect(number)
        order_id = self._order_id(first, number)
        self.learn(number, {**first.data, "disconnect_order_id": order_id})
        done = self.poll_order(number, order_id,
                               lambda: self.fetch_disconnect(order_id, number), first,
                               pending_keys=DISCONNECT_KEYS)
        self.learn(number, {**done.data, "disconnect_status": "complete"})
        return number

    def poll_order(self, number: PhoneNumber, order_id: str,
                   fetch: Callable[[], OrderStatus], first: OrderStatus | None = None,
                   *, pending_keys: tuple[str, str] = PURCHASE_KEYS) -> OrderStatus:
        """`poll_order` (this module's) with this carrier's `failure_class`."""
        return poll_order(self, number, order_id, fetch, first, pending_keys=pending_keys,
                          failure=self.failure_class)

    def _order_id(self, first: OrderStatus, number: PhoneNumber) -> str:
        if first.state == "failed":
            raise _failed(self, first, number, self.failure_class, first.order_id)
        if not first.order_id:
            raise errors.MalformedResponse(self.name, "order answer without an order id",
                                           number=number.number)
        return first.order_id
