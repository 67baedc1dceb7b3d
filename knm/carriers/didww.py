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
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx
import phonenumbers

from knm import errors
from knm.carriers.base import SearchOptions, SearchResult, Setting
from knm.carriers.http import HttpCarrier
from knm.carriers.orders import AsyncOrderCarrier, OrderStatus, settling
from knm.carriers.tokens import AccessToken, TokenRefresh, token_answer
from knm.record import PhoneNumber

NAME = "knm_didww"
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


# -- the carrier ---------------------------------------------------------------------------------


class Didww(TokenRefresh, AsyncOrderCarrier, HttpCarrier):
    """DIDWW (API v3). Numbers as digits with the country code on the wire."""

    name = NAME
    default_base_url = BASE_URL
    maximal_prefix_length = 15
    capabilities = frozenset({"search_local", "search_npanxx", "search_tollfree",
                              "international", "buy", "release", "check", "locality",
                              "settle"})
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
        if settling(number) == "disconnect":
            return self._settle_release(number)
        num = number.number
        order = self._find_order(number)
        if order is not None and order.state != "complete":
            return order
        did = self._order_did(order.order_id, num) if order and order.order_id else None
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
