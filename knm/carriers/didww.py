"""knm_didww: DIDWW API v3 (JSON:API) — available DIDs, orders, trunk routing, termination.

DIDWW sells from *DID groups* (an area of a country, with stock keeping units: a price and the
channels included). knm buys one chosen number, never "any number of the group": a search
finds the groups under the prefix (`GET /did_groups?filter[country.id]&filter[prefix]`), then
the group's numbers for sale (`GET /available_dids?filter[did_group.id]&filter[number_contains]
&include=did_group.stock_keeping_units`), and a purchase orders that `available_did_id` with a
SKU of its group (`POST /orders`, knm's `order_reference` as `external_reference_id`). Orders
are asynchronous (`pending` → `completed` | `canceled`), so the carrier is an
`AsyncOrderCarrier`. Countries and DID groups are a catalogue that hardly changes: their ids
are cached (an hour), so a repeated search is one request (DIDWW allows 20 a second per key).

Routing: once the order completed, the DID (`GET /dids?filter[order.id]`) is pointed at the
operator's voice-in trunk (`trunk_id`) or trunk group (`trunk_group_id`) by a relationship
`PATCH /dids/{id}`. A failed routing call does not undo a purchase — the number is bought —:
it is recorded as `routing_status` (`failed` | `unknown`) and retried when the purchase is
settled.

Release: DIDs have no DELETE. knm terminates the DID (`PATCH /dids/{id}` with
`terminated: true`): DIDWW's documented way to give a number up ("terminated DIDs … will be
removed from service at the end of the billing cycle", DID object of API versions
2017-09-18, 2021-04-19 and 2026-04-16). `billing_cycles_count: 0` only stops the renewal of
a DID that stays the account's, so it is not a release. What knm records is the carrier's
confirmation: the number may keep ringing until the paid cycle ends (`expires_at`, kept as
`service_ends_at`); the cycle is not refunded; a terminated DID stays listed
(`terminated: true`) and is never taken for a held one.

Auth: API version 2026-04-16 (the default) sends the key in `Api-Key` with
`X-DIDWW-API-Version`; version 2026-11-19 refuses keys on API requests: the key mints a
short-lived bearer token at DIDWW's token service (`POST /token` with `Api-Key`), sent as
`Authorization: Bearer`.

**E911** (doc.didww.com API 3 "Emergency Resources", 2026-04-16 and 2026-11-19; the `didww`
SDK 3.x's `emergency_*`, `identity`, `address` resources and fixtures): a DID whose group
has the `emergency` feature is registered under DIDWW's emergency requirement for its country
and number type (`GET /emergency_requirements`, by `did_group_type.id` — 2026-11-19: by
`number_type` —; cached an hour). DIDWW validates records it holds, so a check makes an
identity (`POST /identities`) and an address (`POST /addresses`), asks `POST
/emergency_requirement_validations` (201 valid, 422 invalid with DIDWW's reasons; DIDWW
suggests nothing) and deletes both. A registration makes them again and submits `POST
/emergency_verifications` (the DID, or knm's service of the number with a replacement
address; knm's `external_reference_id`): DIDWW's emergency team reviews it by hand —
PENDING, settled by reading the verification (`approved`, and its emergency calling service
`active`: PROVISIONED; `rejected`: ERROR with `reject_reasons` / `reject_comment`). A refused
verification deletes the records made for it; 403 (no emergency plan on the account) is
`402 service_restriction`. Removal deletes knm's emergency calling service
(`DELETE /emergency_calling_services/{id}`), then knm's address and identity. DIDWW's signed
verification callback is not taken: the settler polls (docs/features.md "DIDWW").
"""

from __future__ import annotations

import itertools
import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import httpx
import phonenumbers

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.features import (
    ERROR,
    PENDING,
    PROVISIONED,
    REMOVED,
    Address,
    AddressCheck,
    FeatureStatus,
)
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import (
    AsyncOrderCarrier,
    OrderStatus,
    held_in_pages,
    linked_pages,
    settling,
)
from knm.carriers.tokens import AccessToken, TokenRefresh, token_answer
from knm.record import PhoneNumber

NAME = "knm_didww"
#: rows per page of a holdings or orders listing (DIDWW's most)
LISTING_PAGE_SIZE = 1000
#: the key under which a listed DID carries the account's orders (`Didww.held_listing`)
LISTED_ORDERS = "_knm_listed_orders"
BASE_URL = "https://api.didww.com/v3"
SANDBOX_URL = "https://sandbox-api.didww.com/v3"
#: DIDWW's token services (API version 2026-11-19)
TOKEN_URLS = {BASE_URL: "https://auth.didww.com/token",
              SANDBOX_URL: "https://auth-sandbox.didww.com/token"}
KEY_VERSION, TOKEN_VERSION = "2026-04-16", "2026-11-19"
API_VERSIONS = (KEY_VERSION, TOKEN_VERSION)
JSONAPI = "application/vnd.api+json"
#: an order's status → knm's order state
ORDER_STATES = {"pending": "pending", "completed": "complete", "canceled": "failed"}
#: DIDWW stock a number no longer is in: the pointer of DIDWW's 422 names the order item's
#: `available_did_id`, or the SKU ran out
UNAVAILABLE_POINTERS = ("/available_did_id", "/qty")
#: pages of available DIDs read at most per search (the prefix filter is applied here)
MAX_PAGES = 3
PAGE_SIZE = 100
#: the longest national prefix tried as a DID group's `prefix` (area codes are shorter)
MAX_AREA_CODE = 5
CATALOGUE_TTL_S = 3600.0
#: an emergency verification's review (DIDWW's emergency team decides by hand)
VERIFICATION_STATES = ("pending", "approved", "rejected")
#: an approved registration's service still on its way to `active`
SERVICE_WAITING = ("new", "in_process", "pending_update")
#: knm's carrier data of a DIDWW emergency registration
E911_KEYS = ("didww_e911_identity_id", "didww_e911_address_id", "didww_e911_reference",
             "didww_e911_verification_id", "didww_e911_previous", "didww_ecs_id")

log = logging.getLogger("knm.carriers.didww")


# -- pure request building ---------------------------------------------------------------------


def wire_number(number: str) -> str:
    """DIDWW's numbers are digits with the country code: `+16169886810` → `16169886810`."""
    return number.lstrip("+")


def country_of(prefix: str, default: str = "US") -> tuple[str, str] | None:
    """`(ISO country, dial code)` of an E.164 prefix: `+4420` → `("GB", "44")`, `+1604` →
    `("CA", "1")`; a NANP prefix without an area code is the search's country when that is
    one of NANP's, else the US. None when the prefix names no country."""
    digits = prefix.lstrip("+")
    if digits.startswith("1"):
        if len(digits) >= 4:
            region = phonenumbers.region_code_for_number(
                phonenumbers.parse(f"+{digits[:4]}2345678"))
            if region:
                return region, "1"
        if phonenumbers.country_code_for_region(default) == 1:
            return default.upper(), "1"
        return "US", "1"
    for length in (1, 2, 3):
        if len(digits) < length:
            return None
        region = phonenumbers.region_code_for_country_code(int(digits[:length]))
        if region and region != "ZZ":
            return region, digits[:length]
    return None


def area_prefixes(prefix: str, dial: str) -> list[str]:
    """The DID-group `prefix` values a search under `prefix` may fall in: the national
    prefix's leading parts (`+44207` → `2`, `20`, `207`); a NANP group is an area code, so
    there it is the NPA alone. Empty: any group of the country."""
    national = prefix.lstrip("+")[len(dial):]
    if dial == "1":
        return [national[:3]] if len(national) >= 3 else []
    return [national[:n] for n in range(1, min(len(national), MAX_AREA_CODE) + 1)]


def group_params(country_id: str, areas: list[str], options: SearchOptions) -> dict[str, Any]:
    params: dict[str, Any] = {"filter[country.id]": country_id, "page[size]": PAGE_SIZE}
    if areas:
        params["filter[prefix]"] = ",".join(areas)
    if options.extra.get("locality"):
        params["filter[area_name]"] = str(options.extra["locality"])
    return params


def available_params(group_ids: list[str], prefix: str, quantity: int,
                     options: SearchOptions) -> dict[str, Any]:
    """Available DIDs of the groups containing the prefix's digits (or the `contains`
    filter): a superset of the numbers under the prefix, which `to_results` keeps."""
    contains = "".join(ch for ch in str(options.extra.get("contains") or "") if ch.isdigit())
    return {"filter[did_group.id]": ",".join(group_ids),
            "filter[number_contains]": contains or wire_number(prefix),
            "include": "did_group.stock_keeping_units",
            "page[size]": max(1, min(quantity, PAGE_SIZE))}


def order_document(available_did_id: str, sku_id: str, reference: str) -> dict[str, Any]:
    """The `POST /orders` document buying one chosen number, tagged with knm's reference."""
    return {"data": {"type": "orders", "attributes": {
        "allow_back_ordering": False,
        "external_reference_id": reference,
        "items": [{"type": "did_order_items",
                   "attributes": {"sku_id": sku_id, "available_did_id": available_did_id}}],
    }}}


def routing_document(did_id: str, trunk_id: str | None, trunk_group_id: str | None
                     ) -> dict[str, Any]:
    """The `PATCH /dids/{id}` document pointing the DID at a trunk or a trunk group (the two
    relationships are exclusive: setting one clears the other at DIDWW)."""
    if trunk_id:
        name, ref = "voice_in_trunk", {"type": "voice_in_trunks", "id": trunk_id}
    else:
        name, ref = "voice_in_trunk_group", {"type": "voice_in_trunk_groups",
                                             "id": trunk_group_id}
    return {"data": {"type": "dids", "id": did_id,
                     "relationships": {name: {"data": ref}}}}


def termination_document(did_id: str) -> dict[str, Any]:
    return {"data": {"type": "dids", "id": did_id, "attributes": {"terminated": True}}}


def token_url(config: Mapping[str, Any]) -> str:
    """Where 2026-11-19 tokens come from: `token_url`, else DIDWW's service for its
    production or sandbox API, else (a simulator or a proxy) `/token` beside `/v3`."""
    if config.get("token_url"):
        return str(config["token_url"])
    base = str(config.get("base_url") or BASE_URL).rstrip("/")
    if base in TOKEN_URLS:
        return TOKEN_URLS[base]
    return base.removesuffix("/v3") + "/token"


# -- pure response parsing ---------------------------------------------------------------------


def data_of(doc: Any) -> Any:
    """The primary data of a JSON:API document; `ValueError` when there is none."""
    if not isinstance(doc, dict) or "data" not in doc:
        raise ValueError("JSON:API document without data")
    return doc["data"]


def rows_of(doc: Any) -> list[dict[str, Any]]:
    rows = data_of(doc)
    if not isinstance(rows, list):
        raise ValueError("JSON:API collection without a data list")
    return [r for r in rows if isinstance(r, dict) and r.get("id")]


def resource_of(doc: Any) -> dict[str, Any]:
    row = data_of(doc)
    if not isinstance(row, dict) or not row.get("id"):
        raise ValueError("JSON:API document without a resource")
    return row


def attributes(resource: Mapping[str, Any]) -> dict[str, Any]:
    attrs = resource.get("attributes")
    return attrs if isinstance(attrs, dict) else {}


def linkage(resource: Mapping[str, Any], name: str) -> Any:
    """A relationship's resource linkage (`{"type", "id"}`, a list of them, None), or `...`
    when the answer carried none (DIDWW sends linkage only for what was included)."""
    rel = (resource.get("relationships") or {}).get(name)
    if not isinstance(rel, dict) or "data" not in rel:
        return ...
    return rel["data"]


def included_index(doc: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(str(r.get("type")), str(r.get("id"))): r for r in doc.get("included") or []
            if isinstance(r, dict)} if isinstance(doc, dict) else {}


def pick_sku(skus: list[dict[str, Any]], channels: int | None) -> dict[str, Any] | None:
    """The SKU to buy: the one with `channels` channels included, else the group's SKU with
    the fewest (DIDWW's base price for the number)."""
    def count(sku: dict[str, Any]) -> int:
        try:
            return int(attributes(sku).get("channels_included_count") or 0)
        except (TypeError, ValueError):
            return 0
    if channels is not None:
        return next((s for s in skus if count(s) == channels), None)
    return min(skus, key=count) if skus else None


def to_results(doc: Any, prefix: str, country: str, *, limit: int,
               channels: int | None = None) -> list[SearchResult]:
    """Available DIDs under `prefix` with the SKU a purchase would order and its price;
    numbers whose group has no matching SKU are not offered (they cannot be ordered)."""
    rows = rows_of(doc)
    index = included_index(doc)
    out: list[SearchResult] = []
    for row in rows:
        digits = str(attributes(row).get("number") or "")
        if not digits.isdigit() or not ("+" + digits).startswith(prefix):
            continue
        ref = linkage(row, "did_group")
        group = index.get(("did_groups", str(ref.get("id")))) if isinstance(ref, dict) else None
        if group is None:
            continue
        sku_refs = linkage(group, "stock_keeping_units")
        skus = [index[("stock_keeping_units", str(r.get("id")))]
                for r in (sku_refs if isinstance(sku_refs, list) else [])
                if isinstance(r, dict) and ("stock_keeping_units", str(r.get("id"))) in index]
        sku = pick_sku(skus, channels)
        if sku is None:
            continue
        sku_attrs = attributes(sku)
        area = str(attributes(group).get("area_name") or "")
        locality = {"country": country}
        if area and "toll" not in area.lower():
            locality["city"] = area
        out.append(SearchResult(
            "+" + digits, NAME,
            carrier_data={"available_did_id": str(row["id"]), "sku_id": str(sku["id"]),
                          "did_group_id": str(group["id"])},
            locality=locality,
            price={"currency": "USD", "monthly": str(sku_attrs.get("monthly_price") or "0"),
                   "upfront": str(sku_attrs.get("setup_price") or "0")}))
        if len(out) >= limit:
            break
    return out


def to_order_status(order: Any) -> OrderStatus:
    """Where an order stands; `ValueError` for a resource that is no order."""
    if not isinstance(order, dict) or not order.get("id"):
        raise ValueError("order answer without an id")
    attrs = attributes(order)
    status = str(attrs.get("status") or "")
    if status not in ORDER_STATES:
        raise ValueError(f"order answer with an unknown status {status!r}")
    state = ORDER_STATES[status]
    data: dict[str, Any] = {"order_status": status}
    if attrs.get("reference"):
        data["didww_order_reference"] = str(attrs["reference"])
    message = f"DIDWW canceled order {order['id']}" if state == "failed" else None
    return OrderStatus(state, status, data, message, order_id=str(order["id"]))


def latest_order(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    rows = sorted(rows, key=lambda r: str(attributes(r).get("created_at") or ""))
    return rows[-1] if rows else None


def did_for(rows: list[dict[str, Any]], number: str) -> dict[str, Any] | None:
    """The account's live DID for `number` among `rows` (terminated ones are not held)."""
    digits = wire_number(number)
    return next((r for r in rows if str(attributes(r).get("number")) == digits
                 and not attributes(r).get("terminated")), None)


def routed_to(did: Mapping[str, Any], trunk_id: str | None, trunk_group_id: str | None
              ) -> bool | None:
    """Is the DID routed where knm routes? None when the answer did not say."""
    name, wanted = (("voice_in_trunk", trunk_id) if trunk_id
                    else ("voice_in_trunk_group", trunk_group_id))
    ref = linkage(did, name)
    if ref is ...:
        return None
    return isinstance(ref, dict) and str(ref.get("id")) == str(wanted)


def held_status(did: Mapping[str, Any]) -> str:
    attrs = attributes(did)
    if attrs.get("blocked"):
        return "blocked"
    if attrs.get("awaiting_registration"):
        return "awaiting_registration"
    return "in_service"


def unavailable_pointer(body: bytes) -> bool:
    """Does a DIDWW error document point at the order item's number or quantity?"""
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return False
    for error in (doc.get("errors") if isinstance(doc, dict) else None) or []:
        pointer = str(((error or {}).get("source") or {}).get("pointer") or "")
        if pointer.endswith(UNAVAILABLE_POINTERS):
            return True
    return False


def _after_order(step: Any, *args: Any) -> Any:
    """`step(*args)`, a read once an order was placed: its failure is never a refusal."""
    try:
        return step(*args)
    except errors.KnmError as exc:
        exc.unsettled = True
        raise


# -- emergency calling (E911): pure request building and parsing --------------------------------


def emergency_reference() -> str:
    """The `external_reference_id` of knm's emergency records (≤ 100 characters at DIDWW):
    how a verification whose answer was lost is found again."""
    return f"knm-e911-{uuid.uuid4()}"


def caller_parts(caller_name: str) -> tuple[str, str]:
    """A personal identity's `(first_name, last_name)`: all but the last word, the last word
    (a one-word name is both)."""
    words = caller_name.split() or ["knm"]
    return (" ".join(words[:-1]) or words[-1]), words[-1]


def identity_document(address: Address, number: str, country_id: str, identity_type: str,
                      reference: str) -> dict[str, Any]:
    """`POST /identities`: the caller name as the identity DIDWW's requirement asks for — a
    business (`company_name`) unless the requirement wants a person."""
    name = address.caller_name or "knm"
    attrs: dict[str, Any] = {"phone_number": wire_number(number),
                             "external_reference_id": reference,
                             "description": f"knm {number}"}
    if identity_type == "personal":
        first, last = caller_parts(name)
        attrs.update(identity_type="personal", first_name=first, last_name=last)
    else:
        attrs.update(identity_type="business", company_name=name)
    return {"data": {"type": "identities", "attributes": attrs, "relationships": {
        "country": {"data": {"type": "countries", "id": country_id}}}}}


def address_document(address: Address, number: str, country_id: str, identity_id: str,
                     reference: str) -> dict[str, Any]:
    """`POST /addresses`: the street (with its unit) in `address`, `city_name`,
    `postal_code`, the country and the identity it belongs to. DIDWW's address has no
    state field (its `area` relationship names an area of DIDWW's catalogue)."""
    street = ", ".join(p for p in (address.street_address, address.extended_address) if p)
    return {"data": {"type": "addresses", "attributes": {
        "address": street, "city_name": address.locality, "postal_code": address.postal_code,
        "description": f"knm {number}", "external_reference_id": reference},
        "relationships": {"country": {"data": {"type": "countries", "id": country_id}},
                          "identity": {"data": {"type": "identities", "id": identity_id}}}}}


def validation_document(requirement_id: str, identity_id: str, address_id: str
                        ) -> dict[str, Any]:
    return {"data": {"type": "emergency_requirement_validations", "relationships": {
        "emergency_requirement": {"data": {"type": "emergency_requirements",
                                           "id": requirement_id}},
        "address": {"data": {"type": "addresses", "id": address_id}},
        "identity": {"data": {"type": "identities", "id": identity_id}}}}}


def verification_document(address_id: str, reference: str, *, did_id: str | None = None,
                          service_id: str | None = None) -> dict[str, Any]:
    """`POST /emergency_verifications`: the address for a new service on the DID, or (the
    number already has knm's service) the replacement address of that service — DIDWW takes
    `dids` or `emergency_calling_service`, never both."""
    rels: dict[str, Any] = {"address": {"data": {"type": "addresses", "id": address_id}}}
    if service_id:
        rels["emergency_calling_service"] = {"data": {"type": "emergency_calling_services",
                                                      "id": service_id}}
    else:
        rels["dids"] = {"data": [{"type": "dids", "id": did_id}]}
    return {"data": {"type": "emergency_verifications",
                     "attributes": {"external_reference_id": reference},
                     "relationships": rels}}


def error_details(body: bytes) -> str | None:
    """The `detail`s (else titles) of a JSON:API error document, joined; None without any."""
    try:
        doc = json.loads(body or b"null")
    except ValueError:
        return None
    found = [str(e.get("detail") or e.get("title")) for e in
             (doc.get("errors") if isinstance(doc, dict) else None) or []
             if isinstance(e, dict) and (e.get("detail") or e.get("title"))]
    return "; ".join(dict.fromkeys(found)) or None


def number_type_of(group: Mapping[str, Any], bearer: bool) -> str | None:
    """A DID group's number type as the emergency requirements are filtered by it: its
    `number_type` (2026-11-19), else its `did_group_type` id (2026-04-16)."""
    if bearer:
        kind = attributes(group).get("number_type")
        return str(kind) if kind else None
    ref = linkage(group, "did_group_type")
    return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") else None


def to_verification(resource: Any) -> dict[str, Any]:
    """An emergency verification as knm reads it; `ValueError` for anything else."""
    if not isinstance(resource, dict) or not resource.get("id"):
        raise ValueError("emergency verification without an id")
    attrs = attributes(resource)
    status = str(attrs.get("status") or "")
    if status not in VERIFICATION_STATES:
        raise ValueError(f"emergency verification with an unknown status {status!r}")
    service = linkage(resource, "emergency_calling_service")
    reasons = attrs.get("reject_reasons")
    return {"id": str(resource["id"]), "status": status,
            "reasons": [str(r) for r in reasons] if isinstance(reasons, list) else [],
            "comment": attrs.get("reject_comment"),
            "service_id": str(service["id"]) if isinstance(service, dict) and service.get("id")
            else None}


def carried(data: Mapping[str, Any] | None) -> dict[str, Any]:
    """knm's emergency carrier data of a number (the `E911_KEYS` it has)."""
    return {key: (data or {})[key] for key in E911_KEYS if (data or {}).get(key) is not None}


def previous_pair(data: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The identity and address of the registration a new one replaces (None: none)."""
    data = data or {}
    if not data.get("didww_e911_address_id"):
        return None
    return {"identity_id": data.get("didww_e911_identity_id"),
            "address_id": data["didww_e911_address_id"]}


def rejection(verification: Mapping[str, Any]) -> str:
    """Why DIDWW rejected a verification, in its words."""
    said = ", ".join(verification.get("reasons") or [])
    if verification.get("comment"):
        said = f"{said}: {verification['comment']}" if said else str(verification["comment"])
    return f"DIDWW rejected the emergency registration ({said or 'no reason given'})"


# -- the carrier ---------------------------------------------------------------------------------


class Didww(TokenRefresh, AsyncOrderCarrier, HttpCarrier):
    """DIDWW (API v3). Numbers as digits with the country code on the wire."""

    name = NAME
    default_base_url = BASE_URL
    maximal_prefix_length = 15
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree",
                              "international", "buy", "release", "check", "locality",
                              "settle", "e911"})
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("api_key", required=True, secret=True,
                description="DIDWW API key (2026-11-19: only mints bearer tokens)"),
        Setting("api_version", default=KEY_VERSION,
                description=f"`{KEY_VERSION}` (`Api-Key` header) or `{TOKEN_VERSION}` "
                            "(bearer tokens minted with the key)"),
        Setting("token_url", description="token service of API version 2026-11-19 (default: "
                                         "DIDWW's for the production or sandbox base_url)"),
        Setting("trunk_id", description="voice-in trunk bought numbers are routed to (needed "
                                        "to buy)"),
        Setting("trunk_group_id", description="voice-in trunk group to route to instead of "
                                              "trunk_id"),
        Setting("channels_included", int,
                description="buy the SKU with this many channels included (default: the "
                            "group's SKU with the fewest)"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        out = super().validate_config(config)
        if str(out.get("api_version")) not in API_VERSIONS:
            raise errors.CarrierMisconfigured(cls.name, "api_version",
                                              f"must be {KEY_VERSION} or {TOKEN_VERSION}")
        if out.get("trunk_id") and out.get("trunk_group_id"):
            raise errors.CarrierMisconfigured(cls.name, "trunk_group_id",
                                              "cannot be set together with trunk_id")
        return out

    def __init__(self, config: Any = None) -> None:
        super().__init__(config)
        self._token = AccessToken(self._mint_token) if self.bearer else None
        self._catalogue: dict[tuple[str, ...], tuple[float, Any]] = {}
        self._catalogue_lock = threading.Lock()

    @property
    def bearer(self) -> bool:
        return self.config["api_version"] == TOKEN_VERSION

    # -- auth and errors ------------------------------------------------------------------------

    def access_token(self) -> AccessToken | None:
        return self._token

    def request_headers(self) -> dict[str, str]:
        headers = {"Accept": JSONAPI, "X-DIDWW-API-Version": str(self.config["api_version"])}
        if self._token is not None:
            headers["Authorization"] = f"Bearer {self._token.get()}"
        else:
            headers["Api-Key"] = str(self.config["api_key"])
        return headers

    def _mint_token(self) -> tuple[str, float]:
        response = self.post(token_url(self.config), authenticate=False, acts=False,
                             headers={"Api-Key": str(self.config["api_key"]),
                                      "Accept": "application/json"})
        token, life = self.parsed(token_answer, self.parse_json(response))
        self.add_secret(token)
        return token, life

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        if response.status_code == 422 and unavailable_pointer(response.content):
            return errors.NumberUnavailable
        return None

    def send(self, method: str, path: str, document: dict[str, Any], *,
             number: str | None = None) -> Any:
        """A JSON:API write (`POST`/`PATCH`): the document in DIDWW's media type."""
        return self.call(method, path, number=number, content=json.dumps(document),
                         headers={"Content-Type": JSONAPI})

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        country = country_of(prefix, options.country or "US")
        if country is None:
            return []
        iso, dial = country
        country_id = self._country_id(iso, options.deadline)
        if country_id is None:
            return []
        group_ids = self._group_ids(country_id, area_prefixes(prefix, dial), options)
        if not group_ids:
            return []
        params = available_params(group_ids, prefix, quantity, options)
        channels = self.config.get("channels_included")
        found: list[SearchResult] = []
        path: str = "/available_dids"
        for _page in range(MAX_PAGES):
            doc = self.call("GET", path, params=params, deadline=options.deadline)
            found += self.parsed(to_results, doc, prefix, iso, limit=quantity - len(found),
                                 channels=channels)
            following = (doc.get("links") or {}).get("next") if isinstance(doc, dict) else None
            if len(found) >= quantity or not following:
                break
            path, params = str(following), {}
        return found

    def _cached(self, key: tuple[str, ...], load: Any) -> Any:
        """A catalogue answer (country or DID-group ids), kept an hour."""
        with self._catalogue_lock:
            hit = self._catalogue.get(key)
        if hit and time.monotonic() - hit[0] < CATALOGUE_TTL_S:
            return hit[1]
        value = load()
        with self._catalogue_lock:
            self._catalogue[key] = (time.monotonic(), value)
        return value

    def _country_id(self, iso: str, deadline: float | None) -> str | None:
        def load() -> str | None:
            doc = self.call("GET", "/countries", params={"filter[iso]": iso},
                            deadline=deadline)
            rows = self.parsed(rows_of, doc)
            return str(rows[0]["id"]) if rows else None
        return self._cached(("country", iso), load)

    def _group_ids(self, country_id: str, areas: list[str], options: SearchOptions
                   ) -> list[str]:
        params = group_params(country_id, areas, options)

        def load() -> list[str]:
            doc = self.call("GET", "/did_groups", params=params, deadline=options.deadline)
            return [str(r["id"]) for r in self.parsed(rows_of, doc)]
        return self._cached(("groups", *sorted(f"{k}={v}" for k, v in params.items())), load)

    # -- purchase -----------------------------------------------------------------------------

    def routing(self) -> tuple[str | None, str | None]:
        """`(trunk_id, trunk_group_id)`; `CarrierMisconfigured` naming `trunk_id` when
        neither is set — checked before anything is bought."""
        trunk, group = self.config.get("trunk_id"), self.config.get("trunk_group_id")
        if not self._routes():
            raise errors.CarrierMisconfigured(
                self.name, "trunk_id", "is required to buy (or trunk_group_id): DIDWW numbers "
                                       "are routed to a voice-in trunk")
        return trunk, group

    def _routes(self) -> bool:
        return bool(self.config.get("trunk_id") or self.config.get("trunk_group_id"))

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        """Route check, the order (placed, then polled), then the DID routed to the trunk.

        Once DIDWW took the order, nothing that goes wrong afterwards is a refusal: a
        polling or lookup error leaves the purchase unsettled (the order exists), which
        settling finishes — only DIDWW canceling the order undoes it."""
        self.routing()
        num = number.number
        first = self.place_order(number)
        order_id = self._order_id(first, number)
        self.learn(number, {**first.data, "order_id": order_id})
        done = self.poll_order(number, order_id,
                               lambda: _after_order(self.fetch_order, order_id, number), first)
        self.learn(number, done.data)
        did = _after_order(self._order_did, order_id, num)
        if did is None:
            raise self.fault(errors.MalformedResponse,
                             "order completed without a DID for the number", number=num)
        return self.learn(number, self._route(did, num))

    def place_order(self, number: PhoneNumber) -> OrderStatus:
        num = number.number
        available_id, sku_id = self._offer(number)
        document = order_document(available_id, sku_id, self.order_reference(number))
        doc = self.send("POST", "/orders", document, number=num)
        first = self.parsed(lambda d: to_order_status(resource_of(d)), doc, number=num)
        first.data.update(available_did_id=available_id, sku_id=sku_id)
        return first

    def fetch_order(self, order_id: str, number: PhoneNumber) -> OrderStatus:
        doc = self.call("GET", f"/orders/{order_id}", number=number.number)
        return self.parsed(lambda d: to_order_status(resource_of(d)), doc,
                           number=number.number)

    def _offer(self, number: PhoneNumber) -> tuple[str, str]:
        """The available DID and SKU to order: the search's, else looked up by number."""
        data = number.carrier_data
        if data.get("available_did_id") and data.get("sku_id"):
            return str(data["available_did_id"]), str(data["sku_id"])
        num = number.number
        doc = self.call("GET", "/available_dids", number=num, params={
            "filter[number_contains]": wire_number(num),
            "include": "did_group.stock_keeping_units", "page[size]": 10})
        country = country_of(num) or ("", "")
        found = self.parsed(to_results, doc, num, country[0], limit=1,
                            channels=self.config.get("channels_included"), number=num)
        if not found:
            raise errors.NumberUnavailable(self.name, f"{num} is not among DIDWW's available "
                                                      "DIDs", number=num, unsettled=False)
        offer = found[0].carrier_data
        return offer["available_did_id"], offer["sku_id"]

    def _order_did(self, order_id: str, number: str) -> dict[str, Any] | None:
        doc = self.call("GET", "/dids", number=number, params={
            "filter[order.id]": order_id, "include": "voice_in_trunk,voice_in_trunk_group"})
        return did_for(self.parsed(rows_of, doc, number=number), number)

    def _route(self, did: dict[str, Any], number: str) -> dict[str, Any]:
        """Point the DID at the trunk (unless it already is). The number is bought whatever
        happens here: a failure is recorded as `routing_status`, not raised."""
        trunk, group = self.routing()
        learnt: dict[str, Any] = {"did_id": str(did["id"]),
                                  "voice_in_trunk_id": trunk, "voice_in_trunk_group_id": group}
        if routed_to(did, trunk, group):
            return {**learnt, "routing_status": "routed"}
        try:
            self.send("PATCH", f"/dids/{did['id']}", routing_document(str(did["id"]), trunk,
                                                                        group), number=number)
        except errors.KnmError as exc:
            log.warning("%s: %s bought but not routed to its trunk: %s", self.name, number,
                        self.scrub(exc))
            return {**learnt, "routing_status": "unknown" if exc.unsettled else "failed",
                    "routing_error": self.scrub(getattr(exc, "carrier_message", None)
                                                or exc.message)}
        return {**learnt, "routing_status": "routed", "routing_error": None}

    # -- release, check, settle ---------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The account's live DID for `number`, if any (terminated ones are not held)."""
        doc = self.call("GET", "/dids", number=number, params={
            "filter[number]": wire_number(number),
            "include": "voice_in_trunk,voice_in_trunk_group"})
        return did_for(self.parsed(rows_of, doc, number=number), number)

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        """Terminate the DID (see the module docstring for what that means)."""
        num = number.number
        did_id = number.carrier_data.get("did_id")
        if not did_id:
            row = self.held(num)
            if row is None:
                raise errors.CarrierNotFound(self.name, f"{num} is not a DID of this account",
                                             number=num, unsettled=False)
            did_id = row["id"]
        doc = self.send("PATCH", f"/dids/{did_id}", termination_document(str(did_id)),
                        number=num)
        did = self.parsed(resource_of, doc, number=num)
        attrs = attributes(did)
        if attrs.get("terminated") is not True:
            raise self.fault(errors.MalformedResponse, "DID answer does not say terminated",
                             number=num)
        return self.learn(number, {"did_id": str(did_id), "terminated": True,
                                   "service_ends_at": attrs.get("expires_at")})

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` (or `blocked`, `awaiting_registration`) for each number that is a
        live DID of the account; others are left out."""
        out: dict[str, str] = {}
        for num in numbers:
            row = self.held(num)
            if row is not None:
                out[num] = held_status(row)
        return out

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """A release: whether the DID is terminated (or gone). A purchase: its order (by id,
        else by `external_reference_id`), then the order's DID for the number (else a live
        DID of the account with that number); a complete purchase whose DID is not routed
        to the trunk yet is routed now — routing finishes a purchase, it orders nothing."""
        return self._settle(number, None)

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The account's live DIDs, a thousand a page, then its orders: each DID found
        carries the orders by `external_reference_id` (`LISTED_ORDERS`), so settling its
        purchase finds its order without a lookup of its own."""
        include = {"include": "voice_in_trunk,voice_in_trunk_group"}
        dids = held_in_pages(
            linked_pages(lambda params: self.call("GET", "/dids", params=params),
                         {"page[size]": str(LISTING_PAGE_SIZE), **include}),
            numbers, budget, lambda row: (None if attributes(row).get("terminated")
                                          else "+" + str(attributes(row).get("number") or "")))
        if not dids:
            return dids
        orders: dict[str, list[dict[str, Any]]] = {}
        pages = linked_pages(lambda params: self.call("GET", "/orders", params=params),
                             {"page[size]": str(LISTING_PAGE_SIZE)})
        for page in itertools.islice(pages, budget):
            for order in page:
                reference = attributes(order).get("external_reference_id") if isinstance(
                    order, Mapping) else None
                if reference:
                    orders.setdefault(str(reference), []).append(order)
        return {number: {**row, LISTED_ORDERS: orders} for number, row in dids.items()}

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        return self._settle(number, row)

    def _settle(self, number: PhoneNumber, listed: Mapping[str, Any] | None) -> OrderStatus:
        if settling(number) == "disconnect":
            return self._settle_release(number)
        num = number.number
        order = self._listed_order(number, listed) or self._find_order(number)
        if order is not None and order.state != "complete":
            return order
        did: dict[str, Any] | None = None
        if listed:
            did = {k: v for k, v in listed.items() if k != LISTED_ORDERS}
        elif order and order.order_id:
            did = self._order_did(order.order_id, num)
        did = did or self.held(num)
        if did is None:
            why = ("the order completed without this number" if order
                   else "no order with this external_reference_id, number not held")
            return OrderStatus("failed", order.status if order else "", {}, why)
        routed = self._route(did, num) if self._routes() else {
            "did_id": str(did["id"]), "routing_status": "unrouted"}
        data = {**(order.data if order else {}), **routed}
        return OrderStatus("complete", order.status if order else "held", data,
                           order_id=order.order_id if order else None)

    def _listed_order(self, number: PhoneNumber, listed: Mapping[str, Any] | None
                      ) -> OrderStatus | None:
        """The purchase's order among those a holdings listing read (`held_listing`): by
        its id, else its `order_reference`; None when it is not there (looked up then)."""
        orders = listed.get(LISTED_ORDERS) if listed else None
        if not orders:
            return None
        order_id = number.carrier_data.get("order_id")
        reference = number.carrier_data.get("order_reference")
        if order_id:
            found = [o for group in orders.values() for o in group
                     if str(o.get("id")) == str(order_id)]
        else:
            found = list(orders.get(str(reference), [])) if reference else []
        latest = latest_order(found)
        return None if latest is None else self.parsed(to_order_status, latest,
                                                       number=number.number)

    def _settle_release(self, number: PhoneNumber) -> OrderStatus:
        num = number.number
        did_id = number.carrier_data.get("did_id")
        if did_id:
            try:
                doc = self.call("GET", f"/dids/{did_id}", number=num)
            except errors.CarrierNotFound:
                return OrderStatus("complete", "gone", {}, f"DID {did_id} no longer exists")
            did = self.parsed(resource_of, doc, number=num)
            if attributes(did).get("terminated"):
                return OrderStatus("complete", "terminated",
                                   {"service_ends_at": attributes(did).get("expires_at")})
        row = self.held(num)
        if row is None:
            return OrderStatus("complete", "terminated", {}, f"{num} is no live DID")
        return OrderStatus("failed", held_status(row), {"did_id": str(row["id"])},
                           f"{num} is still a live DID of the account")

    def _find_order(self, number: PhoneNumber) -> OrderStatus | None:
        num = number.number
        order_id = number.carrier_data.get("order_id")
        if order_id:
            try:
                return self.fetch_order(str(order_id), number)
            except errors.CarrierNotFound:
                pass
        reference = number.carrier_data.get("order_reference")
        if not reference:
            return None
        doc = self.call("GET", "/orders", number=num,
                        params={"filter[external_reference_id]": reference})
        found = latest_order(self.parsed(rows_of, doc, number=num))
        return None if found is None else self.parsed(to_order_status, found, number=num)

    # -- emergency calling (E911) ---------------------------------------------------------------

    def _emergency_did(self, number: PhoneNumber) -> tuple[dict[str, Any], dict[str, Any]]:
        """The number's live DID and its DID group (included), which must offer DIDWW's
        `emergency` feature: `NotImplementedByCarrier` otherwise, before anything is made."""
        num = number.number
        include = "did_group" if self.bearer else "did_group.did_group_type"
        doc = self.call("GET", "/dids", number=num, params={
            "filter[number]": wire_number(num), "include": include})
        did = did_for(self.parsed(rows_of, doc, number=num), num)
        if did is None:
            raise errors.CarrierNotFound(self.name, f"{num} is not a DID of this account",
                                         number=num, unsettled=False)
        ref = linkage(did, "did_group")
        group = included_index(doc).get(("did_groups", str(ref.get("id")))) \
            if isinstance(ref, dict) else None
        if group is None:
            raise self.fault(errors.MalformedResponse, "DID answer without its DID group",
                             number=num)
        if "emergency" not in (attributes(group).get("features") or []):
            raise errors.NotImplementedByCarrier(
                self.name, cause="e911", message=f"DIDWW offers no emergency calling on {num}: "
                "its DID group lacks the emergency feature")
        return did, group

    def _requirement(self, number: PhoneNumber, group: Mapping[str, Any], country_id: str
                     ) -> dict[str, Any]:
        """DIDWW's emergency requirement for the number's country and number type (a
        catalogue: cached an hour)."""
        num = number.number
        kind = number_type_of(group, self.bearer)
        if kind is None:
            raise self.fault(errors.MalformedResponse, "DID group without its number type",
                             number=num)
        params = {"filter[country.id]": country_id,
                  "filter[number_type]" if self.bearer else "filter[did_group_type.id]": kind}

        def load() -> dict[str, Any] | None:
            doc = self.call("GET", "/emergency_requirements", number=num, params=params)
            rows = self.parsed(rows_of, doc, number=num)
            return rows[0] if rows else None
        found = self._cached(("requirement", country_id, kind), load)
        if found is None:
            raise errors.NotImplementedByCarrier(
                self.name, cause="e911", message=f"DIDWW has no emergency requirement for "
                f"{num}'s country and number type: it offers no emergency calling there")
        return found

    def _target(self, number: PhoneNumber) -> tuple[str, dict[str, Any], str]:
        """`(did_id, requirement, country_id)` of an emergency registration of `number`."""
        did, group = self._emergency_did(number)
        iso = (country_of(number.number) or ("US", "1"))[0]
        country_id = self._country_id(iso, None)
        if country_id is None:
            raise errors.NotImplementedByCarrier(
                self.name, cause="e911", message=f"DIDWW lists no country {iso}")
        return str(did["id"]), self._requirement(number, group, country_id), country_id

    def _make_pair(self, number: PhoneNumber, address: Address, requirement: Mapping[str, Any],
                   country_id: str, reference: str) -> tuple[str, str]:
        """Create knm's identity and address for the registration: `(identity_id,
        address_id)`. Nothing is registered yet, so a failure here is a refusal (an answer
        lost on the way leaves at most an unused record, never a registration)."""
        num = number.number
        identity_type = str(attributes(requirement).get("identity_type") or "any")
        identity_id: str | None = None
        try:
            doc = self.send("POST", "/identities", identity_document(
                address, num, country_id, identity_type, reference), number=num)
            identity_id = str(self.parsed(resource_of, doc, number=num)["id"])
            doc = self.send("POST", "/addresses", address_document(
                address, num, country_id, identity_id, reference), number=num)
            return identity_id, str(self.parsed(resource_of, doc, number=num)["id"])
        except errors.KnmError as exc:
            if identity_id:
                self._forget_pair(identity_id, None, num)
            if isinstance(exc, errors.CarrierFault):
                exc.unsettled = False
            raise

    def _forget_pair(self, identity_id: Any, address_id: Any, number: str) -> None:
        """Delete an address and identity knm made and no longer uses (the address first:
        it belongs to the identity); a failure only leaves unused records at DIDWW."""
        for kind, rid in (("addresses", address_id), ("identities", identity_id)):
            if not rid:
                continue
            try:
                self.request("DELETE", f"/{kind}/{rid}", number=number)
            except errors.CarrierNotFound:
                pass
            except errors.KnmError as exc:
                self.log.warning("%s: %s %s of %s not deleted: %s", self.name, kind, rid,
                                 number, self.scrub(exc))

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        """DIDWW checks an identity and an address it holds against the requirement
        (`POST /emergency_requirement_validations`: 201 valid, 422 invalid with its
        reasons). knm makes the two for the check and deletes them after it, so a check
        leaves the account as it was. DIDWW corrects nothing: never `corrected`."""
        num = number.number
        _did_id, requirement, country_id = self._target(number)
        identity_id, address_id = self._make_pair(number, address, requirement, country_id,
                                                  emergency_reference())
        try:
            response = self.request(
                "POST", "/emergency_requirement_validations", number=num, idempotent=True,
                acts=False, accept=(422,), headers={"Content-Type": JSONAPI},
                content=json.dumps(validation_document(str(requirement["id"]), identity_id,
                                                       address_id)))
        finally:
            self._forget_pair(identity_id, address_id, num)
        if response.status_code == 422:
            return AddressCheck("invalid", address, message=self.scrub(
                error_details(response.content) or "DIDWW found the address and identity "
                                                   "invalid for emergency calling"))
        return AddressCheck("valid", address)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        """Identity and address made, then the emergency verification of the DID (or, the
        number has knm's service already, of its replacement address): PENDING while
        DIDWW's emergency team reviews it. A refused verification deletes the two again;
        403 (no emergency plan on the account) is `service_restriction`."""
        num = number.number
        did_id, requirement, country_id = self._target(number)
        reference = emergency_reference()
        identity_id, address_id = self._make_pair(number, address, requirement, country_id,
                                                  reference)
        data = carried(number.carrier_data)
        data.update(didww_e911_identity_id=identity_id, didww_e911_address_id=address_id,
                    didww_e911_reference=reference, didww_e911_verification_id=None,
                    didww_e911_previous=previous_pair(number.carrier_data))
        document = verification_document(address_id, reference, did_id=did_id,
                                         service_id=data.get("didww_ecs_id"))
        try:
            doc = self.send("POST", "/emergency_verifications", document, number=num)
            verification = self.parsed(lambda d: to_verification(resource_of(d)), doc,
                                       number=num)
        except errors.KnmError as exc:  # an unreadable answer is a lost one (it is unsettled)
            if not exc.unsettled:
                self._forget_pair(identity_id, address_id, num)
                if isinstance(exc, errors.CarrierFault) and exc.status == 403:
                    raise self._no_plan(exc, num) from None
                raise
            return self._lost_verification(number, data, address, exc)
        return self._verdict(number, verification, data, address)

    def _no_plan(self, exc: errors.CarrierFault, number: str) -> errors.CarrierFault:
        return errors.CarrierFault(
            self.name, exc.carrier_message, number=number, status=403, code=402,
            error="service_restriction", unsettled=False,
            message="the DIDWW account has no emergency calling plan, so DIDWW takes no "
                    "emergency registration: DIDWW assigns the plan on request; nothing was "
                    "registered")

    def _lost_verification(self, number: PhoneNumber, data: dict[str, Any],
                           address: Address, exc: errors.KnmError) -> FeatureStatus:
        """The verification's answer was lost: found by knm's reference at once, else
        PENDING (`emergency_status` looks again); not there, the two records are deleted
        and the failure answered."""
        num = number.number
        try:
            found = self._verification_by_reference(str(data["didww_e911_reference"]), num)
        except errors.KnmError:
            return FeatureStatus(PENDING, "unknown", data, address,
                                 message=self.scrub(str(exc)),
                                 refs=[str(data["didww_e911_reference"])])
        if found is None:
            self._forget_pair(data["didww_e911_identity_id"], data["didww_e911_address_id"],
                              num)
            exc.unsettled = False
            raise exc
        return self._verdict(number, found, data, address)

    def _verification_by_reference(self, reference: str, number: str
                                   ) -> dict[str, Any] | None:
        doc = self.call("GET", "/emergency_verifications", number=number, params={
            "filter[external_reference_id]": reference, "include": "emergency_calling_service"})
        rows = self.parsed(rows_of, doc, number=number)
        return self.parsed(to_verification, rows[-1], number=number) if rows else None

    def _verdict(self, number: PhoneNumber, verification: Mapping[str, Any],
                 data: dict[str, Any], address: Address | None) -> FeatureStatus:
        """A verification's review: pending (PENDING, by its id), approved (PROVISIONED:
        the service's id kept, knm's replaced records deleted) or rejected (ERROR with
        DIDWW's reasons: the records made for it deleted, the previous ones kept)."""
        num = number.number
        data = {**data, "didww_e911_verification_id": verification["id"]}
        previous = data.get("didww_e911_previous") or {}
        if verification["status"] == "pending":
            return FeatureStatus(PENDING, "pending", data, address, refs=[verification["id"]],
                                 message="DIDWW's emergency team reviews the registration")
        if verification["status"] == "approved":
            return self._approved(number, verification, data, address)
        self._forget_pair(data.get("didww_e911_identity_id"), data.get("didww_e911_address_id"),
                          num)
        kept = {"didww_e911_identity_id": previous.get("identity_id"),
                "didww_e911_address_id": previous.get("address_id"),
                "didww_e911_previous": None}
        return FeatureStatus(ERROR, "rejected", {**data, **kept}, message=rejection(verification))

    def _approved(self, number: PhoneNumber, verification: Mapping[str, Any],
                  data: dict[str, Any], address: Address | None) -> FeatureStatus:
        """An approved verification is registered once its emergency calling service is
        `active` (PROVISIONED: knm's replaced identity and address deleted); while the
        service is `new`, `in_process` or `pending_update` it is PENDING; `changes_required`
        or `canceled` is ERROR. A service that cannot be read now is PENDING: settling reads
        it again (the verification is made — never a refusal)."""
        num = number.number
        waiting = {"refs": [str(verification["id"])]}
        try:
            service = verification.get("service_id") or data.get("didww_ecs_id") or \
                self._service_of(num)
            status = self._service_status(str(service), num) if service else None
        except errors.KnmError as exc:
            return FeatureStatus(PENDING, "approved", data, address, **waiting,
                                 message="approved; its emergency calling service could not "
                                         f"be read: {self.scrub(exc)}")
        if status is None:
            return FeatureStatus(PENDING, "approved", data, address, **waiting,
                                 message="approved; DIDWW shows no emergency calling service "
                                         "for the number yet")
        data = {**data, "didww_ecs_id": str(service)}
        if status in SERVICE_WAITING:
            return FeatureStatus(PENDING, f"approved, service {status}", data, address,
                                 **waiting, message=f"approved; DIDWW's emergency calling "
                                                    f"service is {status}")
        if status != "active":
            return FeatureStatus(ERROR, f"approved, service {status}", data,
                                 message=f"DIDWW's emergency calling service {service} of the "
                                         f"number is {status}")
        previous = data.get("didww_e911_previous") or {}
        if previous.get("address_id") != data.get("didww_e911_address_id"):
            self._forget_pair(previous.get("identity_id"), previous.get("address_id"), num)
        return FeatureStatus(PROVISIONED, "active", {**data, "didww_e911_previous": None},
                             address)

    def _service_status(self, service_id: str, number: str) -> str | None:
        """An emergency calling service's `status` (None: it does not exist)."""
        try:
            doc = self.call("GET", f"/emergency_calling_services/{service_id}", number=number)
        except errors.CarrierNotFound:
            return None
        service = self.parsed(resource_of, doc, number=number)
        status = str(attributes(service).get("status") or "")
        if not status:
            raise self.fault(errors.MalformedResponse, "emergency calling service without a "
                             "status", number=number)
        return status

    def _service_of(self, number: str) -> str | None:
        """The emergency calling service DIDWW shows on the number's DID (None: none)."""
        doc = self.call("GET", "/dids", number=number, params={
            "filter[number]": wire_number(number), "include": "emergency_calling_service"})
        did = did_for(self.parsed(rows_of, doc, number=number), number)
        ref = linkage(did, "emergency_calling_service") if did else None
        return str(ref["id"]) if isinstance(ref, dict) and ref.get("id") else None

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """The review of knm's verification (`GET /emergency_verifications/{id}`, else found
        by knm's reference when its creation answer was lost). Settling a rejection or an
        approval deletes the records that lost (knm's own): the one write it does."""
        num = number.number
        data = carried(number.carrier_data)
        vid = data.get("didww_e911_verification_id")
        found: dict[str, Any] | None = None
        if vid:
            try:
                doc = self.call("GET", f"/emergency_verifications/{vid}", number=num,
                                params={"include": "emergency_calling_service"})
                found = self.parsed(lambda d: to_verification(resource_of(d)), doc, number=num)
            except errors.CarrierNotFound:
                found = None
        elif data.get("didww_e911_reference"):
            found = self._verification_by_reference(str(data["didww_e911_reference"]), num)
        if found is None:  # gone: as a rejection, the records made for it deleted
            gone = self._verdict(number, {"id": vid, "status": "rejected"}, data, None)
            gone.carrier_status = "gone"
            gone.message = (f"DIDWW holds no emergency verification {vid}" if vid else
                            "DIDWW holds no emergency verification with knm's reference")
            return gone
        return self._verdict(number, found, data, None)

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        """Delete knm's emergency calling service of the number (one made elsewhere is never
        touched), then knm's identity and address."""
        num = number.number
        data = carried(number.carrier_data)
        service = data.get("didww_ecs_id")
        if service:
            try:
                self.request("DELETE", f"/emergency_calling_services/{service}", number=num)
            except errors.CarrierNotFound:
                self.log.info("%s: %s's emergency calling service %s was gone already",
                              self.name, num, service)
        previous = data.get("didww_e911_previous") or {}
        self._forget_pair(data.get("didww_e911_identity_id"), data.get("didww_e911_address_id"),
                          num)
        self._forget_pair(previous.get("identity_id"), previous.get("address_id"), num)
        return FeatureStatus(REMOVED, "deleted", {key: None for key in E911_KEYS})
