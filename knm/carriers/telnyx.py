"""knm_telnyx: Telnyx API v2 (JSON) — search, number orders, release, ownership check, settling,
emergency addresses and caller names.

Kazoo spoke Telnyx's retired v1 "origination" API (search objects, `x-api-token`); this is v2
(carriers/current-apis.md §2): a stateless `GET /available_phone_numbers` with `filter[…]`
parameters, `POST /number_orders` whose status may stay `pending` (polled, bounded), and a
real release (`DELETE /phone_numbers/{id}`, the id found by number). Kazoo's
`should_keep_best_effort` keeps its meaning: near matches are dropped unless it is true.

Orders carry knm's `order_reference` as `customer_reference`, so an order whose answer was lost
is found again (`GET /number_orders?filter[customer_reference]=`). Owned numbers are looked up
by number (`filter[phone_number]` is a pattern of at least three digits, so a page of rows is
read and the exact number kept, skipping `deleted` and `ported-out` rows: audit T1).

E911 (reference/e911-cnam.md §2, Telnyx v2; Kazoo spoke v1's `e911_addresses`): an address is
validated (`POST /addresses/actions/validate`: `invalid`, or `valid` with a `suggested`
normalisation — one that differs from the address given beyond spelling is a correction),
created (`POST /addresses`, validated again for emergency use) and put on the number
(`POST /phone_numbers/{id}/actions/enable_emergency`: 200 enabled, or 202 while Telnyx
provisions it; `emergency_status` `active` | `provisioning` | `provisioning-failed` is read
from `GET /phone_numbers/{id}/voice`). A refused enabling deletes the address just created;
an enabled one deletes the number's previous address. Removal is the emergency-settings job
(`POST /phone_numbers/jobs/update_emergency_settings`, `emergency_enabled: false`). Caller
names: `PATCH /phone_numbers/{id}/voice` with `cnam_listing` (outbound, at most 15 letters,
digits or spaces) and `caller_id_name_enabled` (the inbound lookup), both synchronous; an
answer that does not echo the listing asked for is a refusal (telnyx-php#80: listings
silently not saved).
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, ClassVar

import httpx
import phonenumbers
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    ERROR,
    INTERRUPTED,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
)
from knm.carriers.http import HttpCarrier, classify_by_words
from knm.carriers.orders import (
    AsyncOrderCarrier,
    OrderStatus,
    WebhookEvent,
    held_in_pages,
    poll_feature,
    settling,
)
from knm.phone import is_us_tollfree
from knm.record import PhoneNumber

NAME = "knm_telnyx"
#: Telnyx's words (its code, or its text) meaning the number can no longer be bought
UNAVAILABLE = ((("85001", "not available"), errors.NumberUnavailable),)
#: a number order's status → knm's order state
ORDER_STATES = {"success": "complete", "failure": "failed", "pending": "pending"}
#: rows Telnyx keeps of numbers the account no longer holds
GONE = frozenset({"deleted", "ported-out"})
#: rows read per ownership lookup (the filter matches more than the one number)
LOOKUP_PAGE_SIZE = 50
#: rows per page of a holdings listing (Telnyx's most)
LISTING_PAGE_SIZE = 250
#: the key under which a listed row carries its number's orders (`Telnyx.held_listing`)
LISTED_ORDERS = "_knm_listed_orders"
#: how far a webhook's `telnyx-timestamp` may be from now (Telnyx's SDK: 300 s)
WEBHOOK_TOLERANCE_S = 300
#: a number's `emergency_status` → knm's feature state
EMERGENCY_STATES = {"active": PROVISIONED, "provisioning": PENDING,
                    "provisioning-failed": ERROR, "disabled": ERROR,
                    "deprovisioning": ERROR}


# -- pure request building ---------------------------------------------------------------------


def search_params(prefix: str, quantity: int, options: SearchOptions,
                  config: Mapping[str, Any]) -> dict[str, Any] | None:
    """`filter[…]` parameters searching under E.164 `prefix`; None when unsearchable."""
    keep_best_effort = bool(config.get("should_keep_best_effort"))
    limit = max(1, min(quantity, int(config.get("max_search_quantity") or 500)))
    params: dict[str, Any] = {"filter[limit]": limit,
                              "filter[best_effort]": str(keep_best_effort).lower()}
    if prefix.startswith("+1"):
        digits = prefix[2:]
        params["filter[country_code]"] = (options.country if options.country in ("US", "CA")
                                          else "US")
        if is_us_tollfree(digits) or options.extra.get("tollfree"):
            params["filter[phone_number_type]"] = "toll_free"
        if len(digits) >= 3:
            params["filter[national_destination_code]"] = digits[:3]
            if digits[3:]:
                params["filter[phone_number][starts_with]"] = digits[3:]
        elif digits:
            params["filter[phone_number][starts_with]"] = digits
    else:
        country = country_of(prefix) or options.country
        if not country:
            return None
        params["filter[country_code]"] = country
        dial = str(phonenumbers.country_code_for_region(country))
        national = prefix[1 + len(dial):] if prefix[1:].startswith(dial) else ""
        if national:
            params["filter[phone_number][starts_with]"] = national
    for key in ("locality", "administrative_area", "rate_center"):
        if options.extra.get(key):
            params[f"filter[{key}]"] = options.extra[key]
    return params


def order_body(number: str, reference: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """The `POST /number_orders` body buying `number`, tagged with knm's reference and, for a
    country the account has regulatory documents for, its requirement group or bundle."""
    body: dict[str, Any] = {"phone_numbers": [{"phone_number": number,
                                               **regulatory_fields(number, config)}],
                            "customer_reference": reference}
    for key in ("connection_id", "messaging_profile_id"):
        if config.get(key):
            body[key] = config[key]
    return body


def regulatory_fields(number: str, config: Mapping[str, Any]) -> dict[str, str]:
    """`requirement_group_id` and/or `bundle_id` for `number`'s country, from the settings of
    the same names (ISO country → id). Telnyx's groups and bundles are per country, so one id
    for every country would be wrong; a country with neither is ordered without (the order
    then waits on `requirement-info-pending` where Telnyx needs documents)."""
    try:
        region = phonenumbers.region_code_for_number(phonenumbers.parse(number, None))
    except phonenumbers.NumberParseException:
        return {}
    out: dict[str, str] = {}
    for setting, field in (("requirement_groups", "requirement_group_id"),
                           ("bundles", "bundle_id")):
        ids = {str(k).upper(): v for k, v in (config.get(setting) or {}).items()}
        if region and ids.get(region):
            out[field] = str(ids[region])
    return out


def lookup_params(number: str) -> dict[str, Any]:
    """`GET /phone_numbers` parameters finding the account's rows for `number` (digits only:
    the filter ignores anything else)."""
    return {"filter[phone_number]": number.lstrip("+"), "page[size]": LOOKUP_PAGE_SIZE}


# -- pure response parsing ---------------------------------------------------------------------


def to_results(doc: Any, prefix: str, *, keep_best_effort: bool, limit: int
               ) -> list[SearchResult]:
    """Search results under `prefix` (exact matches, plus near ones when kept); `ValueError`
    for an answer without a data list."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("search answer without a data list")
    out: list[SearchResult] = []
    for row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("phone_number"), str):
            continue
        best_effort = bool(row.get("best_effort"))
        if best_effort and not keep_best_effort:
            continue
        number = row["phone_number"]
        if not best_effort and not number.startswith(prefix):
            continue
        out.append(SearchResult(number, NAME, carrier_data=_carrier_data(row),
                                locality=_locality(row)))
    return out[:limit]


def to_order_status(order: Any, number: str) -> OrderStatus:
    """Where a number order stands for `number`; `ValueError` without id and status."""
    if not isinstance(order, dict) or not order.get("id") or "status" not in order:
        raise ValueError("order answer without id and status")
    status = str(order["status"])
    state = ORDER_STATES.get(status, "pending")
    mine = [p for p in order.get("phone_numbers") or []
            if isinstance(p, dict) and p.get("phone_number") == number]
    if mine and mine[0].get("status") == "failure":
        state = "failed"
    message = f"number order {order['id']} failed" if state == "failed" else None
    data: dict[str, Any] = {"order_status": status}
    if order.get("customer_reference"):
        data["customer_reference"] = order["customer_reference"]
    if mine:
        # a regulated country's order waits on documents: say so rather than "pending"
        for key in ("requirements_status", "requirements_met", "requirement_group_id",
                    "bundle_id"):
            if mine[0].get(key) is not None:
                data[key] = mine[0][key]
        if mine[0].get("requirements_met") is False and state == "pending":
            message = (f"number order {order['id']} waits on regulatory requirements "
                       f"({mine[0].get('requirements_status') or 'requirements not met'}); "
                       "set requirement_groups or bundles for the country")
    return OrderStatus(state, status, message=message, data=data, order_id=str(order["id"]))


def data_of(doc: Any) -> Any:
    """The `data` member of a Telnyx answer; `ValueError` when there is none."""
    if not isinstance(doc, dict) or "data" not in doc:
        raise ValueError("answer without data")
    return doc["data"]


def held_row(doc: Any, number: str) -> dict[str, Any] | None:
    """The account's row for exactly `number` among a `GET /phone_numbers` page, rows of
    numbers no longer held (deleted, ported out) skipped."""
    rows = data_of(doc)
    if not isinstance(rows, list):
        raise ValueError("phone_numbers answer without a data list")
    return next((r for r in rows if isinstance(r, dict) and r.get("phone_number") == number
                 and r.get("status") not in GONE), None)


def order_for(doc: Any, number: str) -> dict[str, Any] | None:
    """The most recent order of a `GET /number_orders` page that ordered `number`."""
    rows = data_of(doc)
    if not isinstance(rows, list):
        raise ValueError("number_orders answer without a data list")
    mine = [r for r in rows if isinstance(r, dict) and any(
        isinstance(p, dict) and p.get("phone_number") == number
        for p in r.get("phone_numbers") or [])]
    mine.sort(key=lambda r: str(r.get("created_at") or ""))
    return mine[-1] if mine else None


def orders_by_number(pages: Iterable[list[Any]], numbers: Iterable[str]
                     ) -> dict[str, list[dict[str, Any]]]:
    """The orders of `GET /number_orders` pages that name each of `numbers`."""
    orders: dict[str, list[dict[str, Any]]] = {number: [] for number in numbers}
    for page in pages:
        for order in page:
            entries = order.get("phone_numbers") if isinstance(order, dict) else None
            for entry in entries if isinstance(entries, list) else []:
                mine = orders.get(entry.get("phone_number")) if isinstance(entry, dict) else None
                if mine is not None:
                    mine.append(order)
    return orders


def verify_webhook(headers: Mapping[str, str], body: bytes, public_key: str, *,
                   now: float, tolerance_s: float = WEBHOOK_TOLERANCE_S) -> None:
    """Check a webhook came from Telnyx: Ed25519 over `"{telnyx-timestamp}|{body}"`, its
    signature (base64) in `telnyx-signature-ed25519`, verified with the account's public key
    (base64), and the timestamp within `tolerance_s` of `now`. `ValueError` says why not."""
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    signature, stamp = lowered.get("telnyx-signature-ed25519"), lowered.get("telnyx-timestamp")
    if not signature or not stamp:
        raise ValueError("telnyx-signature-ed25519 and telnyx-timestamp headers are required")
    try:
        sent_at = int(stamp)
    except ValueError:
        raise ValueError(f"telnyx-timestamp {stamp!r} is not a number") from None
    if abs(now - sent_at) > tolerance_s:
        raise ValueError(f"telnyx-timestamp is {abs(now - sent_at):.0f}s away from now")
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key, validate=True))
        key.verify(base64.b64decode(signature, validate=True), stamp.encode() + b"|" + body)
    except (InvalidSignature, binascii.Error, ValueError):
        raise ValueError("the signature does not verify") from None


def to_events(doc: Any) -> list[WebhookEvent]:
    """The order events of a (verified) webhook: `number_order.complete` → one per number;
    other event types → none. `ValueError` for a body that is not a Telnyx event."""
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("event_type"), str):
        raise ValueError("not a Telnyx webhook event")
    if data["event_type"] != "number_order.complete":
        return []
    order = data.get("payload")
    if not isinstance(order, dict):
        raise ValueError("number_order.complete without a payload")
    out = []
    for row in order.get("phone_numbers") or []:
        number = row.get("phone_number") if isinstance(row, dict) else None
        if isinstance(number, str):
            out.append(WebhookEvent(number=number, order_reference=order.get("customer_reference"),
                                    order_id=str(order.get("id") or "") or None,
                                    operation="acquire",
                                    status=to_order_status(order, number)))
    return out


# -- number features: pure request building and parsing (SPEC §13) -----------------------------


def validation_body(address: Address) -> dict[str, Any]:
    """`POST /addresses/actions/validate` for `address` (Telnyx's names)."""
    body = {"country_code": address.country, "street_address": address.street_address,
            "locality": address.locality, "administrative_area": address.region,
            "postal_code": address.postal_code}
    if address.extended_address:
        body["extended_address"] = address.extended_address
    return body


def address_body(address: Address, reference: str | None = None) -> dict[str, Any]:
    """`POST /addresses` for `address`, validated for emergency use. Telnyx wants a person's
    name or a business name: the caller name is the business name (Kazoo's choice)."""
    body = {**validation_body(address), "first_name": "", "last_name": "",
            "business_name": address.caller_name, "validate_address": True}
    if reference:
        body["customer_reference"] = reference
    return body


def from_telnyx(doc: Any, given: Address) -> Address:
    """An address in Telnyx's names, the parts it leaves out taken from `given`."""
    doc = doc if isinstance(doc, dict) else {}

    def part(key: str, fallback: str) -> str:
        value = doc.get(key)
        return str(value).strip() if isinstance(value, str) and value.strip() else fallback

    return Address(street_address=part("street_address", given.street_address),
                   extended_address=part("extended_address", given.extended_address),
                   locality=part("locality", given.locality),
                   region=part("administrative_area", given.region),
                   postal_code=part("postal_code", given.postal_code),
                   country=part("country_code", given.country),
                   caller_name=given.caller_name)


def _error_details(rows: Any) -> str | None:
    texts = [str(e.get("detail") or e.get("title") or "") for e in rows or []
             if isinstance(e, dict)]
    return "; ".join(t for t in texts if t) or None


def to_address_check(doc: Any, given: Address) -> AddressCheck:
    """Telnyx's validation answer: `invalid` (its errors say why), else `valid` — a
    `corrected` one when its `suggested` normalisation is another place than `given`.
    `ValueError` for an answer that is neither."""
    data = data_of(doc)
    result = data.get("result") if isinstance(data, dict) else None
    if result == "invalid":
        return AddressCheck("invalid", given, message=_error_details(data.get("errors"))
                            or "Telnyx could not validate the address")
    if result != "valid":
        raise ValueError("validation answer without a result")
    suggested = from_telnyx(data.get("suggested"), given)
    if suggested.same_place(given):
        return AddressCheck("valid", suggested)
    return AddressCheck("corrected", given, [suggested],
                        message=_error_details(data.get("errors")))


def created_address_id(doc: Any) -> str:
    """The id of an address `POST /addresses` created; `ValueError` without one."""
    data = data_of(doc)
    if not isinstance(data, dict) or not data.get("id"):
        raise ValueError("address answer without an id")
    return str(data["id"])


def to_emergency_status(doc: Any) -> FeatureStatus:
    """A number's emergency settings (`enable_emergency`'s answer, or its voice settings)
    as knm's feature state; `data` names the address Telnyx holds for the number."""
    data = data_of(doc)
    emergency = data.get("emergency") if isinstance(data, dict) else None
    if not isinstance(emergency, dict):
        raise ValueError("voice settings without emergency settings")
    word = str(emergency.get("emergency_status") or "")
    if not emergency.get("emergency_enabled") and word in ("", "disabled"):
        return FeatureStatus(ERROR, word or "disabled", message="emergency services are "
                             "disabled on the number")
    state = EMERGENCY_STATES.get(word, PENDING)
    message = f"Telnyx says {word}" if state == ERROR else None
    return FeatureStatus(state, word, {"e911_address_id": emergency.get(
        "emergency_address_id")}, message=message)


def cnam_body(display_name: str | None) -> dict[str, Any]:
    """`PATCH /phone_numbers/{id}/voice` listing `display_name` (None: no listing)."""
    if display_name is None:
        return {"cnam_listing": {"cnam_listing_enabled": False}}
    return {"cnam_listing": {"cnam_listing_enabled": True,
                             "cnam_listing_details": display_name}}


def listed_name(doc: Any) -> str | None:
    """The outbound listing the voice settings show (None: not listed)."""
    data = data_of(doc)
    listing = data.get("cnam_listing") if isinstance(data, dict) else None
    if not isinstance(listing, dict) or not listing.get("cnam_listing_enabled"):
        return None
    return str(listing.get("cnam_listing_details") or "") or None


def inbound_lookup(doc: Any) -> bool | None:
    """The inbound lookup setting an answer shows; None when it does not show it (voice
    settings leave it out: it is a field of the phone-number resource)."""
    data = data_of(doc)
    value = data.get("caller_id_name_enabled") if isinstance(data, dict) else None
    return value if isinstance(value, bool) else None


def country_of(prefix: str) -> str | None:
    """The region of an E.164 prefix's dial code (`+44…` → `GB`), if one is unambiguous."""
    for length in (1, 2, 3):
        try:
            code = int(prefix[1:1 + length])
        except ValueError:
            return None
        region = phonenumbers.region_code_for_country_code(code)
        if region and region != "ZZ":
            return region
    return None


def _carrier_data(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("best_effort", "cost_information", "quickship", "reservable")
            if k in row}


def _locality(row: dict[str, Any]) -> dict[str, Any] | None:
    regions = {r.get("region_type"): r.get("region_name")
               for r in row.get("region_information") or [] if isinstance(r, dict)}
    locality = {"city": regions.get("location"), "region": regions.get("state"),
                "country": regions.get("country_code"), "rate_center": regions.get("rate_center")}
    locality = {k: v for k, v in locality.items() if v}
    return locality or None


# -- the carrier ---------------------------------------------------------------------------------


class Telnyx(AsyncOrderCarrier, HttpCarrier):
    """Telnyx (API v2). Numbers in E.164 on the wire; auth `Authorization: Bearer <api_key>`."""

    name = NAME
    default_base_url = "https://api.telnyx.com/v2"
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree",
                              "international", "buy", "release", "check", "async_orders",
                              "locality", "settle", "webhooks", "e911", "cnam"})
    reads_interrupted = frozenset({"e911", "cnam"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("api_key", required=True, secret=True, description="Telnyx API v2 key"),
        Setting("connection_id", description="connection (SIP trunk) bought numbers route to"),
        Setting("messaging_profile_id", description="messaging profile for bought numbers"),
        Setting("requirement_groups", dict,
                description="regulatory requirement group per country (ISO code → id), sent "
                            "as requirement_group_id with orders of that country"),
        Setting("bundles", dict,
                description="regulatory bundle per country (ISO code → id), sent as "
                            "bundle_id with orders of that country"),
        Setting("should_keep_best_effort", bool, default=False,
                description="keep near matches Telnyx offers when exact ones run out"),
        Setting("max_search_quantity", int, default=500, description="cap on filter[limit]"),
        Setting("webhook_public_key",
                description="the account's webhook public key (base64, Ed25519): verifies "
                            "number_order.complete webhooks"),
        Setting("webhook_tolerance_s", int, default=WEBHOOK_TOLERANCE_S,
                description="how old (or early) a webhook's timestamp may be"),
    )

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.config['api_key']}",
                "Accept": "application/json"}

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        return classify_by_words(message, UNAVAILABLE)

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        params = search_params(prefix, quantity, options, self.config)
        if params is None:
            return []
        doc = self.call("GET", "/available_phone_numbers", params=params,
                        deadline=options.deadline)
        return self.parsed(to_results, doc, prefix,
                            keep_best_effort=bool(self.config["should_keep_best_effort"]),
                            limit=int(params["filter[limit]"]))

    # -- orders -------------------------------------------------------------------------------

    def place_order(self, number: PhoneNumber) -> OrderStatus:
        num = number.number
        body = order_body(num, self.order_reference(number), self.config)
        doc = self.call("POST", "/number_orders", json=body, number=num)
        return self.parsed(lambda d: to_order_status(data_of(d), num), doc, number=num)

    def fetch_order(self, order_id: str, number: PhoneNumber) -> OrderStatus:
        doc = self.call("GET", f"/number_orders/{order_id}", number=number.number)
        return self.parsed(lambda d: to_order_status(data_of(d), number.number), doc,
                            number=number.number)

    # -- release, check, settle ---------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The phone-number resource the account holds for `number`, if any."""
        doc = self.call("GET", "/phone_numbers", params=lookup_params(number), number=number)
        return self.parsed(held_row, doc, number, number=number)

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        row = self.held(num)
        if row is None or not row.get("id"):
            raise errors.CarrierNotFound(self.name, f"{num} is not a number of this account",
                                         number=num)
        self.delete(f"/phone_numbers/{row['id']}", number=num)
        return self.learn(number, {"phone_number_id": str(row["id"]),
                                   "release_status": "deleted"})

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """Telnyx's status (`active`, `purchase-pending`, …) of each number this account
        holds; numbers it does not hold are left out."""
        out: dict[str, str] = {}
        for num in numbers:
            row = self.held(num)
            if row and row.get("status"):
                out[num] = str(row["status"])
        return out

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """A release: settled by whether the account still holds the number. A purchase: by
        its order (its id, else its `customer_reference`) and whether the account holds the
        number (`purchase-pending` rows are pending, `purchase-failed` ones failed)."""
        return self.settle_held(number, self.held(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The account's phone numbers, 250 a page (`meta.total_pages`; rows of numbers no
        longer held, deleted or ported out, do not count), then its number orders, 250 a
        page: each row found carries the orders naming its number (`LISTED_ORDERS`), so
        settling a purchase finds its order by reference without a lookup of its own."""
        held = held_in_pages(self._listing("/phone_numbers"), numbers, budget, lambda row: (
            row.get("phone_number") if row.get("status") not in GONE else None))
        if not held:
            return held
        orders = orders_by_number(itertools.islice(self._listing("/number_orders"), budget),
                                  held)
        return {number: {**row, LISTED_ORDERS: orders[number]} for number, row in held.items()}

    def _listing(self, path: str) -> Iterator[list[Any]]:
        """The pages of a Telnyx list (`page[number]` up to `meta.total_pages`), one request
        each as they are read; a failed request ends the listing with what was read."""
        page, last = 1, 1
        while page <= last:
            try:
                doc = self.call("GET", path, params={"page[size]": LISTING_PAGE_SIZE,
                                                     "page[number]": page})
            except errors.KnmError as exc:
                self.log.info("%s: listing %s stopped at page %d: %s", self.name, path, page,
                              self.scrub(str(exc)))
                return
            rows = data_of(doc)
            if not isinstance(rows, list):
                return
            yield rows
            meta = doc.get("meta") if isinstance(doc, dict) else None
            last = int(meta.get("total_pages") or 0) if isinstance(meta, dict) else 0
            page += 1

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        num = number.number
        if settling(number) == "disconnect":
            if row is None:
                return OrderStatus("complete", "released", message=f"{num} is not held")
            return OrderStatus("failed", str(row.get("status") or ""),
                               message=f"{num} is still held ({row.get('status')})",
                               data={"phone_number_id": row.get("id")})
        order = self._listed_order(number, row) or self._find_order(number)
        order_id = order.order_id if order else None
        data = {**(order.data if order else {}), "order_id": order_id}
        if row is not None:
            data["phone_number_id"] = row.get("id")
            status = str(row.get("status") or "")
            if status == "purchase-pending" or (order is not None and order.state == "pending"):
                return OrderStatus("pending", status, data=data, order_id=order_id)
            if status == "purchase-failed":
                return OrderStatus("failed", status, message="the purchase failed", data=data,
                                   order_id=order_id)
            return OrderStatus("complete", status, data=data, order_id=order_id)
        if order is None:
            return OrderStatus("failed", message="no order with this reference, number not held")
        if order.state == "failed":
            return OrderStatus("failed", order.status, message=order.message, data=data,
                               order_id=order_id)
        # an order Telnyx still works on, or one it completed (then it bought the number,
        # even if the account's listing does not show it yet)
        return OrderStatus(order.state, order.status, message=order.message, data=data,
                           order_id=order_id)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        """`number_order.complete` events, verified with `webhook_public_key`."""
        key = self.config.get("webhook_public_key")
        if not key:
            raise errors.Unauthenticated("webhook_public_key is not configured: a Telnyx "
                                         "webhook cannot be verified", cause="webhook")
        try:
            verify_webhook(headers, body, str(key), now=time.time(),
                           tolerance_s=float(self.config["webhook_tolerance_s"]))
        except ValueError as exc:
            raise errors.Unauthenticated(f"Telnyx webhook refused: {exc}",
                                         cause="webhook") from None
        try:
            return to_events(json.loads(body))
        except ValueError as exc:
            raise errors.Invalid("body", f"unreadable Telnyx webhook: {exc}") from None

    def _listed_order(self, number: PhoneNumber, row: Any) -> OrderStatus | None:
        """The number's order among those a holdings listing found (`held_listing`): the
        one of its id, else of its `order_reference`; None when none is (then it is looked
        up, `_find_order`)."""
        listed = row.get(LISTED_ORDERS) if isinstance(row, Mapping) else None
        if not listed:
            return None
        data = number.carrier_data
        order_id = data.get("order_id")
        reference = data.get("order_reference") or data.get("customer_reference")
        found = [o for o in listed if (order_id and o.get("id") == order_id)
                 or (not order_id and reference and o.get("customer_reference") == reference)]
        if not found:
            return None
        found.sort(key=lambda o: str(o.get("created_at") or ""))
        return self.parsed(to_order_status, found[-1], number.number, number=number.number)

    def _find_order(self, number: PhoneNumber) -> OrderStatus | None:
        num = number.number
        order_id = number.carrier_data.get("order_id")
        if order_id:
            try:
                return self.fetch_order(str(order_id), number)
            except errors.CarrierNotFound:
                pass
        reference = number.carrier_data.get("order_reference") or number.carrier_data.get(
            "customer_reference")
        if not reference:
            return None
        doc = self.call("GET", "/number_orders", number=num,
                        params={"filter[customer_reference]": reference,
                                "page[size]": LOOKUP_PAGE_SIZE})
        found = self.parsed(order_for, doc, num, number=num)
        return None if found is None else self.parsed(to_order_status, found, num,
                                                      number=num)

    # -- number features (SPEC §13) -----------------------------------------------------------

    def _number_id(self, number: PhoneNumber) -> str:
        """Telnyx's id of the number's resource (from its carrier data, else looked up)."""
        known = number.carrier_data.get("phone_number_id")
        if known:
            return str(known)
        row = self.held(number.number)
        if row is None or not row.get("id"):
            raise errors.CarrierNotFound(self.name, f"{number.number} is not a number of this "
                                         "account", number=number.number)
        return str(row["id"])

    def _voice(self, phone_id: str, number: str) -> Any:
        return self.call("GET", f"/phone_numbers/{phone_id}/voice", number=number)

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        num = number.number
        doc = self.call("POST", "/addresses/actions/validate", json=validation_body(address),
                        number=num, idempotent=True, acts=False)
        return self.parsed(to_address_check, doc, address, number=num)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        num = number.number
        phone_id = self._number_id(number)
        created = self.call("POST", "/addresses", number=num,
                            json=address_body(address, number.carrier_data.get(
                                "customer_reference")))
        address_id = self.parsed(created_address_id, created, number=num)
        registered = from_telnyx(data_of(created), address)
        learnt = {"phone_number_id": phone_id, "e911_address_id": address_id}
        try:
            doc = self.call("POST", f"/phone_numbers/{phone_id}/actions/enable_emergency",
                            json={"emergency_enabled": True,
                                  "emergency_address_id": address_id}, number=num)
        except errors.KnmError as exc:
            if not exc.unsettled:  # refused: the carrier is left as it was
                self._forget_address(address_id, num)
                raise
            # the answer was lost: Telnyx may have enabled it; settling reads what it holds
            return FeatureStatus(PENDING, "unknown", learnt, registered,
                                 message=self.scrub(str(exc)))
        first = self.parsed(to_emergency_status, doc, number=num)
        status = poll_feature(self, lambda: self.parsed(
            to_emergency_status, self._voice(phone_id, num), number=num), first)
        if status.state == ERROR:
            self._forget_address(address_id, num)
            return status
        previous = number.carrier_data.get("e911_address_id")
        if previous and str(previous) != address_id and status.state == PROVISIONED:
            self._forget_address(str(previous), num)
        return FeatureStatus(status.state, status.carrier_status, learnt, registered,
                             status.message)

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """The number's emergency status, for the address knm registered: another address
        on the number means knm's registration did not take."""
        num = number.number
        phone_id = self._number_id(number)
        status = self.parsed(to_emergency_status, self._voice(phone_id, num), number=num)
        if number.carrier_data.get(INTERRUPTED):
            return self._held_emergency(phone_id, num, status)
        wanted = number.carrier_data.get("e911_address_id")
        held = status.data.get("e911_address_id")
        if wanted and held and str(held) != str(wanted):
            return FeatureStatus(ERROR, status.carrier_status,
                                 message=f"Telnyx holds address {held} for the number, not "
                                         f"{wanted}")
        status.data = {}
        return status

    def _held_emergency(self, phone_id: str, num: str, status: FeatureStatus
                        ) -> FeatureStatus:
        """For a save whose process died (knm never learnt its address id): the address the
        number's emergency settings name now, read from the address book; disabled is
        `REMOVED` (nothing registered)."""
        held = status.data.get("e911_address_id")
        if not held or status.state == ERROR and status.carrier_status == "disabled":
            return FeatureStatus(REMOVED, status.carrier_status or "disabled",
                                 message="emergency services are disabled on the number")
        doc = self.call("GET", f"/addresses/{held}", number=num)
        address = from_telnyx(data_of(doc), Address("", "", "", "", country=""))
        return FeatureStatus(status.state, status.carrier_status,
                             {"phone_number_id": phone_id, "e911_address_id": str(held)},
                             address, status.message)

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        num = number.number
        self.call("POST", "/phone_numbers/jobs/update_emergency_settings", number=num,
                  json={"emergency_enabled": False, "emergency_address_id": None,
                        "phone_numbers": [num]})
        previous = number.carrier_data.get("e911_address_id")
        if previous:
            self._forget_address(str(previous), num)
        return FeatureStatus(REMOVED, "disabled", {"e911_address_id": None})

    def _forget_address(self, address_id: str, number: str) -> None:
        """Delete an address knm created and no longer uses; a failure only leaves an unused
        address in the account's address book."""
        try:
            self.delete(f"/addresses/{address_id}", number=number)
        except errors.KnmError as exc:
            self.log.warning("%s: address %s of %s not deleted: %s", self.name, address_id,
                             number, self.scrub(exc))

    def set_cnam(self, number: PhoneNumber, display_name: str | None) -> FeatureStatus:
        num = number.number
        phone_id = self._number_id(number)
        doc = self.call("PATCH", f"/phone_numbers/{phone_id}/voice", number=num,
                        json=cnam_body(display_name))
        shown = self.parsed(listed_name, doc, number=num)
        if shown != display_name:
            raise self.refusal(f"the CNAM listing was not saved (Telnyx shows {shown!r})",
                               number=num)
        return FeatureStatus(PROVISIONED, "listed" if display_name else "unlisted",
                             {"phone_number_id": phone_id})

    def set_inbound_lookup(self, number: PhoneNumber, enabled: bool) -> FeatureStatus:
        num = number.number
        phone_id = self._number_id(number)
        doc = self.call("PATCH", f"/phone_numbers/{phone_id}/voice", number=num,
                        json={"caller_id_name_enabled": bool(enabled)})
        shown = self.parsed(inbound_lookup, doc, number=num)
        if shown is not None and shown != bool(enabled):
            raise self.refusal("the caller-name lookup setting was not saved", number=num)
        return FeatureStatus(PROVISIONED, "enabled" if enabled else "disabled",
                             {"phone_number_id": phone_id})

    def cnam_status(self, number: PhoneNumber) -> FeatureStatus:
        """Telnyx's caller-name settings are synchronous: what the number shows now (the
        listed name and the inbound lookup, for a save whose process died)."""
        doc = self._voice(self._number_id(number), number.number)
        if not number.carrier_data.get(INTERRUPTED):
            return FeatureStatus(PROVISIONED, "listed")
        shown = self.parsed(listed_name, doc, number=number.number)
        lookup = self.parsed(inbound_lookup, doc, number=number.number)
        return FeatureStatus(PROVISIONED, "listed" if shown else "unlisted",
                             extra={"display_name": shown, "inbound_lookup": bool(lookup)})
