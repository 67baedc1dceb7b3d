"""knm_signalwire: SignalWire's RELAY REST API (`/api/relay/rest/phone_numbers`), JSON.

The native API of a SignalWire space (`https://{space}.signalwire.com/api/relay/rest`, HTTP
Basic `project_id:api_token`; carriers/current-apis.md §5, audit §4.3): a search is
`GET phone_numbers/search` (`areacode`, `number_type`, one of `starts_with` / `contains` /
`ends_with` of 3–7 digits, `region`/`city`, `max_results` ≤ 100), a purchase
`POST phone_numbers {"number"}` (200, synchronous), routing `PUT phone_numbers/{id}` with a
`call_handler` and the field that handler reads, a release `DELETE phone_numbers/{id}` (204).

Routing is a second request after the purchase: the number is bought whatever that request
says, so a routing call that fails leaves the purchase done with `routing_status` `failed`
(or `unknown` when its answer was lost) and a warning, rather than an unsettled purchase.
The same request names the number after knm's `order_reference` (SignalWire takes no
reference with the purchase itself). A purchase or release whose answer was lost is settled by
whether the project holds the number (`GET phone_numbers?filter_number=`); a purchase settled
that way never had its routing request, so settling sends it when the number is not routed
as configured (the one write settling does: idempotent, it neither buys nor releases).

SignalWire sells US and Canadian numbers here; the `sip_gateway` handler (an external SIP
host) is "Fabric API only" and cannot be set through this API.

**E911** (SPEC §13), on this same API (signalwire/docs TypeSpec `relay-rest/addresses`,
`relay-rest/phone-numbers`; signalwire-sdk 3.7 `client.addresses`): an emergency address is
an `addresses` resource SignalWire validates when it is created with `emergency_enabled`
(US addresses only). knm validates by creating a trial one with `auto_correct_address`
false — SignalWire then answers a correctable address 422 with its `candidates` (offered as
a choice) and one it cannot place 422 without — and deletes it. Registering creates the
address and assigns it (`POST phone_numbers/{id}/e911_address {"e911_address_id"}`): the
number's `e911_status` is `pending`, then `active` or `failed` (asynchronous: polled briefly,
then settled). An assignment refused deletes the address just made; one whose answer was
lost is read back on the number at once. Once the new address is `active`, knm's previous
one is deleted (an address made outside knm never is); a `failed` one is undone (the
number's previous address assigned again, the new one deleted). Removal is `DELETE
phone_numbers/{id}/e911_address` (`pending_removal` → `unregistered`), then knm's address is
deleted. knm's address → SignalWire's fields: the house number and street name split, the
unit into one of SignalWire's `address_type`s and its `address_number`, the caller name
into `first_name`/`last_name` and the `label` (what the dispatcher is shown: 32 characters).

Caller names: this API has no per-number setting (neither an outbound listing nor an inbound
lookup); the LaML API's `voice_caller_id_lookup` is "always null" and not writable. knm
declares no `cnam` here: no caller-name feature is offered on SignalWire numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from knm import errors
from knm.carriers.address_parts import person, street_parts, unit_parts
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
    OrderStatus,
    held_in_pages,
    linked_pages,
    poll_feature,
    settled_by_holding,
)
from knm.carriers.payloads import error_details, json_or_none
from knm.phone import is_us_tollfree, nanp_digits
from knm.record import PhoneNumber

NAME = "knm_signalwire"
API_ROOT = "/api/relay/rest"
#: SignalWire's words for a number that cannot be bought (unverified wording)
UNAVAILABLE = ((("not available",), errors.NumberUnavailable),)
#: call_handler → the setting (SignalWire's own field name) saying where calls go; the
#: handlers that send calls somewhere an operator runs (not SignalWire's AI, video, …)
HANDLER_FIELDS = {
    "relay_sip_endpoint": "call_sip_endpoint_id",
    "laml_webhooks": "call_request_url",
    "laml_application": "call_laml_application_id",
    "relay_context": "call_relay_context",
    "relay_topic": "call_relay_topic",
    "relay_application": "call_relay_application",
    "call_flow": "call_flow_id",
}
#: most results one search returns
MAX_RESULTS = 100
#: owned-number rows read per lookup (`filter_number` matches digit substrings)
LOOKUP_PAGE_SIZE = 50
#: rows per page of a holdings listing
LISTING_PAGE_SIZE = 1000
#: provinces and territories: a result in one of them is a Canadian number
CANADIAN_REGIONS = frozenset({"AB", "BC", "MB", "NB", "NL", "NS", "NT", "NU", "ON", "PE", "QC",
                              "SK", "YT"})
#: SearchOptions.extra capability flags, checked against each result's `capabilities`
CAPABILITIES = ("voice", "sms", "mms", "fax")
#: a number's `e911_status` → knm's feature state (None: never had an address)
E911_STATES = {"active": PROVISIONED, "pending": PENDING, "failed": ERROR,
               "pending_removal": PENDING, "unregistered": REMOVED, None: REMOVED}
#: SignalWire's `address_type`s (its AddressType enum), by the words knm reads as each
ADDRESS_TYPES = {
    **{w: "Apartment" for w in ("apartment", "apt")},
    **{w: "Basement" for w in ("basement", "bsmt")},
    **{w: "Building" for w in ("building", "bldg")},
    **{w: "Department" for w in ("department", "dept")},
    **{w: "Floor" for w in ("floor", "fl")},
    **{w: "Office" for w in ("office", "ofc")},
    **{w: "Penthouse" for w in ("penthouse", "ph")},
    **{w: "Suite" for w in ("suite", "ste")},
    **{w: "Trailer" for w in ("trailer", "trlr")},
    "unit": "Unit",
}
#: the caller name the emergency network takes from an address's `label`
MAX_LABEL = 32
#: carrier-data keys of knm's emergency addresses at SignalWire: the one assigned (knm's
#: own), the one the number held before (assigned again if the new one fails), whether that
#: one is knm's (deleted once the new one is active), and a removal under way
E911_ID, PREVIOUS_ID, PREVIOUS_OWN, REMOVING = (
    "signalwire_e911_address_id", "signalwire_e911_previous_id",
    "signalwire_e911_previous_own", "signalwire_e911_removing")


# -- pure request building ---------------------------------------------------------------------


def space_base_url(space_url: str) -> str:
    """The RELAY REST root of a space given as `example`, `example.signalwire.com` or
    `https://example.signalwire.com`."""
    host = space_url.strip().rstrip("/").removeprefix("https://").removeprefix("http://")
    if "." not in host:
        host += ".signalwire.com"
    return f"https://{host}{API_ROOT}"


def search_params(digits: str, quantity: int, options: SearchOptions) -> dict[str, str]:
    """`phone_numbers/search` parameters for NANP `digits` (the prefix without `+1`).

    An area code travels as `areacode`, a longer prefix as `starts_with` of the national
    number (at most the 7 digits SignalWire takes; the rest is filtered here). `region`/`city`
    only go along when the prefix has no area code: SignalWire refuses them together.
    """
    params: dict[str, str] = {"max_results": str(max(1, min(quantity, MAX_RESULTS)))}
    if options.extra.get("tollfree") or is_us_tollfree(digits):
        params["number_type"] = "toll-free"
    if len(digits) > 3:
        params["starts_with"] = digits[:7]
    elif len(digits) == 3:
        params["areacode"] = digits
    if len(digits) <= 3 and options.extra.get("contains"):
        params["contains"] = str(options.extra["contains"])
    if len(digits) < 3:
        region = options.extra.get("region") or options.extra.get("administrative_area")
        if region:
            params["region"] = str(region)
            if options.extra.get("locality") and not params.get("contains"):
                params["city"] = str(options.extra["locality"])
    return params


def routing_body(config: Mapping[str, Any], reference: str) -> dict[str, Any]:
    """The `PUT phone_numbers/{id}` body routing a bought number by the configured
    `call_handler`, and naming it after knm's reference."""
    handler = str(config["call_handler"])
    field = HANDLER_FIELDS[handler]
    body: dict[str, Any] = {"name": reference, "call_handler": handler,
                            field: config[field]}
    if handler == "laml_webhooks" and config.get("call_request_method"):
        body["call_request_method"] = config["call_request_method"]
    return body


def lookup_params(number: str) -> dict[str, str]:
    return {"filter_number": number.lstrip("+"), "page_size": str(LOOKUP_PAGE_SIZE)}


# -- pure response parsing ---------------------------------------------------------------------


def to_results(doc: Any, prefix: str, options: SearchOptions, limit: int
               ) -> list[SearchResult]:
    """Results under `prefix` with the capabilities and locality asked for; `ValueError` for
    an answer without a data list."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("search answer without a data list")
    wanted = [c for c in CAPABILITIES if options.extra.get(c)]
    region = options.extra.get("region") or options.extra.get("administrative_area")
    city = options.extra.get("locality")
    contains = str(options.extra.get("contains") or "")
    out: list[SearchResult] = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        number = row.get("number")
        if not isinstance(number, str) or not number.startswith(prefix):
            continue
        if contains.isdigit() and contains not in number[2:]:
            continue  # not sent with a longer prefix: SignalWire takes one digit pattern
        caps = row.get("capabilities") if isinstance(row.get("capabilities"), dict) else {}
        if any(not caps.get(c) for c in wanted):
            continue
        if region and str(row.get("region") or "").lower() != str(region).lower():
            continue
        if city and str(row.get("city") or "").lower() != str(city).lower():
            continue
        data = {"capabilities": caps} if caps else {}
        out.append(SearchResult(number, NAME, carrier_data=data, locality=_locality(row)))
        if len(out) >= limit:
            break
    return out


def purchase_data(doc: Any, number: str) -> dict[str, Any]:
    """The bought PhoneNumber's id (what routing and release address); `ValueError` unless the
    answer is the number's resource."""
    if not isinstance(doc, dict) or not doc.get("id") or doc.get("number") != number:
        raise ValueError("purchase answer without the number's id")
    return {"signalwire_id": str(doc["id"]), "number_type": doc.get("number_type")}


def held_row(doc: Any, number: str) -> dict[str, Any] | None:
    """The project's PhoneNumber for exactly `number` in a list page, if any."""
    rows = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise ValueError("list answer without a data list")
    return next((r for r in rows if isinstance(r, dict) and r.get("number") == number), None)


def _locality(row: dict[str, Any]) -> dict[str, Any] | None:
    region = row.get("region")
    country = None
    if region:
        country = "CA" if str(region).upper() in CANADIAN_REGIONS else "US"
    locality = {"city": row.get("city"), "region": region, "country": country,
                "rate_center": row.get("rate_center")}
    locality = {k: v for k, v in locality.items() if v}
    return locality or None


# -- number features: pure request building and parsing (SPEC §13) -----------------------------


def unit_of(extended: str) -> tuple[str, str] | None:
    """`(address_type, address_number)` of an extended address in SignalWire's types
    (`Ste 5` → `Suite`, `5`; a lone `5B` → `Unit`, `5B`); `ValueError` for a unit SignalWire
    has no type for (`Room 5`) or one without a number."""
    unit = unit_parts(extended, "SignalWire")
    if unit is None:
        return None
    kind = ADDRESS_TYPES.get(unit[0].lower().rstrip("."))
    if kind is None:
        raise ValueError("SignalWire registers a unit of one of its types ("
                         + ", ".join(sorted(set(ADDRESS_TYPES.values())))
                         + f"), not {unit[0]!r}")
    return kind, unit[1]


def address_body(address: Address, number: str) -> dict[str, Any]:
    """The `POST addresses` body of an emergency address for `number`, validated by
    SignalWire and never corrected silently; `ValueError` (a user-facing reason) for an
    address SignalWire's fields cannot carry or would not validate (outside the US)."""
    if address.country.upper() != "US":
        raise ValueError("SignalWire validates and registers emergency addresses in the US "
                         "only")
    street_number, street_name = street_parts(address.street_address, "SignalWire")
    first, last = person(address.caller_name)
    body: dict[str, Any] = {
        "label": (address.caller_name or f"knm {number}")[:MAX_LABEL], "country": "US",
        "first_name": first, "last_name": last, "street_number": street_number,
        "street_name": street_name, "city": address.locality, "state": address.region,
        "postal_code": address.postal_code, "emergency_enabled": True,
        "auto_correct_address": False}
    unit = unit_of(address.extended_address)
    if unit is not None:
        body["address_type"], body["address_number"] = unit
    return body


def _part(doc: dict[str, Any], key: str) -> str:
    value = doc.get(key)
    return " ".join(str(value).split()) if value not in (None, "") else ""


def from_signalwire(doc: Any, given: Address) -> Address:
    """An address resource (or a candidate) as knm's address; what it leaves out is
    `given`'s (a candidate names no unit; the caller name is always `given`'s)."""
    doc = doc if isinstance(doc, dict) else {}
    if not _part(doc, "street_name"):
        return given
    unit = " ".join(p for p in (_part(doc, "address_type"), _part(doc, "address_number")) if p)
    return Address(
        street_address=" ".join(p for p in (_part(doc, "street_number"),
                                            _part(doc, "street_name")) if p),
        extended_address=unit if "address_type" in doc else given.extended_address,
        locality=_part(doc, "city") or given.locality,
        region=(_part(doc, "state") or given.region).upper(),
        postal_code=_part(doc, "postal_code") or _part(doc, "zip_code") or given.postal_code,
        country=(_part(doc, "country") or given.country).upper(),
        caller_name=given.caller_name)


def refused_check(doc: Any, given: Address) -> AddressCheck:
    """A 422 to an emergency address: `corrected` when SignalWire suggests `candidates`,
    else `invalid` with its reason."""
    found = doc.get("candidates") if isinstance(doc, dict) else None
    suggestions = [from_signalwire(c, given) for c in found or [] if isinstance(c, dict)]
    message = error_details(doc) or "SignalWire could not validate the address"
    if suggestions:
        return AddressCheck("corrected", given, suggestions, message=message)
    return AddressCheck("invalid", given, message=message)


def address_id(doc: Any) -> str:
    """The id of an address answer; `ValueError` without one."""
    if not isinstance(doc, dict) or not doc.get("id"):
        raise ValueError("address answer without an id")
    return str(doc["id"])


def to_e911_status(row: Any) -> FeatureStatus:
    """A PhoneNumber's E911 provisioning as knm's feature state; `data` names the address it
    holds. `ValueError` for an answer that is not a number."""
    if not isinstance(row, dict) or not row.get("id"):
        raise ValueError("number answer without an id")
    word = row.get("e911_status")
    word = str(word) if word else None
    state = E911_STATES.get(word, PENDING)
    return FeatureStatus(state, word or "unregistered",
                         {"e911_address_id": row.get("e911_address_id")},
                         message=f"SignalWire says {word}" if state == ERROR else None)


# -- the carrier ---------------------------------------------------------------------------------


class SignalWire(HttpCarrier):
    """SignalWire numbers (US and Canada), routed by a `call_handler` of the space."""

    name: ClassVar[str] = NAME
    #: national digits a search prefix may have (Kazoo's `maximal_prefix_length`)
    maximal_prefix_length: ClassVar[int] = 7
    capabilities: ClassVar[frozenset[str]] = frozenset(
        {"search_local", "search_npanxx", "search_tollfree", "buy", "release", "check",
         "locality", "settle", "e911"})
    reads_interrupted: ClassVar[frozenset[str]] = frozenset({"e911"})
    fault_words = UNAVAILABLE
    settings: ClassVar[tuple[Setting, ...]] = (
        Setting("space_url", description="your space's host, e.g. `example.signalwire.com`: "
                                         "the API root is `https://<space_url>/api/relay/rest` "
                                         "(needed unless `base_url` is set)"),
        Setting("project_id", required=True, description="project id (Basic-auth user)"),
        Setting("api_token", required=True, secret=True,
                description="API token (Basic-auth password)"),
        Setting("call_handler", description="how bought numbers route: "
                + ", ".join(f"`{h}` (with `{f}`)" for h, f in HANDLER_FIELDS.items())
                + "; needed to buy"),
        Setting("call_sip_endpoint_id", description="SIP endpoint for `relay_sip_endpoint`"),
        Setting("call_request_url", description="cXML (LaML) webhook for `laml_webhooks`"),
        Setting("call_request_method", description="HTTP method of `call_request_url`"),
        Setting("call_laml_application_id", description="cXML application for "
                                                        "`laml_application`"),
        Setting("call_relay_context", description="RELAY context for `relay_context`"),
        Setting("call_relay_topic", description="RELAY topic for `relay_topic`"),
        Setting("call_relay_application", description="RELAY application for "
                                                      "`relay_application`"),
        Setting("call_flow_id", description="call flow for `call_flow`"),
    )

    @classmethod
    def validate_config(cls, config: dict[str, Any]) -> dict[str, Any]:
        """`base_url` from `space_url` when not given; a `call_handler` knm cannot route by
        is refused at once, naming the handlers it can."""
        config = dict(config)
        if not config.get("base_url") and config.get("space_url"):
            config["base_url"] = space_base_url(str(config["space_url"]))
        if not config.get("base_url"):
            raise errors.CarrierMisconfigured(cls.name, "space_url",
                                              "is required (or base_url)")
        handler = config.get("call_handler")
        if handler not in (None, "") and handler not in HANDLER_FIELDS:
            raise errors.CarrierMisconfigured(
                cls.name, "call_handler", "must be one of " + ", ".join(HANDLER_FIELDS))
        return super().validate_config(config)

    def classify_error(self, response: httpx.Response, message: str | None
                       ) -> type[errors.CarrierFault] | None:
        return classify_by_words(message, UNAVAILABLE)

    def request_headers(self) -> dict[str, str]:
        return {"Authorization": self.basic_auth(str(self.config["project_id"]),
                                                 str(self.config["api_token"])),
                "Accept": "application/json"}

    # -- search -------------------------------------------------------------------------------

    def find_numbers(self, prefix: str, quantity: int, options: SearchOptions
                     ) -> list[SearchResult]:
        digits = nanp_digits(prefix)
        if digits is None:
            return []  # SignalWire sells NANP numbers only through this API
        # filters SignalWire cannot apply with this prefix are applied here, from a full
        # answer (one of `quantity` rows would rarely hold `quantity` that pass)
        extra = options.extra
        local = (any(extra.get(c) for c in CAPABILITIES)
                 or (len(digits) > 3 and bool(extra.get("contains")))
                 or (len(digits) >= 3 and any(extra.get(k) for k in (
                     "region", "administrative_area", "locality"))))
        params = search_params(digits, MAX_RESULTS if local else quantity, options)
        doc = self.call("GET", "/phone_numbers/search", params=params,
                        deadline=options.deadline)
        return self.parsed(to_results, doc, prefix, options, quantity)

    # -- purchase, release --------------------------------------------------------------------

    def routing(self) -> tuple[str, str]:
        """(call_handler, its field) configured; `CarrierMisconfigured` naming what is missing,
        before anything is bought."""
        handler = self.config.get("call_handler")
        if not handler:
            raise errors.CarrierMisconfigured(self.name, "call_handler",
                                              "is required to buy numbers")
        field = HANDLER_FIELDS[str(handler)]
        if not self.config.get(field):
            raise errors.CarrierMisconfigured(self.name, field,
                                              f"is required with call_handler {handler}")
        return str(handler), field

    def can_route(self) -> bool:
        handler = self.config.get("call_handler")
        return bool(handler and self.config.get(HANDLER_FIELDS[str(handler)]))

    def order_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        self.routing()
        doc = self.call("POST", "/phone_numbers", json={"number": num}, number=num)
        bought = self.parsed(purchase_data, doc, num, number=num)
        self.learn(number, bought)
        return self.learn(number, self.route(number, bought["signalwire_id"]))

    def route(self, number: PhoneNumber, number_id: str) -> dict[str, Any]:
        """Route a bought number by the configured `call_handler` (naming it after knm's
        reference); what became of it, as carrier data. A failure is recorded, not raised:
        the number is bought."""
        num = number.number
        handler, field = self.routing()
        try:
            self.call("PUT", f"/phone_numbers/{quote(number_id, safe='')}",
                      json=routing_body(self.config, self.order_reference(number)),
                      number=num)
        except errors.KnmError as exc:
            status = "unknown" if exc.unsettled else "failed"
            self.log.warning("%s: %s bought but not routed (%s): %s", self.name, num, status,
                             self.scrub(exc))
            return {"routing_status": status}
        return {"routing_status": "routed", "call_handler": handler, field: self.config[field]}

    def routed(self, row: Mapping[str, Any]) -> bool:
        """Whether the project's row for a number routes it as configured."""
        handler, field = self.routing()
        return row.get("call_handler") == handler and row.get(field) == self.config[field]

    def release_number(self, number: PhoneNumber) -> PhoneNumber:
        num = number.number
        row = self.held(num)
        if row is None or not row.get("id"):
            raise errors.CarrierNotFound(self.name, f"{num} is not a number of this project",
                                         number=num)
        self.delete(f"/phone_numbers/{quote(str(row['id']), safe='')}", number=num)
        return self.learn(number, {"signalwire_id": str(row["id"])})

    # -- check, settle ------------------------------------------------------------------------

    def held(self, number: str) -> dict[str, Any] | None:
        """The project's PhoneNumber for `number`, if it holds it."""
        doc = self.call("GET", "/phone_numbers", params=lookup_params(number), number=number)
        return self.parsed(held_row, doc, number, number=number)

    def check_numbers(self, numbers: list[str]) -> dict[str, str]:
        """`in_service` for each number the project holds; others are left out."""
        return {num: "in_service" for num in numbers if self.held(num) is not None}

    def settle(self, number: PhoneNumber) -> OrderStatus:
        """Purchases and releases are synchronous: settled by whether the project holds the
        number. A purchase whose answer was lost never got its routing request, so a held
        number not routed as configured is routed now (an idempotent update: nothing is
        bought or released)."""
        return self.settle_held(number, self.held(number.number))

    def held_listing(self, numbers: Sequence[str], budget: int) -> Mapping[str, Any]:
        """The project's phone numbers, a thousand a page (`links.next`)."""
        pages = linked_pages(lambda params: self.call("GET", "/phone_numbers", params=params),
                             {"page_size": str(LISTING_PAGE_SIZE)})
        return held_in_pages(pages, numbers, budget, lambda row: row.get("number"))

    def settle_held(self, number: PhoneNumber, row: Any) -> OrderStatus:
        data: dict[str, Any] = {"signalwire_id": row.get("id")} if row else {}
        return settled_by_holding(
            number, row, data, holder="project", held_status="held",
            routed=lambda: self.routed(row) if self.can_route() else None,
            route=lambda: self.route(number, str(row["id"])))

    # -- number features (SPEC §13) -----------------------------------------------------------

    def _number_path(self, number: PhoneNumber) -> str:
        """`/phone_numbers/{id}` of the number (its id from its carrier data, else looked
        up); `CarrierNotFound` when the project does not hold it."""
        number_id = number.carrier_data.get("signalwire_id")
        if not number_id:
            row = self.held(number.number)
            if row is None or not row.get("id"):
                raise errors.CarrierNotFound(self.name, f"{number.number} is not a number of "
                                             "this project", number=number.number)
            number_id = row["id"]
        return f"/phone_numbers/{quote(str(number_id), safe='')}"

    def _e911(self, num: str, path: str) -> FeatureStatus:
        """The number's E911 provisioning as SignalWire shows it now."""
        return self.parsed(to_e911_status, self.call("GET", path, number=num), number=num)

    def _body(self, num: str, address: Address) -> dict[str, Any]:
        try:
            return address_body(address, num)
        except ValueError as exc:
            raise errors.AddressInvalid(address.to_e911(), str(exc), carrier=self.name) from None

    def validate_address(self, number: PhoneNumber, address: Address) -> AddressCheck:
        """SignalWire validates an emergency address when it creates one: a trial one (never
        corrected silently: a correction is a 422 with `candidates`), then deleted."""
        num = number.number
        try:
            body = address_body(address, num)
        except ValueError as exc:  # SignalWire's fields cannot carry it: no call
            return AddressCheck("invalid", address, message=str(exc))
        response = self.request("POST", "/addresses", json=body, number=num, accept=(422,))
        if response.status_code == 422:
            return refused_check(json_or_none(response.content), address)
        doc = self.parse_reply(response, number=num)
        kept = from_signalwire(doc, address)
        if isinstance(doc, dict) and doc.get("id"):
            self._forget_address(str(doc["id"]), num)
        return AddressCheck("valid", kept)

    def set_emergency(self, number: PhoneNumber, address: Address) -> FeatureStatus:
        """Create the address, assign it to the number, wait briefly for `active`. A refused
        assignment deletes the address (SignalWire is left as it was); a lost answer is read
        back on the number at once."""
        num = number.number
        body = self._body(num, address)
        row = self.held(num)  # the number's id and its E911 state in one read
        if row is None or not row.get("id"):
            raise errors.CarrierNotFound(self.name, f"{num} is not a number of this project",
                                         number=num)
        path = f"/phone_numbers/{quote(str(row['id']), safe='')}"
        current = self.parsed(to_e911_status, row, number=num)
        if current.state == PENDING:
            raise self.refusal(f"SignalWire is still working on the emergency address of {num} "
                               f"({current.carrier_status}): retry once it is done", number=num)
        held = current.data.get("e911_address_id") if current.state == PROVISIONED else None
        created = self.call("POST", "/addresses", json=body, number=num)
        new_id = self.parsed(address_id, created, number=num)
        registered = from_signalwire(created, address)
        learnt = {"signalwire_id": str(row["id"]), E911_ID: new_id,
                  PREVIOUS_ID: held if held != new_id else None,
                  PREVIOUS_OWN: bool(held) and held == number.carrier_data.get(E911_ID)}
        try:
            doc = self.call("POST", f"{path}/e911_address", json={"e911_address_id": new_id},
                            number=num)
            first = self.parsed(to_e911_status, doc, number=num)
        except errors.KnmError as exc:
            if not exc.unsettled:
                self._forget_address(new_id, num)
                raise
            try:
                first = self._e911(num, path)
            except errors.KnmError:  # cannot tell now: settling reads the number later
                return FeatureStatus(PENDING, "unknown", learnt, registered,
                                     message=self.scrub(str(exc)))
            if first.data.get("e911_address_id") != new_id:  # it did not take: undo
                self._forget_address(new_id, num)
                raise
        status = poll_feature(self, lambda: self._e911(num, path), first)
        return self._finish(num, path, status, learnt, registered)

    def _finish(self, num: str, path: str, status: FeatureStatus, learnt: dict[str, Any],
                registered: Address | None) -> FeatureStatus:
        """An assignment as it stands: still pending (settled later), active (knm's previous
        address deleted) or failed (undone: the previous address assigned again, the new one
        deleted)."""
        new_id, previous = learnt[E911_ID], learnt.get(PREVIOUS_ID)
        done = {**learnt, PREVIOUS_ID: None, PREVIOUS_OWN: None}
        if status.state == PENDING:
            return FeatureStatus(PENDING, status.carrier_status, learnt, registered,
                                 status.message)
        if status.state == PROVISIONED:
            if previous and learnt.get(PREVIOUS_OWN):
                self._forget_address(str(previous), num)
            return FeatureStatus(PROVISIONED, status.carrier_status, done, registered)
        if previous:
            try:
                self.call("POST", f"{path}/e911_address", number=num,
                          json={"e911_address_id": previous})
            except errors.KnmError as exc:
                self.log.warning("%s: the previous emergency address of %s was not assigned "
                                 "again: %s", self.name, num, self.scrub(exc))
        self._forget_address(str(new_id), num)
        return FeatureStatus(ERROR, status.carrier_status,
                             {**done, E911_ID: previous if learnt.get(PREVIOUS_OWN) else None},
                             message=status.message or "SignalWire failed the registration")

    def emergency_status(self, number: PhoneNumber) -> FeatureStatus:
        """Where a pending assignment (or removal) stands; settling one also finishes it —
        the address that lost is deleted, as `set_emergency` would have."""
        num = number.number
        path = self._number_path(number)
        status = self._e911(num, path)
        data = number.carrier_data
        if data.get(INTERRUPTED):
            return self._held_emergency(num, path, status)
        if data.get(REMOVING):
            return self._removal(num, status, data.get(E911_ID))
        wanted = data.get(E911_ID)
        held = status.data.get("e911_address_id")
        if not wanted or held != wanted:  # the assignment did not take: knm's address unused
            if wanted:
                self._forget_address(str(wanted), num)
            kept = data.get(PREVIOUS_ID) if data.get(PREVIOUS_OWN) else None
            return FeatureStatus(ERROR, status.carrier_status,
                                 {E911_ID: kept, PREVIOUS_ID: None, PREVIOUS_OWN: None},
                                 message=f"SignalWire holds {held or 'no address'} for the "
                                         f"number, not knm's address {wanted}")
        learnt = {"signalwire_id": path.rsplit("/", 1)[-1], E911_ID: wanted,
                  PREVIOUS_ID: data.get(PREVIOUS_ID), PREVIOUS_OWN: data.get(PREVIOUS_OWN)}
        finished = self._finish(num, path, status, learnt, None)
        if finished.state == PENDING:
            finished.data = {}
        return finished

    def _held_emergency(self, num: str, path: str, status: FeatureStatus) -> FeatureStatus:
        """For a save whose process died (knm never learnt its address id): the address the
        number holds now and its state; none (or a failed one) is `REMOVED`."""
        held = status.data.get("e911_address_id")
        if not held or status.state == ERROR:
            return FeatureStatus(REMOVED, status.carrier_status, message=status.message)
        doc = self.call("GET", f"/addresses/{quote(str(held), safe='')}", number=num)
        return FeatureStatus(status.state, status.carrier_status, {
            "signalwire_id": path.rsplit("/", 1)[-1], E911_ID: str(held), PREVIOUS_ID: None,
            PREVIOUS_OWN: None}, from_signalwire(doc, Address("", "", "", "", country="")),
            status.message)

    def remove_emergency(self, number: PhoneNumber) -> FeatureStatus:
        """Unassign the number's address (`pending_removal` → `unregistered`, waited on
        briefly), then delete knm's address. A number holding no active address (none, or a
        failed one) has nothing to unassign."""
        num = number.number
        path = self._number_path(number)
        own = number.carrier_data.get(E911_ID)
        try:
            doc = self.call("DELETE", f"{path}/e911_address", number=num)
            first = self.parsed(to_e911_status, doc, number=num)
        except errors.CarrierFault as exc:
            if exc.status not in (404, 422):
                raise
            first = self._e911(num, path)  # refused: is anything registered at all?
            if first.state in (PROVISIONED, PENDING):
                raise
        status = poll_feature(self, lambda: self._e911(num, path), first)
        return self._removal(num, status, own)

    def _removal(self, num: str, status: FeatureStatus, own: Any) -> FeatureStatus:
        if status.state == PENDING:
            return FeatureStatus(PENDING, status.carrier_status, {REMOVING: True})
        if status.state == PROVISIONED:
            return FeatureStatus(ERROR, status.carrier_status, {REMOVING: None},
                                 message="SignalWire kept the emergency address")
        if own:
            self._forget_address(str(own), num)
        return FeatureStatus(REMOVED, status.carrier_status,
                             {E911_ID: None, PREVIOUS_ID: None, PREVIOUS_OWN: None,
                              REMOVING: None})

    def _forget_address(self, address: str, number: str) -> None:
        """Delete an address knm created and no longer uses; a failure only leaves an unused
        address in the project."""
        try:
            self.delete(f"/addresses/{quote(address, safe='')}", number=number)
        except errors.KnmError as exc:
            self.log.warning("%s: address %s of %s not deleted: %s", self.name, address,
                             number, self.scrub(exc))
